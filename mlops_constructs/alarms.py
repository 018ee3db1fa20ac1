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

from mlops_constructs.endpoint import IModelEndpoint
from mlops_constructs.keys import customer_key
from mlops_constructs.validation import Problems


class AlertTopic(Construct):
    """SNS topic for alarms and events, encrypted with its own key that the publishers may use.

    A topic policy replaces SNS's default policy, and `enforce_ssl` writes one whose only
    statement is a Deny: without an explicit Allow, CloudWatch's alarm actions fail with
    "not authorized to perform: SNS:Publish". So each publishing service gets an Allow
    scoped to this account's alarms or rules (the CloudWatch and EventBridge user guides'
    confused-deputy conditions), and the same service may use the topic's key (SNS
    Developer Guide, "Configuring AWS KMS permissions": an encrypted topic needs
    kms:GenerateDataKey* and kms:Decrypt for the publishing service). A separate key keeps
    these service principals away from the data key.
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
        self.key = customer_key(self, "Key", description="Encrypts the ML platform's alert topic", removal_policy=removal_policy)
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        stack = cdk.Stack.of(self)
        self.allow_service_publish(
            "cloudwatch.amazonaws.com",
            stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
            ),
            sid="CloudWatchAlarms",
        )
        self.allow_service_publish(
            "events.amazonaws.com",
            stack.format_arn(service="events", resource="rule", resource_name="*"),
            sid="EventBridgeRules",
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def allow_service_publish(self, service: str, source_arn: str, *, sid: str) -> None:
        """Let `service` publish to the topic (and use its key) on behalf of `source_arn` in this account."""
        account = cdk.Stack.of(self).account
        conditions = {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": source_arn}}
        principal = iam.ServicePrincipal(service)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{sid}ToPublish",
                principals=[principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{sid}ToUseTheTopicKey",
                principals=[principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` publish (and encrypt for) the topic."""
        return self.topic.grant_publish(grantee)


class EndpointAlarms(Construct):
    """Per-variant 5xx-rate and p99-latency alarms, with one composite of each per endpoint.

    Only the composites notify `topic`; the variant alarms show which variant tripped.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IModelEndpoint,
        topic: sns.ITopic,
        error_rate_5xx_percent: float = 1.0,
        model_latency_p99: cdk.Duration = cdk.Duration.seconds(1),
        evaluation_periods: int = 5,
        datapoints_to_alarm: int = 3,
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(0 < error_rate_5xx_percent <= 100, f"error_rate_5xx_percent {error_rate_5xx_percent} must be in (0, 100]")
        problems.check(
            1 <= datapoints_to_alarm <= evaluation_periods,
            f"need 1 <= datapoints_to_alarm ({datapoints_to_alarm}) <= evaluation_periods ({evaluation_periods})",
        )
        problems.raise_if_any()
        period = cdk.Duration.minutes(1)
        name = endpoint.endpoint_name
        latency_ms = model_latency_p99.to_milliseconds()
        self.error_rate_alarms: dict[str, cloudwatch.Alarm] = {}
        self.latency_alarms: dict[str, cloudwatch.Alarm] = {}
        for variant in endpoint.variant_names:
            rate = cloudwatch.MathExpression(
                expression="100 * errors / invocations",
                using_metrics={
                    "errors": endpoint.metric_5xx_errors(variant, period=period),
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
            micros = latency_ms * 1000
            self.latency_alarms[variant] = endpoint.metric_model_latency(variant, period=period).create_alarm(
                self,
                f"LatencyP99-{variant}",
                alarm_description=f"{name}/{variant}: p99 model latency above {latency_ms} ms",
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
