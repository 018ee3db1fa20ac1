"""Config for Model Monitor per endpoint: `endpoints[].monitoring`.

```yaml
monitoring:
  data_quality: {schedule: hourly, baseline: artifacts://caller-risk/baseline/train.csv}
  text_drift: {schedule: daily, baseline: artifacts://intent/baseline/texts.jsonl, text_field: text}
```

Rules come from the SageMaker API (botocore's service model: CreateDataQualityJobDefinition,
CreateMonitoringSchedule) and the Model Monitor guide; `mlops_constructs.monitoring_rules`
holds them so the constructs check the same. That monitoring needs captured requests is
checked where the endpoint's data capture is known (config/schema.py, `Endpoint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from config.errors import CrossFieldError
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.monitoring_rules import (
    MAX_INSTANCE_COUNT,
    MAX_VOLUME_GB,
    MIN_INSTANCE_COUNT,
    MIN_VOLUME_GB,
    MonitoringSchedule,
    ScheduleError,
    parse_schedule,
    runtime_problem,
)
from mlops_constructs.naming import parse_s3_uri

ARTIFACTS_SCHEME = "artifacts://"  # the same scheme as model_data (config/schema.py)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _root(info: ValidationInfo) -> Path | None:
    context: Any = info.context
    return context.get("root") if isinstance(context, dict) else None


def _baseline(value: str, info: ValidationInfo, suffixes: tuple[str, ...]) -> str:
    """s3://bucket/key, artifacts://key or a local file (relative to the repo), ending in one of `suffixes`."""
    if not value.endswith(suffixes):
        raise ValueError(f"'{value}' must name a {' or '.join(suffixes)} file")
    if value.startswith("s3://"):
        parse_s3_uri(value)
    elif value.startswith(ARTIFACTS_SCHEME):
        key = value[len(ARTIFACTS_SCHEME) :]
        if not key or key.startswith("/"):
            raise ValueError(f"'{value}' needs a key after artifacts://, e.g. artifacts://caller-risk/baseline/train.csv")
    elif "://" in value:
        raise ValueError(f"'{value}': baseline is s3://..., artifacts://... or a local path")
    else:
        root = _root(info)
        if root is not None and not (root / value).is_file():
            raise ValueError(f"local baseline '{value}' does not exist (relative to {root})")
    return value


class _MonitorSettings(_Model):
    """What every monitoring schedule has: when, on what, for how long."""

    schedule: str = Field(default="hourly", description="hourly, daily, or a cron form Model Monitor accepts")
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = Field(default=20, ge=MIN_VOLUME_GB, le=MAX_VOLUME_GB)
    max_runtime_minutes: int = Field(default=60, ge=1, description="stop condition; at most the schedule's period")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            parse_schedule(value)
        except ScheduleError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        try:
            parse_instance_type(value, "processing")
        except InstanceTypeError as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _runtime_fits_schedule(self) -> _MonitorSettings:
        problem = runtime_problem(self.max_runtime_minutes * 60, self.parsed_schedule)
        if problem:
            raise CrossFieldError([(("max_runtime_minutes",), problem)])
        return self

    @property
    def parsed_schedule(self) -> MonitoringSchedule:
        return parse_schedule(self.schedule)


class DataQualityMonitoring(_MonitorSettings):
    """The built-in Model Monitor analyzer on the endpoint's captured input, against a baseline."""

    baseline: str = Field(description="baseline dataset: s3://..., artifacts://... or a local .csv/.jsonl file")
    instance_count: int = Field(default=1, ge=MIN_INSTANCE_COUNT, le=MAX_INSTANCE_COUNT)
    alarm_features: list[str] = Field(
        default_factory=list, description="features whose feature_baseline_drift_<name> metric raises an alarm"
    )
    max_baseline_drift: float = Field(default=0.1, gt=0, le=1, description="alarm above this drift distance")

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: str, info: ValidationInfo) -> str:
        # The analyzer reads CSV (with a header) or JSON Lines (DataQualityBaselineConfig / dataset_format).
        return _baseline(value, info, (".csv", ".jsonl"))

    @field_validator("alarm_features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a feature is listed twice")
        # CloudWatch metric names are at most 255 characters; the analyzer prefixes 23.
        long = [f for f in value if not 1 <= len(f) <= 255 - len("feature_baseline_drift_")]
        if long:
            raise ValueError(f"feature names must be 1-232 characters: {', '.join(long)}")
        return value


class TextDriftMonitoring(_MonitorSettings):
    """The platform's drift container (containers/drift_monitor): embedding similarity against a baseline.

    One instance: the container reads every captured file itself, so a second instance would
    repeat the same work rather than share it.
    """

    baseline: str = Field(description="baseline texts: s3://..., artifacts://... or a local .jsonl/.txt file")
    text_field: str = Field(default="text", description="JSON key (dots for nesting) holding the text in a request")
    csv_column: int = Field(default=0, ge=0, description="the text's column in CSV requests")
    threshold: float = Field(default=0.5, gt=0, le=1, description="violation when the mean similarity is below")
    percentile: int = Field(default=10, ge=1, le=99, description="which percentile of similarity to check too")
    percentile_threshold: float = Field(default=0.3, gt=0, le=1, description="violation when that percentile is below")
    batch_size: int = Field(default=32, ge=1, le=4096, description="texts per embedding batch")

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: str, info: ValidationInfo) -> str:
        return _baseline(value, info, (".jsonl", ".txt"))

    @field_validator("instance_type")
    @classmethod
    def _cpu_instance(cls, value: str) -> str:
        # The drift image installs PyTorch's CPU build (containers/drift_monitor/Dockerfile: the CUDA
        # packages are GBs a CPU instance never uses), so a GPU instance would be paid for and idle.
        if parse_instance_type(value, "processing").has_nvidia_gpu:
            raise ValueError(
                f"{value} has an NVIDIA GPU, which the drift container does not use (its image ships PyTorch's "
                "CPU build); choose a CPU processing type such as ml.m5.xlarge or ml.c5.2xlarge"
            )
        return value

    @field_validator("text_field")
    @classmethod
    def _text_field(cls, value: str) -> str:
        if not value or any(not part for part in value.split(".")):
            raise ValueError(f"'{value}' is not a key path (keys separated by single dots, e.g. text or call.transcript)")
        return value


class EndpointMonitoring(_Model):
    """Model Monitor schedules for one endpoint (each needs the endpoint to capture its input)."""

    data_quality: DataQualityMonitoring | None = None
    text_drift: TextDriftMonitoring | None = None

    @model_validator(mode="after")
    def _something(self) -> EndpointMonitoring:
        if self.data_quality is None and self.text_drift is None:
            raise CrossFieldError([((), "set data_quality, text_drift or both (or remove monitoring)")])
        return self
