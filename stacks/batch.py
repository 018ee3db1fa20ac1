"""Batch transforms of one environment: a state machine per configured transform."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from config.schema import MlopsConfig
from mlops_constructs.batch_transform import BatchTransform
from mlops_constructs.instance_types import parse_instance_type
from stacks.foundation import FoundationStack
from stacks.sources import ModelSources


def state_machine_name(env_name: str, transform: str) -> str:
    """The name `mlops batch start` addresses (one source of truth for stack and CLI)."""
    return f"mlops-{env_name}-batch-{transform}"


class BatchStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: MlopsConfig,
        env_name: str,
        foundation: FoundationStack,
        repo_root: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description="Batch transform state machines (mlops batch start)", **kwargs)  # type: ignore[arg-type]
        storage = foundation.storage
        sources = ModelSources(self, config=config, repo_root=repo_root, artifacts=storage.artifacts)
        self.transforms: dict[str, BatchTransform] = {}
        for spec in config.batch_transforms:
            self.transforms[spec.name] = BatchTransform(
                self,
                f"Transform-{spec.name}",
                name=spec.name,
                state_machine_name=state_machine_name(env_name, spec.name),
                model=sources.model(spec.model_data, f"ModelData-{spec.name}"),
                image=sources.image(spec.image, parse_instance_type(spec.instance_type, "transform").architecture),
                data_bucket=storage.data,
                encryption_key=storage.key,
                instance_type=spec.instance_type,
                instance_count=spec.instance_count,
                max_payload_mb=spec.max_payload_mb,
                max_concurrent_transforms=spec.max_concurrent_transforms,
                environment=spec.container_environment(),
                timeout=cdk.Duration.hours(spec.timeout_hours),
            )
