"""Model Monitor for one endpoint: a least-privilege role, data-quality and text-drift schedules.

Every monitoring job runs as a processing job that SageMaker starts on the schedule. Each
job here: reads only its endpoint's capture prefix and baseline, writes only its report
prefix, encrypts its output with the data key and its volume with it too (except on
instance types with local NVMe storage: CreateProcessingJob / MonitoringClusterConfig
reject a VolumeKmsKeyId there, the volumes are hardware-encrypted), runs network-isolated
(the container reaches nothing; SageMaker moves the files), and stops at the configured
runtime, which may not exceed the schedule's period (monitoring_rules).

Files in the monitoring bucket (monitoring_rules is the one source, the CLI uses it too):
- `baselines/<endpoint>/data-quality/{statistics,constraints}.json`: written by
  `mlops monitor baseline`, read by the data-quality job definition;
- `baselines/<endpoint>/text-drift/{statistics,constraints}.json`: the drift container's
  baseline (embeddings in statistics.json), handed to it as the schedule's BaselineConfig,
  because a network-isolated container cannot fetch anything itself;
- `reports/<endpoint>/<kind>/...`: each execution's output (constraint_violations.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.log_groups import SageMakerLogLocation
from mlops_constructs.model_monitor_images import AnalyzerImage
from mlops_constructs.monitoring_rules import (
    MAX_ENVIRONMENT,
    MAX_INSTANCE_COUNT,
    MAX_VOLUME_GB,
    MIN_VOLUME_GB,
    SCHEDULED_JOB_PREFIX,
    MonitoringSchedule,
    baseline_job_prefix,
    baseline_prefix,
    job_definition_name,
    reports_prefix,
    runtime_problem,
    schedule_name,
)
from mlops_constructs.nag import acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.roles import SageMakerExecutionRole
from mlops_constructs.validation import Problems

# Where SageMaker mounts the capture and collects the output (Model Monitor container contract).
ENDPOINT_INPUT_PATH = "/opt/ml/processing/input/endpoint"
RESULT_PATH = "/opt/ml/processing/resultdata"


@dataclass(frozen=True)
class MonitoringJobSettings:
    """How a monitoring job runs: schedule, instances, volume, stop condition."""

    schedule: MonitoringSchedule
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 20
    max_runtime: cdk.Duration = field(default_factory=lambda: cdk.Duration.hours(1))

    def problems(self) -> list[str]:
        found = []
        try:
            parse_instance_type(self.instance_type, "processing")
        except InstanceTypeError as error:
            found.append(f"instance_type {error}")
        if not 1 <= self.instance_count <= MAX_INSTANCE_COUNT:
            found.append(f"instance_count {self.instance_count} is outside 1-{MAX_INSTANCE_COUNT}")
        if not MIN_VOLUME_GB <= self.volume_size_gb <= MAX_VOLUME_GB:
            found.append(f"volume_size_gb {self.volume_size_gb} is outside {MIN_VOLUME_GB}-{MAX_VOLUME_GB}")
        problem = runtime_problem(int(self.max_runtime.to_seconds()), self.schedule)
        if problem:
            found.append(f"max_runtime {problem}")
        return found


class EndpointMonitoringRole(Construct):
    """The role every monitoring job of one endpoint runs as (scheduled executions and baselines).

    Reads the endpoint's capture prefix and its baselines, writes its reports and baselines,
    uses the data key for both, attaches encrypted volumes, and writes the processing-job
    logs of scheduled executions (`model-monitoring-*` jobs, named by SageMaker) and of its
    own baseline jobs (`<endpoint>-dq-baseline-*`, `<endpoint>-td-baseline-*`).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        capture_bucket: s3.IBucket,
        capture_prefix: str,
        monitoring_bucket: s3.IBucket,
        data_key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        execution = SageMakerExecutionRole(self, "Execution", description=f"Model Monitor jobs of endpoint {endpoint_name}")
        self.role = execution.role
        execution.allow_logs_and_metrics(SageMakerLogLocation.job("processing", SCHEDULED_JOB_PREFIX))
        stack = cdk.Stack.of(self)
        for kind in ("data-quality", "text-drift"):
            location = SageMakerLogLocation.job("processing", baseline_job_prefix(endpoint_name, kind))
            location.grant_write(self.role)
            acknowledge_resource(
                self.role,
                location.stream_arn(stack),
                "Baseline jobs are named per run by mlops monitor baseline; writes are limited to this endpoint's jobs.",
            )
        execution.allow_volume_encryption(data_key)

        captured = capture_bucket.arn_for_objects(f"{capture_prefix}/*")
        baselines = monitoring_bucket.arn_for_objects(f"baselines/{endpoint_name}/*")
        reports = monitoring_bucket.arn_for_objects(f"reports/{endpoint_name}/*")
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[captured, baselines]))
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[baselines, reports]))
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[capture_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{capture_prefix}/*"]}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[monitoring_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"baselines/{endpoint_name}/*"]}},
            )
        )
        # Captured objects and baselines are SSE-KMS with the data key; outputs are written with it.
        data_key.grant(self.role, "kms:Decrypt", "kms:GenerateDataKey")
        for resource, what in (
            (
                captured,
                "SageMaker names captured objects by variant, date and hour; reads are limited to this endpoint's prefix.",
            ),
            (baselines, "Baseline files and staged datasets of this endpoint only, named per kind and per run."),
            (reports, "Each execution writes its reports under a folder SageMaker names per run; limited to this endpoint."),
        ):
            acknowledge_resource(self.role, resource, what)

    def must_exist_before(self, resource: cdk.CfnResource) -> None:
        """Order `resource` after the role's policy: SageMaker checks the role's access when the
        job definition or schedule is created. (The role itself is ordered by its ARN.)"""
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            resource.node.add_dependency(policy)


def _job_parts(
    scope: Construct,
    *,
    settings: MonitoringJobSettings,
    endpoint_name: str,
    kind: str,
    monitoring_bucket: s3.IBucket,
    data_key: kms.IKey,
) -> dict[str, Any]:
    """Input, output, resources, network and stop condition: the same for every monitor here."""
    instance = parse_instance_type(settings.instance_type, "processing")
    cluster: dict[str, Any] = {
        "instanceCount": settings.instance_count,
        "instanceType": settings.instance_type,
        "volumeSizeInGb": settings.volume_size_gb,
    }
    if not instance.has_local_storage:
        cluster["volumeKmsKeyId"] = data_key.key_arn
    return {
        "endpointInput": {
            "endpointName": endpoint_name,
            "localPath": ENDPOINT_INPUT_PATH,
            "s3InputMode": "File",
            "s3DataDistributionType": "FullyReplicated",
        },
        "output_config": {
            "kmsKeyId": data_key.key_arn,
            "monitoringOutputs": [
                {
                    "s3Output": {
                        "localPath": RESULT_PATH,
                        "s3Uri": monitoring_bucket.s3_url_for_object(reports_prefix(endpoint_name, kind)),
                        "s3UploadMode": "EndOfJob",
                    }
                }
            ],
        },
        "resources": {"clusterConfig": cluster},
        "network": {"enableNetworkIsolation": True, "enableInterContainerTrafficEncryption": True},
        "stopping": {"maxRuntimeInSeconds": int(settings.max_runtime.to_seconds())},
        "local_storage": instance.has_local_storage,
    }


def _validate(scope: Construct, endpoint_name: str, kind: str, settings: MonitoringJobSettings, env: Mapping[str, str]) -> None:
    problems = Problems(scope)
    problems.check(is_sagemaker_name(endpoint_name), f"endpoint_name '{endpoint_name}' is invalid: {SAGEMAKER_NAME_RULE}")
    name = schedule_name(endpoint_name, kind)
    problems.check(is_sagemaker_name(name), f"schedule name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
    problems.check(len(env) <= MAX_ENVIRONMENT, f"environment: {len(env)} variables; Model Monitor takes {MAX_ENVIRONMENT}")
    for problem in settings.problems():
        problems.add(problem)
    problems.raise_if_any()


@jsii.implements(cdk.IStringProducer)
class _DefinitionName:
    """A job definition's name from what it is made of, worked out when the template is written.

    Late, because the content is only final then: tags arrive by aspects, cross-stack
    references get their consumer form, logical IDs may be overridden. It hashes the
    resolved properties (all but the name), the resource's tags and its logical ID: any
    change CloudFormation answers with a replacement gives a new name, so the new
    definition is created beside the old one, the schedule moves to it, and the old one is
    deleted (create-before-delete with a fixed name would collide with itself).
    """

    def __init__(self, endpoint_name: str, kind: str, properties: Mapping[str, Any]) -> None:
        self.endpoint_name = endpoint_name
        self.kind = kind
        self.properties = properties
        self.resource: sagemaker.CfnDataQualityJobDefinition | None = None

    def produce(self, context: cdk.IResolveContext) -> str:
        assert self.resource is not None, "the resource is set right after it is made"
        content = context.resolve(
            {
                "logicalId": self.resource.logical_id,
                "properties": self.properties,
                "tags": self.resource.tags.render_tags(),
            }
        )
        return job_definition_name(self.endpoint_name, self.kind, json.dumps(content, sort_keys=True, separators=(",", ":")))


class DataQualityMonitor(Construct):
    """The built-in analyzer on an endpoint's captured input, hourly/daily, against its baseline.

    `schedule_name` is `<endpoint>-dq`; the job definition is named `<endpoint>-dq-<digest of
    its content>` (see _DefinitionName), and the schedule names it with that same string.
    (Not the name read back from its ARN: SageMaker lower-cases names in ARNs, so a
    generated mixed-case name would not match, and the schedule would name no definition.)
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        role: EndpointMonitoringRole,
        analyzer: AnalyzerImage,
        monitoring_bucket: s3.IBucket,
        data_key: kms.IKey,
        settings: MonitoringJobSettings,
    ) -> None:
        super().__init__(scope, id)
        environment = {"publish_cloudwatch_metrics": "Enabled"}
        _validate(self, endpoint_name, "data-quality", settings, environment)
        parts = _job_parts(
            self,
            settings=settings,
            endpoint_name=endpoint_name,
            kind="data-quality",
            monitoring_bucket=monitoring_bucket,
            data_key=data_key,
        )
        # The analyzer lives in an AWS registry account; the role pulls that repository only.
        iam.Grant.add_to_principal(
            grantee=role.role,
            actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            resource_arns=[f"arn:{cdk.Aws.PARTITION}:ecr:{analyzer.region}:{analyzer.account}:repository/{analyzer.repository}"],
        )
        baseline = baseline_prefix(endpoint_name, "data-quality")
        self.schedule_name = schedule_name(endpoint_name, "data-quality")
        properties: dict[str, Any] = {
            "data_quality_app_specification": {"imageUri": analyzer.uri, "environment": environment},
            "data_quality_baseline_config": {
                "constraintsResource": {"s3Uri": monitoring_bucket.s3_url_for_object(f"{baseline}/constraints.json")},
                "statisticsResource": {"s3Uri": monitoring_bucket.s3_url_for_object(f"{baseline}/statistics.json")},
            },
            "data_quality_job_input": {"endpointInput": parts["endpointInput"]},
            "data_quality_job_output_config": parts["output_config"],
            "job_resources": parts["resources"],
            "network_config": parts["network"],
            "role_arn": role.role.role_arn,
            "stopping_condition": parts["stopping"],
        }
        producer = _DefinitionName(endpoint_name, "data-quality", properties)
        self.job_definition_name = cdk.Lazy.uncached_string(producer)
        self.job_definition = sagemaker.CfnDataQualityJobDefinition(
            self, "JobDefinition", job_definition_name=self.job_definition_name, **properties
        )
        producer.resource = self.job_definition
        role.must_exist_before(self.job_definition)
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=self.schedule_name,
            endpoint_name=endpoint_name,
            monitoring_schedule_config={
                "monitoringJobDefinitionName": self.job_definition_name,
                "monitoringType": "DataQuality",
                "scheduleConfig": {"scheduleExpression": settings.schedule.expression},
            },
        )
        # A plain name carries no reference: CreateMonitoringSchedule needs the definition to exist.
        self.schedule.node.add_dependency(self.job_definition)
        self.local_storage = bool(parts["local_storage"])


class TextDriftMonitor(Construct):
    """The platform's drift container (containers/drift_monitor) on a schedule, `<endpoint>-drift`.

    `environment` carries the container's settings (THRESHOLD, TEXT_FIELD, ...); the
    baseline embeddings reach it as the schedule's BaselineConfig files.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        role: EndpointMonitoringRole,
        image: ContainerImage,
        monitoring_bucket: s3.IBucket,
        data_key: kms.IKey,
        settings: MonitoringJobSettings,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id)
        _validate(self, endpoint_name, "text-drift", settings, environment)
        parts = _job_parts(
            self,
            settings=settings,
            endpoint_name=endpoint_name,
            kind="text-drift",
            monitoring_bucket=monitoring_bucket,
            data_key=data_key,
        )
        image.grant_pull(role.role)
        baseline = baseline_prefix(endpoint_name, "text-drift")
        self.schedule_name = schedule_name(endpoint_name, "text-drift")
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=self.schedule_name,
            endpoint_name=endpoint_name,
            monitoring_schedule_config={
                # An inline definition (a custom image) takes no MonitoringType: that names a job-definition kind.
                "scheduleConfig": {"scheduleExpression": settings.schedule.expression},
                "monitoringJobDefinition": {
                    "monitoringAppSpecification": {"imageUri": image.image_uri},
                    "baselineConfig": {
                        "constraintsResource": {"s3Uri": monitoring_bucket.s3_url_for_object(f"{baseline}/constraints.json")},
                        "statisticsResource": {"s3Uri": monitoring_bucket.s3_url_for_object(f"{baseline}/statistics.json")},
                    },
                    "environment": {**environment, "publish_cloudwatch_metrics": "Enabled"},
                    "monitoringInputs": [{"endpointInput": parts["endpointInput"]}],
                    "monitoringOutputConfig": parts["output_config"],
                    "monitoringResources": parts["resources"],
                    "networkConfig": parts["network"],
                    "roleArn": role.role.role_arn,
                    "stoppingCondition": parts["stopping"],
                },
            },
        )
        role.must_exist_before(self.schedule)
        self.local_storage = bool(parts["local_storage"])
