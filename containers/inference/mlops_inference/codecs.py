"""Request decoding and response encoding: JSON, JSON Lines and CSV.

Accepted request bodies (feature values are numbers; by position, or by name):
  application/json       {"features": [...]} | {"features": {"name": v}} | {"instances": [row, ...]} | [row, ...]
  application/jsonlines  one record per line: {"features": ...} (optionally with "id") or a bare [...] row
  text/csv               one row of numbers per line, no header
A row is a list of numbers or a {"features": ...} record. Records may carry an "id",
which is echoed in the response so callers (and the QA pipeline) can join results.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:  # orjson is ~3x faster on these bodies; the stdlib is the fallback
    import orjson

    loads: Callable[[bytes | str], Any] = orjson.loads

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - exercised only where orjson is absent
    import json

    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


JSON = "application/json"
JSONL = "application/jsonlines"
CSV = "text/csv"
_ALIASES = {"application/x-jsonlines": JSONL, "application/jsonl": JSONL, "application/x-ndjson": JSONL, "text/x-csv": CSV}


class RequestError(Exception):
    """A client error: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decoded:
    rows: np.ndarray  # float32, (n, n_features)
    ids: list[Any] | None  # per-row ids, when the records had them
    single: bool  # a single {"features": ...} object: answer with one prediction object


def media_type(header: str | None, default: str) -> str:
    if not header:
        return default
    value = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(value, value)


