"""The scoring API stack (stacks/api.py, mlops_constructs/api/): one test per promise.

prod.yaml ships an API-key API with async and archive on; an IAM-auth API without them is
synthesised from dev.yaml plus one `apis` entry, so both shapes are checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from config.apis import Api
from config.loader import REPO_ROOT, load_config
from lambda_src.scoring_api import settings
from mlops_constructs.api import ScoringApi
from mlops_constructs.api.queues import VISIBILITY_FACTOR
from mlops_constructs.endpoint import ModelEndpoint
from mlops_constructs.log_groups import LogGroupSettings
from stacks.mlops_app import create_app
from tests.conftest import Synthesized, resources_of_type

PROD_API = "mlops-prod-api-caller-risk"
SCHEMA = "config/schemas/caller-risk-request.json"


@pytest.fixture(scope="module")
def api(prod: Synthesized) -> assertions.Template:
    return prod.template(PROD_API)


@pytest.fixture(scope="module")
def api_json(prod: Synthesized) -> dict[str, Any]:
    return prod.template_json(PROD_API)


@pytest.fixture(scope="module")
def iam_api(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """dev.yaml plus an IAM-auth API with neither archive nor async."""
    config = load_config("dev")
    entry = Api.model_validate(
        {"name": "risk", "endpoint": "caller-risk", "auth": "iam", "payload": {"schema": SCHEMA}, "archive": False},
        context={"root": REPO_ROOT},
    )
    outdir = tmp_path_factory.mktemp("cdk-iam-api")
    stacks = create_app("dev", outdir=str(outdir), config=config.model_copy(update={"apis": [entry]}))
    stacks.app.synth()
    return Synthesized(env="dev", stacks=stacks, outdir=outdir)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        body["Properties"]["FunctionName"].rsplit("-", 1)[1]: body
        for body in resources_of_type(template, "AWS::Lambda::Function").values()
    }


def _policy_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = _functions(template)[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# --- the gateway ------------------------------------------------------------------------------


def test_the_api_is_a_regional_rest_api_named_after_its_stack(api: assertions.Template) -> None:
    api.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": PROD_API, "EndpointConfiguration": {"Types": ["REGIONAL"]}})


def test_bad_bodies_are_refused_by_the_gateway_with_a_json_error(api: assertions.Template) -> None:
    schema = json.loads((REPO_ROOT / SCHEMA).read_text())
    api.has_resource_properties("AWS::ApiGateway::Model", {"ContentType": "application/json", "Schema": schema})
    api.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True, "ValidateRequestParameters": True}
    )
    for method in ("POST",):
        api.resource_properties_count_is(
            "AWS::ApiGateway::Method",
            {
                "HttpMethod": method,
                "RequestValidatorId": assertions.Match.any_value(),
                "RequestModels": {"$default": assertions.Match.any_value()},
            },
            2,
        )
    api.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "BAD_REQUEST_BODY",
            "ResponseTemplates": {"application/json": assertions.Match.string_like_regexp(r"messageString")},
        },
    )


def test_every_post_validates_its_body_whatever_the_content_type(api_json: dict[str, Any], iam_api: Synthesized) -> None:
    """API Gateway validates a body only against the model of its content type; `$default` matches any
    (Developer Guide, "Request validation"), so a text/plain body cannot skip the schema."""
    for template in (api_json, iam_api.template_json("mlops-dev-api-risk")):
        posts = [
            m for m in resources_of_type(template, "AWS::ApiGateway::Method").values() if m["Properties"]["HttpMethod"] == "POST"
        ]
        assert posts
        models = resources_of_type(template, "AWS::ApiGateway::Model")
        for method in posts:
            assert list(method["Properties"]["RequestModels"]) == ["$default"]
            assert method["Properties"]["RequestModels"]["$default"]["Ref"] in models


# What API Gateway puts in place of each variable: plain substitution, nothing escaped. The validator's detail and
# error messages hold double quotes; $context.error.messageString is the message already quoted as JSON.
_VALIDATION_DETAIL = '[object has missing required properties (["features"])]'
_SUBSTITUTIONS = [
    (r"\$context\.error\.messageString", json.dumps('Invalid request body: "features"')),
    (r"\$context\.error\.(validationErrorString|message)\b", _VALIDATION_DETAIL),
    (r"\$context\.[A-Za-z.]+", "v-1"),
]


def _render(template: str) -> str:
    for pattern, value in _SUBSTITUTIONS:
        template = re.sub(pattern, lambda _, value=value: value, template)  # type: ignore[misc]
    return template


def test_the_bad_body_answer_and_the_access_log_stay_json_whatever_the_validator_says(api_json: dict[str, Any]) -> None:
    [response] = [
        r
        for r in resources_of_type(api_json, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == "BAD_REQUEST_BODY"
    ]
    body = json.loads(_render(response["Properties"]["ResponseTemplates"]["application/json"]))
    assert body["error"] == 'Invalid request body: "features"'
    assert body["request_id"] == "v-1"
    [stage] = resources_of_type(api_json, "AWS::ApiGateway::Stage").values()
    access = json.loads(_render(stage["Properties"]["AccessLogSetting"]["Format"]))
    assert access["status"] == "v-1"
    assert access["api"] == "caller-risk"


def test_routes_are_score_requests_and_status(api_json: dict[str, Any]) -> None:
    paths = sorted(r["Properties"]["PathPart"] for r in resources_of_type(api_json, "AWS::ApiGateway::Resource").values())
    methods = sorted(m["Properties"]["HttpMethod"] for m in resources_of_type(api_json, "AWS::ApiGateway::Method").values())
    assert paths == ["requests", "score", "{tracking_id}"]
    assert methods == ["GET", "POST", "POST"]


def test_api_key_auth_requires_a_key_and_a_usage_plan_caps_it(api: assertions.Template) -> None:
    api.resource_properties_count_is("AWS::ApiGateway::Method", {"ApiKeyRequired": True, "AuthorizationType": "NONE"}, 3)
    api.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 200, "BurstLimit": 400}, "Quota": {"Limit": 2000000, "Period": "DAY"}},
    )
    api.has_resource_properties("AWS::ApiGateway::RestApi", {"ApiKeySourceType": "HEADER"})


def test_iam_auth_signs_every_method_and_has_no_usage_plan(iam_api: Synthesized) -> None:
    template = iam_api.template("mlops-dev-api-risk")
    template.resource_properties_count_is("AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM"}, 1)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)


def test_the_stage_throttles_traces_and_logs_access_to_an_encrypted_group(api: assertions.Template) -> None:
    api.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "MethodSettings": [
                assertions.Match.object_like(
                    {
                        "ThrottlingRateLimit": 200,
                        "ThrottlingBurstLimit": 400,
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                    }
                )
            ],
            "AccessLogSetting": {
                "DestinationArn": assertions.Match.any_value(),
                "Format": assertions.Match.string_like_regexp(r"\$context\.requestId"),
            },
        },
    )
    api.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": f"/aws/apigateway/{PROD_API}/access",
            "KmsKeyId": assertions.Match.any_value(),
            "RetentionInDays": assertions.Match.any_value(),
        },
    )


def test_execution_logs_go_to_a_group_created_first_encrypted_and_expiring(api_json: dict[str, Any]) -> None:
    groups = resources_of_type(api_json, "AWS::Logs::LogGroup")
    [(logical_id, group)] = [
        (k, g) for k, g in groups.items() if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"]["LogGroupName"])
    ]
    assert {"KmsKeyId", "RetentionInDays"} <= set(group["Properties"])
    [stage] = resources_of_type(api_json, "AWS::ApiGateway::Stage").values()
    assert logical_id in stage["DependsOn"]


def test_the_first_api_stack_sets_api_gateways_account_logging_role(api: assertions.Template) -> None:
    api.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain"})
    api.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assertions.Match.object_like(
                {"Statement": [assertions.Match.object_like({"Principal": {"Service": "apigateway.amazonaws.com"}})]}
            )
        },
    )


def test_a_waf_web_acl_with_aws_managed_rules_guards_the_stage(api_json: dict[str, Any]) -> None:
    [acl] = resources_of_type(api_json, "AWS::WAFv2::WebACL").values()
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Properties"]["Rules"]]
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert groups == [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    ]
    [association] = resources_of_type(api_json, "AWS::WAFv2::WebACLAssociation").values()
    assert "/stages/" in json.dumps(association["Properties"]["ResourceArn"])


# --- functions and grants ------------------------------------------------------------------


def test_only_the_scoring_functions_may_invoke_and_only_this_endpoint(api_json: dict[str, Any]) -> None:
    endpoint_arn = "arn:aws:sagemaker:eu-west-1:222222222222:endpoint/caller-risk"
    for function in ("score", "worker", "submit", "status", "archiver"):
        sagemaker = [s for s in _policy_statements(api_json, function) if any(a.startswith("sagemaker:") for a in _actions(s))]
        if function in ("score", "worker"):
            assert sagemaker == [{"Action": "sagemaker:InvokeEndpoint", "Effect": "Allow", "Resource": endpoint_arn}]
        else:
            assert sagemaker == []


def test_functions_use_powertools_tracing_and_their_own_log_groups(api_json: dict[str, Any]) -> None:
    functions = _functions(api_json)
    assert sorted(functions) == ["archiver", "score", "status", "submit", "worker"]
    for name, body in functions.items():
        properties = body["Properties"]
        assert properties["Handler"] == f"scoring_api.{name}.handler"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert "AWSLambdaPowertoolsPythonV3" in json.dumps(properties["Layers"])
        group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert api_json["Resources"][group]["Properties"]["LogGroupName"] == f"/aws/lambda/{PROD_API}-{name}"


def test_every_variable_set_is_read_and_every_required_one_set(api_json: dict[str, Any]) -> None:
    for name, body in _functions(api_json).items():
        variables = set(body["Properties"]["Environment"]["Variables"]) - {"POWERTOOLS_SERVICE_NAME"}
        folder = REPO_ROOT / "lambda_src" / "scoring_api"
        source = (folder / f"{name}.py").read_text() + (folder / "runtime.py").read_text()  # runtime: every handler
        read = {v for v in settings.ALL if f"settings.{v}" in source}
        required = {v for v in settings.ALL if f"settings.required(settings.{v})" in source}
        assert required <= variables <= read, name


def test_the_queues_are_kms_encrypted_with_dead_letter_queues_and_fit_their_consumers(api_json: dict[str, Any]) -> None:
    queues = resources_of_type(api_json, "AWS::SQS::Queue")
    key = next(iter(resources_of_type(api_json, "AWS::KMS::Key")))
    assert all(q["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]} for q in queues.values())
    sources = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert len(sources) == 2
    assert all(q["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5 for q in sources)
    functions = {k: v for k, v in resources_of_type(api_json, "AWS::Lambda::Function").items()}
    for mapping in resources_of_type(api_json, "AWS::Lambda::EventSourceMapping").values():
        queue = queues[mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]]
        function = functions[mapping["Properties"]["FunctionName"]["Ref"]]
        window = mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0)
        assert queue["Properties"]["VisibilityTimeout"] == VISIBILITY_FACTOR * function["Properties"]["Timeout"] + window
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_worker_has_time_for_a_whole_batch_and_knows_the_last_delivery(api_json: dict[str, Any]) -> None:
    """Timeout >= batch size x one message's worst case, or a slow batch times out and its messages climb to the
    DLQ unrecorded; the worker reads the queue's maxReceiveCount to record a last failed delivery as a 503."""
    worker = _functions(api_json)["worker"]
    [mapping] = [
        m
        for m in resources_of_type(api_json, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"]
        == {"Ref": next(k for k, v in resources_of_type(api_json, "AWS::Lambda::Function").items() if v is worker)}
    ]
    batch = mapping["Properties"]["BatchSize"]
    assert worker["Properties"]["Timeout"] >= batch * settings.WORKER_MESSAGE_BUDGET_S
    queue = resources_of_type(api_json, "AWS::SQS::Queue")[mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]]
    receives = queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    assert worker["Properties"]["Environment"]["Variables"][settings.MAX_RECEIVE_COUNT] == str(receives)


