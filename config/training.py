"""`training:` in config/<env>.yaml: one SageMaker training job definition the stack runs.

Every rule below is one SageMaker would apply when the job starts (CreateTrainingJob), moved
to synth so a bad value fails review instead of a 2 a.m. run; each cites its source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from config.errors import CrossFieldError
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.naming import parse_s3_uri

ARTIFACTS_SCHEME = "artifacts://"  # as config.schema's (which imports this module; a test keeps them equal)
# StoppingCondition.MaxRuntimeInSeconds: "The maximum value is 28 days" (CreateTrainingJob API reference).
MAX_RUNTIME_MINUTES = 28 * 24 * 60
# HyperParameters: at most 100 entries, keys <= 256 and values <= 2500 characters (botocore service model).
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY = 256
MAX_HYPERPARAMETER_VALUE = 2500
# A training job name is at most 63 characters (TrainingJobName); the stack names jobs
# `<name>-<execution start, yyyymmddHHMMss>`, 15 characters more.
MAX_TRAINING_NAME = 63 - 15
# "Amazon EBS volumes ... up to 16 TiB" for VolumeSizeInGB (ResourceConfig, EBS volume limits).
MAX_VOLUME_GB = 16384


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _text(item: Any) -> Any:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item) if isinstance(item, int | float) else item


class SpotSettings(_Model):
    """Managed spot training: up to ~90% cheaper; SageMaker restarts an interrupted job from its checkpoints."""

    enabled: bool = False
    max_wait_minutes: int | None = Field(default=None, ge=1, description="max runtime plus time waiting for capacity")


class TrainingSettings(_Model):
    name: str = Field(default="train", description="state machine mlops-<env>-training; jobs <name>-<timestamp>")
    image: str = Field(default="training", description="a key of `images`, a folder under containers/, or an ECR URI")
    instance_type: str
    instance_count: int = Field(default=1, ge=1, description="more than one: distributed (torchrun over hosts)")
    volume_size_gb: int = Field(default=50, ge=1, le=MAX_VOLUME_GB)
    max_runtime_minutes: int = Field(default=24 * 60, ge=1, le=MAX_RUNTIME_MINUTES)
    spot: SpotSettings = Field(default_factory=SpotSettings)
    checkpoints: bool = Field(default=True, description="sync /opt/ml/checkpoints with S3 (required with spot)")
    network_isolation: bool = Field(default=False, description="no network from the container (then no epoch events)")
    epoch_events: bool = Field(default=True, description="per-epoch EventBridge events into the metrics table")
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    dataset: str = Field(description="s3://bucket/prefix/, artifacts://prefix/ (the artifacts bucket) or a local .csv")
    output_prefix: str = Field(default="training/", description="key prefix in the artifacts bucket for model.tar.gz")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name

        if not is_sagemaker_name(value):
            raise ValueError(f"'{value}' is not a valid SageMaker name: {SAGEMAKER_NAME_RULE}")
        if len(value) > MAX_TRAINING_NAME:
            raise ValueError(f"'{value}' is {len(value)} characters; at most {MAX_TRAINING_NAME} so job names fit 63")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        try:
            instance = parse_instance_type(value, "training")  # botocore's TrainingInstanceType enum
        except InstanceTypeError as error:
            raise ValueError(str(error)) from None
        # The training image (containers/training, an AWS DLC base) is built for amd64 only; an
        # arm64 (Graviton/Grace) instance could not start it (exec format error).
        if instance.architecture != "amd64":
            raise ValueError(f"'{value}' is an {instance.architecture} instance type; the training image is built for amd64 only")
        return value

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        """YAML reads `epochs: 8` as a number; CreateTrainingJob takes strings, so scalars become text."""
        if isinstance(value, dict):
            return {
                k: (("true" if v else "false") if isinstance(v, bool) else str(v) if isinstance(v, int | float) else v)
                for k, v in value.items()
            }
        return value

    @field_validator("hyperparameters")
    @classmethod
    def _hyperparameters(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        if len(value) > MAX_HYPERPARAMETERS:
            problems.append(f"{len(value)} entries; at most {MAX_HYPERPARAMETERS} (CreateTrainingJob HyperParameters)")
        problems += [
            f"key '{k[:40]}...' is longer than {MAX_HYPERPARAMETER_KEY} characters"
            for k in value
            if len(k) > MAX_HYPERPARAMETER_KEY
        ]
        problems += [
            f"'{k}' is longer than {MAX_HYPERPARAMETER_VALUE} characters"
            for k, v in value.items()
            if len(v) > MAX_HYPERPARAMETER_VALUE
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith("s3://"):
            parse_s3_uri(value)
        elif value.startswith(ARTIFACTS_SCHEME):
            if not value[len(ARTIFACTS_SCHEME) :] or value[len(ARTIFACTS_SCHEME)] == "/":
                raise ValueError(f"'{value}' needs a key prefix after artifacts://, e.g. artifacts://datasets/calls/")
        elif "://" in value:
            raise ValueError(f"'{value}': dataset is s3://..., artifacts://... or a local .csv file")
        else:
            context: Any = info.context
            root = context.get("root") if isinstance(context, dict) else None
            if not value.endswith(".csv"):
                raise ValueError(f"local dataset '{value}' must be a .csv file (uploaded as one S3 object)")
            if root is not None and not (root / value).is_file():
                raise ValueError(f"local dataset '{value}' does not exist (relative to {root})")
        return value

    @field_validator("output_prefix")
    @classmethod
    def _output_prefix(cls, value: str) -> str:
        if value.startswith("/") or not value.endswith("/") or ".." in value.split("/"):
            raise ValueError(f"'{value}' must be a relative key prefix ending in '/', e.g. training/")
        return value

    @model_validator(mode="after")
    def _job_rules(self) -> TrainingSettings:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if self.spot.enabled:
            wait = self.spot.max_wait_minutes
            if wait is None:
                issues.append((("spot", "max_wait_minutes"), "required with spot: how long to wait for spot capacity plus run"))
            elif wait < self.max_runtime_minutes:
                # StoppingCondition.MaxWaitTimeInSeconds "must be equal to or greater than MaxRuntimeInSeconds".
                issues.append(
                    (
                        ("spot", "max_wait_minutes"),
                        f"{wait} is less than max_runtime_minutes {self.max_runtime_minutes}; "
                        "SageMaker requires MaxWaitTimeInSeconds >= MaxRuntimeInSeconds",
                    )
                )
            elif wait > MAX_RUNTIME_MINUTES:
                issues.append((("spot", "max_wait_minutes"), f"{wait} exceeds {MAX_RUNTIME_MINUTES} (28 days)"))
            if not self.checkpoints:
                # Managed spot training: without CheckpointConfig an interrupted job restarts from scratch.
                issues.append((("checkpoints",), "spot training needs checkpoints: an interrupted job would start over"))
        elif self.spot.max_wait_minutes is not None:
            issues.append(
                (("spot", "max_wait_minutes"), "applies only with spot.enabled: true (MaxWaitTimeInSeconds is spot-only)")
            )
        if self.network_isolation and self.epoch_events:
            # "If network isolation is used ... the container can't make any outbound network calls,
            # even to other AWS services" (CreateTrainingJob EnableNetworkIsolation).
            issues.append(
                (
                    ("epoch_events",),
                    "a network-isolated job cannot call EventBridge; set epoch_events: false or network_isolation: false",
                )
            )
        if issues:
            raise CrossFieldError(issues)
        return self

    @property
    def volume_encryptable(self) -> bool:
        """CreateTrainingJob rejects VolumeKmsKeyId on instance types with local NVMe storage."""
        return not parse_instance_type(self.instance_type, "training").has_local_storage

    @property
    def distributed(self) -> bool:
        return self.instance_count > 1
