"""Deploy-time rules on every shipped config, and proof that each rule catches its defect.

The rules (tests/deploy_rules.py) read whole environments: alarms in one stack publish to
a topic in another, a job's role in one resource uses a key defined elsewhere. Each
`test_rule_catches_*` re-introduces one real defect into a copy of the prod templates (the
ones a review of the templates found before these rules existed) and checks the rule
reports it, so no rule can pass by never looking.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cloud_model import CloudModel
from tests.conftest import SHIPPED_ENVS, Synthesized
from tests.deploy_rules import RULES


def _model(result: Synthesized, templates: dict[str, dict[str, Any]] | None = None) -> CloudModel:
    foundation = result.stacks.foundation
    if templates is None:
        templates = {name: result.template_json(name) for name in result.stack_names}
    return CloudModel(templates, account=foundation.account, region=foundation.region)


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_shipped_configs_keep_every_deploy_rule(env: str, rule: str, synth: Callable[[str], Synthesized]) -> None:
    assert RULES[rule](_model(synth(env))) == []


@pytest.mark.parametrize("rule", sorted(RULES))
def test_vpc_placement_keeps_every_deploy_rule(rule: str, vpc: Synthesized) -> None:
    assert RULES[rule](_model(vpc)) == []


def test_vpc_rule_catches_a_role_without_network_interface_permissions(vpc: Synthesized) -> None:
    def no_eni(templates: dict[str, dict[str, Any]]) -> None:
        for policy in _resources(templates, "AWS::IAM::Policy"):
            _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "ec2:CreateNetworkInterface" not in _actions(s))

    violations = RULES["vpc_models_can_manage_their_network_interfaces"](_mutated(vpc, no_eni))
    assert any("may not ec2:CreateNetworkInterface on" in v for v in violations), violations
    assert any("createTrainingJob: role TrainingJobRole" in v for v in violations), violations  # the training job too


def _mutated(prod: Synthesized, mutate: Callable[[dict[str, dict[str, Any]]], None]) -> CloudModel:
    templates = copy.deepcopy({name: prod.template_json(name) for name in prod.stack_names})
    mutate(templates)
    return _model(prod, templates)


def _resources(templates: dict[str, dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for t in templates.values() for r in t["Resources"].values() if r["Type"] == resource_type]


def _drop_statements(document: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> None:
    document["Statement"] = [s for s in document["Statement"] if keep(s)]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else action


def _deny_only_topic_policy(templates: dict[str, dict[str, Any]]) -> None:
    # What `enforce_ssl=True` alone wrote: a policy whose only statement is a Deny.
    for policy in _resources(templates, "AWS::SNS::TopicPolicy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: s["Effect"] == "Deny")


def _topic_key_without_publishers(templates: dict[str, dict[str, Any]]) -> None:
    for key in _resources(templates, "AWS::KMS::Key"):
        _drop_statements(key["Properties"]["KeyPolicy"], lambda s: "ToUseTheTopicKey" not in s.get("Sid", ""))


def _no_create_grant(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "kms:CreateGrant" not in _actions(s))


def _per_job_log_group(templates: dict[str, dict[str, Any]]) -> None:
    # The old grant: a group per job, which SageMaker never creates.
    text = json.dumps(templates["mlops-prod-batch"])
    text = text.replace(
        "/aws/sagemaker/TransformJobs:log-stream:caller-risk-backfill-*", "/aws/sagemaker/TransformJobs/caller-risk-backfill-*:*"
    )
    text = text.replace("/aws/sagemaker/TransformJobs:*", "/aws/sagemaker/TransformJobs/caller-risk-backfill-*:*")
    templates["mlops-prod-batch"] = json.loads(text)


def _unencrypted_log_groups(templates: dict[str, dict[str, Any]]) -> None:
    for group in _resources(templates, "AWS::Logs::LogGroup"):
        group["Properties"].pop("KmsKeyId")


def _logs_key_without_logs_service(templates: dict[str, dict[str, Any]]) -> None:
    for key in _resources(templates, "AWS::KMS::Key"):
        _drop_statements(key["Properties"]["KeyPolicy"], lambda s: "logs." not in json.dumps(s.get("Principal", {})))


def _endless_log_groups(templates: dict[str, dict[str, Any]]) -> None:
    for group in _resources(templates, "AWS::Logs::LogGroup"):
        group["Properties"].pop("RetentionInDays")


def _state_machine_logs_outside_vended(templates: dict[str, dict[str, Any]]) -> None:
    for group in _resources(templates, "AWS::Logs::LogGroup"):
        name = group["Properties"]["LogGroupName"]
        if isinstance(name, str):  # not API Gateway's execution-log group, named after its API's id
            group["Properties"]["LogGroupName"] = name.replace("/aws/vendedlogs/states/", "/mlops/")


def _endpoint_without_its_log_group(templates: dict[str, dict[str, Any]]) -> None:
    for endpoint in _resources(templates, "AWS::SageMaker::Endpoint"):
        endpoint.pop("DependsOn")


def _too_much_in_flight(templates: dict[str, dict[str, Any]]) -> None:
    # 64 x 6 MB passed config validation before the rule existed.
    text = json.dumps(templates["mlops-prod-batch"])
    text = text.replace(
        '\\"MaxPayloadInMB\\":5,\\"MaxConcurrentTransforms\\":4', '\\"MaxPayloadInMB\\":6,\\"MaxConcurrentTransforms\\":64'
    )
    templates["mlops-prod-batch"] = json.loads(text)


def _kms_access_log_target(templates: dict[str, dict[str, Any]]) -> None:
    for bucket in _resources(templates, "AWS::S3::Bucket"):
        if "LoggingConfiguration" not in bucket["Properties"]:
            rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            rule["ServerSideEncryptionByDefault"] = {"SSEAlgorithm": "aws:kms"}


def _capture_key_not_granted(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "kms:GenerateDataKey" not in _actions(s))


def _provider_without_update_grant(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        _drop_statements(
            policy["Properties"]["PolicyDocument"], lambda s: "sagemaker:UpdateEndpointWeightsAndCapacities" not in _actions(s)
        )


def _composite_rollback_alarm(templates: dict[str, dict[str, Any]]) -> None:
    for template in templates.values():
        composites = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::CompositeAlarm"]
        for endpoint in _resources({"t": template}, "AWS::SageMaker::Endpoint"):
            alarms = endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
            alarms[0] = {"AlarmName": {"Ref": composites[0]}}


def _labeling_role_without(action: str) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(templates: dict[str, dict[str, Any]]) -> None:
        for policy in _resources(templates, "AWS::IAM::Policy"):
            if "JobsRole" in json.dumps(policy["Properties"]["Roles"]):
                _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: action not in _actions(s))

    return mutate


def _job_role_without(action: str) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(templates: dict[str, dict[str, Any]]) -> None:
        for name, policy in templates["mlops-prod-training"]["Resources"].items():
            if name.startswith("TrainingJobRole") and policy["Type"] == "AWS::IAM::Policy":
                _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: action not in _actions(s))

    return mutate


def _workteam_key_without_sagemaker(templates: dict[str, dict[str, Any]]) -> None:
    for key in _resources(templates, "AWS::KMS::Key"):
        _drop_statements(
            key["Properties"]["KeyPolicy"], lambda s: "sagemaker.amazonaws.com" not in json.dumps(s.get("Principal"))
        )


def _labeling_handler_without_pass_role(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        if "JobsHandler" in json.dumps(policy["Properties"]["Roles"]):
            _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "iam:PassRole" not in _actions(s))


def _email_as_alias(templates: dict[str, dict[str, Any]]) -> None:
    for pool in _resources(templates, "AWS::Cognito::UserPool"):
        pool["Properties"].pop("UsernameAttributes", None)
        pool["Properties"]["AliasAttributes"] = ["email"]


def _monitoring_role_without_capture_read(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "s3:GetObject" not in _actions(s))


def _monitoring_role_without_execution_logs(templates: dict[str, dict[str, Any]]) -> None:
    text = json.dumps(templates["mlops-prod-monitoring"]).replace("log-stream:model-monitoring-*", "log-stream:monitoring-*")
    templates["mlops-prod-monitoring"] = json.loads(text)


def _monitoring_volume_key_on_local_storage(templates: dict[str, dict[str, Any]]) -> None:
    for definition in _resources(templates, "AWS::SageMaker::DataQualityJobDefinition"):
        definition["Properties"]["JobResources"]["ClusterConfig"]["InstanceType"] = "ml.g5.xlarge"


def _schedule_names_definition_by_arn(templates: dict[str, dict[str, Any]]) -> None:
    """The shape before the fix: the name cut from the definition's ARN (lower-case there)."""
    for logical_id, resource in templates["mlops-prod-monitoring"]["Resources"].items():
        if resource["Type"] == "AWS::SageMaker::DataQualityJobDefinition":
            del resource["Properties"]["JobDefinitionName"]
            arn = {"Fn::GetAtt": [logical_id, "JobDefinitionArn"]}
            for schedule in _resources(templates, "AWS::SageMaker::MonitoringSchedule"):
                config = schedule["Properties"]["MonitoringScheduleConfig"]
                if "MonitoringJobDefinitionName" in config:
                    config["MonitoringJobDefinitionName"] = {"Fn::Select": [1, {"Fn::Split": ["/", arn]}]}


