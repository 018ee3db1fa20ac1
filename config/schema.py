"""The config contract: pydantic models for `config/<env>.yaml`.

Every model forbids unknown keys (a typo must never be silently ignored) and is frozen
(settings are facts, not state). Field-level rules live on the fields; rules that
relate several fields raise `CrossFieldError`, which carries each problem's key path
relative to the model, so the loader can report `endpoints[0].variants[1].weight`
rather than the enclosing object. Rules taken from the AWS API references say so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from config.apis import Api, api_issues
from config.errors import CrossFieldError as CrossFieldError  # re-exported: the loader and tests import it from here
from config.errors import raise_if as _raise_if
from config.labeling import Labeling
from config.monitoring import EndpointMonitoring
from config.training import TrainingSettings
from mlops_constructs.guardrails import DeploymentGuardrails, Strategy, platform_rollback_alarms
from mlops_constructs.instance_types import InstanceTypeError, Purpose, parse_instance_type
from mlops_constructs.model_monitor_images import UnsupportedRegionError, analyzer_image
from mlops_constructs.monitoring_rules import schedule_name
from mlops_constructs.naming import (
    CONTAINER_FOLDER,
    SAGEMAKER_NAME_RULE,
    SCHEDULED_ACTION_NAME_RULE,
    is_sagemaker_name,
    is_scheduled_action_name,
    looks_like_image_uri,
    parse_ecr_image_uri,
    parse_s3_uri,
)
from mlops_constructs.network import (
    DEFAULT_INTERFACE_ENDPOINTS,
    INTERFACE_ENDPOINT_SERVICES,
    MAX_SECURITY_GROUPS,
    MAX_SUBNETS,
    MIN_SECURITY_GROUPS,
    MIN_SUBNETS,
    ROUTE_TABLE_ID,
    SECURITY_GROUP_ID,
    SECURITY_GROUPS_LIMIT,
    SUBNET_ID,
    SUBNETS_LIMIT,
    VPC_ID,
    id_issues,
)
from mlops_constructs.platform_env import (
    MAX_BATCH_DELAY_MS,
    MAX_BATCH_SIZE,
    MAX_USER_ENVIRONMENT,
    PLATFORM_ENV,
    SAGEMAKER_MAX_ENVIRONMENT,
)
from mlops_constructs.schedule import CronError, validate_cron
from mlops_constructs.service_limits import MAX_CONCURRENT_PAYLOAD_MB, retention_problem

ARTIFACTS_SCHEME = "artifacts://"
MAX_VARIANTS = 10  # CreateEndpointConfig: ProductionVariants, 1-10 items
MAX_TAGS = 50  # CreateEndpointConfig/CreateModel: Tags, at most 50
_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")  # ContainerDefinition.Environment
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _sagemaker_name(value: str) -> str:
    if not is_sagemaker_name(value):
        raise ValueError(f"'{value}' is not a valid SageMaker name: {SAGEMAKER_NAME_RULE}")
    return value


def _instance_type(value: str, purpose: Purpose) -> str:
    try:
        parse_instance_type(value, purpose)
    except InstanceTypeError as error:
        raise ValueError(str(error)) from None
    return value


def _duplicates_ignoring_case(names: list[str]) -> dict[int, str]:
    """Index -> earlier name for each name that repeats one before it, case-insensitively.

    Case-insensitive because SageMaker lower-cases names in ARNs, so `Champion` and
    `champion` would be indistinguishable there.
    """
    seen: dict[str, str] = {}
    repeats: dict[int, str] = {}
    for index, name in enumerate(names):
        key = name.lower()
        if key in seen:
            repeats[index] = seen[key]
        else:
            seen[key] = name
    return repeats


class Alerts(_Model):
    """Who hears about alarms: email subscriptions on the alerts SNS topic."""

    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [email for email in value if not _EMAIL.match(email)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("an email address is listed twice")
        return value


class Storage(_Model):
    """Retention of captured inference data and access logs."""

    capture_infrequent_access_after_days: int = Field(default=30, ge=30)
    capture_retention_days: int = Field(default=90, ge=1, le=3650)
    noncurrent_version_retention_days: int = Field(default=30, ge=1, le=3650)
    access_log_retention_days: int = Field(default=365, ge=1, le=3650)

    @model_validator(mode="after")
    def _transition_before_expiry(self) -> Storage:
        if self.capture_retention_days <= self.capture_infrequent_access_after_days:
            # S3 rejects a lifecycle rule whose expiration is not after its transitions.
            raise CrossFieldError(
                [
                    (
                        ("capture_retention_days",),
                        f"must be greater than capture_infrequent_access_after_days "
                        f"({self.capture_infrequent_access_after_days}); S3 rejects expiring objects "
                        "before or when they move to infrequent access",
                    )
                ]
            )
        return self


class Logs(_Model):
    """CloudWatch log groups the platform creates (endpoint and state-machine logs)."""

    retention_days: int = Field(default=90, description="one of the retention periods CloudWatch Logs accepts")

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        problem = retention_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Image(_Model):
    """A container image built from a folder under `containers/` (a CDK Docker image asset)."""

    folder: str | None = Field(default=None, description="folder under containers/; defaults to the image's key")
    base_image: str | None = Field(default=None, description="BASE_IMAGE build argument; the Dockerfile's default if unset")
    build_args: dict[str, str] = Field(default_factory=dict)

    @field_validator("build_args")
    @classmethod
    def _no_base_image_in_build_args(cls, value: dict[str, str]) -> dict[str, str]:
        if "BASE_IMAGE" in value:
            raise ValueError("set the base image with base_image, not build_args.BASE_IMAGE")
        return value


class ScheduledCapacity(_Model):
    """A capacity change ahead of a predictable peak (PutScheduledAction)."""

    name: str
    cron: str
    timezone: str = "UTC"
    min_capacity: int | None = Field(default=None, ge=1)
    max_capacity: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_scheduled_action_name(value):
            raise ValueError(f"'{value}' is not a valid scheduled action name: {SCHEDULED_ACTION_NAME_RULE}")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            return validate_cron(value)
        except CronError as error:
            raise ValueError(str(error)) from None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone name (for example UTC or Europe/Dublin)") from None
        return value

    @model_validator(mode="after")
    def _capacities(self) -> ScheduledCapacity:
        if self.min_capacity is None and self.max_capacity is None:
            raise CrossFieldError(
                [((), "set min_capacity, max_capacity or both; a scheduled action without either changes nothing")]
            )
        if self.min_capacity is not None and self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise CrossFieldError([(("min_capacity",), f"{self.min_capacity} is greater than max_capacity {self.max_capacity}")])
        return self


class Autoscaling(_Model):
    """Target tracking on invocations per instance, plus scheduled capacity for known peaks."""

    min_capacity: int = Field(ge=1, description="at least 1: a real-time variant at 0 instances cannot serve")
    max_capacity: int = Field(ge=1)
    target_invocations_per_instance: float = Field(gt=0, description="SageMakerVariantInvocationsPerInstance target, per minute")
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=86400)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=86400)
    scheduled: list[ScheduledCapacity] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ranges(self) -> Autoscaling:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if self.min_capacity > self.max_capacity:
            issues.append((("min_capacity",), f"{self.min_capacity} is greater than max_capacity {self.max_capacity}"))
        for index, repeat_of in _duplicates_ignoring_case([s.name for s in self.scheduled]).items():
            issues.append(
                (
                    ("scheduled", index, "name"),
                    f"'{self.scheduled[index].name}' repeats '{repeat_of}'; scheduled action names must be unique per variant",
                )
            )
        for index, action in enumerate(self.scheduled):
            ceiling = action.max_capacity if action.max_capacity is not None else self.max_capacity
            if action.min_capacity is not None and action.min_capacity > ceiling:
                issues.append(
                    (
                        ("scheduled", index, "min_capacity"),
                        f"{action.min_capacity} is above the variant's max_capacity {ceiling}; "
                        "raise max_capacity here or in the action",
                    )
                )
        _raise_if(issues)
        return self


class Batching(_Model):
    """Dynamic batching in the inference server (passed to the container as environment)."""

    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_batch_delay_ms: int = Field(default=2, ge=0, le=1000)

    def environment(self) -> dict[str, str]:
        return {MAX_BATCH_SIZE: str(self.max_batch_size), MAX_BATCH_DELAY_MS: str(self.max_batch_delay_ms)}


class _ContainerSpec(_Model):
    """What a SageMaker model runs: an archive, an image, its environment and batching."""

    model_data: str = Field(description="s3://bucket/key.tar.gz, artifacts://key.tar.gz, or a local path")
    image: str = Field(description="a key of `images`, a folder under containers/, or an ECR image URI")
    environment: dict[str, str] = Field(default_factory=dict)
    batching: Batching | None = None

    @field_validator("model_data")
    @classmethod
    def _model_data(cls, value: str, info: ValidationInfo) -> str:
        if not value.endswith(".tar.gz"):
            raise ValueError(f"'{value}' must name a model.tar.gz archive (ending .tar.gz), as SageMaker hosting expects")
        if value.startswith("s3://"):
            parse_s3_uri(value)
        elif value.startswith(ARTIFACTS_SCHEME):
            if not value[len(ARTIFACTS_SCHEME) :] or value[len(ARTIFACTS_SCHEME)] == "/":
                raise ValueError(f"'{value}' needs a key after artifacts://, e.g. artifacts://caller-risk/v3/model.tar.gz")
        elif "://" in value:
            raise ValueError(f"'{value}': model_data is s3://..., artifacts://... or a local path")
        else:
            root = _root(info)
            if root is not None and not (root / value).is_file():
                raise ValueError(f"local model archive '{value}' does not exist (relative to {root})")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_USER_ENVIRONMENT:
            raise ValueError(
                f"{len(value)} variables; at most {MAX_USER_ENVIRONMENT} "
                f"(SageMaker accepts {SAGEMAKER_MAX_ENVIRONMENT}, the platform sets {len(PLATFORM_ENV)})"
            )
        bad = [key for key in value if not _ENV_KEY.match(key)]
        if bad:
            raise ValueError(
                f"not valid environment variable names: {', '.join(bad)} (letters, digits, _; not starting with a digit)"
            )
        long = [key for key, item in value.items() if len(item) > 1024]
        if long:
            raise ValueError(f"values longer than 1024 characters: {', '.join(long)}")
        return value

    @model_validator(mode="after")
    def _batching_set_once(self) -> _ContainerSpec:
        if self.batching is not None:
            both = sorted(set(self.environment) & set(self.batching.environment()))
            if both:
                raise CrossFieldError([(("environment",), f"{', '.join(both)} also set by batching; set it in one place")])
        return self

    def container_environment(self) -> dict[str, str]:
        """The container's environment: `environment` plus the batching settings."""
        return {**self.environment, **(self.batching.environment() if self.batching else {})}