def test_dead_letters_raise_an_alarm_into_the_alert_topic(api_json: dict[str, Any]) -> None:
    alarms = [
        a
        for a in resources_of_type(api_json, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(alarms) == 2
    assert all("mlops-prod-foundation" in json.dumps(a["Properties"]["AlarmActions"]) for a in alarms)


def test_results_table_is_encrypted_expiring_recoverable_and_retained(api: assertions.Template) -> None:
    api.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": assertions.Match.object_like(
                {
                    "KeySchema": [{"AttributeName": "tracking_id", "KeyType": "HASH"}],
                    "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": assertions.Match.any_value()},
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
        },
    )


def test_the_archiver_writes_only_under_its_prefix_with_the_data_key(api_json: dict[str, Any]) -> None:
    statements = _policy_statements(api_json, "archiver")
    [put] = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert put["Resource"]["Fn::Join"][1][1] == "/api/caller-risk/*"
    [kms] = [s for s in statements if "kms:GenerateDataKey" in _actions(s)]
    assert "StorageDataKey" in json.dumps(kms["Resource"])
    variables = _functions(api_json)["archiver"]["Properties"]["Environment"]["Variables"]
    assert "StorageDataKey" in json.dumps(variables[settings.ARCHIVE_KEY_ARN])


def test_no_archive_and_no_async_means_no_queues_table_or_extra_functions(iam_api: Synthesized) -> None:
    template = iam_api.template_json("mlops-dev-api-risk")
    assert resources_of_type(template, "AWS::SQS::Queue") == {}
    assert resources_of_type(template, "AWS::DynamoDB::Table") == {}
    assert sorted(_functions(template)) == ["score"]


