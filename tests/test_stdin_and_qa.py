"""`serve stdin` and the QA steps, as real processes and a real shell pipeline."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlops_inference.batching import BatchStats
from mlops_inference.stats import NAMESPACE, RequestStats, emf_line, emf_record

from config.loader import REPO_ROOT
from mlops_cli import qa
from mlops_cli.__main__ import main as mlops
from mlops_cli.errors import CliError
from mlops_cli.model_artifact import FEATURE_NAMES, synthetic_calls
from tests.serving_fixtures import INFERENCE_DIR, ROW, process_env


@pytest.fixture(scope="module")
def calls_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic_calls(300, seed=21)
    path = tmp_path_factory.mktemp("qa") / "calls.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *FEATURE_NAMES, "label"])
        for index, (row, label) in enumerate(zip(data.features, data.labels, strict=True)):
            writer.writerow([f"c{index}", *(float(v) for v in row), int(label)])
    return path


def _stdin(model_dir: Path, payload: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(INFERENCE_DIR / "serve"), "stdin"], input=payload, env=process_env(model_dir), capture_output=True, check=False
    )


def test_one_output_line_per_input_with_errors_in_place(model_dir: Path) -> None:
    lines = [
        json.dumps({"id": "a", "features": ROW}),
        "{not json",
        json.dumps({"id": "b", "features": [1, 2]}),
        "",
        json.dumps(ROW),
        json.dumps({"id": "c", "features": dict(zip(FEATURE_NAMES, ROW, strict=True))}),
    ]
    result = _stdin(model_dir, ("\n".join(lines) + "\n").encode())
    assert result.returncode == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5  # the blank line is not an input
    assert out[0]["id"] == "a"
    assert 0 <= out[0]["risk"] <= 1
    assert set(out[1]) == {"line", "error"}
    assert out[1]["line"] == 2
    assert out[1]["error"].startswith("line 2: unexpected character")
    assert out[2]["id"] == "b"
    assert "expected 12 features, got 2" in out[2]["error"]
    assert set(out[3]) == {"risk", "label"}
    assert out[4]["id"] == "c"
    assert out[4]["risk"] == out[0]["risk"]  # by name == by position
    assert b"scored 3 line(s), 2 error(s)" in result.stderr


def test_stdin_scores_many_lines_in_chunks(model_dir: Path) -> None:
    payload = "".join(json.dumps({"id": i, "features": ROW}) + "\n" for i in range(1000)).encode()
    result = _stdin(model_dir, payload)
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == list(range(1000))


def test_serve_rejects_unknown_arguments(model_dir: Path) -> None:
    result = subprocess.run([str(INFERENCE_DIR / "serve"), "train"], env=process_env(model_dir), capture_output=True, check=False)
    assert result.returncode == 2
    assert b"usage: serve [stdin]" in result.stderr


def test_missing_model_is_a_clear_startup_error(tmp_path: Path) -> None:
    result = _stdin(tmp_path, b"")
    assert result.returncode == 1
    assert b"metadata.json is missing" in result.stderr


def test_qa_pipeline_csv_to_stdin_to_analyze(model_dir: Path, calls_csv: Path) -> None:
    """The documented pipeline, as a shell would run it."""
    python = sys.executable
    command = (
        f"{python} -m mlops_cli qa csv-to-jsonl {calls_csv} "
        f"| {INFERENCE_DIR / 'serve'} stdin "
        f"| {python} -m mlops_cli qa analyze --truth {calls_csv} --json"
    )
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], env=process_env(model_dir), cwd=REPO_ROOT, capture_output=True, check=True
    )
    report = json.loads(result.stdout)
    assert report["records"] == report["scored"] == 300
    assert report["errors"] == 0
    assert report["truth"]["matched"] == 300
    assert report["truth"]["auc"] > 0.65
    assert sum(report["histogram"]) == 300


def test_csv_to_jsonl_names_bad_cells() -> None:
    source = io.StringIO("id,a,b\nx,1,2\ny,3,oops\n")
    with pytest.raises(CliError, match="line 3, column 'b': 'oops' is not a number"):
        qa.csv_to_jsonl(source, io.StringIO())


def test_csv_to_jsonl_records() -> None:
    sink = io.StringIO()
    assert qa.csv_to_jsonl(io.StringIO("id,a,label\nx,1.5,1\n,2,0\n"), sink) == 2
    assert [json.loads(line) for line in sink.getvalue().splitlines()] == [
        {"id": "x", "features": {"a": 1.5}},
        {"id": 2, "features": {"a": 2.0}},
    ]


def _predictions(*rows: tuple[str, float]) -> list[qa.Prediction]:
    return [qa.Prediction(i, r, int(r >= 0.5)) for i, r in rows]


def test_compare_counts_flips_and_deltas() -> None:
    first = _predictions(("a", 0.1), ("b", 0.6), ("c", 0.4), ("d", 0.9))
    second = _predictions(("a", 0.1), ("b", 0.4), ("c", 0.7), ("e", 0.2))
    report = qa.compare(first, second)
    assert report["compared"] == 3
    assert (report["only_in_first"], report["only_in_second"]) == (1, 1)
    assert (report["flips_0_to_1"], report["flips_1_to_0"]) == (1, 1)
    assert report["flip_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["max_abs_risk_delta"] == pytest.approx(0.3)
    assert report["max_delta_id"] == "c"


def test_compare_gate_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    one.write_text('{"id": 1, "risk": 0.2, "label": 0}\n{"id": 2, "risk": 0.8, "label": 1}\n')
    two.write_text('{"id": 1, "risk": 0.7, "label": 1}\n{"id": 2, "risk": 0.8, "label": 1}\n')
    assert mlops(["qa", "compare", str(one), str(two), "--max-flip-rate", "0.6"]) == 0
    assert mlops(["qa", "compare", str(one), str(two), "--max-flip-rate", "0.1"]) == 1
    assert "flip rate 0.5 is above --max-flip-rate 0.1" in capsys.readouterr().err


def test_analyze_counts_error_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "risk": 0.2, "label": 0}\n{"line": 2, "error": "line 2: bad"}\n')
    assert mlops(["qa", "analyze", str(path), "--json", "--fail-on-errors"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["scored"], report["errors"], report["first_errors"]) == (1, 1, ["line 2: bad"])


def test_cli_reports_missing_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert mlops(["qa", "analyze", "/nonexistent.jsonl"]) == 2
    assert "/nonexistent.jsonl: no such file" in capsys.readouterr().err


def test_emf_record_is_valid_embedded_metric_format() -> None:
    requests = RequestStats(requests=10, client_errors=1, latency_ms=[1.0, 2.0, 3.0])
    batches = BatchStats(batches=2, rows=10, inference_ms=[0.5, 0.7], queue_ms=[0.1] * 10)
    record = json.loads(
        emf_line(emf_record(requests, batches, model="caller-risk", variant="champion", endpoint="caller-risk-ep", now_ms=1))
    )
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["EndpointName", "Variant", "Model"]]
    assert record["EndpointName"] == "caller-risk-ep"
    for metric in directive["Metrics"]:
        assert metric["Name"] in record  # every declared metric has a value
    assert (record["Requests"], record["MeanBatchSize"], record["Variant"]) == (10, 5.0, "champion")
