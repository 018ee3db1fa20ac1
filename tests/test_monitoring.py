"""Model Monitor in the prod templates: one test per promise of the monitoring stack."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from mlops_constructs.model_monitor_images import analyzer_image
from mlops_constructs.monitoring import DataQualityMonitor, EndpointMonitoringRole, MonitoringJobSettings
from mlops_constructs.monitoring_rules import parse_schedule
from mlops_constructs.validation import PropsError
from tests.conftest import Synthesized, resources_of_type

MONITORING = "mlops-prod-monitoring"


def _template(prod: Synthesized) -> dict[str, Any]:
    return prod.template_json(MONITORING)


def _one(template: dict[str, Any], resource_type: str, contains: str = "") -> dict[str, Any]:
    found = [r for k, r in resources_of_type(template, resource_type).items() if contains in k]
    assert len(found) == 1, f"{len(found)} {resource_type} matching {contains!r}"
    properties: dict[str, Any] = found[0]["Properties"]
    return properties


def _drift_definition(prod: Synthesized) -> dict[str, Any]:
    schedule = _one(_template(prod), "AWS::SageMaker::MonitoringSchedule", "TextDrift")
    definition: dict[str, Any] = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinition"]
    return definition


def test_monitoring_stack_exists_only_with_monitoring(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.stacks.monitoring is None
    assert prod.stacks.monitoring is not None
    assert prod.stacks.monitoring.stack_name == MONITORING


def test_schedules_wait_for_their_endpoints(prod: Synthesized) -> None:
    assert prod.stacks.monitoring is not None
    depends = {s.stack_name for s in prod.stacks.monitoring.dependencies}
    assert {"mlops-prod-caller-risk", "mlops-prod-call-transcript-intent"} <= depends


def test_data_quality_schedule_is_hourly_on_the_endpoint(prod: Synthesized) -> None:
    schedule = _one(_template(prod), "AWS::SageMaker::MonitoringSchedule", "DataQuality")
    assert schedule["MonitoringScheduleName"] == "caller-risk-dq"
    assert schedule["EndpointName"] == "caller-risk"
    config = schedule["MonitoringScheduleConfig"]
    assert config["MonitoringType"] == "DataQuality"
    assert config["ScheduleConfig"] == {"ScheduleExpression": "cron(0 * ? * * *)"}


def test_data_quality_schedule_names_its_definition_by_the_name_it_was_given(prod: Synthesized) -> None:
    """Not a segment of the definition's ARN (SageMaker lower-cases names there, so a generated
    mixed-case name would not match): the same literal name on both, and the schedule waits for it."""
    template = _template(prod)
    ((definition_id, definition),) = resources_of_type(template, "AWS::SageMaker::DataQualityJobDefinition").items()
    name = definition["Properties"]["JobDefinitionName"]
    assert re.fullmatch(r"caller-risk-dq-[0-9a-f]{8}", name)
    schedule = next(r for k, r in resources_of_type(template, "AWS::SageMaker::MonitoringSchedule").items() if "DataQuality" in k)
    assert schedule["Properties"]["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == name
    assert definition_id in schedule["DependsOn"]


def _definition_name(
    *,
    endpoint: str = "ep",
    runtime_minutes: int = 60,
    tags: dict[str, str] | None = None,
    definition_id: str = "DQ",
) -> tuple[str, str]:
    """(definition name, the name the schedule uses) of a data-quality monitor in a fresh app."""
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    stack, role = _construct_stack()
    for key, value in (tags or {}).items():
        cdk.Tags.of(stack).add(key, value)
    DataQualityMonitor(
        stack,
        definition_id,
        endpoint_name=endpoint,
        role=role,
        analyzer=analyzer_image("eu-west-1"),
        monitoring_bucket=s3.Bucket(stack, "M"),
        data_key=kms.Key(stack, "K"),
        settings=MonitoringJobSettings(schedule=parse_schedule("daily"), max_runtime=cdk.Duration.minutes(runtime_minutes)),
    )
    template = dict(assertions.Template.from_stack(stack).to_json())
    (definition,) = resources_of_type(template, "AWS::SageMaker::DataQualityJobDefinition").values()
    (schedule,) = resources_of_type(template, "AWS::SageMaker::MonitoringSchedule").values()
    return (
        definition["Properties"]["JobDefinitionName"],
        schedule["Properties"]["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"],
    )


def test_definition_name_changes_with_every_replacing_change() -> None:
    """Every property of a DataQualityJobDefinition is create-only, tags included (its resource
    schema: createOnlyProperties, tagUpdatable false): a change replaces it, create before delete,
    so the new one needs a new name. The same content keeps its name from one synth to the next."""
    base, used = _definition_name()
    assert base == used
    assert re.fullmatch(r"ep-dq-[0-9a-f]{8}", base)
    assert _definition_name() == (base, base)
    changed = {
        "property": _definition_name(runtime_minutes=50)[0],
        "tag": _definition_name(tags={"team": "other"})[0],
        "logical id": _definition_name(definition_id="DataQuality")[0],
    }
    assert base not in changed.values()
    assert len(set(changed.values())) == 3


def test_definition_name_fits_sagemaker_for_the_longest_endpoint() -> None:
    endpoint = "e" * 60  # the longest for which `<endpoint>-dq` fits a schedule name
    name, used = _definition_name(endpoint=endpoint)
    assert name == used
    assert len(name) == 63
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)  # MonitoringJobDefinitionName in botocore


def test_data_quality_uses_the_regions_analyzer_and_publishes_metrics(prod: Synthesized) -> None:
    definition = _one(_template(prod), "AWS::SageMaker::DataQualityJobDefinition")
    spec = definition["DataQualityAppSpecification"]
    assert spec["ImageUri"] == analyzer_image("eu-west-1").uri
    assert spec["Environment"]["publish_cloudwatch_metrics"] == "Enabled"


def test_data_quality_reads_the_baseline_where_the_cli_writes_it(prod: Synthesized) -> None:
    baseline = _one(_template(prod), "AWS::SageMaker::DataQualityJobDefinition")["DataQualityBaselineConfig"]
    text = json.dumps(baseline)
    assert "/baselines/caller-risk/data-quality/constraints.json" in text
    assert "/baselines/caller-risk/data-quality/statistics.json" in text


def test_volumes_and_outputs_are_kms_encrypted(prod: Synthesized) -> None:
    definition = _one(_template(prod), "AWS::SageMaker::DataQualityJobDefinition")
    assert "VolumeKmsKeyId" in definition["JobResources"]["ClusterConfig"]
    assert "KmsKeyId" in definition["DataQualityJobOutputConfig"]
    drift = _drift_definition(prod)
    assert "VolumeKmsKeyId" in drift["MonitoringResources"]["ClusterConfig"]
    assert "KmsKeyId" in drift["MonitoringOutputConfig"]


def test_jobs_are_network_isolated_with_a_stop_condition(prod: Synthesized) -> None:
    definition = _one(_template(prod), "AWS::SageMaker::DataQualityJobDefinition")
    isolated = {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
    assert definition["NetworkConfig"] == isolated
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 50 * 60}
    drift = _drift_definition(prod)
    assert drift["NetworkConfig"] == isolated
    assert drift["StoppingCondition"] == {"MaxRuntimeInSeconds": 120 * 60}


def test_drift_schedule_runs_the_drift_image_with_its_settings(prod: Synthesized) -> None:
    schedule = _one(_template(prod), "AWS::SageMaker::MonitoringSchedule", "TextDrift")
    assert schedule["MonitoringScheduleName"] == "call-transcript-intent-drift"
    assert schedule["MonitoringScheduleConfig"]["ScheduleConfig"] == {"ScheduleExpression": "cron(0 0 ? * * *)"}
    drift = _drift_definition(prod)
    assert "container-assets" in json.dumps(drift["MonitoringAppSpecification"]["ImageUri"])
    assert drift["Environment"] == {
        "THRESHOLD": "0.45",
        "PERCENTILE": "10",
        "PERCENTILE_THRESHOLD": "0.25",
        "TEXT_FIELD": "transcript",
        "CSV_COLUMN": "0",
        "BATCH_SIZE": "32",
        "publish_cloudwatch_metrics": "Enabled",
    }
    assert drift["MonitoringInputs"][0]["EndpointInput"]["LocalPath"] == "/opt/ml/processing/input/endpoint"
    assert drift["MonitoringOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["LocalPath"] == "/opt/ml/processing/resultdata"
    assert "/baselines/call-transcript-intent/text-drift/statistics.json" in json.dumps(drift["BaselineConfig"])


def test_role_reads_only_its_endpoints_capture(prod: Synthesized) -> None:
    template = _template(prod)
    for name, policy in resources_of_type(template, "AWS::IAM::Policy").items():
        text = json.dumps(policy)
        endpoint = "caller-risk" if "callerrisk" in name else "call-transcript-intent"
        other = "call-transcript-intent" if endpoint == "caller-risk" else "caller-risk/"
        assert f"/{endpoint}/*" in text
        assert other not in text
        assert '"s3:*"' not in text
        assert '"s3:DeleteObject"' not in text


def test_alarms_watch_the_published_metrics_into_the_alert_topic(prod: Synthesized) -> None:
    template = assertions.Template.from_json(_template(prod))
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "/aws/sagemaker/Endpoints/data-metric",
            "MetricName": "feature_baseline_drift_call_duration_s",
            "Dimensions": assertions.Match.array_with([{"Name": "ScheduleName", "Value": "caller-risk-dq"}]),
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.1,
            "Period": 3600,
            "AlarmActions": [assertions.Match.object_like({"Fn::GetStackOutput": assertions.Match.any_value()})],
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "MLOps/Monitoring",
            "MetricName": "text_similarity_mean",
            "Dimensions": assertions.Match.array_with([{"Name": "MonitoringSchedule", "Value": "call-transcript-intent-drift"}]),
            "ComparisonOperator": "LessThanThreshold",
            "Threshold": 0.45,
            "Period": 86400,
        },
    )
    assert len(resources_of_type(_template(prod), "AWS::CloudWatch::Alarm")) == 4  # 2 features + mean + p10


def test_rule_sends_violations_and_failures_to_the_alert_topic(prod: Synthesized) -> None:
    rule = _one(_template(prod), "AWS::Events::Rule")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Processing Job State Change"]
    assert len(pattern["detail"]["MonitoringScheduleArn"]) == 2
    assert pattern["detail"]["$or"] == [
        {"ProcessingJobStatus": ["Failed", "Stopped"]},
        {"ExitMessage": [{"prefix": "CompletedWithViolations"}]},
    ]
    (target,) = rule["Targets"]
    assert target["Arn"]["Fn::GetStackOutput"]["StackName"] == "mlops-prod-foundation"
    assert "InputTransformer" in target


def test_topic_policy_and_key_let_eventbridge_and_cloudwatch_publish(prod: Synthesized) -> None:
    foundation = prod.foundation()
    for service, source in (("events.amazonaws.com", ":rule/*"), ("cloudwatch.amazonaws.com", ":alarm:*")):
        condition = assertions.Match.object_like(
            {"ArnLike": {"aws:SourceArn": assertions.Match.string_like_regexp(f".*{source}")}}
        )
        foundation.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "PolicyDocument": {
                    "Statement": assertions.Match.array_with(
                        [
                            assertions.Match.object_like(
                                {"Action": "sns:Publish", "Principal": {"Service": service}, "Condition": condition}
                            )
                        ]
                    )
                }
            },
        )
        foundation.has_resource_properties(
            "AWS::KMS::Key",
            {
                "KeyPolicy": {
                    "Statement": assertions.Match.array_with(
                        [
                            assertions.Match.object_like(
                                {
                                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                    "Principal": {"Service": service},
                                    "Condition": condition,
                                }
                            )
                        ]
                    )
                }
            },
        )


def test_outputs_give_the_cli_what_it_needs(prod: Synthesized) -> None:
    outputs = _template(prod)["Outputs"]
    assert {"MonitoringBucket", "DataKeyArn", "RoleArnCallerRisk", "RoleArnCallTranscriptIntent", "DriftImageUri"} <= set(outputs)


def _construct_stack() -> tuple[cdk.Stack, EndpointMonitoringRole]:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    app = cdk.App()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Bucket")
    role = EndpointMonitoringRole(
        stack, "Role", endpoint_name="ep", capture_bucket=bucket, capture_prefix="ep", monitoring_bucket=bucket, data_key=key
    )
    return stack, role


def test_volume_key_is_left_out_on_local_storage_instances() -> None:
    stack, role = _construct_stack()
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    monitor = DataQualityMonitor(
        stack,
        "DQ",
        endpoint_name="ep",
        role=role,
        analyzer=analyzer_image("eu-west-1"),
        monitoring_bucket=s3.Bucket(stack, "M"),
        data_key=kms.Key(stack, "K"),
        settings=MonitoringJobSettings(schedule=parse_schedule("daily"), instance_type="ml.g5.xlarge"),
    )
    assert monitor.local_storage
    template = assertions.Template.from_stack(stack)
    cluster = next(iter(template.find_resources("AWS::SageMaker::DataQualityJobDefinition").values()))["Properties"]
    assert "VolumeKmsKeyId" not in cluster["JobResources"]["ClusterConfig"]


def test_construct_reports_every_problem_at_once() -> None:
    stack, role = _construct_stack()
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    with pytest.raises(PropsError) as caught:
        DataQualityMonitor(
            stack,
            "DQ",
            endpoint_name="ep",
            role=role,
            analyzer=analyzer_image("eu-west-1"),
            monitoring_bucket=s3.Bucket(stack, "M"),
            data_key=kms.Key(stack, "K"),
            settings=MonitoringJobSettings(
                schedule=parse_schedule("hourly"),
                instance_type="ml.c6i.large",
                instance_count=0,
                max_runtime=cdk.Duration.minutes(61),
            ),
        )
    text = str(caught.value)
    assert "S/DQ" in text
    assert "not a SageMaker processing (Model Monitor) instance type" in text
    assert "instance_count 0 is outside 1-100" in text
    assert "at most 60 minutes" in text
