"""`mlops labeling manifest` against moto's S3 server, and `mlops labeling status` against the real service model.

The manifest command reaches S3 through AWS_ENDPOINT_URL, as any boto3 program would, and
its output is read back by the real pre-annotation Lambda. moto has no labelling-job API,
so `status` runs on a boto3 client wrapped in botocore's Stubber (requests and responses
validated against the SageMaker model).
"""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.labeling import pre_annotation
from mlops_cli import labeling
from mlops_cli.app import main
from tests.aws_emulator import Emulator

BUCKET = "mlops-prod-data"


@pytest.fixture
def s3(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    aws.route_sdk(monkeypatch)
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(s3: Any, key: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_a_folder_becomes_uploaded_texts_and_source_ref_lines(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "calls"
    (folder / "week-2").mkdir(parents=True)
    (folder / "a.txt").write_text("Ada called about her ACME account.", encoding="utf-8")
    (folder / "week-2" / "b.txt").write_text("東京の田中さん 🙂", encoding="utf-8")
    (folder / "notes.md").write_text("not a text to label", encoding="utf-8")
    key = "labeling/calls/2026-11/input.manifest"
    code, out, _ = _run(capsys, "labeling", "manifest", "--from", str(folder), "--to", f"s3://{BUCKET}/{key}")
    assert code == 0
    assert f"wrote 2 lines to s3://{BUCKET}/{key} (2 text objects uploaded)" in out
    lines = _lines(s3, key)
    assert lines == [
        {"source-ref": f"s3://{BUCKET}/labeling/calls/2026-11/objects/a.txt"},
        {"source-ref": f"s3://{BUCKET}/labeling/calls/2026-11/objects/week-2/b.txt"},
    ]
    # What Ground Truth does with the line: the pre-annotation Lambda reads the object back.
    task = json.loads(pre_annotation.task_input({"dataObject": lines[1]}, s3)["taskInput"]["task_json"])
    assert task["text"] == "東京の田中さん 🙂"


def test_a_folder_to_a_local_file_puts_the_texts_inline(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "b.txt").write_text("second", encoding="utf-8")
    (folder / "a.txt").write_text("\ufefffirst 🙂", encoding="utf-8")  # a byte-order mark is not text
    target = tmp_path / "input.manifest"
    assert labeling.write_manifest(folder, str(target)).lines == 2
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == [
        {"source": "first 🙂"},
        {"source": "second"},
    ]


def test_a_csv_column_becomes_source_lines_with_its_text_intact(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    texts = ['She said "cancel it",\nthen hung up.', "Zoe\u0301 from Zürich", "   leading spaces stay"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "transcript"])
        writer.writerows([[i, t] for i, t in enumerate(texts)])
    target = tmp_path / "out" / "input.manifest"
    result = labeling.write_manifest(path, str(target), text_column="transcript")
    assert result.lines == 3
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == [{"source": t} for t in texts]


def test_progress_is_reported_for_every_item_of_a_large_input(tmp_path: Path, s3: Any) -> None:
    path = tmp_path / "many.csv"
    path.write_text("text\n" + "".join(f"call number {i}\n" for i in range(5000)), encoding="utf-8")
    seen: list[tuple[int, str]] = []
    key = "labeling/many/input.manifest"
    result = labeling.write_manifest(path, f"s3://{BUCKET}/{key}", s3=s3, progress=lambda count, what: seen.append((count, what)))
    assert result.lines == 5000
    assert len(seen) == 5000
    assert seen[-1] == (5000, "checked")
    lines = _lines(s3, key)
    assert len(lines) == 5000
    assert lines[4999] == {"source": "call number 4999"}


def test_a_csv_of_s3_uris_becomes_source_ref_lines(tmp_path: Path) -> None:
    path = tmp_path / "refs.csv"
    path.write_text("uri\ns3://b/labeling/x/1.txt\ns3://b/labeling/x/2.txt\n", encoding="utf-8")
    target = tmp_path / "input.manifest"
    labeling.write_manifest(path, str(target), ref_column="uri")
    assert target.read_text().splitlines() == [
        '{"source-ref": "s3://b/labeling/x/1.txt"}',
        '{"source-ref": "s3://b/labeling/x/2.txt"}',
    ]


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"a.txt": "   "}, [], "a.txt: empty text (nothing to label)"),
        ({"notes.md": "x"}, [], "no *.txt files"),
        ({"a.txt": b"Zo\xeb"}, [], "a.txt: not UTF-8 text (byte 2)"),
        ({"a.txt": "x"}, ["--to", f"s3://{BUCKET}/elsewhere/input.manifest"], "--to key must start with labeling/"),
        ({"a.txt": "x"}, ["--to", f"s3://{BUCKET}/labeling/"], "--to must name the manifest object"),
        ({"c.csv": "id,text\n1,\n"}, [], "c.csv:2: column 'text' is empty"),
        ({"c.csv": "id,body\n1,x\n"}, [], "no column 'text' (columns: id, body)"),
        ({"c.csv": "uri\nhttps://example.com/a\n"}, ["--ref-column", "uri"], "is not an s3://bucket/key URI"),
        # The labelling role reads only labeling/ in the data bucket (mlops_constructs/labeling/jobs.py):
        # a reference elsewhere would fail each task at run time, after the job has started.
        (
            {"c.csv": "uri\ns3://someone-elses-bucket/labeling/a.txt\n"},
            ["--ref-column", "uri"],
            f"c.csv:2: s3://someone-elses-bucket/labeling/a.txt is not in the --to bucket {BUCKET}",
        ),
        (
            {"c.csv": f"uri\ns3://{BUCKET}/labeling/a.txt\ns3://{BUCKET}/raw/b.txt\n"},
            ["--ref-column", "uri"],
            f"c.csv:3: s3://{BUCKET}/raw/b.txt: key must start with labeling/",
        ),
        ({"c.csv": "text\n" + "x" * 110_000 + "\n"}, [], "manifest line is 110014 bytes; Ground Truth reads at most 102400"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_nothing_is_written(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str], files: dict[str, str | bytes], args: list[str], message: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    source = folder / "c.csv" if "c.csv" in files else folder
    options = {"--to": f"s3://{BUCKET}/labeling/t/input.manifest"}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["labeling", "manifest", "--from", str(source)] + [x for pair in options.items() for x in pair]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def _summary(name: str, status: str, **counters: int) -> dict[str, Any]:
    return {
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:eu-west-1:222222222222:labeling-job/{name}",
        "CreationTime": datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC),
        "LastModifiedTime": datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC),
        "LabelingJobStatus": status,
        "LabelCounters": counters,
        "WorkteamArn": "arn:aws:sagemaker:eu-west-1:222222222222:workteam/private-crowd/mlops-prod-annotators",
        "PreHumanTaskLambdaArn": "arn:aws:lambda:eu-west-1:222222222222:function:mlops-prod-labeling-pre-annotation",
    }


