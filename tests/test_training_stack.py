"""The training stack's promises (config/prod.yaml's spot GPU job) and the construct's variants."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from mlops_constructs.images import ContainerImage
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.training.dataset import TrainingDataset
from mlops_constructs.training.job import SpotOptions, TrainingStateMachine
from mlops_constructs.training.metrics import EVENT_DETAIL_TYPE, EVENT_SOURCE, metric_definitions
from mlops_constructs.validation import PropsError
from stacks.training import model_parameter_name, state_machine_name
from tests.conftest import Synthesized, resources_of_type

ACCOUNT = "222222222222"
JOB = "caller-risk-20261125-100000"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _template(synth: Synthesized) -> dict[str, Any]:
    assert synth.stacks.training is not None
    return synth.template_json(synth.stacks.training.stack_name)


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources_of_type(template, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition: dict[str, Any] = json.loads("".join(p if isinstance(p, str) else "<token>" for p in parts))
    return definition


def _train(template: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = _definition(template)["States"]["Train"]["Parameters"]
    return params


def _statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for name, policy in resources_of_type(template, "AWS::IAM::Policy").items()
        if name.startswith(role_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_only_configs_with_training_get_the_stack(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.stacks.training is None
    assert prod.stacks.training is not None
    assert prod.stacks.training.stack_name == "mlops-prod-training"


def test_state_machine_is_named_for_the_cli(prod: Synthesized) -> None:
    template = prod.template("mlops-prod-training")
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"StateMachineName": state_machine_name("prod")})


def test_job_runs_to_completion_on_spot_with_max_wait(prod: Synthesized) -> None:
    definition = _definition(_template(prod))
    assert definition["States"]["Train"]["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    params = _train(_template(prod))
    assert params["EnableManagedSpotTraining"] is True
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 180 * 60, "MaxWaitTimeInSeconds": 360 * 60}


def test_checkpoints_go_to_a_per_job_prefix(prod: Synthesized) -> None:
    checkpoint = _train(_template(prod))["CheckpointConfig"]
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints"
    assert checkpoint["S3Uri.$"] == "States.Format('s3://<token>/training/caller-risk/checkpoints/{}/', $.job_name)"


def test_output_is_kms_encrypted_and_volume_key_omitted_on_local_nvme(prod: Synthesized) -> None:
    params = _train(_template(prod))
    assert params["OutputDataConfig"] == {"S3OutputPath": "s3://<token>/training/caller-risk/", "KmsKeyId": "<token>"}
    assert "VolumeKmsKeyId" not in params["ResourceConfig"]  # ml.g5 has local NVMe: SageMaker rejects a volume key
    assert params["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


def test_metric_definitions_are_the_images_regexes(prod: Synthesized) -> None:
    assert _train(_template(prod))["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions()


def test_hyperparameters_are_strings(prod: Synthesized) -> None:
    hyperparameters = _train(_template(prod))["HyperParameters"]
    assert hyperparameters["epochs"] == "40"
    assert all(isinstance(v, str) for v in hyperparameters.values())


def test_job_gets_the_event_bus_and_may_put_only_training_events(prod: Synthesized) -> None:
    template = _template(prod)
    bus = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default"
    assert _train(template)["Environment"] == {"MLOPS_EVENT_BUS": bus, "MLOPS_JOB_NAME.$": "$.job_name"}
    (statement,) = [s for s in _statements(template, "TrainingJobRole") if "events:PutEvents" in _actions(s)]
    assert statement["Resource"] == bus
    assert statement["Condition"] == {"StringEquals": {"events:source": EVENT_SOURCE}}


def test_success_registers_the_model_data_value(prod: Synthesized) -> None:
    register = _definition(_template(prod))["States"]["Register"]
    assert register["Resource"].endswith(":states:::aws-sdk:ssm:putParameter")
    assert register["Parameters"]["Value.$"] == (
        "States.Format('artifacts://training/caller-risk/{}/output/model.tar.gz', $.job_name)"
    )
    prod.template("mlops-prod-training").has_resource_properties(
        "AWS::SSM::Parameter", {"Name": model_parameter_name("prod", "caller-risk"), "Type": "String"}
    )


def test_failure_notifies_the_alert_topic_then_fails(prod: Synthesized) -> None:
    states = _definition(_template(prod))["States"]
    assert states["Train"]["Catch"][0]["Next"] == "NotifyFailure"
    assert states["Register"]["Catch"][0]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Resource"].endswith(":states:::sns:publish")
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_state_machine_may_only_run_jobs_named_after_the_training(prod: Synthesized) -> None:
    template = _template(prod)
    (statement,) = [s for s in _statements(template, "TrainingStateMachineRole") if "sagemaker:CreateTrainingJob" in _actions(s)]
    assert statement["Resource"] == f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:training-job/caller-risk-*"
    (passing,) = [s for s in _statements(template, "TrainingStateMachineRole") if "iam:PassRole" in _actions(s)]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_task_parameters_are_a_valid_create_training_job_request(prod: Synthesized) -> None:
    """botocore's validator and the service model's enums on the request the task would send."""
    import botocore.session
    from botocore.validate import ParamValidator

    params = json.loads(json.dumps(_train(_template(prod))).replace("<token>", "tok"))
    params.pop("CheckpointConfig")

    def resolve(value: Any) -> Any:  # JSONPath values filled in with what an execution passes
        if isinstance(value, dict):
            return {
                k.removesuffix(".$"): ("caller-risk-20261125-100000" if k.endswith(".$") else resolve(v))
                for k, v in value.items()
            }
        return value

    request: dict[str, Any] = resolve(params)
    request["TrainingJobName"] = JOB
    request["RoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/training"
    request["AlgorithmSpecification"]["TrainingImage"] = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/training:1"
    request["OutputDataConfig"]["KmsKeyId"] = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    request["CheckpointConfig"] = {"S3Uri": "s3://bucket/training/checkpoints/job/", "LocalPath": "/opt/ml/checkpoints"}
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    for definition in request["AlgorithmSpecification"]["MetricDefinitions"]:
        re.compile(definition["Regex"])


def test_metrics_table_keys_encryption_recovery_and_retention(prod: Synthesized) -> None:
    template = prod.template("mlops-prod-training")
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "job_name", "KeyType": "HASH"}, {"AttributeName": "epoch", "KeyType": "RANGE"}],
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": assertions.Match.any_value()},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_rule_sends_training_epoch_events_to_the_function_with_a_dead_letter_queue(prod: Synthesized) -> None:
    template = _template(prod)
    (rule,) = resources_of_type(template, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}
    (target,) = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8


def test_dead_letters_raise_an_alarm_on_the_alert_topic(prod: Synthesized) -> None:
    (alarm,) = resources_of_type(_template(prod), "AWS::CloudWatch::Alarm").values()
    assert alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Properties"]["Threshold"] == 0
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert len(alarm["Properties"]["AlarmActions"]) == 1


def test_function_may_only_put_items_and_send_dead_letters(prod: Synthesized) -> None:
    actions = {a for s in _statements(_template(prod), "EpochMetricsFunctionServiceRole") for a in _actions(s)}
    assert "dynamodb:PutItem" in actions
    assert not {a for a in actions if a.startswith("dynamodb:") and a != "dynamodb:PutItem"}
    assert "sqs:SendMessage" in actions


def test_function_uses_powertools_and_knows_its_table_and_queue(prod: Synthesized) -> None:
    (function,) = resources_of_type(_template(prod), "AWS::Lambda::Function").values()
    environment = function["Properties"]["Environment"]["Variables"]
    assert set(environment) == {"TABLE_NAME", "DEAD_LETTER_QUEUE_URL", "POWERTOOLS_SERVICE_NAME"}
    assert function["Properties"]["Handler"] == "training_metrics.handler.handle"
    assert "AWSLambdaPowertoolsPythonV3" in json.dumps(function["Properties"]["Layers"])


# The construct's other branches, on a bare stack (faster than another app synthesis).


def _construct_template(name: str = "risk", **options: Any) -> dict[str, Any]:
    app = cdk.App()
    stack = cdk.Stack(app, "T", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    key = kms.Key.from_key_arn(stack, "Key", KEY_ARN)
    TrainingStateMachine(
        stack,
        "Training",
        name=name,
        state_machine_name="test-training",
        model_parameter_name="/test/risk/model-data",
        image=ContainerImage.from_ecr_uri(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/training:1"),
        dataset=TrainingDataset.from_s3_uri("s3://external-data/calls/"),
        artifacts_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts"),
        encryption_key=key,
        alert_topic=sns.Topic.from_topic_arn(stack, "Topic", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts"),
        logs=LogGroupSettings(encryption_key=key, retention_days=30),
        **options,
    )
    return dict(assertions.Template.from_stack(stack).to_json())


def test_job_arns_are_lower_case_and_log_streams_keep_the_case() -> None:
    """SageMaker ARNs carry job names lower-cased: an upper-case prefix would match no job."""
    template = _construct_template(name="Risk", instance_type="ml.c5.xlarge")
    (statement,) = [s for s in _statements(template, "TrainingStateMachineRole") if "sagemaker:CreateTrainingJob" in _actions(s)]
    assert json.dumps(statement["Resource"]).endswith(f':sagemaker:eu-west-1:{ACCOUNT}:training-job/risk-*"]]}}')
    assert "log-stream:Risk-*" in json.dumps(template)


def test_volume_key_and_inter_container_encryption_when_allowed_and_distributed() -> None:
    template = _construct_template(instance_type="ml.c5.xlarge", instance_count=2, network_isolation=True, epoch_events=False)
    params = _train(template)
    assert (
        params["ResourceConfig"]["VolumeKmsKeyId"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    assert params["EnableInterContainerTrafficEncryption"] is True
    assert params["EnableNetworkIsolation"] is True
    assert params["Environment"] == {}
    assert params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://external-data/calls/"
    grants = [s for s in _statements(template, "TrainingStateMachineRole") if "kms:CreateGrant" in _actions(s)]
    assert grants
    assert grants[0]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_vpc_placement_reaches_the_job_and_its_role() -> None:
    from mlops_constructs.network import VpcPlacement

    vpc = VpcPlacement(subnet_ids=("subnet-0a1b2c3d", "subnet-0a1b2c3e"), security_group_ids=("sg-0a1b2c3d",))
    template = _construct_template(instance_type="ml.c5.xlarge", vpc=vpc)
    assert _train(template)["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0a1b2c3d"],
        "Subnets": ["subnet-0a1b2c3d", "subnet-0a1b2c3e"],
    }
    actions = {a for s in _statements(template, "TrainingJobRole") for a in _actions(s)}
    assert "ec2:CreateNetworkInterface" in actions
    assert "VpcConfig" not in _train(_construct_template(instance_type="ml.c5.xlarge"))


def test_no_spot_no_max_wait() -> None:
    params = _train(_construct_template(instance_type="ml.c5.xlarge"))
    assert params["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in params["StoppingCondition"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"instance_type": "ml.c6g.large"}, "not a SageMaker training instance type"),
        (
            {"instance_type": "ml.c5.xlarge", "spot": SpotOptions(cdk.Duration.hours(1)), "max_runtime": cdk.Duration.hours(2)},
            "MaxWaitTimeInSeconds must be >= MaxRuntimeInSeconds",
        ),
        (
            {"instance_type": "ml.c5.xlarge", "spot": SpotOptions(cdk.Duration.hours(3)), "checkpoints": False},
            "spot training needs checkpoints",
        ),
        ({"instance_type": "ml.c5.xlarge", "network_isolation": True}, "cannot send epoch events"),
    ],
)
def test_construct_rejects_what_sagemaker_would(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        _construct_template(**options)


def test_lambda_asset_holds_only_its_handler_folder(prod: Synthesized) -> None:
    from config.loader import REPO_ROOT

    assert (Path(REPO_ROOT) / "lambda_src" / "training_metrics" / "handler.py").is_file()
    (function,) = resources_of_type(_template(prod), "AWS::Lambda::Function").values()
    assert "S3Key" in function["Properties"]["Code"]