class Variant(_ContainerSpec):
    """One production variant: a model, the image serving it, and its share of traffic."""

    name: str
    instance_type: str
    initial_instance_count: int = Field(default=1, ge=1)
    weight: float = Field(default=1.0, ge=0, description="relative; traffic share = weight / sum of weights")
    autoscaling: Autoscaling | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _sagemaker_name(value)

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        return _instance_type(value, "hosting")

    @model_validator(mode="after")
    def _initial_within_autoscaling(self) -> Variant:
        scaling = self.autoscaling
        if scaling and not scaling.min_capacity <= self.initial_instance_count <= scaling.max_capacity:
            raise CrossFieldError(
                [
                    (
                        ("initial_instance_count",),
                        f"{self.initial_instance_count} is outside autoscaling "
                        f"min_capacity..max_capacity ({scaling.min_capacity}..{scaling.max_capacity})",
                    )
                ]
            )
        return self


CaptureMode = Literal["Input", "Output"]
_ALL_CAPTURE_MODES: tuple[CaptureMode, ...] = ("Input", "Output")


class DataCaptureSettings(_Model):
    """Capture of requests and responses to the capture bucket (input to Model Monitor)."""

    enabled: bool = True
    sampling_percent: int = Field(default=20, ge=0, le=100)
    modes: list[CaptureMode] = Field(default_factory=lambda: list(_ALL_CAPTURE_MODES), min_length=1)