def test_status_lists_each_configured_job_with_its_counts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    query = {"SortBy": "CreationTime", "SortOrder": "Descending"}
    stubber.add_response(
        "list_labeling_jobs",
        {
            "LabelingJobSummaryList": [
                _summary("transcript-entities-0a1b2c3d", "InProgress", TotalLabeled=120, HumanLabeled=120, Unlabeled=380),
                # Another job whose name merely contains ours (a review job) is not this one's.
                _summary("transcript-entities-review-9f8e7d6c", "Initializing"),
            ]
        },
        {"NameContains": "transcript-entities", **query},
    )
    stubber.add_response(
        "list_labeling_jobs", {"LabelingJobSummaryList": []}, {"NameContains": "transcript-entities-review", **query}
    )
    monkeypatch.setattr(labeling, "client", lambda service, region=None: client)
    with stubber:
        code, out, _ = _run(capsys, "labeling", "status", "--env", "prod", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["config_name"], r["job_name"], r["status"]) for r in rows] == [
        ("transcript-entities", "transcript-entities-0a1b2c3d", "InProgress"),
        ("transcript-entities-review", None, "waiting for transcript-entities"),
    ]
    assert rows[0]["counters"] == {
        "TotalLabeled": 120,
        "HumanLabeled": 120,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 380,
    }


def test_status_prints_a_table_for_people(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "list_labeling_jobs",
        {"LabelingJobSummaryList": [_summary("transcript-entities-0a1b2c3d", "Completed", TotalLabeled=500)]},
    )
    stubber.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []})
    monkeypatch.setattr(labeling, "client", lambda service, region=None: client)
    with stubber:
        code, out, _ = _run(capsys, "labeling", "status", "--env", "prod")
    assert code == 0
    assert "transcript-entities-0a1b2c3d" in out
    assert "Completed" in out
    assert "500" in out


def test_status_of_an_environment_without_labeling_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "labeling", "status", "--env", "dev")
    assert code == 2
    assert "config/dev.yaml has no labeling section" in err


def test_status_without_credentials_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = _run(capsys, "labeling", "status", "--env", "prod")
    assert code == 2
    assert "list labelling jobs: no AWS credentials" in err
