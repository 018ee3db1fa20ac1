"""Rules SageMaker Model Monitor enforces, as plain data (no CDK import), for config and constructs.

Sources, each quoted where used:
- ScheduleConfig.ScheduleExpression (botocore's SageMaker model, and the Developer Guide page
  "The cron expression for monitoring schedule"): Model Monitor accepts only
  `cron(0 * ? * * *)` (hourly), `cron(0 H ? * * *)` (daily at hour H, 0-23) and
  `cron(0 H/N ? * * *)` (every N hours from hour H, N 1-24), plus the one-off keyword `NOW`,
  which needs DataAnalysisStartTime/EndTime and never recurs, so it is not a schedule here.
- MonitoringStoppingCondition.MaxRuntimeInSeconds: 1-86400, and it "cannot exceed the
  frequency of the job ... up to 3600 seconds for an hourly schedule" (data quality).
- MonitoringClusterConfig: InstanceCount 1-100 (ProcessingInstanceCount), VolumeSizeInGB
  1-16384 (ProcessingVolumeSizeInGB), InstanceType from ProcessingInstanceType.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_RUNTIME_SECONDS = 86400  # MonitoringMaxRuntimeInSeconds: max 86400
MIN_INSTANCE_COUNT, MAX_INSTANCE_COUNT = 1, 100  # ProcessingInstanceCount
MIN_VOLUME_GB, MAX_VOLUME_GB = 1, 16384  # ProcessingVolumeSizeInGB
MAX_ENVIRONMENT = 50  # MonitoringEnvironmentMap: at most 50 entries

HOURLY = "cron(0 * ? * * *)"
ALLOWED_SCHEDULES = (
    "hourly",
    "daily",
    HOURLY,
    "cron(0 H ? * * *) (daily at hour H, 0-23)",
    "cron(0 H/N ? * * *) (every N hours from hour H, N 1-24)",
)
_DAILY = re.compile(r"^cron\(0 (?P<hour>\d{1,2}) \? \* \* \*\)$")
_EVERY = re.compile(r"^cron\(0 (?P<hour>\d{1,2})/(?P<every>\d{1,2}) \? \* \* \*\)$")


class ScheduleError(ValueError):
    """A schedule expression Model Monitor does not accept."""


@dataclass(frozen=True)
class MonitoringSchedule:
    """A schedule Model Monitor accepts: the expression and how often it runs."""

    expression: str
    period_seconds: int

    @property
    def max_runtime_seconds(self) -> int:
        """The longest stop condition this schedule allows (a job may not outlast its period)."""
        return min(self.period_seconds, MAX_RUNTIME_SECONDS)


def parse_schedule(value: str) -> MonitoringSchedule:
    """`hourly`, `daily` or one of the cron forms Model Monitor documents; else ScheduleError."""
    text = value.strip()
    if text == "hourly" or text == HOURLY:
        return MonitoringSchedule(HOURLY, 3600)
    if text == "daily":
        return MonitoringSchedule("cron(0 0 ? * * *)", 86400)
    daily = _DAILY.match(text)
    if daily and 0 <= int(daily["hour"]) <= 23:
        return MonitoringSchedule(text, 86400)
    every = _EVERY.match(text)
    if every and 0 <= int(every["hour"]) <= 23 and 1 <= int(every["every"]) <= 24:
        return MonitoringSchedule(text, int(every["every"]) * 3600)
    hint = ""
    if text.upper() == "NOW":
        hint = "NOW runs once and needs a data-analysis window; use `mlops monitor baseline` for one-off jobs. "
    raise ScheduleError(f"'{value}' is not a Model Monitor schedule. {hint}Allowed: {'; '.join(ALLOWED_SCHEDULES)}")


def runtime_problem(max_runtime_seconds: int, schedule: MonitoringSchedule) -> str | None:
    """Why this stop condition does not fit the schedule, or None."""
    limit = schedule.max_runtime_seconds
    if 1 <= max_runtime_seconds <= limit:
        return None
    return (
        f"{max_runtime_seconds // 60} minutes; a job on schedule {schedule.expression} may run at most "
        f"{limit // 60} minutes (MaxRuntimeInSeconds 1-{MAX_RUNTIME_SECONDS} and not longer than the schedule's period)"
    )


# Where the platform keeps each endpoint's monitoring files in the monitoring bucket. One
# source for the stack (what the job definition reads) and the CLI (what the baseline job writes).
MonitorKind = str  # "data-quality" | "text-drift"
MONITOR_KINDS = ("data-quality", "text-drift")


def baseline_prefix(endpoint: str, kind: MonitorKind) -> str:
    """`baselines/<endpoint>/<kind>`: statistics.json + constraints.json, or the drift embeddings."""
    return f"baselines/{endpoint}/{kind}"


def dataset_prefix(endpoint: str, kind: MonitorKind) -> str:
    """Where `mlops monitor baseline` stages the baseline dataset for the job to read."""
    return f"{baseline_prefix(endpoint, kind)}/dataset"


def reports_prefix(endpoint: str, kind: MonitorKind) -> str:
    """Where each scheduled execution writes its reports (constraint_violations.json, ...)."""
    return f"reports/{endpoint}/{kind}"


# Scheduled executions are processing jobs SageMaker names `model-monitoring-<time>-<hash>`.
SCHEDULED_JOB_PREFIX = "model-monitoring-"
_SCHEDULE_SUFFIX = {"data-quality": "dq", "text-drift": "drift"}


def schedule_name(endpoint: str, kind: MonitorKind) -> str:
    """`<endpoint>-dq` / `<endpoint>-drift`: the name alarms and the CLI address (63 characters at most)."""
    return f"{endpoint}-{_SCHEDULE_SUFFIX[kind]}"


# Job-definition names (CreateDataQualityJobDefinition JobDefinitionName, botocore's
# MonitoringJobDefinitionName: 1-63 characters, ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}).
MAX_JOB_DEFINITION_NAME = 63
DEFINITION_DIGEST_LENGTH = 8


def job_definition_name(endpoint: str, kind: MonitorKind, content: str) -> str:
    """`<endpoint>-dq-<8 hex digits of content>`, 63 characters at most (the endpoint part is cut).

    `content` is everything the definition is made of: every property of a job definition is
    create-only (CloudFormation replaces it on any change, tags included), and a replacement
    is created before the old one is deleted, so the same name would collide with itself.
    A digest of the content gives each version its own name.
    """
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:DEFINITION_DIGEST_LENGTH]
    prefix = schedule_name(endpoint, kind)[: MAX_JOB_DEFINITION_NAME - DEFINITION_DIGEST_LENGTH - 1]
    return f"{prefix}-{digest}"


# Job names: scheduled executions are named by SageMaker; baseline jobs by the CLI as
# `<endpoint>-<dq|td>-baseline-<YYYYMMDDHHMMSS>` (63 characters at most).
BASELINE_JOB_TAG = {"data-quality": "dq-baseline", "text-drift": "td-baseline"}


def baseline_job_prefix(endpoint: str, kind: MonitorKind) -> str:
    return f"{endpoint}-{BASELINE_JOB_TAG[kind]}-"


# The drift container's metrics (EMF on stdout; see containers/drift_monitor/README.md).
DRIFT_METRICS_NAMESPACE = "MLOps/Monitoring"
DRIFT_METRIC_MEAN = "text_similarity_mean"
DRIFT_METRIC_PERCENTILE = "text_similarity_percentile"
# The built-in analyzer's per-feature metrics (Developer Guide, "CloudWatch Metrics": for
# real-time endpoints, namespace /aws/sagemaker/Endpoints/data-metric with EndpointName and
# ScheduleName dimensions; metric feature_baseline_drift_<feature>).
DATA_QUALITY_METRICS_NAMESPACE = "/aws/sagemaker/Endpoints/data-metric"

# The drift container's settings, as environment variables the schedule sets and the
# container reads (tests/test_drift_monitor.py checks the container reads each one).
DRIFT_ENV_THRESHOLD = "THRESHOLD"
DRIFT_ENV_PERCENTILE = "PERCENTILE"
DRIFT_ENV_PERCENTILE_THRESHOLD = "PERCENTILE_THRESHOLD"
DRIFT_ENV_TEXT_FIELD = "TEXT_FIELD"
DRIFT_ENV_CSV_COLUMN = "CSV_COLUMN"
DRIFT_ENV_BATCH_SIZE = "BATCH_SIZE"


def output_key(what: str, endpoint: str | None = None) -> str:
    """A CloudFormation output name of the monitoring stack (letters and digits only), read by the CLI."""
    suffix = "".join(part.capitalize() for part in endpoint.replace("_", "-").split("-")) if endpoint else ""
    return f"{what}{suffix}"