# --- alarms and dashboard -------------------------------------------------------------------


def test_each_route_alarms_on_p50_p99_5xx_and_throttles_into_the_alert_topic(api_json: dict[str, Any]) -> None:
    alarms = resources_of_type(api_json, "AWS::CloudWatch::Alarm").values()
    by_route: dict[str, set[str]] = {}
    for alarm in alarms:
        description = alarm["Properties"]["AlarmDescription"]
        match = re.match(r"^(POST /score|POST /requests|GET /requests/\{tracking_id\}): (\w+)", description)
        if match:
            by_route.setdefault(match[1], set()).add(match[2])
            assert "mlops-prod-foundation" in json.dumps(alarm["Properties"]["AlarmActions"])
    assert by_route == {
        route: {"p50", "p99", "more", "requests"} for route in ("POST /score", "POST /requests", "GET /requests/{tracking_id}")
    }
    latency = [a for a in alarms if a["Properties"].get("MetricName") == "Latency"]
    thresholds = {(a["Properties"]["ExtendedStatistic"], a["Properties"]["Threshold"]) for a in latency}
    assert thresholds == {("p50", 125), ("p99", 600)}  # prod.yaml's apis[0].alarms
    assert all({d["Name"] for d in a["Properties"]["Dimensions"]} == {"ApiName", "Stage", "Resource", "Method"} for a in latency)


