"""Releases by config: live weight shifts without a new fleet, and guarded model releases.

How the template, the live endpoint and config relate (README "Releasing"):
- Weights are not in the EndpointConfig's identity: every variant's InitialVariantWeight is 0,
  so moving a weight in config changes only the `Custom::EndpointWeights` resource, which
  calls UpdateEndpointWeightsAndCapacities (weights only; instance counts stay with the
  autoscaler) and waits for InService. No EndpointConfig, Model or Endpoint changes, no
  new instances.
- A model or instance change creates a new EndpointConfig; the Endpoint updates with
  RetainAllVariantProperties, so variants that stay keep their live weights and the
  instance counts the autoscaler chose, and a variant that is new starts at weight 0 (its
  InitialVariantWeight) until the weights step, seconds later, gives it its config share.
  CreateEndpointConfig accepts weight 0 (ProductionVariant.InitialVariantWeight: min 0 in
  the service model); all-zero weights occur only on first creation, before the weights
  step runs and before the endpoint takes traffic.
- The update itself follows `DeploymentGuardrails` (blue/green all-at-once, canary, linear,
  or rolling) and rolls back on the endpoint's own alarms plus any named ones.
- `Custom::ReleasePreflight` runs before a new EndpointConfig is created and refuses what
  SageMaker would reject twenty minutes in (see lambda_src/endpoint_weights/core.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from mlops_constructs.functions import FunctionSpec, handler_code, platform_function
from mlops_constructs.guardrails import DeploymentGuardrails
from mlops_constructs.log_groups import VENDED_LOGS_STATES_PREFIX, LogGroupSettings
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.validation import Problems

_HANDLER_FOLDER = "endpoint_weights"


def deployment_config(
    guardrails: DeploymentGuardrails, rollback_alarm_names: Sequence[str]
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """The Endpoint's DeploymentConfig for `guardrails` (validate with `guardrails.problems` first)."""
    rollback = sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
        alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in rollback_alarm_names]
    )
    wait = guardrails.wait_minutes * 60
    timeout = guardrails.max_execution_timeout_minutes * 60
    if guardrails.strategy == "rolling":
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            auto_rollback_configuration=rollback,
            rolling_update_policy=sagemaker.CfnEndpoint.RollingUpdatePolicyProperty(
                maximum_batch_size=_percent(guardrails.rolling_batch_percent),
                wait_interval_in_seconds=wait,
                maximum_execution_timeout_in_seconds=timeout,
            ),
        )
    routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type=guardrails.strategy.upper(),
        wait_interval_in_seconds=wait,
        canary_size=_percent(guardrails.canary_percent) if guardrails.strategy == "canary" else None,
        linear_step_size=_percent(guardrails.linear_step_percent) if guardrails.strategy == "linear" else None,
    )
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        auto_rollback_configuration=rollback,
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=guardrails.termination_wait_minutes * 60,
            maximum_execution_timeout_in_seconds=timeout,
        ),
    )


def _percent(value: int) -> sagemaker.CfnEndpoint.CapacitySizeProperty:
    return sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=value)


