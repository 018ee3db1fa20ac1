"""The text-drift container, run as SageMaker runs it: `python -m drift_monitor` as a process.

The baseline and two monitoring executions run as real processes on generated capture files,
once per session (each process loads the embedding model once, about 10 s on these 2 cores;
the two executions run side by side); settings and malformed-only cases need no model and
run in-process.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from drift_monitor.capture import ReadReport, read_capture
from drift_monitor.monitor import MonitorSettings, SettingsError, analyse, run

from mlops_constructs.monitoring_rules import (
    DRIFT_ENV_BATCH_SIZE,
    DRIFT_ENV_CSV_COLUMN,
    DRIFT_ENV_PERCENTILE,
    DRIFT_ENV_PERCENTILE_THRESHOLD,
    DRIFT_ENV_TEXT_FIELD,
    DRIFT_ENV_THRESHOLD,
    DRIFT_METRIC_MEAN,
    DRIFT_METRIC_PERCENTILE,
    DRIFT_METRICS_NAMESPACE,
)
from tests.drift_corpus import MALFORMED_LINES, capture_line, mixed_encodings, texts, write_capture

CONTAINER = Path(__file__).resolve().parent.parent / "containers" / "drift_monitor"
ENDPOINT = "call-transcript-intent"


def _env(env: dict[str, str], threads: int = 2) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(CONTAINER),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": str(threads),
        **env,
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drift_monitor", *args]
    return subprocess.run(command, env=_env(env), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m drift_monitor baseline` over 300 generated call transcripts (JSON Lines)."""
    root = tmp_path_factory.mktemp("drift-baseline")
    dataset = root / "transcripts.jsonl"
    dataset.write_text("".join(json.dumps({"transcript": t}) + "\n" for t in texts("calls", 300, seed=1)))
    result = _run(["baseline", "--input", str(dataset), "--output", str(root / "out"), "--text-field", "transcript"], {})
    assert result.returncode == 0, result.stderr
    return root / "out"


@dataclass(frozen=True)
class Execution:
    returncode: int
    stdout: str
    stderr: str
    out: Path


@pytest.fixture(scope="session")
def executions(baseline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Execution]:
    """Two scheduled executions as processes, started together (each loads the model once; the
    machine has 2 cores): the same distribution, and a shifted corpus with malformed lines."""
    scenarios = {
        "same": mixed_encodings(texts("calls", 120, seed=2)),
        "shifted": mixed_encodings(texts("shifted", 150, seed=3)) + list(MALFORMED_LINES.values()),
    }
    started = {}
    for name, lines in scenarios.items():
        out = tmp_path_factory.mktemp(f"drift-{name}")
        write_capture(out / "endpoint", ENDPOINT, lines)
        args = [] if name == "same" else ["monitor"]  # both forms start a monitoring execution
        process = subprocess.Popen(
            [sys.executable, "-m", "drift_monitor", *args],
            env=_env(_monitor_env(baseline_dir, out / "endpoint", out), threads=1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = (process, out)
    results = {}
    for name, (process, out) in started.items():
        stdout, stderr = process.communicate(timeout=600)
        results[name] = Execution(process.returncode, stdout, stderr, out)
    return results


def _monitor_env(baseline: Path, source: Path, out: Path) -> dict[str, str]:
    return {
        "dataset_source": str(source),
        "output_path": str(out / "resultdata"),
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        "sagemaker_endpoint_name": ENDPOINT,
        "sagemaker_monitoring_schedule_name": f"{ENDPOINT}-drift",
        "start_time": "2026-11-25T10:00:00Z",
        "end_time": "2026-11-25T11:00:00Z",
        "publish_cloudwatch_metrics": "Enabled",
        "OPT_ML_OUTPUT": str(out / "opt-ml-output"),
        DRIFT_ENV_THRESHOLD: "0.5",
        DRIFT_ENV_PERCENTILE: "10",
        DRIFT_ENV_PERCENTILE_THRESHOLD: "0.3",
        DRIFT_ENV_TEXT_FIELD: "transcript",
        DRIFT_ENV_CSV_COLUMN: "0",
        DRIFT_ENV_BATCH_SIZE: "32",
    }


def _emf(stdout: str) -> dict[str, Any]:
    (line,) = [line for line in stdout.splitlines() if line.startswith('{"_aws"')]
    record: dict[str, Any] = json.loads(line)
    return record


def test_baseline_holds_the_embeddings_and_self_similarity(baseline_dir: Path) -> None:
    statistics = json.loads((baseline_dir / "statistics.json").read_text())
    constraints = json.loads((baseline_dir / "constraints.json").read_text())
    assert (statistics["count"], statistics["dimension"], statistics["model"]) == (
        300,
        384,
        "sentence-transformers/all-MiniLM-L6-v2",
    )
    assert constraints["dataset"]["texts"] == 300
    assert constraints["baseline_self_similarity"]["mean"] > 0.7


def test_same_distribution_raises_no_violation(executions: dict[str, Execution]) -> None:
    result = executions["same"]
    tmp_path = result.out
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "resultdata" / "constraint_violations.json").read_text()) == {"violations": []}
    statistics = json.loads((tmp_path / "resultdata" / "statistics.json").read_text())
    assert statistics["capture"]["texts"] == 120  # JSON, BASE64 and CSV records all read
    assert statistics["capture"]["malformed_records"] == 0
    assert statistics["text_similarity"]["mean"] > 0.7
    least = statistics["least_similar"]
    assert len(least) == 10
    assert least[0]["event_id"].startswith("event-")
    assert least[0]["similarity"] == statistics["text_similarity"]["min"]
    message = (tmp_path / "opt-ml-output" / "message").read_text()
    assert message.startswith("Completed: ")