class Codec:
    """Decodes rows for one model (its feature count and names)."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self.n_features = len(self.feature_names)
        self._index = {name: i for i, name in enumerate(self.feature_names)}

    # --- decoding --------------------------------------------------------------------

    def decode(self, body: bytes, content_type: str) -> Decoded:
        if not body:
            raise RequestError("empty request body")
        if content_type == JSON:
            return self._decode_json(_parse_json(body, "request body"))
        if content_type == JSONL:
            return self._decode_lines(body)
        if content_type == CSV:
            return Decoded(self._decode_csv(body), None, False)
        raise RequestError(f"unsupported Content-Type {content_type!r}; use {JSON}, {JSONL} or {CSV}", status=415)

    def _decode_json(self, value: Any) -> Decoded:
        if isinstance(value, dict) and "features" in value:
            row, record_id = self.record(value, "request")
            return Decoded(self._matrix([row], "request"), None if record_id is None else [record_id], True)
        if isinstance(value, dict) and "instances" in value:
            value = value["instances"]
        if not isinstance(value, list) or not value:
            raise RequestError('JSON body must be {"features": ...}, {"instances": [...]} or a non-empty list of rows')
        if all(isinstance(item, list) for item in value):  # fast path: list of number lists
            return Decoded(self._matrix(value, "instances"), None, False)
        rows, ids = [], []
        for index, item in enumerate(value):
            row, record_id = self.record(item, f"instances[{index}]")
            rows.append(row)
            ids.append(record_id)
        return Decoded(self._matrix(rows, "instances"), ids if any(i is not None for i in ids) else None, False)

    def _decode_lines(self, body: bytes) -> Decoded:
        rows, ids = [], []
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            row, record_id = self.record(_parse_json(line, f"line {number}"), f"line {number}")
            rows.append(row)
            ids.append(record_id)
        if not rows:
            raise RequestError("JSON Lines body has no records")
        return Decoded(self._matrix(rows, "lines"), ids if any(i is not None for i in ids) else None, False)

    def _decode_csv(self, body: bytes) -> np.ndarray:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise RequestError("CSV body is not UTF-8") from None
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        if not rows:
            raise RequestError("CSV body has no rows")
        for number, row in enumerate(rows, 1):
            if len(row) != self.n_features:
                raise RequestError(f"CSV line {number}: expected {self.n_features} values, got {len(row)}")
        try:
            matrix = np.array(rows, dtype=np.float32)
        except ValueError as error:
            raise RequestError(f"CSV holds a value that is not a number ({error})") from None
        return self._check_finite(matrix, "CSV")

    def record(self, value: Any, where: str) -> tuple[Sequence[float], Any]:
        """One record -> (row, id). Accepts {"features": list|dict, "id"?: ...} or a bare list."""
        if isinstance(value, list):
            return value, None
        if not isinstance(value, dict) or "features" not in value:
            raise RequestError(f'{where}: expected {{"features": [...]}} or a list of numbers')
        features = value["features"]
        if isinstance(features, dict):
            row = [math.nan] * self.n_features
            for name, item in features.items():
                index = self._index.get(name)
                if index is None:
                    raise RequestError(f"{where}: unknown feature {name!r}")
                row[index] = item
            if len(features) != self.n_features:
                missing = [n for n in self.feature_names if n not in features]
                raise RequestError(f"{where}: missing feature(s) {', '.join(missing)}")
            return row, value.get("id")
        if isinstance(features, list):
            return features, value.get("id")
        raise RequestError(f"{where}: features must be a list or an object of name -> number")

    def _matrix(self, rows: list[Any], where: str) -> np.ndarray:
        for index, row in enumerate(rows):
            if len(row) != self.n_features:
                raise RequestError(f"{where}[{index}]: expected {self.n_features} features, got {len(row)}")
        try:
            matrix = np.array(rows, dtype=np.float32)
        except (ValueError, TypeError):
            raise RequestError(f"{where}: every feature value must be a number") from None
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            # e.g. rows nested one level too deep: each "value" is itself a list. Caught here,
            # per request, so that it can never reach (and fail) a batch shared with others.
            raise RequestError(f"{where}: every feature value must be a number, not a list (rows nested too deep?)")
        return self._check_finite(matrix, where)

    @staticmethod
    def _check_finite(matrix: np.ndarray, where: str) -> np.ndarray:
        if not np.isfinite(matrix).all():
            row = int(np.argwhere(~np.isfinite(matrix))[0][0])
            raise RequestError(f"{where}[{row}]: values must be finite numbers (no NaN or infinity)")
        return matrix


def _parse_json(body: bytes, where: str) -> Any:
    try:
        return loads(body)
    except ValueError as error:
        raise RequestError(f"{where} is not valid JSON: {error}") from None


# --- encoding ------------------------------------------------------------------------


def prediction_records(risk: np.ndarray, threshold: float, ids: list[Any] | None) -> list[dict[str, Any]]:
    labels = (risk >= threshold).tolist()
    scores = [round(value, 6) for value in risk.tolist()]
    if ids is None:
        return [{"risk": s, "label": int(label)} for s, label in zip(scores, labels, strict=True)]
    return [
        {"id": i, "risk": s, "label": int(label)} if i is not None else {"risk": s, "label": int(label)}
        for i, s, label in zip(ids, scores, labels, strict=True)
    ]


def encode(risk: np.ndarray, threshold: float, decoded: Decoded, accept: str) -> bytes:
    records = prediction_records(risk, threshold, decoded.ids)
    if accept == JSON:
        return dumps(records[0] if decoded.single else {"predictions": records})
    if accept == JSONL:
        return b"\n".join(dumps(r) for r in records) + b"\n"
    if accept == CSV:
        return "".join(f"{r['risk']},{r['label']}\n" for r in records).encode()
    raise RequestError(f"unsupported Accept {accept!r}; use {JSON}, {JSONL} or {CSV}", status=406)


SUPPORTED = (JSON, JSONL, CSV)


def negotiate(accept_header: str | None, content_type: str) -> str:
    """The response media type for an Accept header (RFC 9110 12.5.1), else the request's type.

    A list is honoured by quality (`q`), first listed first among equals; `*/*` and
    `application/*` match the request's type when they can. Returns the first listed type
    when nothing listed is supported, for the 406 message.
    """
    if not accept_header or not accept_header.strip():
        return content_type
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_header.split(",")):
        value, *params = part.split(";")
        kind = _ALIASES.get(value.strip().lower(), value.strip().lower())
        quality = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        if kind and quality > 0:
            choices.append((-quality, index, kind))
    for _, _, kind in sorted(choices):
        if kind in SUPPORTED:
            return kind
        if kind == "*/*" or (kind == "application/*" and content_type.startswith("application/")):
            return content_type if content_type in SUPPORTED else JSON
        if kind == "text/*":
            return CSV
    return choices[0][2] if choices else accept_header.strip()  # everything refused (q=0)
