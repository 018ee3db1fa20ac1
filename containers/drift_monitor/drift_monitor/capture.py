"""Read SageMaker data-capture files: one JSON object per line, request texts out.

A capture line looks like (SageMaker Developer Guide, "Capture data from real-time endpoint"):

    {"captureData": {"endpointInput": {"observedContentType": "application/json",
       "mode": "INPUT", "data": "{\\"text\\": \\"...\\"}", "encoding": "JSON"},
       "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "..."},
     "eventVersion": "0"}

`encoding` is JSON or CSV (the data is the payload as text) or BASE64 (any other content
type; decoded here and read by its content type). Every line that yields no text is
counted by reason with its file and line, never dropped silently and never fatal.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_EXAMPLES = 20


@dataclass(frozen=True)
class CapturedText:
    text: str
    event_id: str
    inference_id: str | None
    inference_time: str | None


@dataclass
class ReadReport:
    """What was read: records seen, texts found, and problems by reason (with examples)."""

    records: int = 0
    texts: int = 0
    files: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def problem(self, reason: str, where: str) -> None:
        self.malformed[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "texts": self.texts,
            "malformed_records": self.malformed_total,
            "malformed_by_reason": dict(sorted(self.malformed.items())),
            "malformed_examples": self.examples,
        }


class MalformedRecordError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _dig(value: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _texts_from_json(payload: Any, path: list[str]) -> list[str]:
    """The texts in a JSON request: an object (key path), a list of them, or {"instances": [...]}."""
    if isinstance(payload, dict) and _dig(payload, path) is None and isinstance(payload.get("instances"), list):
        payload = payload["instances"]
    items = payload if isinstance(payload, list) else [payload]
    texts = []
    for item in items:
        value = item if isinstance(item, str) else _dig(item, path)
        if not isinstance(value, str):
            raise MalformedRecordError("no_text_field")
        texts.append(value)
    return texts


def _texts_from_csv(payload: str, column: int) -> list[str]:
    texts = []
    for row in csv.reader(io.StringIO(payload)):
        if not row:
            continue
        if column >= len(row):
            raise MalformedRecordError("no_text_column")
        texts.append(row[column])
    return texts


def _texts_from_payload(payload: str, content_type: str, path: list[str], column: int) -> list[str]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "text/csv":
        return _texts_from_csv(payload, column)
    if kind in ("application/jsonlines", "application/x-jsonlines", "application/jsonl"):
        lines = [line for line in payload.splitlines() if line.strip()]
        try:
            return [text for line in lines for text in _texts_from_json(json.loads(line), path)]
        except json.JSONDecodeError:
            raise MalformedRecordError("payload_not_json") from None
    if kind == "text/plain":
        return [payload]
    try:
        return _texts_from_json(json.loads(payload), path)
    except json.JSONDecodeError:
        raise MalformedRecordError("payload_not_json") from None


def texts_of_record(record: Any, text_field: str, csv_column: int) -> tuple[list[str], dict[str, Any]]:
    """The request texts of one capture record and its event metadata; raises MalformedRecordError."""
    if not isinstance(record, dict):
        raise MalformedRecordError("not_an_object")
    captured = _dig(record, ["captureData", "endpointInput"])
    if not isinstance(captured, dict):
        raise MalformedRecordError("missing_endpoint_input")
    data, encoding = captured.get("data"), str(captured.get("encoding", "")).upper()
    content_type = str(captured.get("observedContentType") or "application/json")
    if not isinstance(data, str):
        raise MalformedRecordError("missing_data")
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRecordError("bad_base64") from None
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedRecordError("not_utf8_text") from None
    elif encoding == "CSV":
        content_type = "text/csv"
    elif encoding != "JSON":
        raise MalformedRecordError("unknown_encoding")
    found = record.get("eventMetadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    return _texts_from_payload(data, content_type, text_field.split("."), csv_column), metadata


def capture_files(root: Path) -> list[Path]:
    """Capture files under `root` (SageMaker lays them out as <endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json"))


def read_capture(root: Path, text_field: str, csv_column: int, report: ReadReport) -> Iterator[CapturedText]:
    """Every request text under `root`; problems go to `report`."""
    for path in capture_files(root):
        report.files += 1
        with path.open("rb") as stream:
            for number, raw in enumerate(stream, start=1):
                if not raw.strip():
                    continue
                report.records += 1
                where = f"{path.relative_to(root)}:{number}"
                try:
                    try:
                        record = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        raise MalformedRecordError("not_json") from None
                    texts, metadata = texts_of_record(record, text_field, csv_column)
                except MalformedRecordError as problem:
                    report.problem(problem.reason, where)
                    continue
                if not texts:
                    report.problem("empty_request", where)
                    continue
                for text in texts:
                    report.texts += 1
                    yield CapturedText(
                        text=text,
                        event_id=str(metadata.get("eventId", where)),
                        inference_id=metadata.get("inferenceId"),
                        inference_time=metadata.get("inferenceTime"),
                    )