class AlarmSettings(_Model):
    """Thresholds for the endpoint's 5xx-rate and p99-latency alarms (evaluated per variant)."""

    error_rate_5xx_percent: float = Field(default=1.0, gt=0, le=100)
    model_latency_p99_ms: float = Field(default=1000, gt=0)
    evaluation_minutes: int = Field(default=5, ge=1, le=60)
    datapoints_to_alarm: int = Field(default=3, ge=1, le=60)

    @model_validator(mode="after")
    def _datapoints(self) -> AlarmSettings:
        if self.datapoints_to_alarm > self.evaluation_minutes:
            raise CrossFieldError(
                [
                    (
                        ("datapoints_to_alarm",),
                        f"{self.datapoints_to_alarm} is more than evaluation_minutes {self.evaluation_minutes}",
                    )
                ]
            )
        return self


def _ec2_ids(
    value: list[str], pattern: re.Pattern[str], *, min_items: int = 0, max_items: int | None = None, limit_by: str = ""
) -> list[str]:
    issues = id_issues(value, pattern, min_items=min_items, max_items=max_items, limit_by=limit_by)
    _raise_if([((() if index is None else (index,)), message) for index, message in issues])
    return value


class VpcPlacementSettings(_Model):
    """Subnets and security groups SageMaker runs a workload in: CreateModel's VpcConfig.

    Plain IDs, no lookups (synth stays offline). Shared by the environment, endpoint and
    batch transform sections, and meant for a future training section as well.
    """

    subnet_ids: list[str] = Field(description=f"{MIN_SUBNETS}-{MAX_SUBNETS} subnet IDs (SageMaker VpcConfig.Subnets)")
    security_group_ids: list[str] = Field(
        description=f"{MIN_SECURITY_GROUPS}-{MAX_SECURITY_GROUPS} security group IDs (SageMaker VpcConfig.SecurityGroupIds)"
    )

    @field_validator("subnet_ids")
    @classmethod
    def _subnet_ids(cls, value: list[str]) -> list[str]:
        return _ec2_ids(value, SUBNET_ID, min_items=MIN_SUBNETS, max_items=MAX_SUBNETS, limit_by=SUBNETS_LIMIT)

    @field_validator("security_group_ids")
    @classmethod
    def _security_group_ids(cls, value: list[str]) -> list[str]:
        return _ec2_ids(
            value, SECURITY_GROUP_ID, min_items=MIN_SECURITY_GROUPS, max_items=MAX_SECURITY_GROUPS, limit_by=SECURITY_GROUPS_LIMIT
        )