def _schedule_without_depends_on(templates: dict[str, dict[str, Any]]) -> None:
    for schedule in _resources(templates, "AWS::SageMaker::MonitoringSchedule"):
        schedule.pop("DependsOn", None)


def _dead_letter_queue_without_policy(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::SQS::QueuePolicy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: s["Effect"] == "Deny")


def _function_cannot_send_dead_letters(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources(templates, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "sqs:SendMessage" not in _actions(s))


DEFECTS: list[tuple[str, Callable[[dict[str, dict[str, Any]]], None], str, str]] = [
    ("sns_publishers_are_allowed", _deny_only_topic_policy, "cloudwatch.amazonaws.com no sns:Publish", "deny-only topic policy"),
    ("sns_publishers_are_allowed", _topic_key_without_publishers, "does not let cloudwatch.amazonaws.com kms:", "topic key"),
    ("sns_publishers_are_allowed", _deny_only_topic_policy, "events.amazonaws.com no sns:Publish", "monitoring rule topic"),
    ("job_keys_are_usable", _no_create_grant, "may not kms:CreateGrant on volume key", "no CreateGrant"),
    ("log_grants_name_real_groups", _per_job_log_group, "a group SageMaker never writes to", "per-job log group"),
    ("log_grants_name_real_groups", _per_job_log_group, "job role may not logs:PutLogEvents", "job cannot write logs"),
    ("log_groups_have_retention_and_a_usable_key", _unencrypted_log_groups, "not encrypted with a customer key", "no key"),
    ("log_groups_have_retention_and_a_usable_key", _logs_key_without_logs_service, "does not let logs.eu-west-1", "logs key"),
    ("log_groups_have_retention_and_a_usable_key", _endless_log_groups, "no RetentionInDays", "no retention"),
    ("state_machines_log_under_vended_prefix", _state_machine_logs_outside_vended, "not under /aws/vendedlogs", "vended"),
    ("endpoint_log_groups_exist_first", _endpoint_without_its_log_group, "does not depend on its log group", "ordering"),
    ("transform_payload_in_flight", _too_much_in_flight, "64 x 6 MB = 384 MB > 100 MB", "payload limit"),
    ("access_log_targets_use_sse_s3", _kms_access_log_target, "not SSE-S3", "log target encryption"),
    ("endpoint_keys_are_usable", _capture_key_not_granted, "may not kms:GenerateDataKey on capture key", "capture key"),
    (
        "weights_provider_may_update_its_endpoints",
        _provider_without_update_grant,
        "may not sagemaker:UpdateEndpointWeightsAndCapacities",
        "weights provider grant",
    ),
    ("rollback_alarms_are_metric_alarms", _composite_rollback_alarm, "is a AWS::CloudWatch::CompositeAlarm", "composite"),
    ("cognito_user_names_fit_their_pool", _email_as_alias, "is an email address, but", "cognito alias"),
    ("labeling_jobs_can_run", _labeling_role_without("lambda:InvokeFunction"), "may not lambda:InvokeFunction", "GT lambdas"),
    ("labeling_jobs_can_run", _labeling_role_without("s3:PutObject"), "may not s3:PutObject under", "GT output"),
    (
        "labeling_jobs_can_run",
        _labeling_role_without("kms:GenerateDataKey"),
        "may not kms:GenerateDataKey on output key",
        "GT key",
    ),
    ("labeling_jobs_can_run", _labeling_role_without("kms:Encrypt"), "may not kms:Encrypt on output key", "GT key encrypt"),
    (
        "labeling_jobs_can_run",
        _labeling_role_without("s3:GetBucketLocation"),
        "may not s3:GetBucketLocation on the output bucket",
        "GT bucket location",
    ),
    ("labeling_jobs_can_run", _labeling_role_without("logs:PutLogEvents"), "may not logs:PutLogEvents", "GT logs"),
    ("labeling_jobs_can_run", _labeling_handler_without_pass_role, "may not pass", "GT pass role"),
    (
        "workteam_topics_accept_sagemaker",
        _workteam_key_without_sagemaker,
        "does not let sagemaker.amazonaws.com kms:",
        "workteam key",
    ),
    ("training_jobs_reach_their_locations", _job_role_without("events:PutEvents"), "may not events:PutEvents", "no PutEvents"),
    (
        "training_jobs_reach_their_locations",
        _job_role_without("s3:GetObject"),
        "may not s3:GetObject on {{mlops-prod-foundation/StorageArtifactsBucket",
        "no checkpoint read",
    ),
    (
        "dead_letter_queues_accept_their_senders",
        _dead_letter_queue_without_policy,
        "does not let events.amazonaws.com sqs:SendMessage",
        "DLQ policy",
    ),
    ("dead_letter_queues_accept_their_senders", _function_cannot_send_dead_letters, "may not sqs:SendMessage", "DLQ send"),
]


def _api_template(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return templates["mlops-prod-api-caller-risk"]


def _short_visibility_timeout(templates: dict[str, dict[str, Any]]) -> None:
    # What sqs.Queue's default (30 s) gives a function with a 60 s timeout.
    for queue in _resources({"api": _api_template(templates)}, "AWS::SQS::Queue"):
        if "RedrivePolicy" in queue["Properties"]:
            queue["Properties"]["VisibilityTimeout"] = 30


def _consumer_without_queue_key(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources({"api": _api_template(templates)}, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "kms:Decrypt" not in _actions(s))


def _producer_without_queue_key(templates: dict[str, dict[str, Any]]) -> None:
    for policy in _resources({"api": _api_template(templates)}, "AWS::IAM::Policy"):
        _drop_statements(policy["Properties"]["PolicyDocument"], lambda s: "kms:GenerateDataKey*" not in _actions(s))


def _fifo_dead_letter_queue(templates: dict[str, dict[str, Any]]) -> None:
    for queue in _resources({"api": _api_template(templates)}, "AWS::SQS::Queue"):
        if "RedrivePolicy" not in queue["Properties"]:
            queue["Properties"]["FifoQueue"] = True


def _access_logs_to_getatt_arn(templates: dict[str, dict[str, Any]]) -> None:
    # Fn::GetAtt LogGroup.Arn ends with ':*', which AccessLogSettings does not take.
    for stage in _resources({"api": _api_template(templates)}, "AWS::ApiGateway::Stage"):
        setting = stage["Properties"]["AccessLogSetting"]
        group = setting["DestinationArn"]["Fn::Join"][1][1]["Ref"]
        setting["DestinationArn"] = {"Fn::Join": ["", ["arn:aws:logs:eu-west-1:222222222222:log-group:", {"Ref": group}, ":*"]]}


def _no_api_gateway_account(templates: dict[str, dict[str, Any]]) -> None:
    resources = _api_template(templates)["Resources"]
    for logical_id in [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Account"]:
        del resources[logical_id]


DEFECTS += [
    ("sqs_event_sources_fit_their_queues", _short_visibility_timeout, "visibility timeout 30 s < function timeout", "visibility"),
    ("sqs_event_sources_fit_their_queues", _consumer_without_queue_key, "may not kms:Decrypt with", "consumer key"),
    ("sqs_producers_can_use_queue_keys", _producer_without_queue_key, "but may not kms:GenerateDataKey", "producer key"),
    ("dead_letter_queues_match_their_source", _fifo_dead_letter_queue, "not the same type", "dlq type"),
    ("api_access_logs_can_be_written", _access_logs_to_getatt_arn, "is not arn:aws:logs:<region>", "access-log arn"),
    ("api_access_logs_can_be_written", _no_api_gateway_account, "no AWS::ApiGateway::Account", "account role"),
    (
        "monitoring_jobs_can_read_capture_and_write_reports",
        _monitoring_role_without_capture_read,
        "may not s3:GetObject on capture",
        "monitoring capture read",
    ),
    (
        "monitoring_jobs_can_read_capture_and_write_reports",
        _capture_key_not_granted,
        "may not kms:GenerateDataKey on output key",
        "monitoring output key",
    ),
    (
        "monitoring_jobs_can_read_capture_and_write_reports",
        _no_create_grant,
        "may not kms:CreateGrant on volume key",
        "monitoring volume key",
    ),
    (
        "monitoring_jobs_can_read_capture_and_write_reports",
        _monitoring_role_without_execution_logs,
        "may not logs:PutLogEvents on arn:aws:logs:eu-west-1:222222222222:log-group:/aws/sagemaker/ProcessingJobs",
        "monitoring logs",
    ),
    (
        "monitoring_jobs_can_read_capture_and_write_reports",
        _monitoring_volume_key_on_local_storage,
        "which has local NVMe storage",
        "monitoring local storage",
    ),
    (
        "monitoring_schedules_name_their_job_definitions",
        _schedule_names_definition_by_arn,
        "names its job definition by an expression",
        "schedule names definition by arn",
    ),
    (
        "monitoring_schedules_name_their_job_definitions",
        _schedule_without_depends_on,
        "may be created before its job definition",
        "schedule before definition",
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "expected", "label"), DEFECTS, ids=[d[3] for d in DEFECTS])
def test_rule_catches_the_defect(
    rule: str, mutate: Callable[[dict[str, dict[str, Any]]], None], expected: str, label: str, prod: Synthesized
) -> None:
    violations = RULES[rule](_mutated(prod, mutate))
    assert any(expected in v for v in violations), violations


def test_every_rule_has_a_defect_it_catches() -> None:
    assert {d[0] for d in DEFECTS} | {"vpc_models_can_manage_their_network_interfaces"} == set(RULES)