def test_shifted_corpus_is_a_violation_carrying_the_measured_similarity(executions: dict[str, Execution]) -> None:
    result = executions["shifted"]
    tmp_path = result.out
    assert result.returncode == 0, result.stderr
    statistics = json.loads((tmp_path / "resultdata" / "statistics.json").read_text())
    mean = statistics["text_similarity"]["mean"]
    assert mean < 0.5
    violations = json.loads((tmp_path / "resultdata" / "constraint_violations.json").read_text())["violations"]
    drift = [v for v in violations if v["constraint_check_type"] == "baseline_drift_check"]
    assert {v["feature_name"] for v in drift} == {"transcript"}
    assert f"mean similarity to the baseline {mean:.4f} is below THRESHOLD 0.5" in drift[0]["description"]
    # Malformed lines: counted by reason, reported with file:line, a completeness violation (4 of 154 > 1%).
    assert statistics["capture"]["malformed_by_reason"] == {reason: 1 for reason in MALFORMED_LINES}
    assert statistics["capture"]["texts"] == 150
    assert any(v["constraint_check_type"] == "completeness_check" and "4 of 154" in v["description"] for v in violations)
    assert (tmp_path / "opt-ml-output" / "message").read_text().startswith("CompletedWithViolations: ")
    # The metric, as CloudWatch embedded metric format on stdout ...
    emf = _emf(result.stdout)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == DRIFT_METRICS_NAMESPACE
    assert directive["Dimensions"] == [["Endpoint", "MonitoringSchedule"]]
    assert (emf["Endpoint"], emf["MonitoringSchedule"]) == (ENDPOINT, f"{ENDPOINT}-drift")
    assert emf[DRIFT_METRIC_MEAN] == mean
    assert DRIFT_METRIC_PERCENTILE in emf
    assert emf["malformed_records"] == 4
    # ... and in the bring-your-own-container metrics file, since publish_cloudwatch_metrics is Enabled.
    (metrics_file,) = (tmp_path / "opt-ml-output" / "metrics" / "cloudwatch").iterdir()
    names = {json.loads(line)["MetricName"]: json.loads(line)["Value"] for line in metrics_file.read_text().splitlines()}
    assert names[DRIFT_METRIC_MEAN] == mean


def test_missing_baseline_fails_the_execution_with_a_reason(tmp_path: Path) -> None:
    source = tmp_path / "endpoint"
    write_capture(source, ENDPOINT, [capture_line("hello", 0)])
    env = _monitor_env(tmp_path / "nowhere", source, tmp_path)
    result = _run([], env)
    assert result.returncode == 1
    assert "Failed: " in (tmp_path / "opt-ml-output" / "message").read_text()
    assert "statistics.json" in result.stderr


class _NoModel:
    """Stands in where nothing may be embedded: the analysis must not call it."""

    def embed(self, texts: list[str], batch_size: int = 32) -> Any:
        raise AssertionError("nothing should be embedded")


def test_only_malformed_lines_are_counted_never_a_crash(tmp_path: Path) -> None:
    source = tmp_path / "endpoint"
    binary = json.dumps(
        {"captureData": {"endpointInput": {"data": base64.b64encode(b"\xff\xfe\x00").decode(), "encoding": "BASE64"}}}
    )
    odd = ["", "[1, 2]", '{"captureData": {"endpointInput": {"data": 5}}}', binary]
    odd.append(json.dumps({"captureData": {"endpointInput": {"data": "x", "encoding": "AVRO"}}}))
    write_capture(source, ENDPOINT, [*MALFORMED_LINES.values(), *odd])
    report = ReadReport()
    assert list(read_capture(source, "transcript", 0, report)) == []
    assert report.records == 8
    expected = {"not_an_object": 1, "missing_data": 1, "not_utf8_text": 1, "unknown_encoding": 1}
    assert dict(report.malformed) == {**{r: 1 for r in MALFORMED_LINES}, **expected}
    assert report.examples[0].endswith("00-00-000-0a1b2c3d.jsonl:1: not_json")


