"""Offline QA of model versions, as pipeline steps around `serve stdin`.

  python -m mlops_cli qa csv-to-jsonl calls.csv | serve stdin | python -m mlops_cli qa analyze --truth calls.csv
  python -m mlops_cli qa compare champion.jsonl challenger.jsonl --max-flip-rate 0.02

Records carry an `id` (the CSV's id column, else the row number) so results join back.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from mlops_cli.errors import CliError
from mlops_cli.model_artifact import auc


def csv_to_jsonl(source: TextIO, sink: TextIO, *, id_column: str = "id", exclude: Iterable[str] = ("label",)) -> int:
    """Each CSV row -> {"id": ..., "features": {column: number}}; returns the row count."""
    reader = csv.DictReader(source)
    if not reader.fieldnames:
        raise CliError("CSV has no header row")
    skipped = {id_column, *exclude}
    features = [name for name in reader.fieldnames if name not in skipped]
    if not features:
        raise CliError(f"CSV has no feature columns besides {', '.join(sorted(skipped))}")
    count = 0
    for line, row in enumerate(reader, 2):
        values: dict[str, float] = {}
        for name in features:
            raw = (row.get(name) or "").strip()
            try:
                values[name] = float(raw)
            except ValueError:
                raise CliError(f"line {line}, column {name!r}: {raw!r} is not a number") from None
        record_id: Any = row.get(id_column) or line - 1
        sink.write(json.dumps({"id": record_id, "features": values}, separators=(",", ":")) + "\n")
        count += 1
    return count


@dataclass(frozen=True)
class Prediction:
    id: Any
    risk: float
    label: int


def read_predictions(lines: Iterable[str], source: str) -> tuple[list[Prediction], list[dict[str, Any]]]:
    """-> (predictions, error records) from `serve stdin` output."""
    predictions, errors = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CliError(f"{source} line {number}: not JSON ({error})") from None
        if "error" in record:
            errors.append(record)
            continue
        try:
            predictions.append(Prediction(record.get("id", number), float(record["risk"]), int(record["label"])))
        except (KeyError, TypeError, ValueError):
            raise CliError(f"{source} line {number}: expected risk and label, got {line.strip()[:80]}") from None
    return predictions, errors


def read_truth(source: TextIO, *, id_column: str = "id", label_column: str = "label") -> dict[str, int]:
    reader = csv.DictReader(source)
    if not reader.fieldnames or label_column not in reader.fieldnames:
        raise CliError(f"truth CSV has no {label_column!r} column")
    truth = {}
    for line, row in enumerate(reader, 2):
        key = row.get(id_column) or str(line - 1)
        truth[str(key)] = int(float(row[label_column]))
    return truth


def analyze(predictions: list[Prediction], errors: list[dict[str, Any]], truth: dict[str, int] | None = None) -> dict[str, Any]:
    """Summary of one model's scores (and quality, when true labels are given)."""
    report: dict[str, Any] = {"records": len(predictions) + len(errors), "scored": len(predictions), "errors": len(errors)}
    if errors:
        report["first_errors"] = [e.get("error") for e in errors[:3]]
    if not predictions:
        return report
    risk = np.array([p.risk for p in predictions])
    labels = np.array([p.label for p in predictions])
    p50, p90, p99 = np.percentile(risk, [50, 90, 99])
    report.update(
        {
            "risk_mean": round(float(risk.mean()), 4),
            "risk_p50": round(float(p50), 4),
            "risk_p90": round(float(p90), 4),
            "risk_p99": round(float(p99), 4),
            "positive_rate": round(float(labels.mean()), 4),
            "histogram": np.histogram(risk, bins=10, range=(0, 1))[0].tolist(),
        }
    )
    if truth is not None:
        matched = [(p, truth[str(p.id)]) for p in predictions if str(p.id) in truth]
        if not matched:
            raise CliError("no prediction id matches an id in the truth CSV")
        y = np.array([t for _, t in matched])
        scores = np.array([p.risk for p, _ in matched])
        predicted = np.array([p.label for p, _ in matched])
        true_pos = int(((predicted == 1) & (y == 1)).sum())
        report["truth"] = {
            "matched": len(matched),
            "auc": round(auc(scores, y.astype(np.float32)), 4),
            "accuracy": round(float((predicted == y).mean()), 4),
            "precision": round(true_pos / max(int(predicted.sum()), 1), 4),
            "recall": round(true_pos / max(int(y.sum()), 1), 4),
        }
    return report


def compare(first: list[Prediction], second: list[Prediction]) -> dict[str, Any]:
    """How two model versions differ on the same inputs (joined by id)."""
    by_id = {str(p.id): p for p in second}
    pairs = [(a, by_id[str(a.id)]) for a in first if str(a.id) in by_id]
    if not pairs:
        raise CliError("the two prediction files share no ids")
    delta = np.array([b.risk - a.risk for a, b in pairs])
    worst = int(np.abs(delta).argmax())
    up = sum(1 for a, b in pairs if a.label == 0 and b.label == 1)
    down = sum(1 for a, b in pairs if a.label == 1 and b.label == 0)
    first_risk = np.array([a.risk for a, _ in pairs])
    second_risk = np.array([b.risk for _, b in pairs])
    correlation = float(np.corrcoef(first_risk, second_risk)[0, 1]) if len(pairs) > 1 else math.nan
    return {
        "compared": len(pairs),
        "only_in_first": len(first) - len(pairs),
        "only_in_second": len(second) - len(pairs),
        "label_agreement": round(1 - (up + down) / len(pairs), 4),
        "flips_0_to_1": up,
        "flips_1_to_0": down,
        "flip_rate": round((up + down) / len(pairs), 4),
        "mean_abs_risk_delta": round(float(np.abs(delta).mean()), 4),
        "max_abs_risk_delta": round(float(abs(delta[worst])), 4),
        "max_delta_id": pairs[worst][0].id,
        "risk_correlation": round(correlation, 4),
    }


def render(report: dict[str, Any]) -> Iterator[str]:
    """Human-readable lines for a report (nested dicts indented)."""
    for key, value in report.items():
        if isinstance(value, dict):
            yield f"{key}:"
            for inner, item in value.items():
                yield f"  {inner:22s} {item}"
        else:
            yield f"{key:24s} {value}"
