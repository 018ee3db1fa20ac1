"""One scheduled execution: captured texts in, Model Monitor reports, metrics and exit message out.

Environment (Model Monitor's container contract, "Container Contract Inputs"):
`dataset_source` (the captured files), `output_path` (reports), `end_time`/`start_time`
(the window), `sagemaker_endpoint_name`, `sagemaker_monitoring_schedule_name`,
`publish_cloudwatch_metrics`, `baseline_statistics` (the BaselineConfig file). The platform
adds THRESHOLD, PERCENTILE, PERCENTILE_THRESHOLD, TEXT_FIELD, CSV_COLUMN, BATCH_SIZE.

Only records whose inferenceTime lies in [start_time, end_time) are scored: Model Monitor
may download more than the window (see capture.py); the rest are counted as outside_window.
A window with no text to score is a `completeness_check` violation, so an endpoint whose
capture stopped (or whose text field moved) alerts instead of passing silently.

Outputs:
- `<output_path>/constraint_violations.json`: `{"violations": [{"feature_name",
  "constraint_check_type", "description"}]}`, Model Monitor's format ("Container Contract
  Outputs"); always written, empty when nothing is wrong;
- `<output_path>/statistics.json`: what was measured (similarity summary, counts, every
  malformed record counted by reason with examples);
- a CloudWatch metric, as embedded metric format (EMF) on stdout: SageMaker ships the job's
  stdout to CloudWatch Logs, which turns EMF lines into metrics. This works in a
  network-isolated job, where PutMetricData cannot be reached, and it does not depend on
  `publish_cloudwatch_metrics`; when that is Enabled, the contract's metrics file
  (`/opt/ml/output/metrics/cloudwatch/`) is written as well, for Model Monitor's own namespace;
- `/opt/ml/output/message`: the job's exit message, `CompletedWithViolations: ...` when a
  violation was found (the status Model Monitor reports and the alert rule matches).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from drift_monitor.baseline import load_embeddings
from drift_monitor.capture import ReadReport, Window, parse_time, read_capture
from drift_monitor.embed import Embedder
from drift_monitor.similarity import nearest_similarity, summarise

NAMESPACE = "MLOps/Monitoring"
METRIC_MEAN = "text_similarity_mean"
METRIC_PERCENTILE = "text_similarity_percentile"
DEFAULT_BASELINE_STATISTICS = "/opt/ml/processing/baseline/stats/statistics.json"
MAX_MALFORMED_FRACTION = 0.01
LEAST_SIMILAR = 10  # above this share of unreadable records, a completeness violation


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class MonitorSettings:
    dataset_source: Path
    output_path: Path
    baseline_statistics: Path
    threshold: float
    percentile: int
    percentile_threshold: float
    text_field: str = "text"
    csv_column: int = 0
    batch_size: int = 32
    endpoint_name: str = ""
    schedule_name: str = ""
    window: Window = field(default_factory=Window)
    publish_cloudwatch_metrics: bool = False
    opt_ml_output: Path = Path("/opt/ml/output")

    @staticmethod
    def from_env(env: Mapping[str, str]) -> MonitorSettings:
        """Read the contract's variables and the platform's; every problem at once."""
        problems: list[str] = []

        def number(name: str, kind: type[float] | type[int], low: float, high: float, default: str | None = None) -> Any:
            raw = env.get(name, default)
            if raw is None:
                problems.append(f"{name} is not set")
                return kind(low)
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a number")
                return kind(low)
            if not low <= value <= high:
                problems.append(f"{name}={raw} is outside {low}-{high}")
            return value

        def time_of(name: str) -> datetime | None:
            raw = env.get(name, "")
            if not raw.strip():
                return None  # outside Model Monitor (a local run): that side of the window is open
            try:
                return parse_time(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not an ISO 8601 time")
                return None

        def path(name: str, default: str | None = None) -> Path:
            raw = env.get(name, default)
            if not raw:
                problems.append(f"{name} is not set")
                return Path()
            return Path(raw)

        settings = MonitorSettings(
            dataset_source=path("dataset_source"),
            output_path=path("output_path"),
            # Where Model Monitor mounts the schedule's StatisticsResource when it does not say.
            baseline_statistics=path("baseline_statistics", DEFAULT_BASELINE_STATISTICS),
            threshold=number("THRESHOLD", float, 0.0, 1.0),
            percentile=number("PERCENTILE", int, 1, 99, "10"),
            percentile_threshold=number("PERCENTILE_THRESHOLD", float, 0.0, 1.0),
            text_field=env.get("TEXT_FIELD", "text"),
            csv_column=number("CSV_COLUMN", int, 0, 10_000, "0"),
            batch_size=number("BATCH_SIZE", int, 1, 4096, "32"),
            endpoint_name=env.get("sagemaker_endpoint_name", ""),
            schedule_name=env.get("sagemaker_monitoring_schedule_name", ""),
            window=Window(time_of("start_time"), time_of("end_time")),
            publish_cloudwatch_metrics=env.get("publish_cloudwatch_metrics", "Disabled") == "Enabled",
            opt_ml_output=Path(env.get("OPT_ML_OUTPUT", "/opt/ml/output")),  # tests point it elsewhere
        )
        start, end = settings.window.start, settings.window.end
        if start is not None and end is not None and start >= end:
            problems.append(f"start_time {start.isoformat()} is not before end_time {end.isoformat()}")
        if problems:
            raise SettingsError(problems)
        return settings


@dataclass(frozen=True)
class Outcome:
    violations: list[dict[str, str]]
    statistics: dict[str, Any]

    @property
    def message(self) -> str:
        if self.violations:
            return f"CompletedWithViolations: Job completed successfully with {len(self.violations)} violations."
        return "Completed: Job completed successfully with no violations."


def analyse(settings: MonitorSettings, embedder: Embedder) -> Outcome:
    """Read, embed, compare; no side effects (see `run` for the outputs)."""
    baseline = load_embeddings(settings.baseline_statistics)
    report = ReadReport()
    captured = list(read_capture(settings.dataset_source, settings.text_field, settings.csv_column, report, settings.window))
    scores = np.zeros(0, dtype=np.float32)
    if captured:
        vectors = embedder.embed([c.text for c in captured], settings.batch_size)
        scores = nearest_similarity(vectors, baseline)
    summary = summarise(scores, settings.percentile)
    violations: list[dict[str, str]] = []
    percentile_key = f"p{settings.percentile}"
    if summary:
        if summary["mean"] < settings.threshold:
            violations.append(
                {
                    "feature_name": settings.text_field,
                    "constraint_check_type": "baseline_drift_check",
                    "description": (
                        f"mean similarity to the baseline {summary['mean']:.4f} is below THRESHOLD {settings.threshold} "
                        f"over {len(captured)} texts"
                    ),
                }
            )
        if summary[percentile_key] < settings.percentile_threshold:
            violations.append(
                {
                    "feature_name": settings.text_field,
                    "constraint_check_type": "baseline_drift_check",
                    "description": (
                        f"{percentile_key} similarity to the baseline {summary[percentile_key]:.4f} is below "
                        f"PERCENTILE_THRESHOLD {settings.percentile_threshold} over {len(captured)} texts"
                    ),
                }
            )
    if not captured:
        violations.append(
            {
                "feature_name": settings.text_field,
                "constraint_check_type": "completeness_check",
                "description": (
                    f"no captured texts in the window {_window_text(settings.window)}: {report.records} records read, "
                    f"{report.outside_window} outside the window, {report.malformed_total} unreadable"
                ),
            }
        )
    # The share of unreadable records among those in the window (outside-window ones are not scored).
    if report.in_window and report.malformed_total / report.in_window > MAX_MALFORMED_FRACTION:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.malformed.items()))
        violations.append(
            {
                "feature_name": settings.text_field,
                "constraint_check_type": "completeness_check",
                "description": (
                    f"{report.malformed_total} of {report.in_window} captured records in the window could not be read ({reasons})"
                ),
            }
        )
    # The least similar requests, by their capture ids (not their text: look them up in the capture).
    least = [
        {
            "event_id": captured[i].event_id,
            "inference_id": captured[i].inference_id,
            "inference_time": captured[i].inference_time,
            "similarity": round(float(scores[i]), 6),
        }
        for i in np.argsort(scores)[:LEAST_SIMILAR]
    ]
    statistics = {
        "version": 0.0,
        "endpoint": settings.endpoint_name,
        "monitoring_schedule": settings.schedule_name,
        "window": {
            "start_time": settings.window.start.isoformat() if settings.window.start else None,
            "end_time": settings.window.end.isoformat() if settings.window.end else None,
        },
        "text_field": settings.text_field,
        "text_similarity": summary,
        "least_similar": least,
        "thresholds": {
            "mean": settings.threshold,
            "percentile": settings.percentile,
            "percentile_threshold": settings.percentile_threshold,
        },
        "baseline_texts": int(baseline.shape[0]),
        "capture": report.as_dict(),
    }
    return Outcome(violations=violations, statistics=statistics)


def _window_text(window: Window) -> str:
    start = window.start.isoformat() if window.start else "(open)"
    end = window.end.isoformat() if window.end else "(open)"
    return f"{start} to {end}"


def emf_line(settings: MonitorSettings, outcome: Outcome, now_ms: int) -> str:
    """One CloudWatch embedded-metric-format record (CloudWatch User Guide, "Embedded metric format")."""
    summary = outcome.statistics["text_similarity"]
    capture = outcome.statistics["capture"]
    values: dict[str, Any] = {"captured_texts": capture["texts"], "malformed_records": capture["malformed_records"]}
    metrics = [{"Name": "captured_texts", "Unit": "Count"}, {"Name": "malformed_records", "Unit": "Count"}]
    if summary:
        values[METRIC_MEAN] = summary["mean"]
        values[METRIC_PERCENTILE] = summary[f"p{settings.percentile}"]
        metrics += [{"Name": METRIC_MEAN, "Unit": "None"}, {"Name": METRIC_PERCENTILE, "Unit": "None"}]
    record = {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [["Endpoint", "MonitoringSchedule"]], "Metrics": metrics}
            ],
        },
        "Endpoint": settings.endpoint_name,
        "MonitoringSchedule": settings.schedule_name,
        "violations": len(outcome.violations),
        **values,
    }
    return json.dumps(record, separators=(",", ":"))


def _contract_metrics(settings: MonitorSettings, outcome: Outcome, timestamp: str) -> list[dict[str, Any]]:
    """The BYOC metrics file's records ("CloudWatch Metrics for Bring Your Own Containers")."""
    summary = outcome.statistics["text_similarity"]
    dimensions = [
        {"Name": "Endpoint", "Value": settings.endpoint_name},
        {"Name": "MonitoringSchedule", "Value": settings.schedule_name},
    ]
    names = {METRIC_MEAN: summary.get("mean"), METRIC_PERCENTILE: summary.get(f"p{settings.percentile}")}
    return [
        {"MetricName": name, "Timestamp": timestamp, "Dimensions": dimensions, "Value": value, "Unit": "None"}
        for name, value in names.items()
        if value is not None
    ]


