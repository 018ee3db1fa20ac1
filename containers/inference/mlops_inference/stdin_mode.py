"""`serve stdin`: JSON Lines in, one JSON line out per input, in order.

For offline QA: `python -m mlops_cli qa csv-to-jsonl data.csv | serve stdin | python -m mlops_cli qa analyze`.
A bad input line yields {"line": n, "error": ...} in its place (the stream stays aligned);
lines are scored in chunks of MAX_BATCH_SIZE for throughput.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import numpy as np

from mlops_inference.codecs import Codec, RequestError, dumps, loads, prediction_records
from mlops_inference.model import Model


def _parse(codec: Codec, line: bytes, number: int) -> tuple[np.ndarray | None, Any, str | None]:
    """-> (row, id, error) for one input line."""
    record_id = None
    try:
        value = loads(line)
        if isinstance(value, dict):
            record_id = value.get("id")
        row, record_id = codec.record(value, f"line {number}")
        array = np.asarray(row, dtype=np.float32)
    except RequestError as error:
        return None, record_id, str(error)
    except (ValueError, TypeError) as error:
        return None, record_id, f"line {number}: {error}"
    if array.shape != (codec.n_features,):
        return None, record_id, f"line {number}: expected {codec.n_features} features, got {array.size}"
    if not np.isfinite(array).all():
        return None, record_id, f"line {number}: values must be finite numbers"
    return array, record_id, None


def run(model: Model, source: BinaryIO, sink: BinaryIO, *, chunk_size: int = 256) -> tuple[int, int]:
    """Score every line of `source` into `sink`; returns (scored, errors)."""
    codec = Codec(model.metadata.feature_names)
    threshold = model.metadata.threshold
    scored = errors = 0
    pending: list[tuple[np.ndarray | None, Any, str | None, int]] = []

    def flush() -> None:
        nonlocal scored, errors
        valid = [(row, record_id) for row, record_id, _, _ in pending if row is not None]
        records = iter(
            prediction_records(model.predict(np.stack([row for row, _ in valid])), threshold, [i for _, i in valid])
            if valid
            else []
        )
        out = []
        for row, record_id, error, number in pending:
            if row is None:
                errors += 1
                item: dict[str, Any] = {"line": number, "error": error}
                if record_id is not None:
                    item["id"] = record_id
            else:
                scored += 1
                item = next(records)
            out.append(dumps(item))
        sink.write(b"\n".join(out) + b"\n")
        sink.flush()
        pending.clear()

    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        pending.append((*_parse(codec, line, number), number))
        if len(pending) >= chunk_size:
            flush()
    if pending:
        flush()
    return scored, errors


def main(model: Model, chunk_size: int) -> int:
    scored, errors = run(model, sys.stdin.buffer, sys.stdout.buffer, chunk_size=chunk_size)
    print(f"scored {scored} line(s), {errors} error(s)", file=sys.stderr)
    return 0
