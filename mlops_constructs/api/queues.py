"""An SQS queue that a Lambda function consumes, with its dead-letter queue and an alarm on it.

What AWS enforces, encoded here so the template cannot get it wrong:
- Lambda refuses an SQS event source whose queue's visibility timeout is shorter than the
  function's timeout (CreateEventSourceMapping); Lambda's guide recommends six times the
  function timeout plus the batching window, so a batch retried after throttling is not
  delivered twice while still running ("Using Lambda with Amazon SQS").
- A dead-letter queue must be of the same type (standard) in the same account and Region
  (SQS Developer Guide, "Using dead-letter queues").
- With a customer key, consumers need kms:Decrypt and producers kms:GenerateDataKey
  (SQS Developer Guide, "Key management"); the grants below add exactly those.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# How often SQS delivers a message before moving it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
# Recommended: visibility timeout >= 6 x function timeout + batching window (Lambda Developer Guide).
VISIBILITY_FACTOR = 6


class ConsumedQueue(Construct):
    """A KMS-encrypted, TLS-only queue with a dead-letter queue, consumed by `consumer` with partial batch responses."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        consumer: lambda_.Function,
        consumer_timeout: cdk.Duration,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        batch_size: int = 10,
        max_batching_window: cdk.Duration | None = None,
        description: str,
    ) -> None:
        super().__init__(scope, id)
        window = max_batching_window.to_seconds() if max_batching_window else 0
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(VISIBILITY_FACTOR * consumer_timeout.to_seconds() + window),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
        )
        consumer.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_batching_window=max_batching_window,
                report_batch_item_failures=True,
            )
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description=f"{description}: messages in the dead-letter queue (failed {MAX_RECEIVE_COUNT} times); "
            "inspect them, fix the cause, then redrive",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=cdk.Duration.minutes(1)
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(cw_actions.SnsAction(alert_topic))
