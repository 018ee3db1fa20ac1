"""A scoring API in front of a SageMaker endpoint: API Gateway (REST, regional) and its functions.

Routes (handlers in lambda_src/scoring_api):
- `POST /score`: InvokeEndpoint at once -> `{score, model_variant, request_id}`;
- with `async_results`: `POST /requests` -> 202 `{tracking_id}`; a worker scores it from
  an SQS queue into a DynamoDB table; `GET /requests/{tracking_id}` -> 200/202/404/410;
- with `archive`: every accepted request and its answer goes through an SQS queue to the
  data bucket under `api/<name>/date=YYYY-MM-DD/` (SSE-KMS with the bucket's key).

The gateway checks bodies, whatever their content type, against the request model (JSON
Schema draft 4) before any function runs, and answers a bad body 400 (JSON; the validator's
detail stays out, see BAD_REQUEST_BODY_TEMPLATE). Callers sign with
IAM (SigV4) or send an API key counted by a usage plan. The stage throttles, traces (X-Ray),
writes JSON access logs to a KMS-encrypted group, and sits behind a WAF web ACL.
Each function may call InvokeEndpoint on this endpoint only (the endpoint's grant_invoke).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_src.scoring_api import settings as env
from mlops_constructs.api.queues import MAX_RECEIVE_COUNT, ConsumedQueue
from mlops_constructs.api.results_table import ResultsTable
from mlops_constructs.api.web_acl import RegionalWebAcl
from mlops_constructs.endpoint import IModelEndpoint
from mlops_constructs.functions import FunctionSpec, handler_code, platform_function
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.validation import Problems

HANDLER_FOLDER = "scoring_api"
METRICS_NAMESPACE = "MLOps/ScoringApi"  # lambda_src/scoring_api/runtime.py: NAMESPACE
GATEWAY_THROTTLED = "GatewayThrottled"  # access-log metric filter: API Gateway's own 429s
STAGE = "v1"
ARCHIVE_PREFIX = "api"  # lambda_src/scoring_api/archive.py: PREFIX
MAX_FUNCTION_NAME = 64  # Lambda CreateFunction: FunctionName (plain name) at most 64 characters
# API Gateway's integration timeout for REST APIs is 29 s by default; answer well before it. The
# handlers' SDK clients give up within 2 x (1 s connect + 5 s read) (lambda_src/scoring_api/runtime.py).
SCORE_TIMEOUT = cdk.Duration.seconds(15)
# The worker takes WORKER_BATCH_SIZE messages per invocation and needs at most env.WORKER_MESSAGE_BUDGET_S for
# each (lambda_src/scoring_api/settings.py), so its timeout covers a whole batch at its worst, plus a margin; the
# handler also stops starting messages once less than that budget is left (tests/test_scoring_api_stack.py).
WORKER_BATCH_SIZE = 4
WORKER_TIMEOUT = cdk.Duration.seconds(WORKER_BATCH_SIZE * env.WORKER_MESSAGE_BUDGET_S + 10)
ARCHIVER_TIMEOUT = cdk.Duration.seconds(60)
_ONE_MINUTE = cdk.Duration.minutes(1)
# The request model's content type: "$default" applies it whatever Content-Type the caller sends (API Gateway
# Developer Guide, "Request validation": "If no matching content type is found, request validation is not performed").
DEFAULT_CONTENT_TYPE = "$default"
BAD_REQUEST_BODY_TEMPLATE = (
    '{"error": $context.error.messageString, "request_id": "$context.requestId", '
    '"hint": "the body must be one JSON object matching the API\'s request schema"}'
)


@dataclass(frozen=True)
class ArchiveTarget:
    """Where accepted requests are archived: a bucket (under api/<name>/) and its KMS key."""

    bucket: s3.IBucket
    encryption_key: kms.IKey


@dataclass(frozen=True)
class LatencyAlarms:
    """Per route: API Gateway Latency (whole request) P50 and P99, and the 5xx share."""

    p50_ms: int = 150
    p99_ms: int = 1000
    error_rate_5xx_percent: float = 1.0
    evaluation_minutes: int = 5
    datapoints_to_alarm: int = 3


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: lambda_.Function

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


class ScoringApi(Construct):
    """The API, its functions, queues, table, web ACL, alarms and dashboard.

    Required: `name` (archive prefix, metric dimension), `resource_prefix` (REST API, function,
    usage-plan and dashboard names; functions are `<prefix>-<route>`, at most 64 characters),
    `endpoint`, `request_schema` (a JSON Schema draft 4 document), `max_body_bytes`,
    `lambda_src` (the folder holding `scoring_api/`), `logs`, `encryption_key` (queues and
    table), `alert_topic`. Optional, with defaults: `auth` "iam" ("api_key" adds a usage plan);
    `target_variant` none (the endpoint's weights decide); `throttle_rate` 100 and
    `throttle_burst` 200 (stage and usage plan); `quota_per_day` none (api_key only);
    `archive` none (no archive queue); `async_result_ttl_hours` none (no /requests routes);
    `removal_policy` RETAIN (the results table); `alarms` LatencyAlarms() (P50 150 ms, P99 1 s, 5xx 1%).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        resource_prefix: str,
        endpoint: IModelEndpoint,
        request_schema: Mapping[str, Any],
        max_body_bytes: int,
        lambda_src: str,
        logs: LogGroupSettings,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        auth: Literal["iam", "api_key"] = "iam",
        target_variant: str | None = None,
        throttle_rate: float = 100,
        throttle_burst: int = 200,
        quota_per_day: int | None = None,
        archive: ArchiveTarget | None = None,
        async_result_ttl_hours: int | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        alarms: LatencyAlarms | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._validate(resource_prefix, endpoint, target_variant, auth, quota_per_day, logs)
        self.name = name
        self.endpoint = endpoint
        self._logs = logs
        self._prefix = resource_prefix
        self._code = handler_code(lambda_src, HANDLER_FOLDER)
        self._alert_topic = alert_topic
        self.functions: list[lambda_.Function] = []
        common = {env.API_NAME: name}
        body_limit = {env.MAX_BODY_BYTES: str(max_body_bytes)}
        scoring = {env.ENDPOINT_NAME: endpoint.endpoint_name, **({env.TARGET_VARIANT: target_variant} if target_variant else {})}

        # Archive: a queue the answering functions write to, drained into S3 by the archiver.
        self.archive_queue: ConsumedQueue | None = None
        self.archiver: lambda_.Function | None = None
        archive_env: dict[str, str] = {}
        if archive is not None:
            object_prefix = f"{ARCHIVE_PREFIX}/{name}"
            self.archiver = self._function(
                "Archiver",
                "archiver",
                "Writes archived API requests to S3 in daily partitions",
                ARCHIVER_TIMEOUT,
                {
                    **common,
                    env.ARCHIVE_BUCKET: archive.bucket.bucket_name,
                    env.ARCHIVE_KEY_ARN: archive.encryption_key.key_arn,
                },
            )
            objects = archive.bucket.arn_for_objects(f"{object_prefix}/*")
            self.archiver.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[objects]))
            archive.encryption_key.grant(self.archiver, "kms:GenerateDataKey")
            acknowledge_resource(
                self.archiver.role or self.archiver,
                objects,
                f"Archive objects are named by date and batch at run time; writes are limited to {object_prefix}/.",
            )
            # Larger batches make fewer, larger objects (better for Athena); the window bounds the delay.
            self.archive_queue = ConsumedQueue(
                self,
                "ArchiveQueue",
                consumer=self.archiver,
                consumer_timeout=ARCHIVER_TIMEOUT,
                encryption_key=encryption_key,
                alert_topic=alert_topic,
                batch_size=100,
                max_batching_window=cdk.Duration.seconds(30),
                description=f"API {name} archive",
            )
            archive_env = {env.ARCHIVE_QUEUE_URL: self.archive_queue.queue.queue_url}

        self.score = self._function(
            "Score",
            "score",
            f"POST /score: scores one record on {endpoint.endpoint_name}",
            SCORE_TIMEOUT,
            {**common, **body_limit, **scoring, **archive_env},
            memory_size=512,
        )
        endpoint.grant_invoke(self.score)
        self.routes: list[Route] = [Route("POST", "/score", self.score)]

        self.results: ResultsTable | None = None
        self.work_queue: ConsumedQueue | None = None
        if async_result_ttl_hours is not None:
            self.results = ResultsTable(self, "Results", encryption_key=encryption_key, removal_policy=removal_policy)
            table = {env.RESULTS_TABLE: self.results.table.table_name}
            self.worker = self._function(
                "Worker",
                "worker",
                "Scores queued API requests into the results table",
                WORKER_TIMEOUT,
                {**common, **scoring, **table, **archive_env, env.MAX_RECEIVE_COUNT: str(MAX_RECEIVE_COUNT)},
            )
            endpoint.grant_invoke(self.worker)
            self.results.grant_write_item(self.worker, "dynamodb:GetItem", "dynamodb:UpdateItem")
            self.work_queue = ConsumedQueue(
                self,
                "WorkQueue",
                consumer=self.worker,
                consumer_timeout=WORKER_TIMEOUT,
                encryption_key=encryption_key,
                alert_topic=alert_topic,
                batch_size=WORKER_BATCH_SIZE,
                description=f"API {name} asynchronous requests",
            )
            self.submit = self._function(
                "Submit",
                "submit",
                "POST /requests: accepts a request and answers with a tracking id",
                SCORE_TIMEOUT,
                {
                    **common,
                    **body_limit,
                    **table,
                    env.WORK_QUEUE_URL: self.work_queue.queue.queue_url,
                    env.RESULT_TTL_HOURS: str(async_result_ttl_hours),
                },
            )
            self.results.grant_write_item(self.submit, "dynamodb:PutItem")
            self.work_queue.queue.grant_send_messages(self.submit)
            self.status = self._function(
                "Status",
                "status",
                "GET /requests/{tracking_id}: the answer, pending, unknown or expired",
                SCORE_TIMEOUT,
                {**common, **table},
            )
            self.results.grant_read_item(self.status)
            self.routes += [Route("POST", "/requests", self.submit), Route("GET", "/requests/{tracking_id}", self.status)]
        if self.archive_queue is not None:
            for producer in (self.score, *([self.worker] if self.results else [])):
                self.archive_queue.queue.grant_send_messages(producer)

        self.rest_api = self._rest_api(resource_prefix, auth, throttle_rate, throttle_burst, request_schema)
        self.usage_plan: apigw.UsagePlan | None = None
        if auth == "api_key":
            self.usage_plan = self.rest_api.add_usage_plan(
                "UsagePlan",
                name=resource_prefix,
                description=f"API keys for {name}: add keys with create-api-key and create-usage-plan-key",
                throttle=apigw.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
                quota=apigw.QuotaSettings(limit=quota_per_day, period=apigw.Period.DAY) if quota_per_day else None,
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
        self.web_acl = RegionalWebAcl(self, "Waf", name=resource_prefix, stage_arn=self.rest_api.deployment_stage.stage_arn)
        self.alarms = self._alarms(alarms or LatencyAlarms())
        self.dashboard = self._dashboard()
        self._acknowledge(auth)

    # --- pieces -----------------------------------------------------------------------------

    def _function(
        self,
        id: str,
        suffix: str,
        description: str,
        timeout: cdk.Duration,
        environment: dict[str, str],
        *,
        memory_size: int = 256,
    ) -> lambda_.Function:
        function = platform_function(
            self,
            id,
            FunctionSpec(
                name=f"{self._prefix}-{suffix}",
                description=description,
                handler=f"{HANDLER_FOLDER}.{suffix}.handler",
                code=self._code,
                timeout=timeout,
                memory_size=memory_size,
                environment=environment,
                powertools=True,
                tracing=True,
            ),
            logs=self._logs,
        )
        self.functions.append(function)
        return function

    def _rest_api(self, api_name: str, auth: str, rate: float, burst: int, request_schema: Mapping[str, Any]) -> apigw.RestApi:
        access_logs = self._logs.log_group(self, "AccessLogs", f"/aws/apigateway/{api_name}/access")
        self.access_logs = access_logs
        # API Gateway's own 429s (stage or usage-plan throttle, daily quota) never reach a function: count them
        # from the access log, per route, for the throttles alarm. At most three dimensions per metric filter
        # (CloudWatch Logs PutMetricFilter: Dimensions); their values are access-log fields.
        logs.MetricFilter(
            self,
            "GatewayThrottles",
            log_group=access_logs,
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_namespace=METRICS_NAMESPACE,
            metric_name=GATEWAY_THROTTLED,
            metric_value="1",
            dimensions={"Api": "$.api", "Resource": "$.resourcePath", "Method": "$.httpMethod"},
        )
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=api_name,
            description=f"Scoring API {self.name} in front of SageMaker endpoint {self.endpoint.endpoint_name}",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # account-level; see api/account.py
            api_key_source_type=apigw.ApiKeySourceType.HEADER if auth == "api_key" else None,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                metrics_enabled=True,  # per-method metrics: the per-route alarms need them
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log bodies
                throttling_rate_limit=rate,
                throttling_burst_limit=burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps({"api": self.name, **_ACCESS_LOG_FIELDS}, separators=(",", ":"))
                ),
            ),
        )
        # API Gateway creates the execution-log group itself, unencrypted and never expiring,
        # unless it exists: create it first, encrypted and with a retention.
        execution_logs = self._logs.log_group(self, "ExecutionLogs", f"API-Gateway-Execution-Logs_{api.rest_api_id}/{STAGE}")
        api.deployment_stage.node.add_dependency(execution_logs)
        # Gateway-response templates get plain substitution, no VTL and no escaping (API Gateway Developer
        # Guide, x-amazon-apigateway-gateway-responses.responseTemplates); the validator's detail
        # ($context.error.validationErrorString) holds double quotes and would break the JSON, so the body
        # carries $context.error.messageString, which API Gateway substitutes already quoted.
        api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            templates={"application/json": BAD_REQUEST_BODY_TEMPLATE},
        )
        model = api.add_model(
            "RequestModel",
            content_type="application/json",
            description="The request body (the config's payload.schema)",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        # The config's document as is (validated as draft 4 when the config loaded).
        model.node.default_child.add_property_override("Schema", dict(request_schema))  # type: ignore[union-attr]
        # One validator for every method: bodies against their model, required path parameters present.
        validator = api.add_request_validator("Validator", validate_request_body=True, validate_request_parameters=True)
        options: dict[str, Any] = (
            {"authorization_type": apigw.AuthorizationType.IAM}
            if auth == "iam"
            else {"authorization_type": apigw.AuthorizationType.NONE, "api_key_required": True}
        )
        for route in self.routes:
            resource = api.root.resource_for_path(route.path)
            integration = apigw.LambdaIntegration(route.function, proxy=True)
            if route.method == "POST":
                resource.add_method(
                    route.method,
                    integration,
                    request_validator=validator,
                    # API Gateway validates a body only against the model mapped to the request's content
                    # type; $default covers every content type, so no body skips the schema.
                    request_models={DEFAULT_CONTENT_TYPE: model},
                    **options,
                )
            else:
                resource.add_method(
                    route.method,
                    integration,
                    request_validator=validator,
                    request_parameters={"method.request.path.tracking_id": True},
                    **options,
                )
        return api

    def metric_route(self, metric_name: str, route: Route, **options: Any) -> cloudwatch.Metric:
        """An API Gateway per-method metric (Latency, IntegrationLatency, Count, 4XXError, 5XXError)."""
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=metric_name,
            dimensions_map={
                "ApiName": self._prefix,
                "Stage": STAGE,
                "Resource": route.path,
                "Method": route.method,
            },
            **{"period": _ONE_MINUTE, **options},
        )

    def metric_gateway_throttles(self, route: Route) -> cloudwatch.Metric:
        """429s API Gateway answered itself (throttle or quota), from the access log's metric filter."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=GATEWAY_THROTTLED,
            dimensions_map={"Api": self.name, "Resource": route.path, "Method": route.method},
            period=_ONE_MINUTE,
            statistic="Sum",
        )

    def metric_handler(self, metric_name: str, function: lambda_.Function, **options: Any) -> cloudwatch.Metric:
        """A metric the handlers publish (Powertools EMF: dimensions Api and service)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"Api": self.name, "service": function.function_name},
            **{"period": _ONE_MINUTE, "statistic": "Sum", **options},
        )

    def _alarms(self, settings: LatencyAlarms) -> list[cloudwatch.Alarm]:
        alarms: list[cloudwatch.Alarm] = []
        periods: dict[str, Any] = {
            "evaluation_periods": settings.evaluation_minutes,
            "datapoints_to_alarm": settings.datapoints_to_alarm,
            "treat_missing_data": cloudwatch.TreatMissingData.NOT_BREACHING,
        }
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        for route in self.routes:
            key = route.function.node.id
            for statistic, limit in (("p50", settings.p50_ms), ("p99", settings.p99_ms)):
                alarms.append(
                    cloudwatch.Alarm(
                        self,
                        f"{key}Latency{statistic.upper()}",
                        alarm_description=f"{route.name}: {statistic} latency above {limit} ms",
                        metric=self.metric_route("Latency", route, statistic=statistic),
                        threshold=limit,
                        comparison_operator=above,
                        **periods,
                    )
                )
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{key}Errors5xx",
                    alarm_description=f"{route.name}: more than {settings.error_rate_5xx_percent}% of answers are 5xx",
                    # 5XXError is 1 per failed request, 0 otherwise: its average is the error share.
                    metric=cloudwatch.MathExpression(
                        expression="100 * errors",
                        using_metrics={"errors": self.metric_route("5XXError", route, statistic="Average")},
                        label="5xx %",
                        period=_ONE_MINUTE,
                    ),
                    threshold=settings.error_rate_5xx_percent,
                    comparison_operator=above,
                    **periods,
                )
            )
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{key}Throttles",
                    alarm_description=f"{route.name}: requests throttled (the stage, usage plan or quota; the "
                    "function's concurrency; or the endpoint's 429s)",
                    metric=cloudwatch.MathExpression(
                        expression="FILL(gateway, 0) + FILL(lambda, 0) + FILL(endpoint, 0)",
                        using_metrics={
                            "gateway": self.metric_gateway_throttles(route),
                            "lambda": route.function.metric_throttles(period=_ONE_MINUTE, statistic="Sum"),
                            "endpoint": self.metric_handler("Status429", route.function),
                        },
                        label="throttled",
                        period=_ONE_MINUTE,
                    ),
                    threshold=0,
                    comparison_operator=above,
                    **periods,
                )
            )
        if self.archive_queue is not None:
            senders = [self.score, *([self.worker] if self.results else [])]
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    "ArchiveSendFailures",
                    alarm_description=f"API {self.name}: requests not queued for the archive (records are in the "
                    "functions' logs, 'archive send failed')",
                    metric=cloudwatch.MathExpression(
                        expression=" + ".join(f"FILL(s{i}, 0)" for i in range(len(senders))),
                        using_metrics={f"s{i}": self.metric_handler("ArchiveSendFailed", f) for i, f in enumerate(senders)},
                        label="archive send failures",
                        period=_ONE_MINUTE,
                    ),
                    threshold=0,
                    comparison_operator=above,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        action = cw_actions.SnsAction(self._alert_topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self._prefix)
        for route in self.routes:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{route.name}: latency (ms)",
                    left=[self.metric_route("Latency", route, statistic=s) for s in ("p50", "p99")]
                    + [self.metric_route("IntegrationLatency", route, statistic="p50")],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{route.name}: requests and errors",
                    left=[self.metric_route("Count", route, statistic="Sum")],
                    right=[self.metric_route(m, route, statistic="Sum") for m in ("4XXError", "5XXError")],
                    width=12,
                ),
            )
        variants = list(self.endpoint.variant_names)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"endpoint {self.endpoint.endpoint_name}: invocations per variant",
                left=[self.endpoint.metric_invocations(v) for v in variants],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title=f"endpoint {self.endpoint.endpoint_name}: model latency p99 (µs)",
                left=[self.endpoint.metric_model_latency(v) for v in variants],
                width=12,
            ),
        )
        queues = [q for q in (self.work_queue, self.archive_queue) if q is not None]
        if queues:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="queues: visible messages (dead-letter on the right)",
                    left=[q.queue.metric_approximate_number_of_messages_visible(period=_ONE_MINUTE) for q in queues],
                    right=[q.dead_letters.metric_approximate_number_of_messages_visible(period=_ONE_MINUTE) for q in queues],
                    width=24,
                )
            )
        return dashboard

    def _acknowledge(self, auth: str) -> None:
        """Each finding on the narrowest construct that owns it: the functions, or the REST API."""
        function_acks = [
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The Lambda basic execution policy lets these functions write their own logs; the groups are created "
                "here, encrypted and with a retention.",
            ),
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) support no resource-level permissions.",
            ),
            NagAck(
                "AwsSolutions-L1",
                "Python 3.13: the runtime the pinned Powertools layer (functions.py) is published for and the handlers "
                "are tested on; moving runtime is a change of its own.",
            ),
            # CDK's queue and table grants use these action wildcards, on the one key of this API's queues and table.
            NagAck("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", _KEY_ACTION_REASON),
            NagAck("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", _KEY_ACTION_REASON),
        ]
        for function in self.functions:
            acknowledge(function, *function_acks)
        api_acks = [
            NagAck(
                "AwsSolutions-COG4",
                "Callers are services, not users: they authenticate with IAM (SigV4) or an API key, not a Cognito user pool.",
            ),
        ]
        if auth == "api_key":
            api_acks.append(
                NagAck(
                    "AwsSolutions-APIG4",
                    "auth: api_key in config: callers are identified by API keys counted and capped by the usage plan; "
                    "choose auth: iam for SigV4 authorization.",
                )
            )
        acknowledge(self.rest_api, *api_acks)

    def _validate(
        self,
        prefix: str,
        endpoint: IModelEndpoint,
        target_variant: str | None,
        auth: str,
        quota_per_day: int | None,
        logs: LogGroupSettings,
    ) -> None:
        problems = Problems(self)
        longest = f"{prefix}-archiver"
        problems.check(
            len(longest) <= MAX_FUNCTION_NAME,
            f"resource_prefix '{prefix}' makes function names like '{longest}' ({len(longest)} characters); "
            f"Lambda allows {MAX_FUNCTION_NAME}",
        )
        if target_variant is not None:
            problems.check(
                target_variant in endpoint.variant_names,
                f"target_variant '{target_variant}' is not a variant of {endpoint.endpoint_name} "
                f"({', '.join(endpoint.variant_names)})",
            )
        problems.check(auth in ("iam", "api_key"), f"auth '{auth}': use iam or api_key")
        problems.check(quota_per_day is None or auth == "api_key", "quota_per_day needs auth api_key (quotas count API keys)")
        problem = logs.problem()
        problems.check(problem is None, f"logs.retention_days: {problem}")
        problems.raise_if_any()


_KEY_ACTION_REASON = (
    "CDK's queue and table grants name these KMS action families on the one key that encrypts this API's queues and table."
)

# Access log fields ($context variables, API Gateway Developer Guide, "Variables for access logging").
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "apiKeyId": "$context.identity.apiKeyId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    # The error's type (e.g. BAD_REQUEST_BODY, THROTTLED, QUOTA_EXCEEDED) has no quotes in it; the validator's
    # detail and the error message can, and access-log variables are substituted unescaped, so they stay out.
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}
