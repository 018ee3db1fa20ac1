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

The analysis window: Model Monitor hands the container the hour folders that cover
`start_time`..`end_time` and "sometimes downloads more" ("Container Contract Inputs",
dataset_source), so a record whose `eventMetadata.inferenceTime` falls outside the window
is skipped and counted as `outside_window` (not malformed: nothing is wrong with it).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_EXAMPLES = 20


@dataclass(frozen=True)
class CapturedText:
    text: str
    event_id: str
    inference_id: str | None
    inference_time: str | None


def parse_time(raw: str) -> datetime:
    """An ISO 8601 time as Model Monitor and data capture write it, as an aware UTC datetime.

    Whitespace is dropped anywhere: the contract's own example reads "2019-12-01T16: 20: 00Z".
    Raises ValueError for anything else.
    """
    text = "".join(raw.split())
    if not text:
        raise ValueError("empty time")
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The execution's analysis window, [start, end); an open side when Model Monitor sets none."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


@dataclass
class ReadReport:
    """What was read: records seen, texts found, problems by reason (with examples), and
    records outside the analysis window (counted apart from the problems)."""

    records: int = 0
    texts: int = 0
    files: int = 0
    outside_window: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def problem(self, reason: str, where: str) -> None:
        self.malformed[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def in_window(self) -> int:
        """Records inside the window: the ones that count toward the malformed share."""
        return self.records - self.outside_window

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "outside_window": self.outside_window,
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


def _inference_time(record: Any) -> tuple[datetime | None, str | None]:
    """(parsed time, the reason it is unusable) of a record's eventMetadata.inferenceTime."""
    raw = _dig(record, ["eventMetadata", "inferenceTime"])
    if raw is None:
        return None, "no_inference_time"
    try:
        return parse_time(str(raw)), None
    except ValueError:
        return None, "bad_inference_time"


def read_capture(
    root: Path, text_field: str, csv_column: int, report: ReadReport, window: Window | None = None
) -> Iterator[CapturedText]:
    """Every request text under `root` inside `window`; problems and skipped records go to `report`.

    A record with a readable inferenceTime outside the window is skipped before its payload
    is read. One without a usable time is read: if it yields texts while the window is
    bounded, it is malformed (no_inference_time / bad_inference_time), since it cannot be
    placed in the window; otherwise it keeps the reason its payload gives.
    """
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
                    when, unusable = _inference_time(record)
                    if window is not None and when is not None and not window.contains(when):
                        report.outside_window += 1
                        continue
                    texts, metadata = texts_of_record(record, text_field, csv_column)
                    if window is not None and window.bounded and unusable is not None:
                        raise MalformedRecordError(unusable)
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
