"""Config for scoring APIs (config/apis.py): one negative test per rule, with key path and message."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.apis import schema_problem
from config.loader import REPO_ROOT, ConfigError, parse_config
from tests.test_config_validation import BASE

SCHEMA = "config/schemas/caller-risk-request.json"
API: dict[str, Any] = {
    "name": "caller-risk",
    "endpoint": "caller-risk",
    "variant": "champion",
    "auth": "api_key",
    "throttle": {"rate": 50, "burst": 100},
    "quota_per_day": 100000,
    "payload": {"max_kb": 16, "schema": SCHEMA},
    "archive": True,
    "async": {"enabled": True, "result_ttl_hours": 24},
}


def _config(mutate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["apis"] = [copy.deepcopy(API)]
    if mutate:
        mutate(data)
    return data


def _problems(mutate: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(_config(mutate), sort_keys=False), source="test.yaml")
    return {issue.path: issue.message for issue in caught.value.issues}


def _api(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["apis"][0].update(changes)

    return mutate


def _assert(problems: dict[str, str], path: str, *fragments: str) -> None:
    assert path in problems, f"no problem at {path}; got {problems}"
    for fragment in fragments:
        assert fragment in problems[path], f"{path}: '{fragment}' not in '{problems[path]}'"


def test_a_full_api_section_loads_with_its_keys() -> None:
    config = parse_config(yaml.safe_dump(_config(), sort_keys=False))
    [api] = config.apis
    assert (api.name, api.endpoint, api.variant, api.auth) == ("caller-risk", "caller-risk", "champion", "api_key")
    assert api.async_requests.enabled
    assert api.payload.schema_path == SCHEMA
    assert api.max_body_bytes() == 16 * 1024


def test_defaults_are_iam_archive_on_async_off() -> None:
    minimal = {"name": "minimal", "endpoint": "caller-risk", "payload": {"schema": SCHEMA}}
    config = parse_config(yaml.safe_dump(_config(lambda d: d.update(apis=[minimal])), sort_keys=False))
    [api] = config.apis
    assert (api.auth, api.archive, api.async_requests.enabled, api.throttle.rate, api.throttle.burst) == (
        "iam",
        True,
        False,
        100,
        200,
    )


def test_the_endpoint_must_exist_in_config() -> None:
    _assert(_problems(_api(endpoint="nope")), "apis[0].endpoint", "'nope' is not an endpoint of this config", "caller-risk")


def test_the_variant_must_exist_on_the_endpoint() -> None:
    _assert(_problems(_api(variant="blue")), "apis[0].variant", "'blue' is not a variant of 'caller-risk'", "champion")


def test_auth_is_iam_or_api_key() -> None:
    _assert(_problems(_api(auth="cognito")), "apis[0].auth", "'iam' or 'api_key'")


def test_quota_needs_api_keys() -> None:
    # Usage plans count requests per API key (API Gateway Developer Guide, usage plans).
    _assert(_problems(_api(auth="iam")), "apis[0].quota_per_day", "needs auth: api_key")


def test_quota_is_positive() -> None:
    _assert(_problems(_api(quota_per_day=0)), "apis[0].quota_per_day", "greater than or equal to 1")


@pytest.mark.parametrize(
    ("throttle", "path", "message"),
    [
        ({"rate": 0, "burst": 10}, "apis[0].throttle.rate", "greater than 0"),
        ({"rate": 10001, "burst": 10}, "apis[0].throttle.rate", "less than or equal to 10000"),  # account quota
        ({"rate": 10, "burst": 5001}, "apis[0].throttle.burst", "less than or equal to 5000"),  # account quota
        ({"rate": 10, "burst": 0}, "apis[0].throttle.burst", "greater than or equal to 1"),
    ],
)
def test_throttle_within_api_gateway_account_quotas(throttle: dict[str, Any], path: str, message: str) -> None:
    _assert(_problems(_api(throttle=throttle)), path, message)


def test_payload_with_a_queue_fits_an_sqs_message() -> None:
    # SQS MaximumMessageSize is at most 1 MiB (CreateQueue, service model).
    _assert(
        _problems(_api(payload={"max_kb": 769, "schema": SCHEMA})),
        "apis[0].payload.max_kb",
        "769 is above 768",
        "SQS",
    )


def test_payload_without_queues_fits_invoke_endpoint_and_lambda() -> None:
    # InvokeEndpoint Body max 6,291,456 bytes; Lambda synchronous payload 6 MB.
    mutate = _api(payload={"max_kb": 5121, "schema": SCHEMA}, archive=False, quota_per_day=None, auth="iam")

    def without_async(data: dict[str, Any]) -> None:
        mutate(data)
        data["apis"][0]["async"] = {"enabled": False}

    _assert(_problems(without_async), "apis[0].payload.max_kb", "5121 is above 5120", "6 MB")


def test_payload_max_kb_positive() -> None:
    _assert(_problems(_api(payload={"max_kb": 0, "schema": SCHEMA})), "apis[0].payload.max_kb", "greater than or equal to 1")


def test_schema_file_must_exist() -> None:
    _assert(_problems(_api(payload={"schema": "config/schemas/missing.json"})), "apis[0].payload.schema", "does not exist")


def test_schema_is_required() -> None:
    _assert(_problems(_api(payload={"max_kb": 4})), "apis[0].payload.schema", "required key is missing")


def _schema_file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "schema.json"
    path.write_text(content)
    return str(path)


def test_schema_must_be_json(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, "{not json")
    _assert(_problems(_api(payload={"schema": path})), "apis[0].payload.schema", "is not JSON")


def test_schema_must_be_draft_04(tmp_path: Path) -> None:
    # API Gateway models are JSON Schema draft 4 (Developer Guide, "Data models for REST APIs").
    path = _schema_file(tmp_path, json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}))
    _assert(_problems(_api(payload={"schema": path})), "apis[0].payload.schema", "draft 4")


def test_schema_must_be_a_valid_draft_04_schema(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, json.dumps({"type": "object", "properties": {"a": {"type": "numbr"}}}))
    _assert(
        _problems(_api(payload={"schema": path})),
        "apis[0].payload.schema",
        "not a valid draft 4 JSON Schema at properties/a/type",
    )


def test_schema_top_level_is_an_object(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, json.dumps({"type": "array"}))
    _assert(_problems(_api(payload={"schema": path})), "apis[0].payload.schema", '"type": "object"')


def test_schema_refs_stay_in_the_document(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, json.dumps({"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}}))
    _assert(_problems(_api(payload={"schema": path})), "apis[0].payload.schema", "other.json#/x")


def test_draft_04_exclusive_maximum_is_a_boolean() -> None:
    # Draft 4 spells exclusiveMaximum as a boolean beside maximum; a draft-6 number is invalid there.
    assert "exclusiveMaximum" in (schema_problem({"type": "object", "properties": {"a": {"exclusiveMaximum": 5}}}) or "")


def test_api_name_rule() -> None:
    _assert(_problems(_api(name="Caller_Risk")), "apis[0].name", "not a valid API name", "lower-case")


def test_api_names_unique() -> None:
    def twice(data: dict[str, Any]) -> None:
        data["apis"].append(copy.deepcopy(API))

    _assert(_problems(twice), "apis[1].name", "repeats apis[0]")


def test_result_ttl_range() -> None:
    _assert(
        _problems(_api(**{"async": {"enabled": True, "result_ttl_hours": 0}})), "apis[0].async.result_ttl_hours", "greater than"
    )


def test_unknown_key_under_async_lists_the_yaml_keys() -> None:
    problems = _problems(_api(**{"async": {"enabld": True}}))
    _assert(problems, "apis[0].async.enabld", "did you mean 'enabled'", "result_ttl_hours")


def test_unknown_key_in_an_api_offers_the_aliased_keys() -> None:
    _assert(_problems(_api(asynch={"enabled": True})), "apis[0].asynch", "did you mean 'async'")


def test_endpoint_names_starting_api_are_reserved_for_api_stacks() -> None:
    def rename(data: dict[str, Any]) -> None:
        data["endpoints"][0]["name"] = "api-caller-risk"
        data["apis"][0]["endpoint"] = "api-caller-risk"

    _assert(_problems(rename), "endpoints[0].name", "'api-' are reserved", "mlops-<env>-api-<name>")


def test_the_shipped_schema_accepts_a_record_and_refuses_what_the_model_cannot_score() -> None:
    """What API Gateway's draft-4 validator will do with the shipped model (jsonschema's Draft4Validator)."""
    from jsonschema import Draft4Validator

    from mlops_cli.model_artifact import FEATURE_NAMES

    validator = Draft4Validator(json.loads((REPO_ROOT / SCHEMA).read_text()))
    features: dict[str, Any] = dict.fromkeys(FEATURE_NAMES, 1.0)
    record = {"features": features, "id": "call-1"}
    assert list(validator.iter_errors(record)) == []
    missing = {"features": {k: v for k, v in features.items() if k != "roaming"}}
    text = {"features": {**features, "roaming": "yes"}}
    extra = {**record, "debug": True}
    rows = {"features": [1.0] * len(FEATURE_NAMES)}
    for bad, reason in [
        (missing, "'roaming' is a required property"),
        (text, "is not of type 'number'"),
        (extra, "Additional properties are not allowed"),
        (rows, "is not of type 'object'"),
    ]:
        assert reason in "; ".join(e.message for e in validator.iter_errors(bad)), bad


@pytest.mark.parametrize(
    ("alarms", "path", "message"),
    [
        ({"latency_p50_ms": 0}, "apis[0].alarms.latency_p50_ms", "greater than 0"),
        ({"latency_p50_ms": 500, "latency_p99_ms": 400}, "apis[0].alarms.latency_p50_ms", "500 is above latency_p99_ms 400"),
        ({"error_rate_5xx_percent": 101}, "apis[0].alarms.error_rate_5xx_percent", "less than or equal to 100"),
        # PutMetricAlarm: DatapointsToAlarm <= EvaluationPeriods.
        (
            {"evaluation_minutes": 2, "datapoints_to_alarm": 3},
            "apis[0].alarms.datapoints_to_alarm",
            "more than evaluation_minutes 2",
        ),
    ],
)
def test_alarm_thresholds(alarms: dict[str, Any], path: str, message: str) -> None:
    _assert(_problems(_api(alarms=alarms)), path, message)