def test_the_throttles_alarm_counts_the_gateways_own_429s_per_route(api_json: dict[str, Any]) -> None:
    """Stage, usage-plan and quota 429s never reach a function: a metric filter on the access log counts them."""
    [metric_filter] = resources_of_type(api_json, "AWS::Logs::MetricFilter").values()
    [access_group] = [
        k
        for k, g in resources_of_type(api_json, "AWS::Logs::LogGroup").items()
        if g["Properties"].get("LogGroupName") == f"/aws/apigateway/{PROD_API}/access"
    ]
    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": access_group}
    assert metric_filter["Properties"]["FilterPattern"] == '{ $.status = "429" }'
    [transformation] = metric_filter["Properties"]["MetricTransformations"]
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == ("MLOps/ScoringApi", "GatewayThrottled")
    fields = {d["Key"]: d["Value"] for d in transformation["Dimensions"]}
    assert fields == {"Api": "$.api", "Resource": "$.resourcePath", "Method": "$.httpMethod"}
    [stage] = resources_of_type(api_json, "AWS::ApiGateway::Stage").values()
    access_fields = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert (access_fields["api"], access_fields["resourcePath"], access_fields["httpMethod"], access_fields["status"]) == (
        "caller-risk",
        "$context.resourcePath",
        "$context.httpMethod",
        "$context.status",
    )
    throttles = {
        a["Properties"]["AlarmDescription"].split(":")[0]: a["Properties"]["Metrics"]
        for a in resources_of_type(api_json, "AWS::CloudWatch::Alarm").values()
        if "throttled" in a["Properties"]["AlarmDescription"]
    }
    assert sorted(throttles) == ["GET /requests/{tracking_id}", "POST /requests", "POST /score"]
    for route, metrics in throttles.items():
        method, path = route.split(" ")
        [gateway] = [m for m in metrics if m["Id"] == "gateway"]
        metric = gateway["MetricStat"]["Metric"]
        assert metric["MetricName"] == "GatewayThrottled"
        assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {"Api": "caller-risk", "Resource": path, "Method": method}
        assert "FILL(gateway, 0)" in next(m["Expression"] for m in metrics if "Expression" in m)


