"""One stack per endpoint: its models, endpoint config, endpoint, autoscaling and alarms.

A stack per endpoint keeps each one's resources well under CloudFormation's limit, and
means a weight change on one endpoint deploys (and can roll back) only that endpoint.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from config.schema import ARTIFACTS_SCHEME, Endpoint, MlopsConfig, Variant
from mlops_constructs.alarms import EndpointAlarms
from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.autoscaling import ScheduledScaling, VariantAutoscaling
from mlops_constructs.endpoint import DataCapture, ModelEndpoint, VariantSpec
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import parse_instance_type
from mlops_constructs.naming import looks_like_image_uri
from stacks.foundation import FoundationStack


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
        self._config = config
        self._root = repo_root
        self._images: dict[tuple[str, str], ContainerImage] = {}
        storage = foundation.storage

        specs = [
            VariantSpec(
                name=v.name,
                model=self._model(v, storage.artifacts),
                image=self._image(v),
                instance_type=v.instance_type,
                initial_instance_count=v.initial_instance_count,
                weight=v.weight,
                environment=v.environment,
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

    def _model(self, variant: Variant, artifacts: object) -> ModelArtifact:
        data = variant.model_data
        if data.startswith("s3://"):
            return ModelArtifact.from_s3_uri(data)
        if data.startswith(ARTIFACTS_SCHEME):
            return ModelArtifact.from_bucket(artifacts, data[len(ARTIFACTS_SCHEME) :])  # type: ignore[arg-type]
        return ModelArtifact.from_asset(self, f"ModelData-{variant.name}", str(self._root / data))

    def _image(self, variant: Variant) -> ContainerImage:
        if looks_like_image_uri(variant.image):
            return ContainerImage.from_ecr_uri(variant.image)
        architecture = parse_instance_type(variant.instance_type).architecture
        key = (variant.image, architecture)
        if key not in self._images:
            settings = self._config.images.get(variant.image)
            folder = (settings.folder if settings else None) or variant.image
            self._images[key] = ContainerImage.from_folder(
                self,
                f"Image-{variant.image}-{architecture}",
                directory=self._root / "containers" / folder,
                base_image=settings.base_image if settings else None,
                build_args=settings.build_args if settings else None,
                architecture=architecture,
            )
        return self._images[key]