class ReleaseProvider(Construct):
    """The custom-resource provider that sets live weights and runs release preflights.

    One per environment, shared by its endpoint stacks (a provider per endpoint would add a
    Lambda, a waiter state machine and their roles to every endpoint stack). Its role may
    describe and update the weights of exactly `endpoint_names`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_names: Sequence[str],
        logs: LogGroupSettings,
        lambda_src: str,
        timeout: cdk.Duration = cdk.Duration.minutes(60),
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(bool(endpoint_names), "endpoint_names: name at least one endpoint")
        retention = logs.problem()
        problems.check(retention is None, f"logs.retention_days: {retention}")
        problems.raise_if_any()
        stack = cdk.Stack.of(self)

        code = handler_code(lambda_src, _HANDLER_FOLDER)

        def make_function(id: str, suffix: str, entry: str, description: str, timeout: cdk.Duration) -> lambda_.Function:
            spec = FunctionSpec(
                name=f"{stack.stack_name}-{suffix}",
                description=description,
                handler=f"{_HANDLER_FOLDER}.handler.{entry}",
                code=code,
                timeout=timeout,
            )
            return platform_function(self, id, spec, logs=logs)

        self.handler = make_function(
            "Handler",
            "endpoint-weights",
            "on_event",
            "Sets live SageMaker variant weights and runs release preflights (mlops release by config)",
            cdk.Duration.minutes(2),
        )
        complete = make_function(
            "IsComplete",
            "endpoint-weights-complete",
            "is_complete",
            "Reports when live weights have settled (InService)",
            cdk.Duration.minutes(1),
        )
        endpoints = [
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name=name.lower()) for name in endpoint_names
        ]
        configs = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        for function in (self.handler, complete):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"], resources=endpoints
                )
            )
        self.handler.add_to_role_policy(iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[configs]))
        self.handler.add_to_role_policy(
            iam.PolicyStatement(actions=["application-autoscaling:DescribeScalableTargets"], resources=["*"])
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler,
            is_complete_handler=complete,
            query_interval=cdk.Duration.seconds(15),
            total_timeout=timeout,
            log_group=logs.log_group(self, "FrameworkLogs", f"/aws/lambda/{stack.stack_name}-release-framework"),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=logs.log_group(self, "WaiterLogs", f"{VENDED_LOGS_STATES_PREFIX}{stack.stack_name}-release-waiter"),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        acknowledge_resource(
            self.handler.role or self,
            configs,
            "Endpoint configs have CloudFormation-generated names; the preflight reads the live endpoint's current one.",
        )
        acknowledge(
            self,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "application-autoscaling:DescribeScalableTargets and the provider framework's X-Ray and log-delivery "
                "calls support no resource-level permissions.",
            ),
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The Lambda basic execution policy lets these functions write their own logs; the groups are "
                "created here, encrypted and with a retention.",
            ),
            NagAck(
                "AwsSolutions-L1",
                "The provider framework's own functions use the runtime aws-cdk-lib pins; ours use Python 3.13.",
            ),
            NagAck(
                "AwsSolutions-SF2",
                "The provider framework's waiter state machine offers no X-Ray option; it only polls isComplete.",
            ),
        )
        for function in (self.handler, complete, *self._framework_functions()):
            acknowledge(
                self,
                NagAck(
                    f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
                    "The provider framework invokes this function by ARN with any version qualifier (`<arn>:*`); "
                    "the grant names this one function.",
                ),
            )

    def _framework_functions(self) -> list[lambda_.Function]:
        framework = self.provider.node
        return [
            child
            for name in ("framework-isComplete", "framework-onTimeout")
            if isinstance(child := framework.try_find_child(name), lambda_.Function)
        ]

    @property
    def service_token(self) -> str:
        return self.provider.service_token


@dataclass(frozen=True)
class LiveWeights:
    """Set a ModelEndpoint's weights through `service_token` (a ReleaseProvider's) instead of its EndpointConfig."""

    service_token: str


def weights_resource(
    scope: Construct, id: str, *, service_token: str, endpoint_name: str, weights: Mapping[str, float], config_name: str
) -> cdk.CustomResource:
    """`Custom::EndpointWeights`: runs on weight changes and after every endpoint update (`config_name`)."""
    return cdk.CustomResource(
        scope,
        id,
        service_token=service_token,
        resource_type="Custom::EndpointWeights",
        properties={
            "EndpointName": endpoint_name,
            "Weights": json.dumps(dict(weights), sort_keys=True),
            # After a new EndpointConfig (a new variant starts at weight 0) the weights are set again.
            "EndpointConfigName": config_name,
        },
    )


def preflight_resource(
    scope: Construct,
    id: str,
    *,
    service_token: str,
    endpoint_name: str,
    variants: Mapping[str, str],
    guarded: str,
) -> cdk.CustomResource:
    """`Custom::ReleasePreflight`: runs when variants, instance types or the strategy change."""
    return cdk.CustomResource(
        scope,
        id,
        service_token=service_token,
        resource_type="Custom::ReleasePreflight",
        properties={
            "EndpointName": endpoint_name,
            "Variants": json.dumps([{"name": n, "instance_type": t} for n, t in variants.items()]),
            "Guarded": guarded,  # "true" | "false" (may be a lazy value)
        },
    )