def test_malformed_only_window_reports_and_embeds_nothing(tmp_path: Path) -> None:
    from drift_monitor.baseline import FORMAT, VERSION

    baseline = tmp_path / "statistics.json"
    baseline.write_text(json.dumps({"format": FORMAT, "version": VERSION, "count": 0, "dimension": 384, "embeddings": ""}))
    source = tmp_path / "endpoint"
    write_capture(source, ENDPOINT, list(MALFORMED_LINES.values()))
    env = _monitor_env(tmp_path, source, tmp_path)
    outcome = analyse(MonitorSettings.from_env(env), _NoModel())  # type: ignore[arg-type]
    assert outcome.statistics["capture"]["malformed_records"] == 4
    descriptions = [v["description"] for v in outcome.violations if v["constraint_check_type"] == "completeness_check"]
    assert len(descriptions) == len(outcome.violations) == 2
    assert descriptions[0].startswith("no captured texts in the window")
    assert descriptions[1].startswith("4 of 4 captured records in the window could not be read")


class _UnitEmbedder:
    """Every text on the same unit vector, and a record of what was embedded (no model)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str], batch_size: int = 32) -> Any:
        import numpy as np

        self.seen += texts
        vectors = np.zeros((len(texts), 4), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors


def _unit_baseline(folder: Path) -> Path:
    import numpy as np
    from drift_monitor.baseline import FORMAT, VERSION

    vectors = np.array([[1.0, 0.0, 0.0, 0.0]], dtype=np.float16)
    embeddings = base64.b64encode(vectors.tobytes()).decode()
    document = {"format": FORMAT, "version": VERSION, "count": 1, "dimension": 4, "embeddings": embeddings}
    (folder / "statistics.json").write_text(json.dumps(document))
    return folder


def test_records_outside_the_window_are_skipped_and_counted(tmp_path: Path) -> None:
    """Model Monitor may hand over more than the window ("Container Contract Inputs", dataset_source):
    the previous hour's records are skipped, counted as outside_window, never scored nor malformed."""
    source = tmp_path / "endpoint"
    earlier = [capture_line("roaming charges last hour", 90, inference_time="2026-11-25T09:59:59Z")]
    bad_payload = json.loads(capture_line("x", 91, encoding="BASE64", inference_time="2026-11-25T09:30:00Z"))
    bad_payload["captureData"]["endpointInput"]["data"] = "%%%not base64%%%"
    earlier.append(json.dumps(bad_payload))
    write_capture(source, ENDPOINT, earlier, hour="09")
    inside = [capture_line(f"in the window {i}", i, inference_time=f"2026-11-25T10:{i:02d}:00Z") for i in range(3)]
    later = capture_line("the next hour", 99, inference_time="2026-11-25T11:00:00Z")  # end is exclusive
    write_capture(source, ENDPOINT, [*inside, later], hour="10")
    env = _monitor_env(_unit_baseline(tmp_path), source, tmp_path)
    # The contract's own example has stray spaces inside the time ("2019-12-01T16: 20: 00Z").
    env |= {"start_time": " 2026-11-25T10: 00: 00Z", "end_time": "2026-11-25T11: 00: 00Z "}
    embedder = _UnitEmbedder()
    outcome = analyse(MonitorSettings.from_env(env), embedder)  # type: ignore[arg-type]
    assert embedder.seen == ["in the window 0", "in the window 1", "in the window 2"]
    capture = outcome.statistics["capture"]
    assert (capture["records"], capture["outside_window"], capture["texts"], capture["malformed_records"]) == (6, 3, 3, 0)
    assert outcome.statistics["window"] == {"start_time": "2026-11-25T10:00:00+00:00", "end_time": "2026-11-25T11:00:00+00:00"}
    assert outcome.violations == []


def test_a_text_without_an_inference_time_is_malformed_in_a_bounded_window(tmp_path: Path) -> None:
    source = tmp_path / "endpoint"
    undated = json.loads(capture_line("when was this", 1))
    del undated["eventMetadata"]["inferenceTime"]
    odd = json.loads(capture_line("and this", 2, inference_time="yesterday"))
    write_capture(source, ENDPOINT, [json.dumps(undated), json.dumps(odd), capture_line("fine", 3)])
    report = ReadReport()
    settings = MonitorSettings.from_env(_monitor_env(tmp_path, source, tmp_path))
    texts = [c.text for c in read_capture(source, "transcript", 0, report, settings.window)]
    assert texts == ["fine"]
    assert dict(report.malformed) == {"no_inference_time": 1, "bad_inference_time": 1}