def run(settings: MonitorSettings, embedder: Embedder, stdout: TextIO = sys.stdout) -> Outcome:
    """Analyse and write every output; returns what was found."""
    outcome = analyse(settings, embedder)
    settings.output_path.mkdir(parents=True, exist_ok=True)
    (settings.output_path / "constraint_violations.json").write_text(json.dumps({"violations": outcome.violations}, indent=2))
    (settings.output_path / "statistics.json").write_text(json.dumps(outcome.statistics, indent=2))
    now = time.time()
    print(emf_line(settings, outcome, int(now * 1000)), file=stdout, flush=True)
    if settings.publish_cloudwatch_metrics:
        folder = settings.opt_ml_output / "metrics" / "cloudwatch"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        lines = [json.dumps(m) for m in _contract_metrics(settings, outcome, stamp)]
        (folder / "text_drift_metrics.jsonl").write_text("".join(f"{line}\n" for line in lines))
    write_message(settings.opt_ml_output, outcome.message)
    return outcome


def write_message(opt_ml_output: Path, message: str) -> None:
    """The processing job's ExitMessage (at most 1 KB)."""
    try:
        opt_ml_output.mkdir(parents=True, exist_ok=True)
        (opt_ml_output / "message").write_text(message[:1024])
    except OSError as error:  # outside SageMaker /opt/ml may not be writable: say so, do not fail
        print(f"drift_monitor: could not write the exit message: {error}", file=sys.stderr)
