"""A SageMaker real-time endpoint with N weighted production variants.

Resources: a Model per variant, one EndpointConfig, and the Endpoint with its stable
name. Model and EndpointConfig carry CloudFormation-generated names because any change
replaces them; a fixed name would make the replacement collide with the original. The
Endpoint keeps the user's name, so a new EndpointConfig is an in-place UpdateEndpoint
(SageMaker's blue/green swap), never a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceType, InstanceTypeError, parse_instance_type
from mlops_constructs.models import container_model
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.roles import SageMakerExecutionRole

MAX_VARIANTS = 10
_CSV_TYPES = ["text/csv"]
_JSON_TYPES = ["application/json", "application/jsonlines"]


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


def _check(owner: str, condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"{owner}: {message}")


class ModelEndpoint(Construct):
    """An endpoint with weighted variants, data capture, and volume encryption where allowed.

    If `role` is omitted the construct creates a serving role and grants it exactly what
    the variants read (their model objects and images), the capture prefix, and the
    endpoint's own log group.
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
        role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, id)
        owner = f"ModelEndpoint({id})"
        self.instance_types: dict[str, InstanceType] = self._validate(owner, endpoint_name, variants, data_capture)
        self.endpoint_name = endpoint_name
        self.variant_names = [v.name for v in variants]

        if role is None:
            execution = SageMakerExecutionRole(
                self, "ServingRole", purpose="serving", description=f"SageMaker serving role for endpoint {endpoint_name}"
            )
            execution.allow_logs_and_metrics(endpoint_name)
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
                environment={**spec.environment, "MLOPS_ENDPOINT": endpoint_name, "MLOPS_VARIANT": spec.name},
                network_isolation=spec.network_isolation,
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
                    initial_variant_weight=spec.weight,
                )
                for spec in variants
            ],
        )
        if volume_encryption_key is not None and self.local_storage_variants:
            acknowledge(
                self.endpoint_config,
                NagAck(
                    "AwsSolutions-SM2",
                    f"Variants {', '.join(self.local_storage_variants)} run on instance types with local NVMe storage, "
                    "which is hardware-encrypted; CreateEndpointConfig rejects a KmsKeyId for them.",
                ),
            )
        acknowledge(
            self,
            NagAck(
                "AwsSolutions-SM1",
                "Models run with network isolation (no network access from the container); VPC placement would need "
                "a VPC lookup, which synth avoids to stay offline and deterministic.",
            ),
        )

        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_name=endpoint_name, endpoint_config_name=self.endpoint_config.attr_endpoint_config_name
        )

    @staticmethod
    def _validate(owner: str, name: str, variants: Sequence[VariantSpec], capture: DataCapture | None) -> dict[str, InstanceType]:
        """Raise on invalid props; return each variant's parsed instance type."""
        _check(owner, is_sagemaker_name(name), f"endpoint_name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
        _check(owner, 1 <= len(variants) <= MAX_VARIANTS, f"variants: {len(variants)} given; an endpoint takes 1-{MAX_VARIANTS}")
        seen: set[str] = set()
        instance_types: dict[str, InstanceType] = {}
        for index, spec in enumerate(variants):
            where = f"variants[{index}]"
            _check(owner, is_sagemaker_name(spec.name), f"{where}.name '{spec.name}' is invalid: {SAGEMAKER_NAME_RULE}")
            _check(owner, spec.name.lower() not in seen, f"{where}.name '{spec.name}' repeats an earlier variant")
            seen.add(spec.name.lower())
            _check(owner, spec.weight >= 0, f"{where}.weight {spec.weight} is negative")
            _check(owner, spec.initial_instance_count >= 1, f"{where}.initial_instance_count must be at least 1")
            try:
                instance_types[spec.name] = parse_instance_type(spec.instance_type)
            except InstanceTypeError as error:
                raise ValueError(f"{owner}: {where}.instance_type {error}") from None
        _check(owner, any(v.weight > 0 for v in variants), "variants: at least one weight must be above 0")
        if capture is not None:
            _check(
                owner,
                0 <= capture.sampling_percent <= 100,
                f"data_capture.sampling_percent {capture.sampling_percent} is outside 0-100",
            )
            _check(owner, capture.capture_input or capture.capture_output, "data_capture: capture input, output or both")
        return instance_types

    @property
    def endpoint_arn(self) -> str:
        return self.endpoint.ref

    def variant_resource_id(self, variant_name: str) -> str:
        """The Application Auto Scaling resource id of a variant (depends on the endpoint)."""
        self._require_variant(variant_name)
        return f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{variant_name}"

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to call InvokeEndpoint on this endpoint only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )

    def metric(
        self, metric_name: str, variant_name: str, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """A per-variant metric in the AWS/SageMaker namespace."""
        self._require_variant(variant_name)
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": variant_name},
            statistic=statistic,
            period=period or cdk.Duration.minutes(1),
        )

    def metric_invocations(self, variant_name: str, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        return self.metric("Invocations", variant_name, period=period)

    def metric_model_latency(
        self, variant_name: str, *, statistic: str = "p99", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """ModelLatency, in microseconds as SageMaker reports it."""
        return self.metric("ModelLatency", variant_name, statistic=statistic, period=period)

    def metric_4xx_errors(self, variant_name: str, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        return self.metric("Invocation4XXErrors", variant_name, period=period)

    def metric_5xx_errors(self, variant_name: str, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        return self.metric("Invocation5XXErrors", variant_name, period=period)

    def _require_variant(self, variant_name: str) -> None:
        if variant_name not in self.variant_names:
            raise ValueError(
                f"endpoint '{self.endpoint_name}' has no variant '{variant_name}' (variants: {', '.join(self.variant_names)})"
            )
