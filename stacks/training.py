"""Training of one environment: the training state machine and the per-epoch metrics store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.schema import ARTIFACTS_SCHEME, Image
from config.training import TrainingSettings
from mlops_constructs.images import ContainerImage
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.naming import looks_like_image_uri
from mlops_constructs.network import VpcPlacement
from mlops_constructs.training.base_images import pytorch_gpu_training_image
from mlops_constructs.training.dataset import TrainingDataset
from mlops_constructs.training.epoch_metrics import EpochMetricsStore
from mlops_constructs.training.job import SpotOptions, TrainingStateMachine


def state_machine_name(env_name: str) -> str:
    """The name `mlops train start` addresses (one source of truth for stack and CLI)."""
    return f"mlops-{env_name}-training"


def model_parameter_name(env_name: str, name: str) -> str:
    """The SSM parameter holding the latest trained model's `model_data` value."""
    return f"/mlops/{env_name}/training/{name}/model-data"


def metrics_function_name(env_name: str) -> str:
    return f"mlops-{env_name}-training-metrics"


@dataclass(frozen=True)
class TrainingDependencies:
    """What the training stack uses from the foundation."""

    artifacts_bucket: s3.IBucket
    data_key: kms.IKey
    logs_key: kms.IKey
    alert_topic: sns.ITopic
    log_retention_days: int


class TrainingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        training: TrainingSettings,
        images: Mapping[str, Image],
        env_name: str,
        uses: TrainingDependencies,
        repo_root: Path,
        removal_policy: cdk.RemovalPolicy,
        vpc: VpcPlacement | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description="Training state machine and per-epoch metrics (mlops train start)", **kwargs)  # type: ignore[arg-type]
        logs = LogGroupSettings(encryption_key=uses.logs_key, retention_days=uses.log_retention_days)
        self.metrics = EpochMetricsStore(
            self,
            "EpochMetrics",
            function_name=metrics_function_name(env_name),
            lambda_src=str(repo_root / "lambda_src"),
            encryption_key=uses.data_key,
            alert_topic=uses.alert_topic,
            logs=logs,
            removal_policy=removal_policy,
        )
        cdk.CfnOutput(self, "MetricsTableName", value=self.metrics.table.table_name)
        self.training = TrainingStateMachine(
            self,
            "Training",
            name=training.name,
            state_machine_name=state_machine_name(env_name),
            model_parameter_name=model_parameter_name(env_name, training.name),
            image=self._image(training.image, images, repo_root),
            dataset=self._dataset(training.dataset, uses.artifacts_bucket, repo_root),
            artifacts_bucket=uses.artifacts_bucket,
            encryption_key=uses.data_key,
            alert_topic=uses.alert_topic,
            logs=logs,
            instance_type=training.instance_type,
            instance_count=training.instance_count,
            volume_size_gb=training.volume_size_gb,
            max_runtime=cdk.Duration.minutes(training.max_runtime_minutes),
            spot=SpotOptions(cdk.Duration.minutes(training.spot.max_wait_minutes))
            if training.spot.enabled and training.spot.max_wait_minutes
            else None,
            checkpoints=training.checkpoints,
            network_isolation=training.network_isolation,
            epoch_events=training.epoch_events,
            hyperparameters=training.hyperparameters,
            output_prefix=training.output_prefix,
            vpc=vpc,
        )

    def _image(self, reference: str, images: Mapping[str, Image], repo_root: Path) -> ContainerImage:
        """An ECR URI as is; a folder built on the region's PyTorch GPU training DLC unless config names a base."""
        if looks_like_image_uri(reference):
            return ContainerImage.from_ecr_uri(reference)
        settings = images.get(reference)
        return ContainerImage.from_folder(
            self,
            "TrainingImage",
            directory=repo_root / "containers" / ((settings.folder if settings else None) or reference),
            base_image=(settings.base_image if settings else None) or pytorch_gpu_training_image(self.region),
            build_args=settings.build_args if settings else None,
            architecture="amd64",  # config rejects arm64 training types (e.g. p6e-gb200): the DLC base is amd64 only
        )

    def _dataset(self, dataset: str, artifacts: s3.IBucket, repo_root: Path) -> TrainingDataset:
        if dataset.startswith("s3://"):
            return TrainingDataset.from_s3_uri(dataset)
        if dataset.startswith(ARTIFACTS_SCHEME):
            return TrainingDataset.from_bucket(artifacts, dataset[len(ARTIFACTS_SCHEME) :])
        return TrainingDataset.from_asset(self, "Dataset", str(repo_root / dataset))
