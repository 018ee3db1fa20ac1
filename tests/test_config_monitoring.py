"""Negative config tests for `endpoints[].monitoring`, one per rule, each naming its source."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, parse_config
from mlops_constructs.monitoring_rules import ScheduleError, parse_schedule, runtime_problem
from tests.test_config_validation import BASE

DQ = ("endpoints", 0, "monitoring", "data_quality")
TD = ("endpoints", 0, "monitoring", "text_drift")


def _with_monitoring(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["endpoints"][0]["monitoring"] = sections
    return data


def _dq(**overrides: Any) -> dict[str, Any]:
    return {"schedule": "hourly", "baseline": "s3://baselines/caller-risk/train.csv", **overrides}


def _td(**overrides: Any) -> dict[str, Any]:
    return {"schedule": "daily", "baseline": "artifacts://intent/baseline/texts.jsonl", **overrides}


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data, sort_keys=False), source="test.yaml")
    return {issue.path: issue.message for issue in caught.value.issues}


def _assert(problems: dict[str, str], path: str, *fragments: str) -> None:
    assert path in problems, f"no problem at {path}; got {problems}"
    for fragment in fragments:
        assert fragment in problems[path], f"{path}: '{fragment}' not in '{problems[path]}'"


def test_valid_monitoring_loads_with_defaults() -> None:
    config = parse_config(yaml.safe_dump(_with_monitoring(data_quality=_dq(), text_drift=_td())))
    monitoring = config.endpoints[0].monitoring
    assert monitoring is not None
    assert monitoring.data_quality is not None
    assert monitoring.text_drift is not None
    assert monitoring.data_quality.parsed_schedule.expression == "cron(0 * ? * * *)"
    assert monitoring.text_drift.parsed_schedule.period_seconds == 86400
    assert (monitoring.data_quality.instance_type, monitoring.data_quality.max_runtime_minutes) == ("ml.m5.xlarge", 60)


# -- schedules: ScheduleConfig.ScheduleExpression (botocore model; "The cron expression for monitoring schedule")


@pytest.mark.parametrize(
    ("text", "expression", "period"),
    [
        ("hourly", "cron(0 * ? * * *)", 3600),
        ("cron(0 * ? * * *)", "cron(0 * ? * * *)", 3600),
        ("daily", "cron(0 0 ? * * *)", 86400),
        ("cron(0 12 ? * * *)", "cron(0 12 ? * * *)", 86400),
        ("cron(0 17/12 ? * * *)", "cron(0 17/12 ? * * *)", 43200),
        ("cron(0 0/2 ? * * *)", "cron(0 0/2 ? * * *)", 7200),
    ],
)
def test_documented_schedule_forms_are_accepted(text: str, expression: str, period: int) -> None:
    schedule = parse_schedule(text)
    assert (schedule.expression, schedule.period_seconds) == (expression, period)


@pytest.mark.parametrize(
    "text",
    [
        "cron(30 * ? * * *)",
        "cron(0 24 ? * * *)",
        "cron(0 0/25 ? * * *)",
        "cron(0 0/0 ? * * *)",
        "cron(0 9 ? * MON-FRI *)",
        "rate(1 hour)",
        "weekly",
        "0 * ? * * *",
    ],
)
def test_other_schedules_are_rejected_naming_the_allowed_forms(text: str) -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(schedule=text)))
    _assert(
        problems, "endpoints[0].monitoring.data_quality.schedule", "not a Model Monitor schedule", "hourly", "cron(0 H/N ? * * *)"
    )


def test_now_is_explained() -> None:
    with pytest.raises(ScheduleError, match="NOW runs once"):
        parse_schedule("NOW")


# -- stop condition: MonitoringStoppingCondition.MaxRuntimeInSeconds (1-86400, not above the period)


def test_hourly_runtime_at_most_sixty_minutes() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(max_runtime_minutes=61)))
    _assert(problems, "endpoints[0].monitoring.data_quality.max_runtime_minutes", "61 minutes", "at most 60 minutes")


def test_daily_runtime_at_most_a_day() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(max_runtime_minutes=1441)))
    _assert(problems, "endpoints[0].monitoring.text_drift.max_runtime_minutes", "at most 1440 minutes")


def test_runtime_fits_every_n_hours() -> None:
    assert runtime_problem(7200, parse_schedule("cron(0 0/2 ? * * *)")) is None
    assert runtime_problem(7201, parse_schedule("cron(0 0/2 ? * * *)")) is not None


def test_runtime_at_least_a_minute() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(max_runtime_minutes=0)))
    _assert(problems, "endpoints[0].monitoring.data_quality.max_runtime_minutes", "greater than or equal to 1")


# -- cluster: MonitoringClusterConfig (ProcessingInstanceType enum, InstanceCount 1-100, VolumeSizeInGB 1-16384)


def test_text_drift_refuses_a_gpu_instance_its_cpu_image_would_leave_idle() -> None:
    """containers/drift_monitor/Dockerfile installs PyTorch's CPU build; the data-quality analyzer is AWS's own image."""
    problems = _problems(_with_monitoring(text_drift=_td(instance_type="ml.g4dn.xlarge")))
    _assert(problems, "endpoints[0].monitoring.text_drift.instance_type", "ml.g4dn.xlarge has an NVIDIA GPU", "ml.m5.xlarge")
    parse_config(yaml.safe_dump(_with_monitoring(text_drift=_td(instance_type="ml.c5.2xlarge"))))


def test_instance_type_must_be_offered_for_processing() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(instance_type="ml.c6i.large")))  # hosting, not processing
    _assert(
        problems, "endpoints[0].monitoring.data_quality.instance_type", "not a SageMaker processing (Model Monitor) instance type"
    )


def test_instance_count_at_most_100() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(instance_count=101)))
    _assert(problems, "endpoints[0].monitoring.data_quality.instance_count", "less than or equal to 100")


def test_volume_size_within_limits() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(volume_size_gb=16385)))
    _assert(problems, "endpoints[0].monitoring.data_quality.volume_size_gb", "less than or equal to 16384")


def test_text_drift_runs_on_one_instance() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(instance_count=2)))
    _assert(problems, "endpoints[0].monitoring.text_drift.instance_count", "unknown key")


# -- baselines: s3://, artifacts:// or a local file, of a format the job reads


def test_baseline_uri_form() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(baseline="gs://bucket/train.csv")))
    _assert(problems, "endpoints[0].monitoring.data_quality.baseline", "s3://..., artifacts://... or a local path")


def test_baseline_s3_uri_needs_bucket_and_key() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(baseline="s3://.csv")))
    assert "endpoints[0].monitoring.data_quality.baseline" in problems


def test_baseline_artifacts_needs_a_key() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(baseline="artifacts:///train.csv")))
    _assert(problems, "endpoints[0].monitoring.data_quality.baseline", "needs a key after artifacts://")


def test_data_quality_baseline_is_csv_or_jsonl() -> None:
    # The analyzer reads CSV with a header or JSON Lines (dataset_format).
    problems = _problems(_with_monitoring(data_quality=_dq(baseline="s3://b/train.parquet")))
    _assert(problems, "endpoints[0].monitoring.data_quality.baseline", ".csv or .jsonl")


def test_text_drift_baseline_is_jsonl_or_txt() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(baseline="s3://b/texts.csv")))
    _assert(problems, "endpoints[0].monitoring.text_drift.baseline", ".jsonl or .txt")


def test_local_baseline_must_exist() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(baseline="data/missing.jsonl")))
    _assert(problems, "endpoints[0].monitoring.text_drift.baseline", "does not exist")


# -- text drift settings


def test_text_field_is_a_key_path() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(text_field="call..text")))
    _assert(problems, "endpoints[0].monitoring.text_drift.text_field", "not a key path")


def test_threshold_is_a_similarity() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(threshold=1.5)))
    _assert(problems, "endpoints[0].monitoring.text_drift.threshold", "less than or equal to 1")


def test_percentile_between_1_and_99() -> None:
    problems = _problems(_with_monitoring(text_drift=_td(percentile=100)))
    _assert(problems, "endpoints[0].monitoring.text_drift.percentile", "less than or equal to 99")


def test_alarm_features_unique() -> None:
    problems = _problems(_with_monitoring(data_quality=_dq(alarm_features=["age", "age"])))
    _assert(problems, "endpoints[0].monitoring.data_quality.alarm_features", "listed twice")


# -- monitoring reads captured input (Model Monitor analyses the capture; "Capture data" guide)


def test_monitoring_needs_some_monitor() -> None:
    problems = _problems(_with_monitoring())
    _assert(problems, "endpoints[0].monitoring", "set data_quality, text_drift or both")


@pytest.mark.parametrize(
    "capture",
    [{"enabled": False}, {"modes": ["Output"]}, {"sampling_percent": 0}],
)
def test_monitoring_needs_captured_input(capture: dict[str, Any]) -> None:
    data = _with_monitoring(data_quality=_dq())
    data["endpoints"][0]["data_capture"] = capture
    _assert(_problems(data), "endpoints[0].monitoring", "needs data_capture enabled with mode Input")


def test_monitoring_is_a_reserved_endpoint_name() -> None:
    data = copy.deepcopy(BASE)
    data["endpoints"][0]["name"] = "monitoring"
    _assert(_problems(data), "endpoints[0].name", "'monitoring' is reserved")


def test_data_quality_needs_a_region_with_the_analyzer() -> None:
    # The analyzer image is published per region (the SDK's model-monitor.json registry).
    data = _with_monitoring(data_quality=_dq())
    data["region"] = "eu-north-9"
    _assert(_problems(data), "endpoints[0].monitoring.data_quality", "not published in eu-north-9")


def test_schedule_name_fits_63_characters() -> None:
    # MonitoringScheduleName: 1-63 characters; the schedule is named <endpoint>-drift.
    data = _with_monitoring(text_drift=_td())
    data["endpoints"][0]["name"] = "e" * 60
    _assert(_problems(data), "endpoints[0].monitoring.text_drift", "is 66 characters; at most 63")
