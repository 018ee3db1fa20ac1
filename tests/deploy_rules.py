"""Rules AWS enforces at deploy or run time that span resources, checked on whole templates.

Each rule takes a CloudModel (every stack of one environment) and returns its violations
as readable lines; `tests/test_deploy_rules.py` runs every rule on every shipped config,
and shows each rule catching a real defect. A new feature adds its rules here, each with
the AWS source that states it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.cloud_model import CloudModel, Resource, state_machine_definition, task_states

# Where SageMaker writes logs (SageMaker Developer Guide, "Log groups and streams that Amazon
# SageMaker AI sends to Amazon CloudWatch Logs"): one group per endpoint, one shared group
# per job type whose streams start with the job name.
_SAGEMAKER_LOG_GROUP = re.compile(
    r"^/aws/sagemaker/(Endpoints/[A-Za-z0-9](-*[A-Za-z0-9]){0,62}|TransformJobs|TrainingJobs|ProcessingJobs|LabelingJobs)$"
)
_LOGS_ARN = re.compile(r"^arn:[^:]+:logs:[^:]*:[^:]*:log-group:(?P<group>[^:]+)(?P<rest>:.*)?$")
_SAMPLE_INSTANCE = "i-0123456789abcdef0"

_ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
# SageMaker job APIs called from Step Functions: where each names its role and its keys
# (API references of CreateTransformJob, CreateTrainingJob, CreateProcessingJob).
_JOB_KEYS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "createTransformJob": (("TransformResources", "VolumeKmsKeyId"), (("TransformOutput", "KmsKeyId"),)),
    "createTrainingJob": (("ResourceConfig", "VolumeKmsKeyId"), (("OutputDataConfig", "KmsKeyId"),)),
    "createProcessingJob": (
        ("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"),
        (("ProcessingOutputConfig", "KmsKeyId"),),
    ),
}
_JOB_LOG_GROUPS = {
    "createTransformJob": ("/aws/sagemaker/TransformJobs", "transform-job"),
    "createTrainingJob": ("/aws/sagemaker/TrainingJobs", "training-job"),
    "createProcessingJob": ("/aws/sagemaker/ProcessingJobs", "processing-job"),
}


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# --- SNS: who may publish ------------------------------------------------------------------


def sns_publishers_are_allowed(model: CloudModel) -> list[str]:
    """Every alarm action and EventBridge target that is an SNS topic can really publish.

    - A topic policy replaces SNS's default policy; the publishing service needs an Allow
      for sns:Publish (SNS Developer Guide, "Amazon SNS access control", and CloudWatch User
      Guide, "Using Amazon CloudWatch alarms": the topic's access policy must allow
      cloudwatch.amazonaws.com; EventBridge User Guide, "Permissions for Amazon SNS").
    - An encrypted topic's key must let that service use kms:GenerateDataKey* and
      kms:Decrypt (SNS Developer Guide, "Enable compatibility between event sources from
      AWS services and encrypted topics"); the AWS-managed alias/aws/sns key cannot.
    """
    violations: list[str] = []
    for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
        for alarm in model.of_type(kind):
            source = model.arn("cloudwatch", f"alarm:{alarm.logical_id}")
            for field in _ALARM_ACTIONS:
                for arn in model.resolve(alarm.stack, alarm.properties.get(field, [])):
                    violations += _publish_problems(
                        model, arn, "cloudwatch.amazonaws.com", source, f"{alarm.stack}/{alarm.logical_id}"
                    )
    for rule in model.of_type("AWS::Events::Rule"):
        source = model.arn("events", f"rule/{rule.logical_id}")
        for target in rule.properties.get("Targets", []):
            arn = model.resolve(rule.stack, target["Arn"])
            violations += _publish_problems(model, arn, "events.amazonaws.com", source, f"{rule.stack}/{rule.logical_id}")
    return violations


def _publish_problems(model: CloudModel, arn: str, service: str, source_arn: str, where: str) -> list[str]:
    topic = model.target(arn)
    if topic is None or topic.type != "AWS::SNS::Topic":
        return []
    context = {"aws:SourceAccount": model.account, "aws:SourceArn": source_arn}
    problems = []
    policies = [
        p for p in model.of_type("AWS::SNS::TopicPolicy") if topic.ref in model.resolve(p.stack, p.properties.get("Topics", []))
    ]
    if policies:
        statements = [s for p in policies for s in model.statements(p.stack, p.properties["PolicyDocument"])]
        if not any(s.allows("sns:Publish", topic.ref, context) and s.names_principal("Service", service) for s in statements):
            problems.append(
                f"{where}: topic {topic.logical_id}'s policy allows {service} no sns:Publish (the policy replaces SNS's default)"
            )
    key_id = model.resolve(topic.stack, topic.properties.get("KmsMasterKeyId"))
    if key_id is not None:
        key = model.target(str(key_id))
        if key is None:
            problems.append(f"{where}: topic {topic.logical_id} uses key {key_id}, which {service} cannot be granted")
        else:
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                if not model.service_can_use_key(service, key, action, context):
                    problems.append(f"{where}: topic {topic.logical_id}'s key {key.logical_id} does not let {service} {action}")
    return problems


# --- SageMaker jobs and endpoints: keys usable by the role that runs them -------------------


def _sagemaker_tasks(model: CloudModel) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
    for machine in model.of_type("AWS::StepFunctions::StateMachine"):
        for state in task_states(state_machine_definition(model, machine)):
            match = re.search(r":sagemaker:(create\w+Job)", state.get("Resource", ""))
            if match and match[1] in _JOB_KEYS:
                yield machine, match[1], state.get("Parameters", {})


def _job_role(model: CloudModel, api: str, parameters: dict[str, Any]) -> Resource | None:
    if api == "createTransformJob":
        sm_model = model.target(parameters.get("ModelName", ""))
        if sm_model is None:
            return None
        return model.role_for_arn(model.resolve(sm_model.stack, sm_model.properties["ExecutionRoleArn"]))
    return model.role_for_arn(parameters.get("RoleArn", ""))


def job_keys_are_usable(model: CloudModel) -> list[str]:
    """Every KMS key a SageMaker job names is usable by the roles involved.

    - VolumeKmsKeyId: SageMaker creates a grant for the instances' volumes; the job's role
      must be allowed kms:CreateGrant (CreateTransformJob/CreateTrainingJob/
      CreateProcessingJob API references: "the KMS key policy must grant permission to the
      IAM role"), and so must the caller, here the state machine's role (KMS Developer
      Guide, "Grants in AWS KMS": CreateGrant on behalf of an AWS service, checked with
      kms:GrantIsForAWSResource).
    - Output KmsKeyId: the role writes SSE-KMS objects: kms:GenerateDataKey and kms:Decrypt
      (multipart uploads) (Amazon S3 User Guide, "Using server-side encryption with AWS KMS
      keys").
    """
    violations = []
    grant_context = {"kms:GrantIsForAWSResource": "true"}
    for machine, api, parameters in _sagemaker_tasks(model):
        where = f"{machine.stack}/{machine.logical_id} {api}"
        role = _job_role(model, api, parameters)
        caller = model.role_for_arn(model.resolve(machine.stack, machine.properties["RoleArn"]))
        if role is None or caller is None:
            violations.append(f"{where}: cannot find the job's role or the state machine's role")
            continue
        volume_path, output_paths = _JOB_KEYS[api]
        volume_key = model.target(str(_dig(parameters, volume_path) or ""))
        if volume_key is not None:
            for who, principal in (("job role", role), ("state machine role", caller)):
                if not model.role_can_use_key(principal, volume_key, "kms:CreateGrant", grant_context):
                    violations.append(
                        f"{where}: {who} {principal.logical_id} may not kms:CreateGrant on volume key {volume_key.logical_id}"
                    )
        for path in output_paths:
            output_key = model.target(str(_dig(parameters, path) or ""))
            if output_key is None:
                continue
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                if not model.role_can_use_key(role, output_key, action):
                    violations.append(
                        f"{where}: job role {role.logical_id} may not {action} on output key {output_key.logical_id}"
                    )
    return violations


def _endpoint_config(model: CloudModel, endpoint: Resource) -> Resource | None:
    return model.target(model.resolve(endpoint.stack, endpoint.properties["EndpointConfigName"]))


def _variant_roles(model: CloudModel, config: Resource) -> dict[str, Resource]:
    roles = {}
    for variant in config.properties.get("ProductionVariants", []):
        sm_model = model.target(model.resolve(config.stack, variant["ModelName"]))
        if sm_model is not None:
            role = model.role_for_arn(model.resolve(sm_model.stack, sm_model.properties["ExecutionRoleArn"]))
            if role is not None:
                roles[variant["VariantName"]] = role
    return roles


def endpoint_keys_are_usable(model: CloudModel) -> list[str]:
    """An endpoint's keys: the volume key is granted through IAM (CreateEndpointConfig API
    reference, KmsKeyId: the key policy must allow the principal calling CreateEndpoint, here
    CloudFormation's role, so it must delegate to IAM), and the data-capture key must let the
    models' role write captured objects (kms:GenerateDataKey, kms:Decrypt; SageMaker Developer
    Guide, "Data capture": the execution role writes to the capture destination)."""
    violations = []
    for config in model.of_type("AWS::SageMaker::EndpointConfig"):
        where = f"{config.stack}/{config.logical_id}"
        volume_key = model.target(str(model.resolve(config.stack, config.properties.get("KmsKeyId", ""))))
        if volume_key is not None and not model.key_delegates_to_iam(volume_key):
            violations.append(f"{where}: volume key {volume_key.logical_id} does not delegate to IAM policies")
        capture = config.properties.get("DataCaptureConfig")
        if capture:
            capture_key = model.target(str(model.resolve(config.stack, capture.get("KmsKeyId", ""))))
            if capture_key is None:
                continue
            for variant, role in _variant_roles(model, config).items():
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    if not model.role_can_use_key(role, capture_key, action):
                        violations.append(
                            f"{where}: variant {variant}'s role may not {action} on capture key {capture_key.logical_id}"
                        )
    return violations


# --- CloudWatch Logs --------------------------------------------------------------------------


def _log_arn(model: CloudModel, group: str, stream: str) -> str:
    return model.arn("logs", f"log-group:{group}:log-stream:{stream}")


def log_grants_name_real_groups(model: CloudModel) -> list[str]:
    """A SageMaker role's log grants name groups SageMaker writes to, and let it write its own streams.

    Source: SageMaker Developer Guide, "Log groups and streams that Amazon SageMaker AI sends
    to Amazon CloudWatch Logs": `/aws/sagemaker/Endpoints/<endpoint>` (streams
    `<variant>/<instance>`), and one group per job type, e.g. `/aws/sagemaker/TransformJobs`
    with streams `<job name>/<host>-<epoch>`.
    """
    violations = []
    for role in model.of_type("AWS::IAM::Role"):
        if "sagemaker.amazonaws.com" not in model.trusted_services(role):
            continue
        for statement in model.role_statements(role):
            if not any(a.lower().startswith("logs:") for a in statement.actions):
                continue
            for resource in statement.resources:
                match = _LOGS_ARN.match(resource)
                if match is None or not _SAGEMAKER_LOG_GROUP.match(match["group"]):
                    violations.append(
                        f"{role.stack}/{role.logical_id}: logs grant on {resource}, a group SageMaker never writes to"
                    )
    # Positive: each workload's role can write the streams SageMaker really creates.
    for endpoint in model.of_type("AWS::SageMaker::Endpoint"):
        config = _endpoint_config(model, endpoint)
        name = endpoint.properties.get("EndpointName")
        if config is None or not isinstance(name, str):
            continue
        for variant, role in _variant_roles(model, config).items():
            stream = _log_arn(model, f"/aws/sagemaker/Endpoints/{name}", f"{variant}/{_SAMPLE_INSTANCE}")
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                if not model.role_allows(role, action, stream):
                    violations.append(
                        f"{endpoint.stack}/{endpoint.logical_id}: variant {variant}'s role may not {action} on {stream}"
                    )
    for machine, api, parameters in _sagemaker_tasks(model):
        job_role = _job_role(model, api, parameters)
        caller = model.role_for_arn(model.resolve(machine.stack, machine.properties["RoleArn"]))
        if job_role is None or caller is None:
            continue
        group, job_type = _JOB_LOG_GROUPS[api]
        for prefix in _job_name_prefixes(model, caller, job_type):
            stream = _log_arn(model, group, f"{prefix}20260101-000000/{_SAMPLE_INSTANCE}-1767225600")
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                if not model.role_allows(job_role, action, stream):
                    violations.append(f"{machine.stack}/{machine.logical_id}: job role may not {action} on {stream}")
    return violations


def _job_name_prefixes(model: CloudModel, caller: Resource, job_type: str) -> list[str]:
    """Job-name prefixes the caller may create, from its `<job type>/<prefix>*` grants."""
    prefixes = []
    for statement in model.role_statements(caller):
        if any(a.lower().startswith("sagemaker:create") for a in statement.actions):
            for resource in statement.resources:
                match = re.search(rf":{job_type}/(?P<prefix>[^*]*)\*$", resource)
                if match:
                    prefixes.append(match["prefix"])
    return prefixes


def log_groups_have_retention_and_a_usable_key(model: CloudModel) -> list[str]:
    """Every log group we create expires and is encrypted with a customer key CloudWatch Logs may use.

    Source: CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS":
    the key policy must allow `logs.<region>.amazonaws.com` kms:Encrypt*, kms:Decrypt*,
    kms:ReEncrypt*, kms:GenerateDataKey*, kms:Describe*, under the encryption context
    `kms:EncryptionContext:aws:logs:arn` of the group, or association fails.
    """
    violations = []
    service = f"logs.{model.region}.amazonaws.com"
    for group in model.of_type("AWS::Logs::LogGroup"):
        where = f"{group.stack}/{group.logical_id}"
        if "RetentionInDays" not in group.properties:
            violations.append(f"{where}: no RetentionInDays (logs kept forever)")
        key = model.target(str(model.resolve(group.stack, group.properties.get("KmsKeyId", ""))))
        if key is None:
            violations.append(f"{where}: not encrypted with a customer key of this app")
            continue
        name = group.properties.get("LogGroupName", group.logical_id)
        context = {"kms:EncryptionContext:aws:logs:arn": model.arn("logs", f"log-group:{name}")}
        for action in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:DescribeKey"):
            if not model.service_can_use_key(service, key, action, context):
                violations.append(f"{where}: key {key.logical_id} does not let {service} {action}")
    return violations


def state_machines_log_under_vended_prefix(model: CloudModel) -> list[str]:
    """State machines log to `/aws/vendedlogs/states/...` groups.

    Source: Step Functions Developer Guide, "Logging in CloudWatch Logs": outside that prefix,
    each log group is added to the account's CloudWatch Logs resource policy, whose size
    limit (5,120 characters) is reached after a few dozen state machines, and then
    creating one fails.
    """
    violations = []
    for machine in model.of_type("AWS::StepFunctions::StateMachine"):
        config = machine.properties.get("LoggingConfiguration", {})
        for destination in config.get("Destinations", []):
            arn = model.resolve(machine.stack, destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
            group = model.target(arn)
            name = group.properties.get("LogGroupName") if group else None
            if not isinstance(name, str) or not name.startswith("/aws/vendedlogs/states/"):
                violations.append(
                    f"{machine.stack}/{machine.logical_id}: logs to {name or arn}, not under /aws/vendedlogs/states/"
                )
    return violations


def endpoint_log_groups_exist_first(model: CloudModel) -> list[str]:
    """Each endpoint's log group is a stack resource the endpoint depends on.

    SageMaker creates `/aws/sagemaker/Endpoints/<name>` on first start if it does not exist,
    with no retention and no key, outside any stack (SageMaker Developer Guide, "Log groups
    and streams"); creating it first, in the endpoint's stack, gives it both.
    """
    violations = []
    for endpoint in model.of_type("AWS::SageMaker::Endpoint"):
        name = endpoint.properties.get("EndpointName")
        groups = [
            g.logical_id
            for g in model.of_type("AWS::Logs::LogGroup")
            if g.stack == endpoint.stack and g.properties.get("LogGroupName") == f"/aws/sagemaker/Endpoints/{name}"
        ]
        depends = endpoint.raw.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        if not groups:
            violations.append(
                f"{endpoint.stack}/{endpoint.logical_id}: no log group /aws/sagemaker/Endpoints/{name} in its stack"
            )
        elif not set(groups) & set(depends):
            violations.append(f"{endpoint.stack}/{endpoint.logical_id}: does not depend on its log group {groups[0]}")
    return violations


# --- Limits that span fields ------------------------------------------------------------------


def transform_payload_in_flight(model: CloudModel) -> list[str]:
    """CreateTransformJob API reference, MaxPayloadInMB: MaxConcurrentTransforms x MaxPayloadInMB <= 100 MB."""
    violations = []
    for machine, api, parameters in _sagemaker_tasks(model):
        if api != "createTransformJob":
            continue
        concurrent = parameters.get("MaxConcurrentTransforms", 1)
        payload = parameters.get("MaxPayloadInMB", 6)
        if isinstance(concurrent, int) and isinstance(payload, int) and concurrent * payload > 100:
            violations.append(
                f"{machine.stack}/{machine.logical_id}: {concurrent} x {payload} MB = {concurrent * payload} MB > 100 MB"
            )
    return violations


# --- S3 --------------------------------------------------------------------------------------


def access_log_targets_use_sse_s3(model: CloudModel) -> list[str]:
    """Server access logs are delivered only to a target bucket with SSE-S3 default encryption.

    Source: Amazon S3 User Guide, "Enabling Amazon S3 server access logging": the target
    bucket's default encryption can be SSE-S3 (AES256) only; SSE-KMS is not supported.
    """
    violations = []
    for bucket in model.of_type("AWS::S3::Bucket"):
        target_name = model.resolve(bucket.stack, _dig(bucket.properties, ("LoggingConfiguration", "DestinationBucketName")))
        if target_name is None:
            continue
        target = model.target(str(target_name))
        if target is None:
            continue
        rules = _dig(target.properties, ("BucketEncryption", "ServerSideEncryptionConfiguration")) or []
        algorithms = {_dig(r, ("ServerSideEncryptionByDefault", "SSEAlgorithm")) for r in rules}
        if algorithms != {"AES256"}:
            found = algorithms or "nothing"
            violations.append(
                f"{bucket.stack}/{bucket.logical_id}: logs to {target.logical_id}, encrypted with {found}, not SSE-S3"
            )
    return violations


RULES = {
    rule.__name__: rule
    for rule in (
        sns_publishers_are_allowed,
        job_keys_are_usable,
        endpoint_keys_are_usable,
        log_grants_name_real_groups,
        log_groups_have_retention_and_a_usable_key,
        state_machines_log_under_vended_prefix,
        endpoint_log_groups_exist_first,
        transform_payload_in_flight,
        access_log_targets_use_sse_s3,
    )
}


# --- Release by config ---------------------------------------------------------------------------


def _provider_handler_role(model: CloudModel, custom: Resource) -> Resource | None:
    """The role of the user handler behind a Provider-framework service token."""
    framework = model.target(str(model.resolve(custom.stack, custom.properties.get("ServiceToken", ""))))
    if framework is None:
        return None
    variables = _dig(framework.properties, ("Environment", "Variables")) or {}
    handler = model.target(str(model.resolve(framework.stack, variables.get("USER_ON_EVENT_FUNCTION_ARN", ""))))
    if handler is None:
        return None
    return model.role_for_arn(model.resolve(handler.stack, handler.properties["Role"]))


def weights_provider_may_update_its_endpoints(model: CloudModel) -> list[str]:
    """The Lambda behind each `Custom::EndpointWeights` may describe and update that endpoint.

    Source: SageMaker API reference, UpdateEndpointWeightsAndCapacities and DescribeEndpoint
    (resource type `endpoint`, ARN `arn:...:endpoint/<name>`, the name lower-cased as SageMaker
    writes it in ARNs); without the grant the deploy fails after the endpoint update.
    """
    violations = []
    for custom in model.of_type("Custom::EndpointWeights"):
        where = f"{custom.stack}/{custom.logical_id}"
        role = _provider_handler_role(model, custom)
        endpoint = model.target(str(model.resolve(custom.stack, custom.properties["EndpointName"])))
        if role is None or endpoint is None:
            violations.append(f"{where}: cannot find the provider's handler role or the endpoint")
            continue
        arn = model.arn("sagemaker", f"endpoint/{endpoint.properties['EndpointName'].lower()}")
        for action in ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"):
            if not model.role_allows(role, action, arn):
                violations.append(f"{where}: the handler's role {role.logical_id} may not {action} on {arn}")
    return violations


def rollback_alarms_are_metric_alarms(model: CloudModel) -> list[str]:
    """Auto-rollback names 1-10 CloudWatch metric alarms of this account that watch the endpoint.

    Source: SageMaker API reference, AutoRollbackConfig.Alarms (1-10 items) and Alarm
    (the name of a CloudWatch alarm in your account, configured to monitor metrics on the
    endpoint).
    """
    violations = []
    for endpoint in model.of_type("AWS::SageMaker::Endpoint"):
        where = f"{endpoint.stack}/{endpoint.logical_id}"
        alarms = _dig(endpoint.properties, ("DeploymentConfig", "AutoRollbackConfiguration", "Alarms"))
        if alarms is None:
            continue
        if not 1 <= len(alarms) <= 10:
            violations.append(f"{where}: {len(alarms)} rollback alarms; SageMaker accepts 1-10")
        name = endpoint.properties.get("EndpointName")
        for entry in alarms:
            alarm = model.target(str(model.resolve(endpoint.stack, entry["AlarmName"])))
            if alarm is None:
                continue  # an alarm named in config, created elsewhere
            if alarm.type != "AWS::CloudWatch::Alarm":
                violations.append(f"{where}: rollback alarm {alarm.logical_id} is a {alarm.type}, not a metric alarm")
                continue
            watched = json.dumps(alarm.properties)
            if f'"Value": "{name}"' not in watched:
                violations.append(f"{where}: rollback alarm {alarm.logical_id} does not watch endpoint {name}")
    return violations


RULES.update({rule.__name__: rule for rule in (weights_provider_may_update_its_endpoints, rollback_alarms_are_metric_alarms)})


# --- VPC placement ----------------------------------------------------------------------------


def _vpc_workloads(model: CloudModel) -> Iterator[tuple[str, Resource | None, dict[str, Any]]]:
    """(where, execution role, VpcConfig) of every model and training job placed in a VPC."""
    for sm_model in model.of_type("AWS::SageMaker::Model"):
        vpc = model.resolve(sm_model.stack, sm_model.properties.get("VpcConfig"))
        if vpc:
            role = model.role_for_arn(model.resolve(sm_model.stack, sm_model.properties["ExecutionRoleArn"]))
            yield f"{sm_model.stack}/{sm_model.logical_id}", role, vpc
    for machine, api, parameters in _sagemaker_tasks(model):
        if api == "createTrainingJob" and parameters.get("VpcConfig"):
            yield f"{machine.stack}/{machine.logical_id} {api}", _job_role(model, api, parameters), parameters["VpcConfig"]


def vpc_models_can_manage_their_network_interfaces(model: CloudModel) -> list[str]:
    """A model or training job with a VpcConfig runs under a role that can create and manage its
    network interfaces (training: CreateTrainingJob's VpcConfig, "Give SageMaker AI training jobs
    access to resources in your Amazon VPC", the same permissions).

    Source: SageMaker Developer Guide, "Give SageMaker AI hosted endpoints access to resources
    in your Amazon VPC" (and the same for batch transform): the execution role needs
    ec2:CreateNetworkInterface, CreateNetworkInterfacePermission, DeleteNetworkInterface,
    DeleteNetworkInterfacePermission and the Describe calls for interfaces, VPCs, DHCP
    options, subnets and security groups; without them the endpoint or job fails to start.
    """
    violations = []
    eni = model.arn("ec2", "network-interface/eni-0123456789abcdef0")
    for where, role, vpc in _vpc_workloads(model):
        if role is None:
            violations.append(f"{where}: cannot find its execution role")
            continue
        subnets = [model.arn("ec2", f"subnet/{s}") for s in vpc["Subnets"]]
        groups = [model.arn("ec2", f"security-group/{g}") for g in vpc["SecurityGroupIds"]]
        checks: list[tuple[str, str, dict[str, str]]] = []
        for subnet in subnets:
            context = {"ec2:Subnet": subnet, "ec2:Region": model.region}
            checks += [("ec2:CreateNetworkInterface", resource, context) for resource in (eni, subnet, *groups)]
            checks += [
                (action, eni, context)
                for action in (
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                )
            ]
        region = {"ec2:Region": model.region}
        checks += [
            (f"ec2:Describe{what}", "*", region)
            for what in ("NetworkInterfaces", "Vpcs", "DhcpOptions", "Subnets", "SecurityGroups")
        ]
        for action, resource, context in checks:
            if not model.role_allows(role, action, resource, context):
                violations.append(f"{where}: role {role.logical_id} may not {action} on {resource}")
    return sorted(set(violations))


RULES[vpc_models_can_manage_their_network_interfaces.__name__] = vpc_models_can_manage_their_network_interfaces


# --- Scoring APIs: SQS event sources, dead-letter queues, queue keys, API Gateway logging -----------


def _queue_for_arn(model: CloudModel, stack: str, value: Any) -> Resource | None:
    target = model.target(str(model.resolve(stack, value)))
    return target if target is not None and target.type == "AWS::SQS::Queue" else None


def _function_role(model: CloudModel, function: Resource) -> Resource | None:
    return model.role_for_arn(str(model.resolve(function.stack, function.properties.get("Role"))))


def _queue_key(model: CloudModel, queue: Resource) -> Resource | None:
    key = queue.properties.get("KmsMasterKeyId")
    return None if key is None else model.target(str(model.resolve(queue.stack, key)))


def sqs_event_sources_fit_their_queues(model: CloudModel) -> list[str]:
    """A Lambda function consuming an SQS queue can: the timeouts fit and its role may read and decrypt.

    - CreateEventSourceMapping refuses a queue whose visibility timeout (default 30 s) is
      shorter than the function's timeout (default 3 s) (Lambda Developer Guide, "Using
      Lambda with Amazon SQS": "the visibility timeout ... must be at least the function timeout").
    - The execution role needs sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes
      (Lambda Developer Guide, "Execution role permissions" for SQS), and kms:Decrypt on the
      queue's customer key (SQS Developer Guide, "Key management": consumers decrypt).
    """
    violations: list[str] = []
    for mapping in model.of_type("AWS::Lambda::EventSourceMapping"):
        queue = _queue_for_arn(model, mapping.stack, mapping.properties.get("EventSourceArn"))
        if queue is None:
            continue
        where = f"{mapping.stack}/{mapping.logical_id}"
        function = model.target(str(model.resolve(mapping.stack, mapping.properties["FunctionName"])))
        if function is None:
            violations.append(f"{where}: function is not in this app")
            continue
        visibility = int(queue.properties.get("VisibilityTimeout", 30))
        timeout = int(function.properties.get("Timeout", 3))
        if visibility < timeout:
            violations.append(f"{where}: queue visibility timeout {visibility} s < function timeout {timeout} s")
        role = _function_role(model, function)
        if role is None:
            violations.append(f"{where}: no role for {function.logical_id}")
            continue
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            if not model.role_allows(role, action, queue.att("Arn")):
                violations.append(f"{where}: {role.logical_id} may not {action} on {queue.logical_id}")
        key = _queue_key(model, queue)
        if key is not None and not model.role_can_use_key(role, key, "kms:Decrypt"):
            violations.append(f"{where}: {role.logical_id} may not kms:Decrypt with {key.logical_id} (the queue's key)")
    return violations


def sqs_producers_can_use_queue_keys(model: CloudModel) -> list[str]:
    """A role that may send to a KMS-encrypted queue may also use its key.

    Source: SQS Developer Guide, "Key management": producers need kms:GenerateDataKey and
    kms:Decrypt on the queue's customer key, or SendMessage fails with KMS.AccessDeniedException.
    """
    violations: list[str] = []
    queues = [q for q in model.of_type("AWS::SQS::Queue") if _queue_key(model, q) is not None]
    for role in model.of_type("AWS::IAM::Role"):
        for queue in queues:
            if not model.role_allows(role, "sqs:SendMessage", queue.att("Arn")):
                continue
            key = _queue_key(model, queue)
            assert key is not None
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                if not model.role_can_use_key(role, key, action):
                    violations.append(
                        f"{role.stack}/{role.logical_id}: sends to {queue.logical_id} but may not {action} with {key.logical_id}"
                    )
    return violations


def dead_letter_queues_match_their_source(model: CloudModel) -> list[str]:
    """A redrive target is a queue of the same type in the same account and Region.

    Source: SQS Developer Guide, "Using dead-letter queues in Amazon SQS": the dead-letter
    queue of a FIFO queue must be a FIFO queue, of a standard queue a standard queue, and
    it must be in the same AWS account and Region.
    """
    violations: list[str] = []
    for queue in model.of_type("AWS::SQS::Queue"):
        redrive = queue.properties.get("RedrivePolicy")
        if not redrive:
            continue
        where = f"{queue.stack}/{queue.logical_id}"
        target_arn = model.resolve(queue.stack, redrive.get("deadLetterTargetArn"))
        dlq = model.target(str(target_arn))
        if dlq is None or dlq.type != "AWS::SQS::Queue":
            violations.append(f"{where}: dead-letter target {target_arn} is not a queue of this app (same account and Region)")
            continue
        if bool(queue.properties.get("FifoQueue")) != bool(dlq.properties.get("FifoQueue")):
            violations.append(f"{where}: dead-letter queue {dlq.logical_id} is not the same type (FIFO/standard)")
    return violations


_LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:(?P<region>[^:]+):(?P<account>\d{12}):log-group:(?P<name>[^:*]+)$")


def api_access_logs_can_be_written(model: CloudModel) -> list[str]:
    """API Gateway stages that log can: a log-group ARN it accepts, and the account's CloudWatch role.

    - AccessLogSetting.DestinationArn for CloudWatch Logs is the group's ARN,
      `arn:aws:logs:{region}:{account}:log-group:{name}`, without the `:*` that
      Fn::GetAtt LogGroup.Arn carries (API Gateway REST API reference, AccessLogSettings).
    - Logging needs the account-level CloudWatch Logs role (API Gateway Developer Guide, "Set
      up CloudWatch logging for REST APIs"): an AWS::ApiGateway::Account with
      CloudWatchRoleArn in this environment, created before any stage that logs.
    """
    violations: list[str] = []
    accounts = [a for a in model.of_type("AWS::ApiGateway::Account") if a.properties.get("CloudWatchRoleArn")]
    for stage in model.of_type("AWS::ApiGateway::Stage"):
        where = f"{stage.stack}/{stage.logical_id}"
        access = stage.properties.get("AccessLogSetting")
        logs_methods = any(m.get("LoggingLevel", "OFF") != "OFF" for m in stage.properties.get("MethodSettings", []))
        if access:
            arn = str(model.resolve(stage.stack, access.get("DestinationArn", "")))
            match = _LOG_GROUP_ARN.match(arn)
            if match is None:
                violations.append(
                    f"{where}: access-log destination {arn} is not arn:aws:logs:<region>:<account>:log-group:<name>"
                )
            else:
                group = model.target(match["name"])
                if group is None or group.type != "AWS::Logs::LogGroup":
                    violations.append(f"{where}: access logs go to {match['name']}, not a log group of this app")
        if (access or logs_methods) and not accounts:
            violations.append(f"{where}: logs, but no AWS::ApiGateway::Account sets API Gateway's CloudWatch role")
        for account in accounts:
            if account.stack == stage.stack and account.logical_id not in _depends_on(stage):
                violations.append(f"{where}: may be created before {account.logical_id} sets the CloudWatch role")
    return violations


def _depends_on(resource: Resource) -> set[str]:
    depends = resource.raw.get("DependsOn", [])
    return {depends} if isinstance(depends, str) else set(depends)


RULES.update(
    {
        rule.__name__: rule
        for rule in (
            sqs_event_sources_fit_their_queues,
            sqs_producers_can_use_queue_keys,
            dead_letter_queues_match_their_source,
            api_access_logs_can_be_written,
        )
    }
)
# --- Ground Truth labelling ----------------------------------------------------------------------


def _s3_object_arn(model: CloudModel, uri: str) -> str:
    """`s3://<bucket>/<key>` as the object ARN policies name (a bucket reference becomes its Arn)."""
    rest = uri.removeprefix("s3://")
    marker = re.match(r"^(\{\{[^}]+\}\})/(.*)$", rest)  # a reference holds a '/' of its own
    bucket, key = (marker[1], marker[2]) if marker else tuple(rest.split("/", 1))
    target = model.target(bucket)
    return f"{target.att('Arn')}/{key}" if target is not None else f"arn:{model.partition}:s3:::{bucket}/{key}"


def _s3_bucket_arn(model: CloudModel, uri: str) -> str:
    """The bucket ARN of `s3://<bucket>/...` (a bucket reference becomes its Arn)."""
    rest = uri.removeprefix("s3://")
    marker = re.match(r"^(\{\{[^}]+\}\})(/.*)?$", rest)
    bucket = marker[1] if marker else rest.split("/", 1)[0]
    target = model.target(bucket)
    return target.att("Arn") if target is not None else f"arn:{model.partition}:s3:::{bucket}"


def _labeling_requests(model: CloudModel) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for custom in model.of_type("Custom::LabelingJob"):
        yield custom, json.loads(model.resolve(custom.stack, custom.properties["Request"]))


def labeling_jobs_can_run(model: CloudModel) -> list[str]:
    """Each `Custom::LabelingJob` names a role and Lambdas that let the job run, and a handler that may create it.

    - The role SageMaker assumes must invoke the pre-annotation and consolidation Lambdas
      (Developer Guide, "Required permissions to use AWS Lambda with Ground Truth"), read the
      input manifest, the UI template and the label category config, write the output path,
      and use the output key for both (CreateLabelingJob API reference, RoleArn and
      OutputConfig.KmsKeyId; S3 User Guide, SSE-KMS needs kms:GenerateDataKey and kms:Decrypt).
      With a KmsKeyId "the Amazon SageMaker execution role must include permissions to call
      kms:Encrypt" (API reference, LabelingJobOutputConfig.KmsKeyId); kms:DescribeKey and
      s3:GetBucketLocation on the output bucket are what Ground Truth's own role guidance adds
      (key validation, the bucket's Region); not verified against a live job.
    - It writes its logs to /aws/sagemaker/LabelingJobs in streams named after the job
      (Developer Guide, "Log groups and streams that Amazon SageMaker AI sends to CloudWatch Logs").
    - The Lambdas read the text objects and the annotation payload under the data prefix
      with the same key (Developer Guide, post-annotation Lambda: `payload.s3Uri`).
    - The caller must create the job and pass the role to SageMaker (iam:PassRole).
    """
    violations = []
    for custom, request in _labeling_requests(model):
        where = f"{custom.stack}/{custom.logical_id}"
        role = model.role_for_arn(request["RoleArn"])
        if role is None:
            violations.append(f"{where}: cannot find the job's role")
            continue
        if "sagemaker.amazonaws.com" not in model.trusted_services(role):
            violations.append(f"{where}: role {role.logical_id} is not trusted by sagemaker.amazonaws.com")
        task = request["HumanTaskConfig"]
        functions = [task["PreHumanTaskLambdaArn"], task["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"]]
        for arn in functions:
            if not model.role_allows(role, "lambda:InvokeFunction", arn):
                violations.append(f"{where}: role {role.logical_id} may not lambda:InvokeFunction on {arn}")
        sample = f"{custom.properties['JobName']}-0a1b2c3d"
        config = model.resolve(custom.stack, custom.properties["ConfigPrefix"]).rstrip("/")
        reads = [f"{config}/{sample}/template.liquid.html", f"{config}/{sample}/label-categories.json"]
        manifest = _dig(request, ("InputConfig", "DataSource", "S3DataSource", "ManifestS3Uri"))
        output = request["OutputConfig"]["S3OutputPath"].rstrip("/")
        reads.append(manifest or f"{output}/{custom.properties['FromJob']}/manifests/output/output.manifest")
        for uri in reads:
            if not model.role_allows(role, "s3:GetObject", _s3_object_arn(model, uri)):
                violations.append(f"{where}: role {role.logical_id} may not s3:GetObject on {uri}")
        if not model.role_allows(
            role, "s3:PutObject", _s3_object_arn(model, f"{output}/{sample}/manifests/output/output.manifest")
        ):
            violations.append(f"{where}: role {role.logical_id} may not s3:PutObject under {output}")
        output_bucket = _s3_bucket_arn(model, output)
        if not model.role_allows(role, "s3:GetBucketLocation", output_bucket):
            violations.append(f"{where}: role {role.logical_id} may not s3:GetBucketLocation on the output bucket")
        key = model.target(request["OutputConfig"].get("KmsKeyId", ""))
        if key is not None:
            for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"):
                if not model.role_can_use_key(role, key, action):
                    violations.append(f"{where}: role {role.logical_id} may not {action} on output key {key.logical_id}")
        stream = _log_arn(model, "/aws/sagemaker/LabelingJobs", f"{sample}/worker-1")
        if not model.role_allows(role, "logs:PutLogEvents", stream):
            violations.append(f"{where}: role {role.logical_id} may not logs:PutLogEvents on {stream}")
        for arn in functions:
            function = model.target(arn)
            fn_role = model.role_for_arn(model.resolve(function.stack, function.properties["Role"])) if function else None
            if fn_role is None:
                violations.append(f"{where}: cannot find the role of {arn}")
                continue
            text = _s3_object_arn(model, (manifest or f"{output}/x").rsplit("/", 1)[0] + "/object.txt")
            if not model.role_allows(fn_role, "s3:GetObject", text):
                violations.append(f"{where}: {function.logical_id}'s role may not s3:GetObject on {text}")  # type: ignore[union-attr]
            if key is not None and not model.role_can_use_key(fn_role, key, "kms:Decrypt"):
                violations.append(f"{where}: {function.logical_id}'s role may not kms:Decrypt with {key.logical_id}")  # type: ignore[union-attr]
        caller = _provider_handler_role(model, custom)
        if caller is None:
            violations.append(f"{where}: cannot find the provider's handler role")
            continue
        job_arn = model.arn("sagemaker", f"labeling-job/{sample.lower()}")
        if not model.role_allows(caller, "sagemaker:CreateLabelingJob", job_arn):
            violations.append(f"{where}: the handler's role {caller.logical_id} may not sagemaker:CreateLabelingJob on {job_arn}")
        if not model.role_allows(caller, "iam:PassRole", role.att("Arn"), {"iam:PassedToService": "sagemaker.amazonaws.com"}):
            violations.append(f"{where}: the handler's role {caller.logical_id} may not pass {role.logical_id} to SageMaker")
    return violations


def workteam_topics_accept_sagemaker(model: CloudModel) -> list[str]:
    """A workteam's notification topic lets SageMaker publish, through its policy and its key.

    Source: SageMaker Developer Guide, "Create and manage Amazon SNS topics for your work teams"
    (SageMaker publishes new-task notifications); an encrypted topic's key must let the
    publishing service use it (SNS Developer Guide, "Enable compatibility between event
    sources from AWS services and encrypted topics").
    """
    violations = []
    for workteam in model.of_type("AWS::SageMaker::Workteam"):
        arn = _dig(workteam.properties, ("NotificationConfiguration", "NotificationTopicArn"))
        if arn is None:
            continue
        name = workteam.properties.get("WorkteamName", workteam.logical_id)
        source = model.arn("sagemaker", f"workteam/private-crowd/{name}")
        violations += _publish_problems(
            model,
            model.resolve(workteam.stack, arn),
            "sagemaker.amazonaws.com",
            source,
            f"{workteam.stack}/{workteam.logical_id}",
        )
    return violations


RULES[labeling_jobs_can_run.__name__] = labeling_jobs_can_run
RULES[workteam_topics_accept_sagemaker.__name__] = workteam_topics_accept_sagemaker


_EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+$")


def cognito_user_names_fit_their_pool(model: CloudModel) -> list[str]:
    """A user created in a pool signs in with a name of the form the pool allows.

    Source: Amazon Cognito Developer Guide, "User pool attributes" (sign-in options): with
    `email` as an alias (AliasAttributes) a user name cannot be in email format; with `email`
    as the user name (UsernameAttributes) the user name must be an email address.
    """
    violations = []
    for user in model.of_type("AWS::Cognito::UserPoolUser"):
        pool = model.target(str(model.resolve(user.stack, user.properties["UserPoolId"])))
        name = str(user.properties.get("Username", ""))
        if pool is None:
            violations.append(f"{user.stack}/{user.logical_id}: cannot find its user pool")
            continue
        where = f"{user.stack}/{user.logical_id}"
        if "email" in pool.properties.get("AliasAttributes", []) and _EMAIL_FORMAT.match(name):
            violations.append(f"{where}: user name '{name}' is an email address, but {pool.logical_id} has email as an alias")
        if "email" in pool.properties.get("UsernameAttributes", []) and not _EMAIL_FORMAT.match(name):
            violations.append(f"{where}: user name '{name}' is not an email address, which {pool.logical_id} requires")
    return violations


RULES[cognito_user_names_fit_their_pool.__name__] = cognito_user_names_fit_their_pool
# --- Model Monitor ------------------------------------------------------------------------------

_S3_REF_URI = re.compile(r"^s3://\{\{(?P<stack>[^/]+)/(?P<bucket>[^}.]+)\}\}/(?P<key>.*)$")
_SAMPLE_CAPTURE = "champion/2026/01/01/00/00-00-000-0123abcd.jsonl"
_SAMPLE_EPOCH = "1767225600"


def _object_arn(uri: str, key: str = "") -> str:
    """`s3://{{stack/Bucket}}/prefix` -> `{{stack/Bucket.Arn}}/prefix[/key]` (how policies name objects)."""
    match = _S3_REF_URI.match(uri)
    if match is None:
        return ""
    path = f"{match['key'].rstrip('/')}/{key}" if key else match["key"]
    return f"{{{{{match['stack']}/{match['bucket']}.Arn}}}}/{path}"


def _monitoring_jobs(model: CloudModel) -> Iterator[tuple[Resource, dict[str, Any]]]:
    """Each monitoring job (data-quality definitions, inline schedule definitions) in one shape."""
    for definition in model.of_type("AWS::SageMaker::DataQualityJobDefinition"):
        p = model.resolve(definition.stack, definition.properties)
        yield (
            definition,
            {
                "role": p["RoleArn"],
                "endpoint": p["DataQualityJobInput"]["EndpointInput"]["EndpointName"],
                "cluster": p["JobResources"]["ClusterConfig"],
                "output": p["DataQualityJobOutputConfig"],
                "baseline": p.get("DataQualityBaselineConfig", {}),
            },
        )
    for schedule in model.of_type("AWS::SageMaker::MonitoringSchedule"):
        inline = schedule.properties["MonitoringScheduleConfig"].get("MonitoringJobDefinition")
        if inline:
            p = model.resolve(schedule.stack, inline)
            yield (
                schedule,
                {
                    "role": p["RoleArn"],
                    "endpoint": p["MonitoringInputs"][0]["EndpointInput"]["EndpointName"],
                    "cluster": p["MonitoringResources"]["ClusterConfig"],
                    "output": p["MonitoringOutputConfig"],
                    "baseline": p.get("BaselineConfig", {}),
                },
            )


def monitoring_jobs_can_read_capture_and_write_reports(model: CloudModel) -> list[str]:
    """Every Model Monitor job's role can do what the job does, with the keys involved.

    - It reads the endpoint's captured objects (SSE-KMS with the capture key): s3:GetObject
      and kms:Decrypt (Model Monitor guide: the job's role "needs read access to the data
      capture location"; S3 User Guide, SSE-KMS reads need kms:Decrypt).
    - It reads the baseline statistics/constraints and writes its reports under the output
      URI with the output KmsKeyId: s3:PutObject, kms:GenerateDataKey (S3 User Guide, SSE-KMS).
    - It writes the execution's logs (the processing-job log group, its own streams).
    - VolumeKmsKeyId: the role may kms:CreateGrant for AWS resources (CreateProcessingJob /
      MonitoringClusterConfig), and the key is absent on instance types with local NVMe
      storage, where SageMaker rejects it (ProcessingClusterConfig.VolumeKmsKeyId).
    """
    from mlops_constructs.instance_types import parse_instance_type

    violations = []
    endpoints = {e.properties.get("EndpointName"): e for e in model.of_type("AWS::SageMaker::Endpoint")}
    for job, spec in _monitoring_jobs(model):
        where = f"{job.stack}/{job.logical_id}"
        role = model.role_for_arn(spec["role"])
        if role is None:
            violations.append(f"{where}: cannot find its role")
            continue
        endpoint = endpoints.get(spec["endpoint"])
        config = _endpoint_config(model, endpoint) if endpoint else None
        capture = (config.properties.get("DataCaptureConfig") if config else None) or {}
        if not capture:
            violations.append(f"{where}: endpoint {spec['endpoint']} has no data capture to monitor")
        else:
            destination = model.resolve(config.stack, capture["DestinationS3Uri"]) if config else ""
            sample = _object_arn(destination, _SAMPLE_CAPTURE)
            if not model.role_allows(role, "s3:GetObject", sample):
                violations.append(f"{where}: role {role.logical_id} may not s3:GetObject on capture {sample}")
            capture_key = model.target(str(model.resolve(config.stack, capture.get("KmsKeyId", "")))) if config else None
            if capture_key is not None and not model.role_can_use_key(role, capture_key, "kms:Decrypt"):
                violations.append(f"{where}: role {role.logical_id} may not kms:Decrypt on capture key {capture_key.logical_id}")
        for resource in ("ConstraintsResource", "StatisticsResource"):
            uri = spec["baseline"].get(resource, {}).get("S3Uri")
            if uri and not model.role_allows(role, "s3:GetObject", _object_arn(uri)):
                violations.append(f"{where}: role {role.logical_id} may not s3:GetObject on baseline {uri}")
        output = spec["output"]
        output_key = model.target(str(output.get("KmsKeyId", "")))
        for item in output["MonitoringOutputs"]:
            report = _object_arn(item["S3Output"]["S3Uri"], "2026/01/01/00/constraint_violations.json")
            if not model.role_allows(role, "s3:PutObject", report):
                violations.append(f"{where}: role {role.logical_id} may not s3:PutObject on reports {report}")
        if output_key is not None and not model.role_can_use_key(role, output_key, "kms:GenerateDataKey"):
            violations.append(
                f"{where}: role {role.logical_id} may not kms:GenerateDataKey on output key {output_key.logical_id}"
            )
        # Scheduled executions are processing jobs SageMaker names model-monitoring-<time>-<hash>; their
        # logs go to /aws/sagemaker/ProcessingJobs, streams <job name>/<host>-<epoch> (see log_grants_name_real_groups).
        stream = _log_arn(
            model, "/aws/sagemaker/ProcessingJobs", f"model-monitoring-202611250300-0a1b2c3d4e5f/algo-1-{_SAMPLE_EPOCH}"
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            if not model.role_allows(role, action, stream):
                violations.append(f"{where}: role {role.logical_id} may not {action} on {stream}")
        cluster = spec["cluster"]
        volume_key = model.target(str(cluster.get("VolumeKmsKeyId", "")))
        if parse_instance_type(cluster["InstanceType"], "processing").has_local_storage and "VolumeKmsKeyId" in cluster:
            violations.append(f"{where}: VolumeKmsKeyId on {cluster['InstanceType']}, which has local NVMe storage")
        if volume_key is not None and not model.role_can_use_key(
            role, volume_key, "kms:CreateGrant", {"kms:GrantIsForAWSResource": "true"}
        ):
            violations.append(f"{where}: role {role.logical_id} may not kms:CreateGrant on volume key {volume_key.logical_id}")
    return violations


RULES[monitoring_jobs_can_read_capture_and_write_reports.__name__] = monitoring_jobs_can_read_capture_and_write_reports


# SageMaker's job-definition resource types by MonitoringType (AWS::SageMaker::MonitoringSchedule,
# MonitoringScheduleConfig.MonitoringType).
_DEFINITION_TYPES = {
    "DataQuality": "AWS::SageMaker::DataQualityJobDefinition",
    "ModelQuality": "AWS::SageMaker::ModelQualityJobDefinition",
    "ModelBias": "AWS::SageMaker::ModelBiasJobDefinition",
    "ModelExplainability": "AWS::SageMaker::ModelExplainabilityJobDefinition",
}
_DEFINITION_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # botocore: MonitoringJobDefinitionName


def monitoring_schedules_name_their_job_definitions(model: CloudModel) -> list[str]:
    """A schedule that runs a job definition names one of this app's, by its set name, once it exists.

    - MonitoringScheduleConfig.MonitoringJobDefinitionName is "the name of the monitoring job
      definition to schedule" (CreateMonitoringSchedule API reference); it must exist when the
      schedule is created, and CloudFormation orders two resources only by a reference or
      DependsOn (CloudFormation User Guide, "DependsOn attribute"): a plain name is neither.
    - The name is the JobDefinitionName set on the definition, not one read back from its ARN:
      SageMaker writes names lower-case in ARNs, and a name CloudFormation generates may be
      mixed case, so the ARN's segment need not be the name.
    - The definition's type is the one MonitoringType says; the name fits
      MonitoringJobDefinitionName (1-63 characters, [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}).
    """
    violations = []
    for schedule in model.of_type("AWS::SageMaker::MonitoringSchedule"):
        config = schedule.properties["MonitoringScheduleConfig"]
        if "MonitoringJobDefinitionName" not in config:
            continue
        where = f"{schedule.stack}/{schedule.logical_id}"
        name = config["MonitoringJobDefinitionName"]
        if not isinstance(name, str):
            violations.append(f"{where}: names its job definition by an expression ({json.dumps(name)[:80]}), not by a set name")
            continue
        if not _DEFINITION_NAME.match(name):
            violations.append(f"{where}: job definition name {name!r} does not fit MonitoringJobDefinitionName")
        resource_type = _DEFINITION_TYPES.get(config.get("MonitoringType", ""), "")
        definitions = [
            d for d in model.of_type(resource_type) if d.stack == schedule.stack and d.properties.get("JobDefinitionName") == name
        ]
        if not definitions:
            violations.append(f"{where}: no {resource_type or 'job definition'} named {name} in its stack")
        elif definitions[0].logical_id not in _depends_on(schedule):
            violations.append(f"{where}: may be created before its job definition {definitions[0].logical_id}")
    return violations


RULES[monitoring_schedules_name_their_job_definitions.__name__] = monitoring_schedules_name_their_job_definitions


# --- Training: what the job and the metrics pipeline reach at run time ---------------------------

_FORMAT_URI = re.compile(r"States\.Format\('([^']*)\{\}([^']*)'")
_SAMPLE_JOB = "caller-risk-20260101-000000"


def training_jobs_reach_their_locations(model: CloudModel) -> list[str]:
    """A training job's role can read its channel, write its model, write and read back its
    checkpoints, and send its epoch events.

    Sources: SageMaker Developer Guide, "CreateTrainingJob API: Execution Role Permissions"
    (s3:GetObject on the input channels, s3:PutObject on the output path); "Use checkpoints in
    Amazon SageMaker AI" (the job uploads /opt/ml/checkpoints to CheckpointConfig.S3Uri and a
    restarted spot job downloads it again); EventBridge User Guide, "Using identity-based
    policies": PutEvents needs events:PutEvents on the bus, here under the events:source
    condition the role's grant uses.
    """
    violations = []
    for machine, api, parameters in _sagemaker_tasks(model):
        if api != "createTrainingJob":
            continue
        where = f"{machine.stack}/{machine.logical_id}"
        role = _job_role(model, api, parameters)
        if role is None:
            violations.append(f"{where}: cannot find the training job's role")
            continue
        wanted: list[tuple[str, str | None]] = []
        for channel in parameters.get("InputDataConfig", []):
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            wanted.append(("s3:GetObject", _s3_object_arn(model, uri + "part-0.csv")))
        output = parameters["OutputDataConfig"]["S3OutputPath"]
        wanted.append(("s3:PutObject", _s3_object_arn(model, output + f"{_SAMPLE_JOB}/output/model.tar.gz")))
        checkpoint = parameters.get("CheckpointConfig", {}).get("S3Uri.$", "")
        if match := _FORMAT_URI.search(checkpoint):
            uri = f"{match[1]}{_SAMPLE_JOB}{match[2]}"
            for action in ("s3:PutObject", "s3:GetObject"):
                wanted.append((action, _s3_object_arn(model, uri + "checkpoint.pt")))
        for action, arn in wanted:
            if arn is None:
                violations.append(f"{where}: cannot read the S3 location for {action}")
            elif not model.role_allows(role, action, arn):
                violations.append(f"{where}: job role {role.logical_id} may not {action} on {arn}")
        bus = parameters.get("Environment", {}).get("MLOPS_EVENT_BUS")
        if bus and not model.role_allows(role, "events:PutEvents", bus, {"events:source": "mlops.training"}):
            violations.append(f"{where}: job role {role.logical_id} may not events:PutEvents on {bus}")
    return violations


def dead_letter_queues_accept_their_senders(model: CloudModel) -> list[str]:
    """Every dead-letter queue can be written by whoever sends to it.

    Sources: EventBridge User Guide, "Using dead-letter queues to process undelivered events"
    (the queue policy must allow events.amazonaws.com sqs:SendMessage for the rule, and a queue
    encrypted with a customer key needs that key to admit EventBridge: we use SSE-SQS);
    Lambda Developer Guide, "Capturing records of asynchronous invocations" (the execution role
    needs sqs:SendMessage on an SQS on-failure destination) and a function that sends to the
    queue named in its environment needs the same.
    """
    violations = []
    for rule in model.of_type("AWS::Events::Rule"):
        for target in rule.properties.get("Targets", []):
            config = target.get("DeadLetterConfig")
            if not config:
                continue
            queue = _queue_for_arn(model, rule.stack, config["Arn"])
            where = f"{rule.stack}/{rule.logical_id}"
            if queue is None:
                violations.append(f"{where}: dead-letter queue is not in this app")
                continue
            if queue.properties.get("KmsMasterKeyId"):
                violations.append(f"{where}: dead-letter queue {queue.logical_id} uses a customer key EventBridge cannot use")
            allowed = any(
                s.allows("sqs:SendMessage", queue.att("Arn"), {"aws:SourceArn": rule.att("Arn")})
                and s.names_principal("Service", "events.amazonaws.com")
                for policy in model.of_type("AWS::SQS::QueuePolicy")
                if queue.ref in model.resolve(policy.stack, policy.properties["Queues"])
                for s in model.statements(policy.stack, policy.properties["PolicyDocument"])
            )
            if not allowed:
                violations.append(f"{where}: queue {queue.logical_id}'s policy does not let events.amazonaws.com sqs:SendMessage")
    for config in model.of_type("AWS::Lambda::EventInvokeConfig"):
        destination = config.properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        function = model.target(str(model.resolve(config.stack, config.properties["FunctionName"])))
        queue = _queue_for_arn(model, config.stack, destination) if destination else None
        if function is None or queue is None:
            continue
        role = model.role_for_arn(model.resolve(function.stack, function.properties["Role"]))
        if role is None or not model.role_allows(role, "sqs:SendMessage", queue.att("Arn")):
            violations.append(f"{config.stack}/{function.logical_id}: may not sqs:SendMessage to {queue.logical_id}")
    return violations


RULES.update({rule.__name__: rule for rule in (training_jobs_reach_their_locations, dead_letter_queues_accept_their_senders)})
