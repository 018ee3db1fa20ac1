"""The config contract: valid files load; every invalid one fails with key path and reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, load_config, parse_config
from config.schema import MlopsConfig

BASE: dict[str, Any] = {
    "account": "123456789012",
    "region": "eu-west-1",
    "endpoints": [
        {
            "name": "caller-risk",
            "variants": [
                {
                    "name": "champion",
                    "model_data": "s3://models-bucket/caller-risk/v1/model.tar.gz",
                    "image": "inference",
                    "instance_type": "ml.c6i.xlarge",
                    "initial_instance_count": 2,
                    "weight": 90,
                    "autoscaling": {
                        "min_capacity": 2,
                        "max_capacity": 10,
                        "target_invocations_per_instance": 1200,
                        "scheduled": [{"name": "weekday-peak", "cron": "0 7 ? * MON-FRI *", "min_capacity": 6}],
                    },
                },
                {
                    "name": "challenger",
                    "model_data": "artifacts://caller-risk/v2/model.tar.gz",
                    "image": "inference",
                    "instance_type": "ml.c6i.xlarge",
                    "weight": 10,
                },
            ],
        }
    ],
}

CHAMPION = ("endpoints", 0, "variants", 0)


def _problems(mutate: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data, sort_keys=False), source="test.yaml")
    return {issue.path: issue.message for issue in caught.value.issues}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _assert_problem(problems: dict[str, str], path: str, *fragments: str) -> None:
    assert path in problems, f"no problem at {path}; got {problems}"
    for fragment in fragments:
        assert fragment in problems[path], f"{path}: '{fragment}' not in '{problems[path]}'"


def test_base_config_is_valid() -> None:
    config = parse_config(yaml.safe_dump(BASE))
    assert config.endpoints[0].traffic_percent() == {"champion": 90.0, "challenger": 10.0}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_shipped_configs_load(env: str) -> None:
    assert isinstance(load_config(env), MlopsConfig)


def test_dev_is_cheap_and_disposable() -> None:
    config = load_config("dev")
    assert config.removal_policy == "destroy"
    assert len(config.endpoints) == 1
    assert [v.weight for v in config.endpoints[0].variants] == [90, 10]


def test_prod_is_retained_with_gpu_and_scheduled_peak() -> None:
    config = load_config("prod")
    assert config.removal_policy == "retain"
    assert len(config.endpoints) == 2
    instance_types = [v.instance_type for e in config.endpoints for v in e.variants]
    assert any(t.startswith(("ml.g5", "ml.g6")) for t in instance_types)
    assert any(v.autoscaling and v.autoscaling.scheduled for e in config.endpoints for v in e.variants)


# --- negative tests: one per rule, each naming the key path and the reason ---------------


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    problems = _problems(lambda d: d.update(regoin="eu-west-1"))
    _assert_problem(problems, "regoin", "unknown key", "did you mean 'region'", "allowed here:")


def test_unknown_nested_key_lists_allowed_keys() -> None:
    problems = _problems(_set((*CHAMPION, "wieght"), 5))
    _assert_problem(problems, "endpoints[0].variants[0].wieght", "did you mean 'weight'", "instance_type")


def test_account_must_be_twelve_digits() -> None:
    _assert_problem(_problems(_set(("account",), "12345")), "account", r"^\d{12}$")


def test_unquoted_account_is_explained() -> None:
    _assert_problem(_problems(_set(("account",), 123456789012)), "account", "quote the account id")


def test_region_form() -> None:
    _assert_problem(_problems(_set(("region",), "Ireland")), "region", "should match pattern")


@pytest.mark.parametrize("days", [0, 45, 5000])
def test_log_retention_is_one_cloudwatch_accepts(days: int) -> None:
    problems = _problems(lambda d: d.update(logs={"retention_days": days}))
    _assert_problem(problems, "logs.retention_days", f"{days} days: CloudWatch Logs accepts 1, 3, 5, 7, 14, 30, 60, 90")


def test_removal_policy_lists_allowed_values() -> None:
    _assert_problem(_problems(_set(("removal_policy",), "keep")), "removal_policy", "'retain' or 'destroy'")


def test_endpoint_name_follows_sagemaker_rules() -> None:
    problems = _problems(_set(("endpoints", 0, "name"), "caller_risk"))
    _assert_problem(problems, "endpoints[0].name", "not a valid SageMaker name", "letters, digits and hyphens")


def test_endpoint_name_at_most_63_characters() -> None:
    _assert_problem(_problems(_set(("endpoints", 0, "name"), "a" * 64)), "endpoints[0].name", "1-63 characters")


@pytest.mark.parametrize("name", ["foundation", "Batch"])
def test_endpoint_name_may_not_collide_with_other_stacks(name: str) -> None:
    _assert_problem(_problems(_set(("endpoints", 0, "name"), name)), "endpoints[0].name", "is reserved", "mlops-<env>-foundation")


def test_endpoint_names_unique() -> None:
    problems = _problems(lambda d: d["endpoints"].append(copy.deepcopy(d["endpoints"][0])))
    _assert_problem(problems, "endpoints[1].name", "repeats endpoint 'caller-risk'")


def test_variant_names_unique_ignoring_case() -> None:
    problems = _problems(_set(("endpoints", 0, "variants", 1, "name"), "Champion"))
    _assert_problem(problems, "endpoints[0].variants[1].name", "repeats variant 'champion'")


def test_variant_name_follows_sagemaker_rules() -> None:
    _assert_problem(
        _problems(_set((*CHAMPION, "name"), "champ.ion")), "endpoints[0].variants[0].name", "not a valid SageMaker name"
    )


def test_at_most_ten_variants() -> None:
    def eleven(data: dict[str, Any]) -> None:
        template = data["endpoints"][0]["variants"][1]
        data["endpoints"][0]["variants"] = [{**template, "name": f"v{i}"} for i in range(11)]

    _assert_problem(_problems(eleven), "endpoints[0].variants", "at most 10")


def test_at_least_one_variant() -> None:
    _assert_problem(_problems(_set(("endpoints", 0, "variants"), [])), "endpoints[0].variants", "at least 1")


def test_weight_not_negative() -> None:
    _assert_problem(_problems(_set((*CHAMPION, "weight"), -1)), "endpoints[0].variants[0].weight", "greater than or equal to 0")


def test_some_weight_positive() -> None:
    def zero(data: dict[str, Any]) -> None:
        for variant in data["endpoints"][0]["variants"]:
            variant["weight"] = 0

    _assert_problem(_problems(zero), "endpoints[0].variants", "at least one variant needs a weight above 0")


def test_instance_type_form() -> None:
    _assert_problem(
        _problems(_set((*CHAMPION, "instance_type"), "c6i.xlarge")),
        "endpoints[0].variants[0].instance_type",
        "ml.<family>.<size>",
    )


def test_instance_type_suggests_close_match() -> None:
    problems = _problems(_set((*CHAMPION, "instance_type"), "ml.g5.xlarg"))
    _assert_problem(
        problems, "endpoints[0].variants[0].instance_type", "not a SageMaker real-time hosting instance type", "ml.g5.xlarge"
    )


def test_instance_type_must_be_offered_for_hosting() -> None:
    # ml.p3dn.24xlarge exists for training but not in the hosting enum.
    problems = _problems(_set((*CHAMPION, "instance_type"), "ml.p3dn.24xlarge"))
    _assert_problem(problems, "endpoints[0].variants[0].instance_type", "families offered")


def test_initial_instance_count_at_least_one() -> None:
    _assert_problem(
        _problems(_set((*CHAMPION, "initial_instance_count"), 0)),
        "endpoints[0].variants[0].initial_instance_count",
        "greater than or equal to 1",
    )


def test_initial_count_within_autoscaling_range() -> None:
    problems = _problems(_set((*CHAMPION, "initial_instance_count"), 11))
    _assert_problem(
        problems, "endpoints[0].variants[0].initial_instance_count", "outside autoscaling min_capacity..max_capacity (2..10)"
    )


def test_autoscaling_min_not_above_max() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "max_capacity"), 1))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.min_capacity", "greater than max_capacity 1")


def test_autoscaling_min_at_least_one() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "min_capacity"), 0))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.min_capacity", "greater than or equal to 1")


def test_target_invocations_positive() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "target_invocations_per_instance"), 0))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.target_invocations_per_instance", "greater than 0")


def test_cron_needs_six_fields() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "cron"), "0 7 * * MON-FRI"))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0].cron", "has 5 fields", "needs 6")


def test_cron_day_of_month_or_week_must_be_question_mark() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "cron"), "0 7 * * MON-FRI *"))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0].cron", "exactly one of day-of-month")


def test_cron_field_ranges() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "cron"), "0 25 ? * MON-FRI *"))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0].cron", "hours 25 is outside 0-23")


def test_scheduled_action_name_characters() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "name"), "peak:weekday"))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0].name", "no ':', '/', '|'")


def test_scheduled_action_names_unique_per_variant() -> None:
    def twice(data: dict[str, Any]) -> None:
        scheduled = data["endpoints"][0]["variants"][0]["autoscaling"]["scheduled"]
        scheduled.append({**scheduled[0], "cron": "0 19 ? * MON-FRI *"})

    problems = _problems(twice)
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[1].name", "must be unique per variant")


def test_scheduled_action_sets_a_capacity() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "min_capacity"), None))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0]", "set min_capacity, max_capacity or both")


def test_scheduled_min_not_above_variant_max() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "min_capacity"), 12))
    _assert_problem(
        problems, "endpoints[0].variants[0].autoscaling.scheduled[0].min_capacity", "above the variant's max_capacity 10"
    )


def test_scheduled_timezone_is_iana() -> None:
    problems = _problems(_set((*CHAMPION, "autoscaling", "scheduled", 0, "timezone"), "Mars/Olympus"))
    _assert_problem(problems, "endpoints[0].variants[0].autoscaling.scheduled[0].timezone", "not an IANA time zone")


def test_model_data_must_be_tar_gz() -> None:
    problems = _problems(_set((*CHAMPION, "model_data"), "s3://models-bucket/model.pt"))
    _assert_problem(problems, "endpoints[0].variants[0].model_data", "ending .tar.gz")


def test_model_data_s3_uri_form() -> None:
    problems = _problems(_set((*CHAMPION, "model_data"), "s3://Bad_Bucket/model.tar.gz"))
    _assert_problem(problems, "endpoints[0].variants[0].model_data", "s3://<bucket>/<key>")


def test_model_data_local_file_must_exist() -> None:
    problems = _problems(_set((*CHAMPION, "model_data"), "models/missing/model.tar.gz"))
    _assert_problem(problems, "endpoints[0].variants[0].model_data", "does not exist")


def test_image_must_be_known_folder_or_key() -> None:
    problems = _problems(_set((*CHAMPION, "image"), "inferense"))
    _assert_problem(problems, "endpoints[0].variants[0].image", "neither an images key nor a folder", "inference")


def test_image_uri_must_be_ecr() -> None:
    problems = _problems(_set((*CHAMPION, "image"), "docker.io/library/python:3.11"))
    _assert_problem(problems, "endpoints[0].variants[0].image", "not an ECR image URI")


def test_images_entry_needs_a_dockerfile() -> None:
    problems = _problems(lambda d: d.update(images={"serving": {"folder": "nope"}}))
    _assert_problem(problems, "images", "containers/nope/Dockerfile does not exist")


def test_sampling_percent_range() -> None:
    problems = _problems(_set(("endpoints", 0, "data_capture"), {"sampling_percent": 150}))
    _assert_problem(problems, "endpoints[0].data_capture.sampling_percent", "less than or equal to 100")


def test_capture_modes_allowed_values() -> None:
    problems = _problems(_set(("endpoints", 0, "data_capture"), {"modes": ["Request"]}))
    _assert_problem(problems, "endpoints[0].data_capture.modes[0]", "'Input' or 'Output'")


def test_environment_variable_names() -> None:
    problems = _problems(_set((*CHAMPION, "environment"), {"1BAD": "x"}))
    _assert_problem(problems, "endpoints[0].variants[0].environment", "not valid environment variable names: 1BAD")


def test_environment_leaves_room_for_platform_variables() -> None:
    problems = _problems(_set((*CHAMPION, "environment"), {f"V{i}": "x" for i in range(97)}))
    _assert_problem(problems, "endpoints[0].variants[0].environment", "97 variables; at most 96")


def test_alert_emails_are_addresses() -> None:
    _assert_problem(_problems(lambda d: d.update(alerts={"emails": ["oncall"]})), "alerts.emails", "not an email address: oncall")


def test_tags_may_not_use_aws_prefix() -> None:
    _assert_problem(_problems(lambda d: d.update(tags={"aws:team": "x"})), "tags", "not start with 'aws:'")


def test_capture_retention_after_transition() -> None:
    problems = _problems(lambda d: d.update(storage={"capture_retention_days": 20}))
    _assert_problem(problems, "storage.capture_retention_days", "greater than capture_infrequent_access_after_days")


def test_alarm_datapoints_within_evaluation_window() -> None:
    problems = _problems(_set(("endpoints", 0, "alarms"), {"evaluation_minutes": 2, "datapoints_to_alarm": 3}))
    _assert_problem(problems, "endpoints[0].alarms.datapoints_to_alarm", "more than evaluation_minutes 2")


def test_missing_required_key() -> None:
    problems = _problems(lambda d: d["endpoints"][0]["variants"][0].pop("instance_type"))
    _assert_problem(problems, "endpoints[0].variants[0].instance_type", "required key is missing")


# --- reporting ------------------------------------------------------------------------


def test_all_problems_reported_at_once() -> None:
    def many(data: dict[str, Any]) -> None:
        data["account"] = "1"
        data["endpoints"][0]["variants"][0]["weight"] = -5
        data["endpoints"][0]["variants"][1]["instance_type"] = "ml.nope.large"

    problems = _problems(many)
    assert {"account", "endpoints[0].variants[0].weight", "endpoints[0].variants[1].instance_type"} <= set(problems)


def test_problems_carry_file_line() -> None:
    text = "account: '123456789012'\nregion: eu-west-1\nendpoints:\n  - name: bad_name\n    variants: []\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config/x.yaml")
    lines = {issue.path: issue.line for issue in caught.value.issues}
    assert lines["endpoints[0].name"] == 4
    assert lines["endpoints[0].variants"] == 5
    assert "config/x.yaml:4: endpoints[0].name:" in str(caught.value)


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("account: '1'\nregion: [eu-west-1\n", source="bad.yaml")
    (issue,) = caught.value.issues
    assert issue.line == 3
    assert "invalid YAML" in issue.message


def test_duplicate_yaml_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("account: '123456789012'\nregion: eu-west-1\nregion: us-east-1\n", source="dup.yaml")
    (issue,) = caught.value.issues
    assert issue.line == 3
    assert "duplicate key 'region' (first on line 2)" in issue.message


def test_unknown_env_lists_environments(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text("")
    (tmp_path / "prod.yaml").write_text("")
    with pytest.raises(ConfigError) as caught:
        load_config("qa", config_dir=tmp_path)
    assert "unknown environment 'qa'; environments with a config file: dev, prod" in str(caught.value)


def test_config_is_frozen() -> None:
    config = parse_config(yaml.safe_dump(BASE))
    with pytest.raises(Exception, match="frozen"):
        config.region = "us-east-1"


# --- deployment guardrails (SageMaker API reference: DeploymentConfig and its parts) --------------

DEPLOYMENT = ("endpoints", 0, "deployment")


@pytest.mark.parametrize(
    ("deployment", "path", "fragments"),
    [
        ({"strategy": "blue-green"}, "strategy", ("'all_at_once', 'canary', 'linear', 'rolling' or 'none'",)),
        ({"strategy": "none", "rollback_alarms": ["x"]}, "rollback_alarms", ("strategy none has no auto-rollback",)),
        ({"strategy": "canary", "canary_percent": 60}, "canary_percent", ("canary_percent 60 is outside 1-50",)),
        ({"strategy": "linear", "linear_step_percent": 5}, "linear_step_percent", ("outside 10-50",)),
        ({"strategy": "rolling"}, "strategy", ("needs a single-variant endpoint (2 variants)",)),
        ({"wait_minutes": 61}, "wait_minutes", ("3660 is outside 0-3600",)),
        ({"max_execution_timeout_minutes": 5}, "max_execution_timeout_minutes", ("300 is outside 600-28800",)),
        (
            {"strategy": "linear", "linear_step_percent": 10, "wait_minutes": 10, "max_execution_timeout_minutes": 60},
            "max_execution_timeout_minutes",
            ("must exceed the time the deployment waits (100 minutes",),
        ),
    ],
)
def test_deployment_rules(deployment: dict[str, Any], path: str, fragments: tuple[str, ...]) -> None:
    problems = _problems(_set(DEPLOYMENT, deployment))
    _assert_problem(problems, f"endpoints[0].deployment.{path}", *fragments)


def test_rollback_alarms_within_sagemakers_ten() -> None:
    # Each variant's 5xx alarm always rolls back; 2 variants + 9 named = 11.
    problems = _problems(_set(DEPLOYMENT, {"rollback_alarms": [f"alarm-{i}" for i in range(9)]}))
    _assert_problem(problems, "endpoints[0].deployment", "11 rollback alarms; SageMaker accepts 1-10")


def test_release_is_a_reserved_endpoint_name() -> None:
    _assert_problem(_problems(_set(("endpoints", 0, "name"), "release")), "endpoints[0].name", "'release' is reserved")
