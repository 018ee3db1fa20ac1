"""Config for scoring APIs: `apis: [{name, endpoint, variant, auth, throttle, quota_per_day, payload, archive, async}]`.

Each API becomes the stack `mlops-<env>-api-<name>` in front of an endpoint this config
defines. Every rule says where it comes from: an AWS quota or API reference, or the
platform (a choice of ours, said so).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

if TYPE_CHECKING:
    from config.schema import Endpoint

Issues = list[tuple[tuple[str | int, ...], str]]

# Platform: the name is part of the stack (mlops-<env>-api-<name>), the functions
# (mlops-<env>-api-<name>-archiver: Lambda FunctionName at most 64 characters) and the
# archive prefix api/<name>/; lower-case so one name never means two prefixes.
API_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
API_NAME_RULE = "1-24 lower-case letters, digits or '-', starting with a letter"
# Endpoint stacks are mlops-<env>-<endpoint>: an endpoint named api-<x> would take API x's stack name.
RESERVED_ENDPOINT_PREFIX = "api-"
# API Gateway quotas ("Amazon API Gateway quotas", account level): 10,000 requests per second
# with a burst of 5,000 per account and Region; a stage or usage plan cannot usefully exceed them.
MAX_RATE = 10_000
MAX_BURST = 5_000
# InvokeEndpoint Body: at most 6,291,456 bytes (sagemaker-runtime service model); the Lambda
# event that carries it is at most 6 MB (Lambda quotas, synchronous invocation payload), so
# leave 1 MB for API Gateway's event envelope (headers, request context).
MAX_SYNC_KB = 5_120
# SQS MaximumMessageSize: at most 1,048,576 bytes (SQS CreateQueue, service model). A work or
# archive message carries the body, the answer and metadata; platform margin: 256 KB of it.
MAX_QUEUED_KB = 768
# API Gateway models are JSON Schema draft 4 (API Gateway Developer Guide, "Data models for REST APIs").
DRAFT_04 = "http://json-schema.org/draft-04/schema#"
MAX_TTL_HOURS = 24 * 90  # platform: async results are for fetching, not for keeping


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True)


def _cross(issues: Issues) -> None:
    if issues:
        from config.schema import CrossFieldError  # schema imports this module: import at use

        raise CrossFieldError(issues)


class Throttle(_Model):
    """Steady requests per second and burst, on the stage (and the usage plan with api_key)."""

    rate: float = Field(default=100, gt=0, le=MAX_RATE, description="requests per second")
    burst: int = Field(default=200, ge=1, le=MAX_BURST, description="requests above the rate, at once")


class Payload(_Model):
    """The request body: its largest size and the JSON Schema API Gateway checks it against."""

    max_kb: int = Field(default=16, ge=1, description="largest body in KiB (1024 bytes)")
    schema_path: str = Field(alias="schema", description="a JSON Schema (draft 4) file, relative to the repository root")

    @field_validator("schema_path")
    @classmethod
    def _schema(cls, value: str, info: ValidationInfo) -> str:
        context: Any = info.context
        root = context.get("root") if isinstance(context, dict) else None
        if root is None:
            return value
        path = Path(root) / value
        if not path.is_file():
            raise ValueError(f"'{value}' does not exist (relative to {root})")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"'{value}' is not JSON: {error}") from None
        problem = schema_problem(document)
        if problem:
            raise ValueError(f"'{value}': {problem}")
        return value


def schema_problem(document: Any) -> str | None:
    """Why API Gateway could not use `document` as a request model, or None."""
    if not isinstance(document, dict):
        return "a JSON Schema is a JSON object"
    declared = document.get("$schema")
    if declared is not None and declared.rstrip("#") != DRAFT_04.rstrip("#"):
        return f"$schema is {declared!r}; API Gateway models are JSON Schema draft 4 ({DRAFT_04})"
    from jsonschema import Draft4Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft4Validator.check_schema(document)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        return f"not a valid draft 4 JSON Schema at {where}: {error.message}"
    if document.get("type") != "object":
        # Platform: the API scores one record, a JSON object, per request.
        return 'the top level must be "type": "object" (one record per request)'
    external = sorted({ref for ref in _refs(document) if not ref.startswith("#")})
    if external:
        # A model may reference only other models of the same API (Data models for REST APIs).
        return f"$ref to other documents is not supported here: {', '.join(external)}; keep the schema in one file"
    return None


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


class ApiAlarms(_Model):
    """Per-route alarm thresholds: API Gateway Latency (whole request, ms) P50 and P99, and the 5xx share."""

    latency_p50_ms: int = Field(default=150, gt=0)
    latency_p99_ms: int = Field(default=1000, gt=0)
    error_rate_5xx_percent: float = Field(default=1.0, gt=0, le=100)
    # PutMetricAlarm: DatapointsToAlarm at most EvaluationPeriods (CloudWatch API reference).
    evaluation_minutes: int = Field(default=5, ge=1, le=60)
    datapoints_to_alarm: int = Field(default=3, ge=1, le=60)

    @model_validator(mode="after")
    def _rules(self) -> ApiAlarms:
        issues: Issues = []
        if self.latency_p50_ms > self.latency_p99_ms:
            issues.append((("latency_p50_ms",), f"{self.latency_p50_ms} is above latency_p99_ms {self.latency_p99_ms}"))
        if self.datapoints_to_alarm > self.evaluation_minutes:
            issues.append(
                (
                    ("datapoints_to_alarm",),
                    f"{self.datapoints_to_alarm} is more than evaluation_minutes {self.evaluation_minutes}",
                )
            )
        _cross(issues)
        return self


class AsyncRequests(_Model):
    """`POST /requests` -> tracking id; the answer kept `result_ttl_hours` for `GET /requests/{id}`."""

    enabled: bool = False
    result_ttl_hours: int = Field(default=24, ge=1, le=MAX_TTL_HOURS)


class Api(_Model):
    """A scoring API (API Gateway REST, regional) in front of one endpoint."""

    name: str
    endpoint: str = Field(description="an endpoints[].name of this config")
    variant: str | None = Field(default=None, description="send every request to this variant (TargetVariant)")
    auth: Literal["iam", "api_key"] = "iam"
    throttle: Throttle = Field(default_factory=Throttle)
    quota_per_day: int | None = Field(default=None, ge=1, description="requests per API key per day (auth: api_key)")
    payload: Payload
    archive: bool = True
    async_requests: AsyncRequests = Field(default_factory=AsyncRequests, alias="async")
    alarms: ApiAlarms = Field(default_factory=ApiAlarms)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not API_NAME.match(value):
            raise ValueError(f"'{value}' is not a valid API name: {API_NAME_RULE}")
        return value

    @model_validator(mode="after")
    def _rules(self) -> Api:
        issues: Issues = []
        if self.quota_per_day is not None and self.auth != "api_key":
            # Usage plans meter and cap requests per API key (API Gateway Developer Guide,
            # "Usage plans and API keys for REST APIs"); with IAM auth there is no key to count.
            issues.append((("quota_per_day",), "needs auth: api_key (API Gateway counts quotas per API key)"))
        queued = self.archive or self.async_requests.enabled
        limit = MAX_QUEUED_KB if queued else MAX_SYNC_KB
        if self.payload.max_kb > limit:
            why = (
                "requests go through SQS (archive or async), whose messages are at most 1 MiB"
                if queued
                else "InvokeEndpoint bodies and Lambda's synchronous events are at most 6 MB"
            )
            issues.append((("payload", "max_kb"), f"{self.payload.max_kb} is above {limit}: {why}"))
        _cross(issues)
        return self

    def max_body_bytes(self) -> int:
        return self.payload.max_kb * 1024


def api_issues(apis: list[Api], endpoints: list[Endpoint]) -> Issues:
    """Rules between `apis` and `endpoints`, with key paths from the config's root."""
    issues: Issues = []
    by_name = {e.name: e for e in endpoints}
    seen: dict[str, int] = {}
    for index, api in enumerate(apis):
        if api.name in seen:
            issues.append((("apis", index, "name"), f"'{api.name}' repeats apis[{seen[api.name]}]; API names are unique"))
        seen.setdefault(api.name, index)
        endpoint = by_name.get(api.endpoint)
        if endpoint is None:
            known = ", ".join(sorted(by_name)) or "none"
            issues.append(
                (("apis", index, "endpoint"), f"'{api.endpoint}' is not an endpoint of this config (endpoints: {known})")
            )
        elif api.variant is not None and api.variant not in [v.name for v in endpoint.variants]:
            variants = ", ".join(v.name for v in endpoint.variants)
            issues.append(
                (("apis", index, "variant"), f"'{api.variant}' is not a variant of '{endpoint.name}' (variants: {variants})")
            )
    for index, endpoint in enumerate(endpoints):
        if endpoint.name.lower().startswith(RESERVED_ENDPOINT_PREFIX):
            issues.append(
                (
                    ("endpoints", index, "name"),
                    f"'{endpoint.name}': names starting with '{RESERVED_ENDPOINT_PREFIX}' are reserved "
                    "(API stacks are mlops-<env>-api-<name>, endpoint stacks mlops-<env>-<endpoint>)",
                )
            )
    return issues
