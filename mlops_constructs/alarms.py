"""Alerting: a KMS-encrypted SNS topic, and per-endpoint 5xx-rate and p99-latency alarms.

Alarms are evaluated per variant and rolled up per endpoint by composite alarms:
percentiles cannot be combined across variants, and a challenger taking 10% of traffic
can fail outright while the endpoint-wide error rate stays under the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from mlops_constructs.endpoint import ModelEndpoint
from mlops_constructs.keys import customer_key


class AlertTopic(Construct):
    """SNS topic for alarms, encrypted with its own key that CloudWatch may use.

    A separate key keeps the CloudWatch service principal away from the data key.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        emails: Sequence[str] = (),
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.key = customer_key(self, "Key", description="Encrypts the ML platform's alert topic", removal_policy=removal_policy)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


class EndpointAlarms(Construct):
    """Per-variant 5xx-rate and p99-latency alarms, with one composite of each per endpoint.

    Only the composites notify `topic`; the variant alarms show which variant tripped.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: ModelEndpoint,
        topic: sns.ITopic,
        error_rate_5xx_percent: float = 1.0,
        model_latency_p99: cdk.Duration = cdk.Duration.seconds(1),
        evaluation_periods: int = 5,
        datapoints_to_alarm: int = 3,
    ) -> None:
        super().__init__(scope, id)
        if not 0 < error_rate_5xx_percent <= 100:
            raise ValueError(f"EndpointAlarms({id}): error_rate_5xx_percent must be in (0, 100]")
        if not 1 <= datapoints_to_alarm <= evaluation_periods:
            raise ValueError(f"EndpointAlarms({id}): need 1 <= datapoints_to_alarm <= evaluation_periods")
        period = cdk.Duration.minutes(1)
        name = endpoint.endpoint_name
        self.error_rate_alarms: dict[str, cloudwatch.Alarm] = {}
        self.latency_alarms: dict[str, cloudwatch.Alarm] = {}
        for variant in endpoint.variant_names:
            rate = cloudwatch.MathExpression(
                expression="100 * errors / invocations",
                using_metrics={
                    "errors": endpoint.metric_5xx_errors(variant, period),
                    "invocations": endpoint.metric_invocations(variant, period=period),
                },
                label=f"{name}/{variant} 5xx %",
                period=period,
            )
            self.error_rate_alarms[variant] = rate.create_alarm(
                self,
                f"ErrorRate-{variant}",
                alarm_description=f"{name}/{variant}: 5xx responses above {error_rate_5xx_percent}% of invocations",
                threshold=error_rate_5xx_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            micros = model_latency_p99.to_milliseconds() * 1000
            self.latency_alarms[variant] = endpoint.metric_model_latency(variant, period=period).create_alarm(
                self,
                f"LatencyP99-{variant}",
                alarm_description=f"{name}/{variant}: p99 model latency above {model_latency_p99.to_milliseconds()} ms",
                threshold=micros,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        action = cw_actions.SnsAction(topic)
        self.error_rate = self._composite(
            "ErrorRate", f"{name}: a variant's 5xx rate is above threshold", self.error_rate_alarms, action
        )
        self.latency = self._composite(
            "LatencyP99", f"{name}: a variant's p99 model latency is above threshold", self.latency_alarms, action
        )

    def _composite(
        self, id: str, description: str, alarms: dict[str, cloudwatch.Alarm], action: cloudwatch.IAlarmAction
    ) -> cloudwatch.CompositeAlarm:
        composite = cloudwatch.CompositeAlarm(
            self,
            id,
            alarm_description=description,
            alarm_rule=cloudwatch.AlarmRule.any_of(*alarms.values()),
        )
        composite.add_alarm_action(action)
        composite.add_ok_action(action)
        return composite
