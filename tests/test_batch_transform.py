"""Batch transform: the state machine's promises, its config, and `mlops batch start` against moto."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config.loader import load_config
from mlops_cli.batch import plan, start
from mlops_cli.errors import CliError
from tests.conftest import Synthesized, resources_of_type


def _template(synth: Synthesized) -> dict[str, Any]:
    assert synth.stacks.batch is not None
    return synth.template_json(synth.stacks.batch.stack_name)


def _definition(synth: Synthesized) -> dict[str, Any]:
    (machine,) = resources_of_type(_template(synth), "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "<token>" for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _statements(synth: Synthesized, role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for name, policy in resources_of_type(_template(synth), "AWS::IAM::Policy").items():
        if role_prefix in name:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_state_machine_is_named_for_the_cli(dev: Synthesized) -> None:
    (machine,) = resources_of_type(_template(dev), "AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["StateMachineName"] == "mlops-dev-batch-caller-risk-nightly"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_transform_runs_to_completion_multirecord_by_line(dev: Synthesized) -> None:
    task = _definition(dev)["States"]["Transform"]
    assert task["Resource"].endswith(":sagemaker:createTransformJob.sync")
    params = task["Parameters"]
    assert params["BatchStrategy"] == "MultiRecord"
    assert params["MaxPayloadInMB"] == 5
    assert params["TransformInput"]["SplitType"] == "Line"
    assert params["TransformInput"]["ContentType"] == "application/jsonlines"
    assert params["TransformOutput"]["AssembleWith"] == "Line"
    assert params["TransformOutput"]["Accept"] == "application/jsonlines"
    assert params["TransformJobName.$"] == "$.job_name"


def test_output_and_volume_are_kms_encrypted(dev: Synthesized) -> None:
    params = _definition(dev)["States"]["Transform"]["Parameters"]
    assert params["TransformOutput"]["KmsKeyId"] == "<token>"
    assert params["TransformResources"]["VolumeKmsKeyId"] == "<token>"
    assert params["TransformResources"]["InstanceType"] == "ml.c5.xlarge"


def test_batching_settings_reach_the_container(dev: Synthesized) -> None:
    (model,) = resources_of_type(_template(dev), "AWS::SageMaker::Model").values()
    assert model["Properties"]["PrimaryContainer"]["Environment"] == {"MAX_BATCH_SIZE": "256", "MAX_BATCH_DELAY_MS": "0"}
    # Not repeated on the job, whose Environment map holds at most 16 entries.
    assert "Environment" not in _definition(dev)["States"]["Transform"]["Parameters"]


def test_transform_role_limited_to_its_prefixes(dev: Synthesized) -> None:
    statements = _statements(dev, "ModelRole")
    by_action = {(s["Action"] if isinstance(s["Action"], str) else ",".join(s["Action"])): s for s in statements}
    reads = by_action["s3:GetObject"]["Resource"]
    assert any(r["Fn::Join"][1][-1] == "/batch/caller-risk-nightly/input/*" for r in reads)
    assert (
        by_action["s3:AbortMultipartUpload,s3:PutObject"]["Resource"]["Fn::Join"][1][-1] == "/batch/caller-risk-nightly/output/*"
    )
    listing = by_action["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["batch/caller-risk-nightly/input/*"]}}


def test_state_machine_may_pass_only_the_transform_role_to_sagemaker(dev: Synthesized) -> None:
    passes = [s for s in _statements(dev, "StateMachineRole") if s["Action"] == "iam:PassRole"]
    assert len(passes) == 1
    assert "ModelRole" in passes[0]["Resource"]["Fn::GetAtt"][0]
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_state_machine_may_only_run_jobs_named_after_the_transform(dev: Synthesized) -> None:
    (jobs,) = [s for s in _statements(dev, "StateMachineRole") if "sagemaker:CreateTransformJob" in s["Action"]]
    assert jobs["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:transform-job/caller-risk-nightly-*"
    (rule,) = [s for s in _statements(dev, "StateMachineRole") if "events:PutRule" in s["Action"]]
    assert rule["Resource"].endswith(":rule/StepFunctionsGetEventsForSageMakerTransformJobsRule")


def test_task_parameters_are_a_valid_create_transform_job_request(dev: Synthesized) -> None:
    """botocore's validator and the service model's enums, on the request the task would send
    (JSONPath values and CloudFormation tokens filled in with plausible values)."""
    import botocore.session
    from botocore.validate import ParamValidator

    params = json.loads(json.dumps(_definition(dev)["States"]["Transform"]["Parameters"]).replace("<token>", "tok"))

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.removesuffix(".$"): ("s3://bucket/prefix/" if k.endswith(".$") else resolve(v)) for k, v in value.items()}
        return value

    request = resolve(params)
    request["TransformJobName"] = "caller-risk-nightly-20261122-030005"
    request["TransformOutput"]["KmsKeyId"] = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    request["TransformResources"]["VolumeKmsKeyId"] = request["TransformOutput"]["KmsKeyId"]
    request["ModelName"] = "caller-risk-nightly-model"
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTransformJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert _enum_violations(request, shape) == []  # ParamValidator does not check enum values


def _enum_violations(value: Any, shape: Any, path: str = "") -> list[str]:
    if shape.type_name == "structure":
        return [v for key, item in value.items() for v in _enum_violations(item, shape.members[key], f"{path}.{key}")]
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} not in {shape.name}"]
    return []


def test_prod_transform_sizes(prod: Synthesized) -> None:
    params = _definition(prod)["States"]["Transform"]["Parameters"]
    assert params["TransformResources"]["InstanceCount"] == 2
    assert params["MaxConcurrentTransforms"] == 4


# --- mlops batch start ---------------------------------------------------------------

NOW = dt.datetime(2026, 11, 22, 3, 0, 5, tzinfo=dt.UTC)


def test_plan_builds_the_execution_request() -> None:
    request = plan(load_config("dev"), env="dev", name="caller-risk-nightly", prefix="2026-11-21/", job_name=None, now=NOW)
    assert request["stateMachineArn"] == "arn:aws:states:eu-west-1:111111111111:stateMachine:mlops-dev-batch-caller-risk-nightly"
    assert request["name"] == "caller-risk-nightly-20261122-030005"
    assert json.loads(request["input"]) == {"job_name": "caller-risk-nightly-20261122-030005", "input_prefix": "2026-11-21/"}


@pytest.mark.parametrize(
    ("name", "prefix", "job", "message"),
    [
        ("nightly", "x/", None, "no batch transform 'nightly' in config/dev.yaml \\(configured: caller-risk-nightly\\)"),
        ("caller-risk-nightly", "s3://other/x/", None, "--input is a key prefix under batch/caller-risk-nightly/input/"),
        ("caller-risk-nightly", "../secrets/", None, "--input is a key prefix"),
        ("caller-risk-nightly", "x/", "bad_job", "job name 'bad_job' is invalid"),
        ("caller-risk-nightly", "x/", "backfill-1", "job name 'backfill-1' must start with 'caller-risk-nightly-'"),
    ],
)
def test_plan_rejects_bad_requests(name: str, prefix: str, job: str | None, message: str) -> None:
    with pytest.raises(CliError, match=message):
        plan(load_config("dev"), env="dev", name=name, prefix=prefix, job_name=job, now=NOW)


def test_start_runs_an_execution_on_the_named_state_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")  # config/dev.yaml's account
    with mock_aws():
        _start_against_moto()


def _start_against_moto() -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    client.create_state_machine(
        name="mlops-dev-batch-caller-risk-nightly",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::111111111111:role/states",
    )
    execution = start(
        env="dev", name="caller-risk-nightly", prefix="batch/caller-risk-nightly/input/2026-11-21/", client=client, now=NOW
    )
    assert execution.job_name == "caller-risk-nightly-20261122-030005"
    assert execution.input_key_prefix == "batch/caller-risk-nightly/input/2026-11-21/"
    assert execution.output_key_prefix == "batch/caller-risk-nightly/output/caller-risk-nightly-20261122-030005/"
    described = client.describe_execution(executionArn=execution.execution_arn)
    assert json.loads(described["input"]) == {"job_name": execution.job_name, "input_prefix": "2026-11-21/"}


def _transform_problems(*entries: str) -> list[tuple[str, str]]:
    """Validate a config whose batch_transforms are the given YAML entries (indented 4)."""
    from config.loader import ConfigError, parse_config

    text = 'account: "123456789012"\nregion: eu-west-1\nbatch_transforms:\n' + "".join(entries)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def _entry(name: str, **fields: str) -> str:
    values = {"model_data": "s3://models-bucket/m/model.tar.gz", "image": "inference", "instance_type": "ml.c5.xlarge", **fields}
    return f"  - name: {name}\n" + "".join(f"    {key}: {value}\n" for key, value in values.items())


def test_batch_config_validation() -> None:
    problems = dict(_transform_problems(_entry("nightly", instance_type="ml.c5d.large", max_payload_mb="8")))
    assert "not a SageMaker batch transform instance type" in problems["batch_transforms[0].instance_type"]
    assert "less than or equal to 6" in problems["batch_transforms[0].max_payload_mb"]


def test_batch_transform_names_unique() -> None:
    assert _transform_problems(_entry("nightly"), _entry("NIGHTLY")) == [
        ("batch_transforms[1].name", "'NIGHTLY' repeats 'nightly'")
    ]


def test_batching_and_environment_may_not_both_set_a_variable() -> None:
    entry = _entry("nightly", environment='{MAX_BATCH_SIZE: "4"}', batching="{max_batch_size: 8}")
    ((path, message),) = _transform_problems(entry)
    assert path == "batch_transforms[0].environment"
    assert "MAX_BATCH_SIZE also set by batching" in message


def test_payload_in_flight_limited_to_100_mb_per_instance() -> None:
    # CreateTransformJob: MaxConcurrentTransforms x MaxPayloadInMB <= 100 MB; 64 x 6 passed before.
    ((path, message),) = _transform_problems(_entry("nightly", max_concurrent_transforms="64", max_payload_mb="6"))
    assert path == "batch_transforms[0].max_concurrent_transforms"
    assert "64 x max_payload_mb 6 = 384 MB" in message
    assert "at most 16 transforms at 6 MB" in message


def test_payload_in_flight_at_the_limit_is_accepted() -> None:
    from config.loader import parse_config

    text = 'account: "123456789012"\nregion: eu-west-1\nbatch_transforms:\n' + _entry(
        "nightly", max_concurrent_transforms="20", max_payload_mb="5"
    )
    assert parse_config(text).batch_transforms[0].max_concurrent_transforms == 20
