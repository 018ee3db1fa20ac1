"""One stack per endpoint: its models, endpoint config, endpoint, autoscaling and alarms.

A stack per endpoint keeps each one's resources well under CloudFormation's limit, and
means a weight change on one endpoint deploys (and can roll back) only that endpoint.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from config.schema import Endpoint, MlopsConfig
from mlops_constructs.alarms import EndpointAlarms
from mlops_constructs.autoscaling import ScheduledScaling, VariantAutoscaling
from mlops_constructs.endpoint import DataCapture, ModelEndpoint, VariantSpec
from mlops_constructs.instance_types import parse_instance_type
from stacks.foundation import FoundationStack
from stacks.sources import ModelSources


class EndpointStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: MlopsConfig,
        endpoint: Endpoint,
        foundation: FoundationStack,
        repo_root: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id,
            description=f"SageMaker endpoint {endpoint.name} with its variants, autoscaling and alarms",
            **kwargs,  # type: ignore[arg-type]
        )
        storage = foundation.storage
        sources = ModelSources(self, config=config, repo_root=repo_root, artifacts=storage.artifacts)
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
                bucket=storage.capture,
                encryption_key=storage.key,
                sampling_percent=capture.sampling_percent,
                capture_input="Input" in capture.modes,
                capture_output="Output" in capture.modes,
            )
            if capture.enabled
            else None,
            volume_encryption_key=storage.key,
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
            topic=foundation.alerts.topic,
            error_rate_5xx_percent=alarms.error_rate_5xx_percent,
            model_latency_p99=cdk.Duration.millis(alarms.model_latency_p99_ms),
            evaluation_periods=alarms.evaluation_minutes,
            datapoints_to_alarm=alarms.datapoints_to_alarm,
        )
