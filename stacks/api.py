"""One stack per scoring API (`mlops-<env>-api-<name>`), in front of an endpoint of the same config.

The endpoint is addressed by its stable name (`ModelEndpoint.from_endpoint_name`), not by a
cross-stack reference, and the stack depends on the endpoint's stack so it deploys after it.
The stack owns its key (queues and results table) and, when async is on, the table, both
retained in a retained environment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.apis import Api
from mlops_constructs.api import ApiGatewayAccountLogging, ArchiveTarget, LatencyAlarms, ScoringApi
from mlops_constructs.endpoint import ModelEndpoint
from mlops_constructs.keys import customer_key
from mlops_constructs.log_groups import LogGroupSettings


def api_stack_name(env_name: str, api: str) -> str:
    return f"mlops-{env_name}-api-{api}"


@dataclass(frozen=True)
class ApiDependencies:
    """What an API stack uses from the foundation."""

    data_bucket: s3.IBucket
    data_key: kms.IKey
    logs_key: kms.IKey
    alert_topic: sns.ITopic
    log_retention_days: int
    removal_policy: cdk.RemovalPolicy


class ApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api: Api,
        endpoint_variants: Sequence[str],
        uses: ApiDependencies,
        repo_root: Path,
        account_logging: bool,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description=f"Scoring API {api.name} in front of endpoint {api.endpoint}", **kwargs)  # type: ignore[arg-type]
        self.account_logging = ApiGatewayAccountLogging(self, "ApiGatewayAccount") if account_logging else None
        self.key = customer_key(
            self, "Key", description=f"Encrypts scoring API {api.name}'s queues and results", removal_policy=uses.removal_policy
        )
        endpoint = ModelEndpoint.from_endpoint_name(self, "Endpoint", api.endpoint, variant_names=endpoint_variants)
        schema = json.loads((repo_root / api.payload.schema_path).read_text(encoding="utf-8"))
        self.api = ScoringApi(
            self,
            "Api",
            name=api.name,
            resource_prefix=id,
            endpoint=endpoint,
            request_schema=schema,
            max_body_bytes=api.max_body_bytes(),
            lambda_src=str(repo_root / "lambda_src"),
            logs=LogGroupSettings(encryption_key=uses.logs_key, retention_days=uses.log_retention_days),
            encryption_key=self.key,
            alert_topic=uses.alert_topic,
            auth=api.auth,
            target_variant=api.variant,
            throttle_rate=api.throttle.rate,
            throttle_burst=api.throttle.burst,
            quota_per_day=api.quota_per_day,
            archive=ArchiveTarget(uses.data_bucket, uses.data_key) if api.archive else None,
            async_result_ttl_hours=api.async_requests.result_ttl_hours if api.async_requests.enabled else None,
            removal_policy=uses.removal_policy,
            alarms=LatencyAlarms(
                p50_ms=api.alarms.latency_p50_ms,
                p99_ms=api.alarms.latency_p99_ms,
                error_rate_5xx_percent=api.alarms.error_rate_5xx_percent,
                evaluation_minutes=api.alarms.evaluation_minutes,
                datapoints_to_alarm=api.alarms.datapoints_to_alarm,
            ),
        )
        if self.account_logging is not None:
            # The stage's logging needs the account's CloudWatch role first.
            self.api.rest_api.deployment_stage.node.add_dependency(self.account_logging.account)