def test_an_empty_window_is_a_violation_that_alerts(tmp_path: Path) -> None:
    """No text to score (capture stopped, or everything is from another hour) must not pass as
    Completed: the alarms treat missing metrics as not breaching, and the alert rule only
    matches CompletedWithViolations or failures."""
    source = tmp_path / "endpoint"
    write_capture(source, ENDPOINT, [capture_line("an hour early", 1, inference_time="2026-11-25T09:00:00Z")], hour="09")
    settings = MonitorSettings.from_env(_monitor_env(_unit_baseline(tmp_path), source, tmp_path))
    outcome = run(settings, _NoModel(), stdout=io.StringIO())  # type: ignore[arg-type]
    (violation,) = outcome.violations
    assert violation["constraint_check_type"] == "completeness_check"
    assert violation["description"] == (
        "no captured texts in the window 2026-11-25T10:00:00+00:00 to 2026-11-25T11:00:00+00:00: "
        "1 records read, 1 outside the window, 0 unreadable"
    )
    written = json.loads((tmp_path / "resultdata" / "constraint_violations.json").read_text())
    assert written == {"violations": [violation]}
    assert (tmp_path / "opt-ml-output" / "message").read_text().startswith("CompletedWithViolations: ")

    empty = tmp_path / "nothing"
    empty.mkdir()
    outcome = analyse(MonitorSettings.from_env({**_monitor_env(tmp_path, empty, tmp_path)}), _NoModel())  # type: ignore[arg-type]
    assert [v["description"].split(":")[0] for v in outcome.violations] == ["no captured texts in the window 2026-11-25T10"]


def test_json_instances_and_jsonlines_payloads_give_every_text(tmp_path: Path) -> None:
    import base64

    def record(data: str, content_type: str, encoding: str = "JSON") -> str:
        return json.dumps(
            {"captureData": {"endpointInput": {"observedContentType": content_type, "data": data, "encoding": encoding}}}
        )

    lines = [
        record(json.dumps({"instances": [{"call": {"text": "a"}}, {"call": {"text": "b"}}]}), "application/json"),
        record(base64.b64encode(b'{"call": {"text": "c"}}\n{"call": {"text": "d"}}').decode(), "application/jsonlines", "BASE64"),
        record(json.dumps([{"call": {"text": "e"}}]), "application/json"),
    ]
    source = tmp_path / "endpoint"
    write_capture(source, ENDPOINT, lines)
    report = ReadReport()
    assert [c.text for c in read_capture(source, "call.text", 0, report)] == ["a", "b", "c", "d", "e"]
    assert report.malformed_total == 0


def test_settings_report_every_problem_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        MonitorSettings.from_env({"THRESHOLD": "high", "PERCENTILE": "100"})
    problems = caught.value.problems
    assert "dataset_source is not set" in problems
    assert "THRESHOLD='high' is not a number" in problems
    assert "PERCENTILE=100 is outside 1-99" in problems
    assert "PERCENTILE_THRESHOLD is not set" in problems


def test_settings_refuse_a_window_they_cannot_read() -> None:
    with pytest.raises(SettingsError) as caught:
        MonitorSettings.from_env(
            {
                "dataset_source": "/in",
                "output_path": "/out",
                "THRESHOLD": "0.5",
                "PERCENTILE_THRESHOLD": "0.3",
                "start_time": "2026-11-25T11:00:00Z",
                "end_time": "2026-11-25T10:00:00Z",
            }
        )
    assert caught.value.problems == ["start_time 2026-11-25T11:00:00+00:00 is not before end_time 2026-11-25T10:00:00+00:00"]
    with pytest.raises(SettingsError) as caught:
        MonitorSettings.from_env(
            {
                "dataset_source": "/in",
                "output_path": "/out",
                "THRESHOLD": "0.5",
                "PERCENTILE_THRESHOLD": "0.3",
                "end_time": "soon",
            }
        )
    assert caught.value.problems == ["end_time='soon' is not an ISO 8601 time"]


def test_the_container_reads_every_variable_the_schedule_sets() -> None:
    """Every environment variable the drift schedule sets is read by the container (one source each)."""
    from config.loader import load_config
    from stacks.monitoring import drift_environment

    sections = [e.monitoring.text_drift for e in load_config("prod").endpoints if e.monitoring and e.monitoring.text_drift]
    source = (CONTAINER / "drift_monitor" / "monitor.py").read_text()
    for name in drift_environment(sections[0]):
        assert f'"{name}"' in source, name
