"""A SageMaker real-time endpoint with N weighted production variants.

Resources: a Model per variant, one EndpointConfig, the endpoint's log group, and the
Endpoint with its stable name. Model and EndpointConfig carry CloudFormation-generated
names because any change replaces them; a fixed name would make the replacement collide
with the original. The Endpoint keeps the user's name, so a new EndpointConfig is an
in-place UpdateEndpoint (SageMaker's blue/green swap), never a replacement.

`ModelEndpoint.from_endpoint_name` gives the same grants and metrics for an endpoint
this app did not create, so alarms and autoscaling work on any endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Unpack

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.guardrails import DeploymentGuardrails
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceType, InstanceTypeError, parse_instance_type
from mlops_constructs.log_groups import LogGroupSettings, SageMakerLogLocation
from mlops_constructs.models import container_model
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.network import VpcPlacement
from mlops_constructs.platform_env import MLOPS_ENDPOINT, MLOPS_VARIANT
from mlops_constructs.release import LiveWeights, deployment_config, preflight_resource, weights_resource
from mlops_constructs.roles import SageMakerExecutionRole
from mlops_constructs.validation import Problems, is_token

MAX_VARIANTS = 10  # CreateEndpointConfig: ProductionVariants, 1-10 items
_CSV_TYPES = ["text/csv"]
_JSON_TYPES = ["application/json", "application/jsonlines"]
# Metrics default to 1-minute periods; one Duration for all (each creation is a round trip to Node.js).
_ONE_MINUTE = cdk.Duration.minutes(1)
# Per-instance metrics SageMaker publishes for endpoints (Amazon SageMaker Developer Guide,
# "Amazon SageMaker AI metrics in Amazon CloudWatch": endpoint instance metrics).
INSTANCE_METRICS_NAMESPACE = "/aws/sagemaker/Endpoints"


class MetricOptions(TypedDict, total=False):
    """What `cloudwatch.Metric` takes besides namespace, name and dimensions."""

    statistic: str
    period: cdk.Duration
    label: str
    unit: cloudwatch.Unit
    color: str
    account: str
    region: str
    stack_account: str
    stack_region: str


@dataclass(frozen=True)
class VariantSpec:
    """One production variant.

    `weight` is relative: the variant's traffic share is weight / sum of all weights.
    `network_isolation` (default on) gives the container no network access at all;
    SageMaker still downloads the model and writes captured data on its behalf.
    """

    name: str
    model: ModelArtifact
    image: ContainerImage
    instance_type: str
    initial_instance_count: int = 1
    weight: float = 1.0
    environment: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = True


@dataclass(frozen=True)
class DataCapture:
    """Capture requests and responses to `bucket` under `prefix/` (default: the endpoint name)."""

    bucket: s3.IBucket
    encryption_key: kms.IKey
    sampling_percent: int = 20
    prefix: str | None = None
    capture_input: bool = True
    capture_output: bool = True


class IModelEndpoint(Protocol):
    """What alarms, autoscaling and grants need from an endpoint, created here or not."""

    @property
    def endpoint_name(self) -> str: ...

    @property
    def endpoint_arn(self) -> str: ...

    @property
    def variant_names(self) -> Sequence[str]: ...

    def variant_resource_id(self, variant_name: str) -> str: ...

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant: ...

    def metric(self, metric_name: str, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_invocations(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_model_latency(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_4xx_errors(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_5xx_errors(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...


class _EndpointApi:
    """Grants and metrics shared by created and imported endpoints (a plain mixin: jsii
    construct classes cannot also derive from ABC)."""

    endpoint_name: str
    variant_names: list[str]

    @property
    def endpoint_arn(self) -> str:
        raise NotImplementedError

    def _endpoint_name_token(self) -> str:
        """The name as the template should reference it (a token where that orders resources)."""
        return self.endpoint_name

    def variant_resource_id(self, variant_name: str) -> str:
        """The Application Auto Scaling resource id of a variant."""
        self._require_variant(variant_name)
        return f"endpoint/{self._endpoint_name_token()}/variant/{variant_name}"

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to call InvokeEndpoint on this endpoint only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )

    def metric(self, metric_name: str, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A per-variant metric in AWS/SageMaker; options pass through to `cloudwatch.Metric` (default Sum, 1 minute)."""
        return self._metric("AWS/SageMaker", metric_name, variant_name, {"statistic": "Sum", **options})

    def metric_invocations(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric("Invocations", variant_name, **options)

    def metric_model_latency(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """ModelLatency in microseconds, as SageMaker reports it (default p99)."""
        with_default: MetricOptions = {"statistic": "p99", **options}
        return self.metric("ModelLatency", variant_name, **with_default)

    def metric_4xx_errors(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric("Invocation4XXErrors", variant_name, **options)

    def metric_5xx_errors(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric("Invocation5XXErrors", variant_name, **options)

    def metric_instance(self, metric_name: str, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A per-instance metric in `/aws/sagemaker/Endpoints` (default Average, 1 minute)."""
        return self._metric(INSTANCE_METRICS_NAMESPACE, metric_name, variant_name, {"statistic": "Average", **options})

    def metric_cpu_utilization(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Percent, summed over the instance's cores (100% per core)."""
        return self.metric_instance("CPUUtilization", variant_name, **options)

    def metric_memory_utilization(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric_instance("MemoryUtilization", variant_name, **options)

    def metric_disk_utilization(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric_instance("DiskUtilization", variant_name, **options)

    def metric_gpu_utilization(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Percent, summed over the instance's GPUs (100% per GPU); GPU instances only."""
        return self.metric_instance("GPUUtilization", variant_name, **options)

    def metric_gpu_memory_utilization(self, variant_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return self.metric_instance("GPUMemoryUtilization", variant_name, **options)

    def _metric(self, namespace: str, metric_name: str, variant_name: str, options: Mapping[str, Any]) -> cloudwatch.Metric:
        self._require_variant(variant_name)
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": variant_name},
            **{"period": _ONE_MINUTE, **options},
        )

    def _require_variant(self, variant_name: str) -> None:
        if variant_name not in self.variant_names:
            raise ValueError(
                f"endpoint '{self.endpoint_name}' has no variant '{variant_name}' (variants: {', '.join(self.variant_names)})"
            )


class _ImportedEndpoint(_EndpointApi, Construct):
    def __init__(self, scope: Construct, id: str, endpoint_name: str, variant_names: Sequence[str]) -> None:
        super().__init__(scope, id)
        self.endpoint_name = endpoint_name
        self.variant_names = list(variant_names)

    @property
    def endpoint_arn(self) -> str:
        # SageMaker lower-cases names in ARNs.
        return cdk.Stack.of(self).format_arn(service="sagemaker", resource="endpoint", resource_name=self.endpoint_name.lower())


@jsii.implements(cdk.IStableStringProducer)
class _Guarded:
    """'true' once the endpoint has a DeploymentConfig (any strategy but none; set after construction)."""

    def __init__(self, endpoint: ModelEndpoint) -> None:
        self._endpoint = endpoint

    def produce(self) -> str:
        deployment = self._endpoint.deployment
        return "true" if deployment is not None and deployment.guarded else "false"


class ModelEndpoint(_EndpointApi, Construct):
    """An endpoint with weighted variants, data capture, its log group, and volume encryption where allowed.

    If `role` is omitted the construct creates a serving role and grants it exactly what
    the variants read (their model objects and images), the capture prefix, and the
    endpoint's own log group. With `vpc`, every variant's model runs in those subnets and
    security groups (still network-isolated) and the role may manage SageMaker's network
    interfaces there; without it, no VPC (default).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        variants: Sequence[VariantSpec],
        data_capture: DataCapture | None = None,
        volume_encryption_key: kms.IKey | None = None,
        logs: LogGroupSettings | None = None,
        role: iam.IRole | None = None,
        vpc: VpcPlacement | None = None,
        live_weights: LiveWeights | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.instance_types: dict[str, InstanceType] = self._validate(endpoint_name, variants, data_capture, logs)
        self.endpoint_name = endpoint_name
        self.variant_names = [v.name for v in variants]
        log_location = SageMakerLogLocation.endpoint(endpoint_name)

        if role is None:
            execution = SageMakerExecutionRole(
                self, "ServingRole", description=f"SageMaker serving role for endpoint {endpoint_name}"
            )
            execution.allow_logs_and_metrics(log_location)
            role = execution.role
        self.role = role
        self.models: dict[str, sagemaker.CfnModel] = {
            spec.name: container_model(
                self,
                f"Model-{spec.name}",
                role=role,
                model=spec.model,
                image=spec.image,
                # The container labels its own metrics with these (see the inference README).
                environment={**spec.environment, MLOPS_ENDPOINT: endpoint_name, MLOPS_VARIANT: spec.name},
                network_isolation=spec.network_isolation,
                vpc=vpc,
            )
            for spec in variants
        }

        capture_config = None
        if data_capture is not None:
            prefix = data_capture.prefix or endpoint_name
            capture_config = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=data_capture.sampling_percent,
                destination_s3_uri=data_capture.bucket.s3_url_for_object(prefix),
                kms_key_id=data_capture.encryption_key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode)
                    for mode, wanted in (("Input", data_capture.capture_input), ("Output", data_capture.capture_output))
                    if wanted
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=_CSV_TYPES, json_content_types=_JSON_TYPES
                ),
            )
            capture_objects = data_capture.bucket.arn_for_objects(f"{prefix}/*")
            role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[capture_objects]))
            data_capture.encryption_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
            acknowledge_resource(
                role,
                capture_objects,
                "SageMaker names capture objects by date and hour at run time; "
                "writes are limited to this endpoint's capture prefix.",
            )

        # CreateEndpointConfig rejects KmsKeyId when any variant's instance type has local
        # NVMe storage (hardware-encrypted); set it only when every variant allows it.
        self.local_storage_variants = [n for n, t in self.instance_types.items() if t.has_local_storage]
        volume_key = volume_encryption_key if not self.local_storage_variants else None

        # With live weights, weights stay out of the EndpointConfig (see release.py): a weight
        # shift then changes no EndpointConfig, and a variant new in a release starts at 0.
        self.live_weights = live_weights
        self.deployment: DeploymentGuardrails | None = None
        self.preflight: cdk.CustomResource | None = None
        if live_weights is not None:
            self.preflight = preflight_resource(
                self,
                "Preflight",
                service_token=live_weights.service_token,
                endpoint_name=endpoint_name,
                variants={spec.name: spec.instance_type for spec in variants},
                guarded=cdk.Lazy.string(_Guarded(self)),
            )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=volume_key.key_arn if volume_key else None,
            data_capture_config=capture_config,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=spec.name,
                    model_name=self.models[spec.name].attr_model_name,
                    instance_type=spec.instance_type,
                    initial_instance_count=spec.initial_instance_count,
                    initial_variant_weight=0 if live_weights is not None else spec.weight,
                )
                for spec in variants
            ],
        )
        if self.preflight is not None:
            self.endpoint_config.node.add_dependency(self.preflight)
        if volume_encryption_key is not None and self.local_storage_variants:
            acknowledge(
                self.endpoint_config,
                NagAck(
                    "AwsSolutions-SM2",
                    f"Variants {', '.join(self.local_storage_variants)} run on instance types with local NVMe storage, "
                    "which is hardware-encrypted; CreateEndpointConfig rejects a KmsKeyId for them.",
                ),
            )
        if vpc is None:
            # cdk-nag 3.0.2's SM1 checks notebook instances only; the record keeps the
            # decision visible should a later version extend it to models.
            acknowledge(
                self,
                NagAck(
                    "AwsSolutions-SM1",
                    "No VPC placement configured for this endpoint: its models run with network isolation "
                    "(no network access from the container); set vpc to place them in subnets.",
                ),
            )

        self.log_group: aws_logs.LogGroup | None = None
        if logs is not None:
            self.log_group = logs.log_group(self, "Logs", log_location.group)

        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # Variants that stay keep their live weights and autoscaled instance counts.
            retain_all_variant_properties=True if live_weights is not None else None,
        )
        if self.log_group is not None:
            # The group must exist before SageMaker starts instances, or SageMaker creates it.
            self.endpoint.node.add_dependency(self.log_group)
        self.weights: cdk.CustomResource | None = None
        if live_weights is not None:
            self.weights = weights_resource(
                self,
                "Weights",
                service_token=live_weights.service_token,
                endpoint_name=self.endpoint.attr_endpoint_name,
                weights={spec.name: spec.weight for spec in variants},
                config_name=self.endpoint_config.attr_endpoint_config_name,
            )

    def add_deployment_guardrails(
        self,
        guardrails: DeploymentGuardrails,
        *,
        rollback_alarms: Sequence[cloudwatch.IAlarm] = (),
        rollback_alarm_names: Sequence[str] = (),
    ) -> None:
        """Release new EndpointConfigs by `guardrails`, rolling back when any rollback alarm fires."""
        problems = Problems(self)
        problems.check(self.deployment is None, "add_deployment_guardrails: already set")
        for problem in guardrails.problems(
            variant_count=len(self.variant_names), rollback_alarm_count=len(rollback_alarms) + len(rollback_alarm_names)
        ):
            problems.add(f"deployment: {problem}")
        problems.raise_if_any()
        self.deployment = guardrails
        if guardrails.guarded:
            names = [*(alarm.alarm_name for alarm in rollback_alarms), *rollback_alarm_names]
            self.endpoint.deployment_config = deployment_config(guardrails, names)

    @staticmethod
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str, *, variant_names: Sequence[str]) -> IModelEndpoint:
        """An endpoint this app did not create, for grants, metrics, alarms and autoscaling."""
        problems = Problems(scope)
        problems.check(
            is_sagemaker_name(endpoint_name), f"{id}: endpoint_name '{endpoint_name}' is invalid: {SAGEMAKER_NAME_RULE}"
        )
        problems.check(len(variant_names) >= 1, f"{id}: name at least one variant")
        problems.raise_if_any()
        return _ImportedEndpoint(scope, id, endpoint_name, variant_names)

    def _validate(
        self, name: str, variants: Sequence[VariantSpec], capture: DataCapture | None, logs: LogGroupSettings | None
    ) -> dict[str, InstanceType]:
        """Raise every problem with the props at once; return each variant's parsed instance type."""
        problems = Problems(self)
        problems.check(is_sagemaker_name(name), f"endpoint_name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
        problems.check(1 <= len(variants) <= MAX_VARIANTS, f"variants: {len(variants)} given; an endpoint takes 1-{MAX_VARIANTS}")
        seen: set[str] = set()
        instance_types: dict[str, InstanceType] = {}
        for index, spec in enumerate(variants):
            where = f"variants[{index}]"
            problems.check(is_sagemaker_name(spec.name), f"{where}.name '{spec.name}' is invalid: {SAGEMAKER_NAME_RULE}")
            problems.check(spec.name.lower() not in seen, f"{where}.name '{spec.name}' repeats an earlier variant")
            seen.add(spec.name.lower())
            if not is_token(spec.weight):
                problems.check(spec.weight >= 0, f"{where}.weight {spec.weight} is negative")
            if not is_token(spec.initial_instance_count):
                problems.check(spec.initial_instance_count >= 1, f"{where}.initial_instance_count must be at least 1")
            try:
                instance_types[spec.name] = parse_instance_type(spec.instance_type)
            except InstanceTypeError as error:
                problems.add(f"{where}.instance_type {error}")
        if variants and not any(is_token(v.weight) for v in variants):
            problems.check(any(v.weight > 0 for v in variants), "variants: at least one weight must be above 0")
        if capture is not None:
            if not is_token(capture.sampling_percent):
                problems.check(
                    0 <= capture.sampling_percent <= 100,
                    f"data_capture.sampling_percent {capture.sampling_percent} is outside 0-100",
                )
            problems.check(capture.capture_input or capture.capture_output, "data_capture: capture input, output or both")
        if logs is not None:
            problem = logs.problem()
            problems.check(problem is None, f"logs.retention_days: {problem}")
        problems.raise_if_any()
        return instance_types

    @property
    def endpoint_arn(self) -> str:
        return self.endpoint.ref

    def _endpoint_name_token(self) -> str:
        # The attribute, so a scalable target waits for the endpoint to exist.
        return self.endpoint.attr_endpoint_name
