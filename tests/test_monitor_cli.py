"""`mlops monitor baseline`: the CreateProcessingJob request checked against the service model,
the whole command against moto in server mode, and the failure path against botocore's Stubber."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from config.loader import load_config
from mlops_cli.app import main
from mlops_cli.errors import CliError
from mlops_cli.monitor import AccountFacts, JobResult, account_facts, plan, wait
from mlops_constructs.model_monitor_images import analyzer_image
from tests.aws_emulator import Emulator

NOW = dt.datetime(2026, 11, 25, 9, 30, 0, tzinfo=dt.UTC)
KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FACTS = AccountFacts(
    role_arn="arn:aws:iam::222222222222:role/mlops-prod-monitoring-Role",
    monitoring_bucket="mlops-prod-monitoring-bucket",
    artifacts_bucket="mlops-prod-artifacts-bucket",
    data_key_arn=KEY,
    drift_image_uri="222222222222.dkr.ecr.eu-west-1.amazonaws.com/cdk-assets:abc123",
)


def _problems(value: Any, shape: Any, path: str = "") -> list[str]:
    """Enum and pattern violations, which ParamValidator does not check."""
    import re

    if shape.type_name == "structure":
        return [p for key, item in value.items() for p in _problems(item, shape.members[key], f"{path}.{key}")]
    if shape.type_name == "list":
        return [p for i, item in enumerate(value) for p in _problems(item, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map":
        return [p for key, item in value.items() for p in _problems(item, shape.value, f"{path}.{key}")]
    if shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} not in {shape.name}"]
        pattern = shape.metadata.get("pattern")
        try:
            compiled = re.compile(pattern) if pattern else None
        except re.error:  # a few model patterns use \p{...} classes Python's re lacks
            compiled = None
        if compiled is not None and not compiled.fullmatch(value):
            return [f"{path}: {value!r} does not match {pattern}"]
    return []


def _assert_valid(request: dict[str, Any]) -> None:
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateProcessingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert _problems(request, shape) == []


def test_data_quality_request_is_valid_and_writes_where_the_schedule_reads() -> None:
    job = plan(load_config("prod"), env="prod", endpoint="caller-risk", kind="data-quality", facts=FACTS, now=NOW)
    _assert_valid(job.request)
    request = job.request
    assert job.job_name == "caller-risk-dq-baseline-20261125093000"
    assert request["AppSpecification"] == {"ImageUri": analyzer_image("eu-west-1").uri}
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == (
        "s3://mlops-prod-monitoring-bucket/baselines/caller-risk/data-quality"
    )
    assert (
        request["ProcessingInputs"][0]["S3Input"]["S3Uri"]
        == "s3://mlops-prod-monitoring-bucket/baselines/caller-risk/data-quality/dataset/caller-risk-dq-baseline-20261125093000/"
    )
    assert json.loads(request["Environment"]["dataset_format"]) == {"csv": {"header": True, "output_columns_position": "START"}}
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
    assert request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 50 * 60}
    assert job.staging.copy_from == ("mlops-prod-artifacts-bucket", "caller-risk/baseline/train.csv")
    assert job.staging.key == "baselines/caller-risk/data-quality/dataset/caller-risk-dq-baseline-20261125093000/train.csv"


def test_text_drift_request_runs_the_drift_image_baseline_command() -> None:
    job = plan(load_config("prod"), env="prod", endpoint="call-transcript-intent", kind="text-drift", facts=FACTS, now=NOW)
    _assert_valid(job.request)
    assert job.request["AppSpecification"] == {"ImageUri": FACTS.drift_image_uri, "ContainerArguments": ["baseline"]}
    assert job.request["Environment"]["TEXT_FIELD"] == "transcript"
    assert job.request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].endswith(
        "/baselines/call-transcript-intent/text-drift"
    )


@pytest.mark.parametrize(
    ("endpoint", "kind", "message"),
    [
        ("nope", "data-quality", "no endpoint 'nope' in config/prod.yaml (endpoints: caller-risk, call-transcript-intent)"),
        ("caller-risk", "text-drift", "has no monitoring.text_drift in config/prod.yaml (configured: data-quality)"),
    ],
)
def test_plan_names_what_is_not_configured(endpoint: str, kind: str, message: str) -> None:
    with pytest.raises(CliError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(load_config("prod"), env="prod", endpoint=endpoint, kind=kind, facts=FACTS, now=NOW)


def test_missing_stack_outputs_say_what_to_deploy() -> None:
    with pytest.raises(CliError, match=r"stack mlops-prod-monitoring has no output RoleArnCallerRisk.*cdk deploy"):
        account_facts({"MonitoringBucket": "b"}, env="prod", endpoint="caller-risk", kind="data-quality")


def _monitoring_stack(aws: Emulator, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(StackName="mlops-prod-monitoring", TemplateBody=json.dumps(template))


def test_baseline_runs_end_to_end_against_moto(
    aws: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = aws.client("s3")
    for bucket in (FACTS.monitoring_bucket, FACTS.artifacts_bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=FACTS.artifacts_bucket, Key="caller-risk/baseline/train.csv", Body=b"call_duration_s,roaming\n12,0\n")
    _monitoring_stack(
        aws,
        {
            "RoleArnCallerRisk": FACTS.role_arn,
            "MonitoringBucket": FACTS.monitoring_bucket,
            "ArtifactsBucket": FACTS.artifacts_bucket,
            "DataKeyArn": KEY,
        },
    )

    class Session:  # boto3 clients for the emulator, as a Session would hand them out
        def client(self, service: str) -> Any:
            return aws.client(service)

    from mlops_cli import monitor

    original = monitor.baseline
    monkeypatch.setattr(monitor, "baseline", lambda **kw: original(**kw, session=Session(), now=NOW, sleep=lambda _: None))
    assert main(["monitor", "baseline", "--env", "prod", "caller-risk", "--wait"]) == 0
    captured = capsys.readouterr()
    assert "caller-risk-dq-baseline-20261125093000: Completed" in captured.out
    staged_key = "baselines/caller-risk/data-quality/dataset/caller-risk-dq-baseline-20261125093000/train.csv"
    assert f"staged s3://mlops-prod-monitoring-bucket/{staged_key}" in captured.err
    assert "caller-risk-dq-baseline-20261125093000: Completed after" in captured.err
    staged = s3.get_object(Bucket=FACTS.monitoring_bucket, Key=staged_key)
    assert staged["Body"].read().startswith(b"call_duration_s")
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName="caller-risk-dq-baseline-20261125093000")
    assert job["RoleArn"] == FACTS.role_arn
    assert job["AppSpecification"]["ImageUri"] == analyzer_image("eu-west-1").uri


def test_wait_reports_progress_and_the_failure_reason() -> None:
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    name = "caller-risk-dq-baseline-20261125093000"
    base = {
        "ProcessingJobName": name,
        "ProcessingJobArn": f"arn:aws:sagemaker:eu-west-1:222222222222:processing-job/{name}",
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        "AppSpecification": {"ImageUri": "img"},
        "RoleArn": FACTS.role_arn,
        "CreationTime": NOW,
    }
    for status in ("InProgress", "InProgress", "Failed"):
        extra = {"FailureReason": "AlgorithmError: no header row in train.csv"} if status == "Failed" else {}
        stubber.add_response(
            "describe_processing_job", {**base, "ProcessingJobStatus": status, **extra}, {"ProcessingJobName": name}
        )
    lines: list[str] = []
    ticks = iter(range(0, 1000, 30))
    with stubber:
        result = wait(client, name, report=lines.append, poll_seconds=30, sleep=lambda _: None, clock=lambda: float(next(ticks)))
    assert result == JobResult(name, "Failed", "AlgorithmError: no header row in train.csv", None)
    assert lines == [f"{name}: InProgress after 30 s", f"{name}: Failed after 60 s"]


def test_command_exits_1_with_the_failure_reason(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_cli import monitor

    monkeypatch.setattr(
        monitor, "baseline", lambda **_: JobResult("caller-risk-dq-baseline-1", "Failed", "AlgorithmError: bad CSV")
    )
    assert main(["monitor", "baseline", "--env", "prod", "caller-risk", "--wait"]) == 1
    assert "caller-risk-dq-baseline-1 failed: AlgorithmError: bad CSV" in capsys.readouterr().err


def test_local_baseline_is_uploaded(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "texts.txt").write_text("hello\n")
    config = load_config("prod")
    endpoint = config.endpoints[1]
    assert endpoint.monitoring is not None
    assert endpoint.monitoring.text_drift is not None
    drift = endpoint.monitoring.text_drift.model_copy(update={"baseline": "data/texts.txt"})
    monitoring = endpoint.monitoring.model_copy(update={"text_drift": drift})
    endpoints = [config.endpoints[0], endpoint.model_copy(update={"monitoring": monitoring})]
    local = config.model_copy(update={"endpoints": endpoints})
    job = plan(local, env="prod", endpoint="call-transcript-intent", kind="text-drift", facts=FACTS, now=NOW, root=tmp_path)
    assert job.staging.local_file == tmp_path / "data" / "texts.txt"
    assert (
        job.staging.key
        == "baselines/call-transcript-intent/text-drift/dataset/call-transcript-intent-td-baseline-20261125093000/texts.txt"
    )


def test_a_missing_stack_is_one_line(aws: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Session:
        def client(self, service: str) -> Any:
            return aws.client(service)

    from mlops_cli import monitor

    original = monitor.baseline
    monkeypatch.setattr(monitor, "baseline", lambda **kw: original(**kw, session=Session(), now=NOW))
    assert main(["monitor", "baseline", "--env", "prod", "caller-risk"]) == 2
    err = capsys.readouterr().err
    assert "mlops: read stack mlops-prod-monitoring: ValidationError: Stack with id mlops-prod-monitoring does not exist" in err
