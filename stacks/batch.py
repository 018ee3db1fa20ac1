"""Batch transforms of one environment: a state machine per configured transform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import BatchTransformSettings, Image
from mlops_constructs.batch_transform import BatchTransform
from mlops_constructs.instance_types import parse_instance_type
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.network import VpcPlacement
from stacks.network import vpc_placement
from stacks.sources import ModelSources


def state_machine_name(env_name: str, transform: str) -> str:
    """The name `mlops batch start` addresses (one source of truth for stack and CLI)."""
    return f"mlops-{env_name}-batch-{transform}"


@dataclass(frozen=True)
class BatchDependencies:
    """What the batch stack uses from the foundation."""

    artifacts_bucket: s3.IBucket
    data_bucket: s3.IBucket
    data_key: kms.IKey
    logs_key: kms.IKey
    log_retention_days: int


class BatchStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        transforms: Sequence[BatchTransformSettings],
        images: Mapping[str, Image],
        env_name: str,
        uses: BatchDependencies,
        repo_root: Path,
        default_vpc: VpcPlacement | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description="Batch transform state machines (mlops batch start)", **kwargs)  # type: ignore[arg-type]
        sources = ModelSources(self, images=images, repo_root=repo_root, artifacts=uses.artifacts_bucket)
        logs = LogGroupSettings(encryption_key=uses.logs_key, retention_days=uses.log_retention_days)
        self.transforms: dict[str, BatchTransform] = {}
        for spec in transforms:
            self.transforms[spec.name] = BatchTransform(
                self,
                f"Transform-{spec.name}",
                name=spec.name,
                state_machine_name=state_machine_name(env_name, spec.name),
                model=sources.model(spec.model_data, f"ModelData-{spec.name}"),
                image=sources.image(spec.image, parse_instance_type(spec.instance_type, "transform").architecture),
                data_bucket=uses.data_bucket,
                encryption_key=uses.data_key,
                logs=logs,
                instance_type=spec.instance_type,
                instance_count=spec.instance_count,
                max_payload_mb=spec.max_payload_mb,
                max_concurrent_transforms=spec.max_concurrent_transforms,
                environment=spec.container_environment(),
                timeout=cdk.Duration.hours(spec.timeout_hours),
                vpc=vpc_placement(spec.vpc) or default_vpc,
            )
