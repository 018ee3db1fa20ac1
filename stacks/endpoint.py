"""One stack per endpoint: its models, endpoint config, log group, endpoint, autoscaling and alarms.

A stack per endpoint keeps each one's resources well under CloudFormation's limit, and
means a weight change on one endpoint deploys (and can roll back) only that endpoint.
The stack takes only what it uses: its own config section and the foundation's
buckets, keys and topic as interfaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import Endpoint, Image
from mlops_constructs.alarms import EndpointAlarms
from mlops_constructs.autoscaling import ScheduledScaling, VariantAutoscaling
from mlops_constructs.endpoint import DataCapture, ModelEndpoint, VariantSpec
from mlops_constructs.guardrails import platform_rollback_alarms
from mlops_constructs.instance_types import parse_instance_type
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.network import VpcPlacement
from mlops_constructs.release import LiveWeights
from stacks.sources import ModelSources


@dataclass(frozen=True)
class EndpointDependencies:
    """What an endpoint stack uses from the foundation."""

    artifacts_bucket: s3.IBucket
    capture_bucket: s3.IBucket
    data_key: kms.IKey
    logs_key: kms.IKey
    alert_topic: sns.ITopic
    log_retention_days: int
    weights_service_token: str | None = None  # a ReleaseProvider's: weights set live, not in the EndpointConfig


class EndpointStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: Endpoint,
        images: Mapping[str, Image],
        uses: EndpointDependencies,
        repo_root: Path,
        vpc: VpcPlacement | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id,
            description=f"SageMaker endpoint {endpoint.name} with its variants, autoscaling and alarms",
            **kwargs,  # type: ignore[arg-type]
        )
        sources = ModelSources(self, images=images, repo_root=repo_root, artifacts=uses.artifacts_bucket)
        specs = [
            VariantSpec(
                name=v.name,
                model=sources.model(v.model_data, f"ModelData-{v.name}"),
                image=sources.image(v.image, parse_instance_type(v.instance_type).architecture),
                instance_type=v.instance_type,
                initial_instance_count=v.initial_instance_count,
                weight=v.weight,
                environment=v.container_environment(),
            )
            for v in endpoint.variants
        ]
        capture = endpoint.data_capture
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint.name,
            variants=specs,
            data_capture=DataCapture(
                bucket=uses.capture_bucket,
                encryption_key=uses.data_key,
                sampling_percent=capture.sampling_percent,
                capture_input="Input" in capture.modes,
                capture_output="Output" in capture.modes,
            )
            if capture.enabled
            else None,
            volume_encryption_key=uses.data_key,
            logs=LogGroupSettings(encryption_key=uses.logs_key, retention_days=uses.log_retention_days),
            vpc=vpc,
            live_weights=LiveWeights(uses.weights_service_token) if uses.weights_service_token else None,
        )
        for v in endpoint.variants:
            if v.autoscaling is None:
                continue
            scaling = v.autoscaling
            VariantAutoscaling(
                self,
                f"Autoscaling-{v.name}",
                endpoint=self.endpoint,
                variant_name=v.name,
                min_capacity=scaling.min_capacity,
                max_capacity=scaling.max_capacity,
                target_invocations_per_instance=scaling.target_invocations_per_instance,
                scale_in_cooldown=cdk.Duration.seconds(scaling.scale_in_cooldown_seconds),
                scale_out_cooldown=cdk.Duration.seconds(scaling.scale_out_cooldown_seconds),
                scheduled=[
                    ScheduledScaling(
                        name=s.name, cron=s.cron, min_capacity=s.min_capacity, max_capacity=s.max_capacity, timezone=s.timezone
                    )
                    for s in scaling.scheduled
                ],
            )
        alarms = endpoint.alarms
        self.alarms = EndpointAlarms(
            self,
            "Alarms",
            endpoint=self.endpoint,
            topic=uses.alert_topic,
            error_rate_5xx_percent=alarms.error_rate_5xx_percent,
            model_latency_p99=cdk.Duration.millis(alarms.model_latency_p99_ms),
            evaluation_periods=alarms.evaluation_minutes,
            datapoints_to_alarm=alarms.datapoints_to_alarm,
        )
        deployment = endpoint.deployment
        with_latency, _ = platform_rollback_alarms(len(endpoint.variants), len(deployment.rollback_alarms))
        self.endpoint.add_deployment_guardrails(
            deployment.guardrails(),
            rollback_alarms=[
                *self.alarms.error_rate_alarms.values(),
                *(self.alarms.latency_alarms.values() if with_latency else ()),
            ],
            rollback_alarm_names=deployment.rollback_alarms,
        )