def test_a_dashboard_shows_the_api_and_its_endpoint(api_json: dict[str, Any]) -> None:
    [dashboard] = resources_of_type(api_json, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert dashboard["Properties"]["DashboardName"] == PROD_API
    for expected in ("POST /score", "AWS/ApiGateway", "AWS/SageMaker", "ModelLatency", "champion", "challenger"):
        assert expected in body


# --- wiring ------------------------------------------------------------------------------


def test_the_api_stack_deploys_after_its_endpoint_stack(prod: Synthesized) -> None:
    stack = prod.stacks.apis["caller-risk"]
    assert prod.stacks.endpoints["caller-risk"] in stack.dependencies


def test_the_function_asset_imports_as_lambda_imports_it(prod: Synthesized, api_json: dict[str, Any]) -> None:
    code = _functions(api_json)["score"]["Properties"]["Code"]
    asset = prod.outdir / f"asset.{code['S3Key'].removesuffix('.zip')}"
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files == sorted(f"scoring_api/{p.name}" for p in (REPO_ROOT / "lambda_src" / "scoring_api").glob("*.py"))
    modules = ", ".join(f"scoring_api.{m}" for m in ("score", "submit", "status", "worker", "archiver"))
    result = subprocess.run(
        [sys.executable, "-c", f"import {modules}"],
        cwd=asset,
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(asset)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- construct validation ------------------------------------------------------------------


def _construct(**overrides: Any) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Test", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_sns as sns

    key = kms.Key(stack, "Key")
    props: dict[str, Any] = {
        "name": "risk",
        "resource_prefix": "mlops-test-api-risk",
        "endpoint": ModelEndpoint.from_endpoint_name(stack, "Endpoint", "caller-risk", variant_names=["champion"]),
        "request_schema": {"type": "object"},
        "max_body_bytes": 1024,
        "lambda_src": str(REPO_ROOT / "lambda_src"),
        "logs": LogGroupSettings(encryption_key=key),
        "encryption_key": key,
        "alert_topic": sns.Topic(stack, "Topic"),
        **overrides,
    }
    ScoringApi(stack, "Api", **props)


def test_construct_refuses_function_names_lambda_would_refuse() -> None:
    with pytest.raises(ValueError, match=r"Lambda allows 64"):
        _construct(resource_prefix="mlops-" + "x" * 60)


def test_construct_refuses_an_unknown_target_variant() -> None:
    with pytest.raises(ValueError, match=r"target_variant 'blue' is not a variant of caller-risk \(champion\)"):
        _construct(target_variant="blue")


def test_construct_refuses_a_quota_without_api_keys() -> None:
    with pytest.raises(ValueError, match=r"quota_per_day needs auth api_key"):
        _construct(quota_per_day=10)