_ENDPOINT_ONLY_KEYS = ("route_table_ids", "endpoint_subnet_ids", "interface_endpoints")


class EnvironmentVpc(VpcPlacementSettings):
    """The environment's default placement, and optionally the VPC endpoints SageMaker needs there.

    `create_endpoints` adds the stack mlops-<env>-network: an S3 gateway endpoint on
    `route_table_ids` ([] when the VPC already has one there) and interface endpoints with
    private DNS for `interface_endpoints` in `endpoint_subnet_ids` (default: `subnet_ids`).
    """

    vpc_id: str | None = Field(default=None, description="needed with create_endpoints")
    create_endpoints: bool = False
    route_table_ids: list[str] | None = None
    endpoint_subnet_ids: list[str] | None = None
    interface_endpoints: list[str] | None = None

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, value: str | None) -> str | None:
        if value is not None and not VPC_ID.match(value):
            raise ValueError(f"'{value}' is not an ID of the form vpc-xxxxxxxx (8 or 17 lower-case hex digits)")
        return value

    @field_validator("route_table_ids")
    @classmethod
    def _route_table_ids(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _ec2_ids(value, ROUTE_TABLE_ID)

    @field_validator("endpoint_subnet_ids")
    @classmethod
    def _endpoint_subnet_ids(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _ec2_ids(value, SUBNET_ID, min_items=1)

    @field_validator("interface_endpoints")
    @classmethod
    def _interface_endpoints(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        issues: list[tuple[tuple[str | int, ...], str]] = []
        for index, service in enumerate(value):
            if service not in INTERFACE_ENDPOINT_SERVICES:
                issues.append(((index,), f"'{service}' is not one of {', '.join(INTERFACE_ENDPOINT_SERVICES)}"))
            elif service in value[:index]:
                issues.append(((index,), f"'{service}' is listed twice"))
        _raise_if(issues)
        return value

    @model_validator(mode="after")
    def _endpoints(self) -> EnvironmentVpc:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if self.create_endpoints:
            if self.vpc_id is None:
                issues.append(
                    (("vpc_id",), "required with create_endpoints: true (the endpoints and their security group live in it)")
                )
            if self.route_table_ids is None:
                issues.append(
                    (
                        ("route_table_ids",),
                        "required with create_endpoints: true: the route tables of the S3 gateway endpoint "
                        "([] if the VPC already has an S3 gateway endpoint on them)",
                    )
                )
            elif not self.route_table_ids and self.interface_endpoints == []:
                issues.append(
                    (("create_endpoints",), "nothing to create: route_table_ids and interface_endpoints are both empty")
                )
        else:
            for key in _ENDPOINT_ONLY_KEYS:
                if getattr(self, key) is not None:
                    issues.append(((key,), "only used with create_endpoints: true; set it or remove this key"))
        _raise_if(issues)
        return self

    def endpoint_services(self) -> tuple[str, ...]:
        """The interface endpoints to create (the default set unless `interface_endpoints` is given)."""
        return DEFAULT_INTERFACE_ENDPOINTS if self.interface_endpoints is None else tuple(self.interface_endpoints)


# Each endpoint is the stack mlops-<env>-<name>; these names belong to the other stacks.
RESERVED_ENDPOINT_NAMES = frozenset({"foundation", "batch", "network", "release", "labeling", "monitoring", "training"})


class Deployment(_Model):
    """How a model or instance release reaches traffic (blue/green or rolling) and rolls back."""

    strategy: Strategy = "all_at_once"
    canary_percent: int = Field(default=10, description="canary: share of capacity in the first step")
    linear_step_percent: int = Field(default=20, description="linear: share of capacity per step")
    rolling_batch_percent: int = Field(default=25, description="rolling: share of instances per batch")
    wait_minutes: int = Field(default=5, ge=0, description="between steps (the baking period)")
    termination_wait_minutes: int = Field(default=0, ge=0, description="before the old fleet is terminated")
    max_execution_timeout_minutes: int = Field(default=60, ge=1)
    rollback_alarms: list[str] = Field(
        default_factory=list, description="names of further CloudWatch alarms that roll a release back"
    )

    @model_validator(mode="after")
    def _alarms_need_guardrails(self) -> Deployment:
        if self.strategy == "none" and self.rollback_alarms:
            raise CrossFieldError(
                [(("rollback_alarms",), "strategy none has no auto-rollback; choose all_at_once, canary, linear or rolling")]
            )
        return self

    def guardrails(self) -> DeploymentGuardrails:
        return DeploymentGuardrails(
            strategy=self.strategy,
            canary_percent=self.canary_percent,
            linear_step_percent=self.linear_step_percent,
            rolling_batch_percent=self.rolling_batch_percent,
            wait_minutes=self.wait_minutes,
            termination_wait_minutes=self.termination_wait_minutes,
            max_execution_timeout_minutes=self.max_execution_timeout_minutes,
        )


class Endpoint(_Model):
    """A real-time endpoint with weighted production variants."""

    name: str
    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)
    data_capture: DataCaptureSettings = Field(default_factory=DataCaptureSettings)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    deployment: Deployment = Field(default_factory=Deployment)
    vpc: VpcPlacementSettings | None = Field(default=None, description="replaces the environment's vpc placement")
    monitoring: EndpointMonitoring | None = Field(default=None, description="Model Monitor schedules (config/monitoring.py)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value.lower() in RESERVED_ENDPOINT_NAMES:
            raise ValueError(
                f"'{value}' is reserved: endpoint stacks are named mlops-<env>-<endpoint>, "
                "beside mlops-<env>-foundation, mlops-<env>-batch, mlops-<env>-network, mlops-<env>-release, "
                "mlops-<env>-labeling and mlops-<env>-monitoring"
            )
        return _sagemaker_name(value)

    @model_validator(mode="after")
    def _variants(self) -> Endpoint:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        for index, repeat_of in _duplicates_ignoring_case([v.name for v in self.variants]).items():
            issues.append((("variants", index, "name"), f"'{self.variants[index].name}' repeats variant '{repeat_of}'"))
        if not any(v.weight > 0 for v in self.variants):
            issues.append((("variants",), "at least one variant needs a weight above 0, or the endpoint serves no traffic"))
        # The endpoint's own alarms (5xx rate and p99 latency per variant) roll a release back too.
        named = len(self.deployment.rollback_alarms)
        rollback_alarms = platform_rollback_alarms(len(self.variants), named)[1] + named
        fields = set(Deployment.model_fields)
        by_key: dict[tuple[str | int, ...], list[str]] = {}
        for problem in self.deployment.guardrails().problems(
            variant_count=len(self.variants), rollback_alarm_count=rollback_alarms
        ):
            field = problem.split(" ", 1)[0]
            by_key.setdefault(("deployment", field) if field in fields else ("deployment",), []).append(problem)
        issues += [(where, "; ".join(messages)) for where, messages in by_key.items()]
        capture = self.data_capture
        if self.monitoring and not (capture.enabled and "Input" in capture.modes and capture.sampling_percent > 0):
            # Model Monitor analyses what data capture wrote; without captured input it has nothing to read.
            issues.append((("monitoring",), "needs data_capture enabled with mode Input and sampling_percent above 0"))
        if self.monitoring:
            for kind, section in (("data-quality", self.monitoring.data_quality), ("text-drift", self.monitoring.text_drift)):
                name = schedule_name(self.name, kind)
                if section is not None and len(name) > 63:  # MonitoringScheduleName: at most 63 characters
                    key = kind.replace("-", "_")
                    issues.append((("monitoring", key), f"schedule name '{name}' is {len(name)} characters; at most 63"))
        _raise_if(issues)
        return self

    def traffic_percent(self) -> dict[str, float]:
        """Each variant's share of traffic, as people read it."""
        total = sum(v.weight for v in self.variants)
        return {v.name: round(100 * v.weight / total, 2) for v in self.variants}


# A transform job is named <name>-YYYYMMDD-HHMMSS (16 characters) within SageMaker's 63.
MAX_BATCH_TRANSFORM_NAME = 63 - 16


class BatchTransformSettings(_ContainerSpec):
    """A batch transform over JSON Lines in the data bucket (`mlops batch start <name>`)."""

    name: str
    instance_type: str
    instance_count: int = Field(default=1, ge=1, le=100)
    max_payload_mb: int = Field(default=5, ge=1, le=6, description="per request; the inference server accepts at most 6 MB")
    max_concurrent_transforms: int = Field(default=1, ge=1, le=64)
    timeout_hours: int = Field(default=6, ge=1, le=48)
    vpc: VpcPlacementSettings | None = Field(default=None, description="replaces the environment's vpc placement")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        _sagemaker_name(value)
        if len(value) > MAX_BATCH_TRANSFORM_NAME:
            raise ValueError(f"'{value}' is {len(value)} characters; at most {MAX_BATCH_TRANSFORM_NAME} so job names fit 63")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        return _instance_type(value, "transform")

    @model_validator(mode="after")
    def _payload_in_flight(self) -> BatchTransformSettings:
        in_flight = self.max_concurrent_transforms * self.max_payload_mb
        if in_flight > MAX_CONCURRENT_PAYLOAD_MB:
            raise CrossFieldError(
                [
                    (
                        ("max_concurrent_transforms",),
                        f"{self.max_concurrent_transforms} x max_payload_mb {self.max_payload_mb} = {in_flight} MB; "
                        f"CreateTransformJob allows at most {MAX_CONCURRENT_PAYLOAD_MB} MB in flight per instance "
                        f"(at most {MAX_CONCURRENT_PAYLOAD_MB // self.max_payload_mb} transforms at {self.max_payload_mb} MB)",
                    )
                ]
            )
        return self


class MlopsConfig(_Model):
    """One environment's desired state."""

    account: str = Field(pattern=r"^\d{12}$", description="12-digit AWS account id")
    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$", description="e.g. eu-west-1")
    tags: dict[str, str] = Field(default_factory=dict)
    removal_policy: Literal["retain", "destroy"] = "retain"
    alerts: Alerts = Field(default_factory=Alerts)
    storage: Storage = Field(default_factory=Storage)
    logs: Logs = Field(default_factory=Logs)
    images: dict[str, Image] = Field(default_factory=dict)
    endpoints: list[Endpoint] = Field(default_factory=list)
    batch_transforms: list[BatchTransformSettings] = Field(default_factory=list)
    vpc: EnvironmentVpc | None = Field(default=None, description="default VPC placement of every model; none: no VPC")
    apis: list[Api] = Field(default_factory=list, description="scoring APIs in front of endpoints (config/apis.py)")
    labeling: Labeling | None = Field(default=None, description="Ground Truth workforce and jobs (config/labeling.py)")
    training: TrainingSettings | None = Field(default=None, description="config/training.py; none: no training stack")

    @field_validator("account", mode="before")
    @classmethod
    def _account_is_text(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError('quote the account id ("111111111111"): YAML reads it as a number and drops leading zeros')
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        if len(value) > MAX_TAGS - 5:  # leave room for the tags the stacks add themselves
            problems.append(f"{len(value)} tags; at most {MAX_TAGS - 5} (AWS allows {MAX_TAGS}, the stacks add their own)")
        for key, item in value.items():
            if not 1 <= len(key) <= 128 or not _TAG_TEXT.match(key) or key.lower().startswith("aws:"):
                problems.append(f"tag key '{key}' must be 1-128 letters, digits, spaces or _.:/=+-@ and not start with 'aws:'")
            if len(item) > 256 or not _TAG_TEXT.match(item):
                problems.append(f"tag '{key}' value must be at most 256 letters, digits, spaces or _.:/=+-@")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("images")
    @classmethod
    def _images(cls, value: dict[str, Image], info: ValidationInfo) -> dict[str, Image]:
        root = _root(info)
        for key, image in value.items():
            folder = image.folder or key
            if not CONTAINER_FOLDER.match(key):
                raise ValueError(f"image key '{key}' must be lower-case letters, digits, '-' or '_'")
            if root is not None and not _has_dockerfile(root, folder):
                raise ValueError(f"image '{key}': containers/{folder}/Dockerfile does not exist ({_folders_hint(root)})")
        return value

    @model_validator(mode="after")
    def _cross_refs(self, info: ValidationInfo) -> MlopsConfig:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        for index, repeat_of in _duplicates_ignoring_case([e.name for e in self.endpoints]).items():
            issues.append((("endpoints", index, "name"), f"'{self.endpoints[index].name}' repeats endpoint '{repeat_of}'"))
        for index, repeat_of in _duplicates_ignoring_case([b.name for b in self.batch_transforms]).items():
            issues.append((("batch_transforms", index, "name"), f"'{self.batch_transforms[index].name}' repeats '{repeat_of}'"))
        root = _root(info)
        specs: list[tuple[tuple[str | int, ...], _ContainerSpec]] = [
            (("endpoints", e_index, "variants", v_index), variant)
            for e_index, endpoint in enumerate(self.endpoints)
            for v_index, variant in enumerate(endpoint.variants)
        ]
        specs += [(("batch_transforms", index), transform) for index, transform in enumerate(self.batch_transforms)]
        for path, spec in specs:
            problem = _image_problem(spec.image, self.images, root)
            if problem:
                issues.append(((*path, "image"), problem))
        issues += api_issues(self.apis, self.endpoints)
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.monitoring and endpoint.monitoring.data_quality:
                try:
                    analyzer_image(self.region)
                except UnsupportedRegionError as error:
                    issues.append((("endpoints", index, "monitoring", "data_quality"), str(error)))
        if self.training and (problem := _image_problem(self.training.image, self.images, root)):
            issues.append((("training", "image"), problem))
        _raise_if(issues)
        return self

    def vpc_for(self, override: VpcPlacementSettings | None) -> VpcPlacementSettings | None:
        """Where a workload runs: its own `vpc` section if it has one, else the environment's (or none)."""
        return override if override is not None else self.vpc


def _root(info: ValidationInfo) -> Path | None:
    context: Any = info.context
    return context.get("root") if isinstance(context, dict) else None


def _has_dockerfile(root: Path, folder: str) -> bool:
    return (root / "containers" / folder / "Dockerfile").is_file()


def _folders_hint(root: Path) -> str:
    folders = sorted(p.parent.name for p in (root / "containers").glob("*/Dockerfile"))
    return f"folders with a Dockerfile: {', '.join(folders) or 'none'}"


def _image_problem(image: str, images: dict[str, Image], root: Path | None) -> str | None:
    if looks_like_image_uri(image):
        try:
            parse_ecr_image_uri(image)
        except ValueError as error:
            return str(error)
        return None
    if image in images:
        return None
    if root is not None and not _has_dockerfile(root, image):
        keys = f"images keys: {', '.join(sorted(images)) or 'none'}; "
        return f"'{image}' is neither an images key nor a folder under containers/ ({keys}{_folders_hint(root)})"
    return None
