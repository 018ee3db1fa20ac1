"""Per-epoch training metrics: EventBridge rule -> Lambda -> DynamoDB table (job name, epoch).

The training image sends one event per epoch (source `mlops.training`); a rule on the
account's default bus hands each to a Powertools function (lambda_src/training_metrics) that
writes the item conditionally, so EventBridge's at-least-once delivery stores each epoch once.
Nothing is dropped silently: a malformed event is sent by the function, with its reason, to a
dead-letter queue; events the rule cannot deliver and invocations that keep failing land in
the same queue; any message there raises an alarm on the platform's alert topic.

The table is encrypted with the platform key, has point-in-time recovery, and follows the
environment's removal policy (retained in prod). The queue uses SQS-managed encryption: with
a customer key, EventBridge and Lambda would need that key's policy to admit them.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_constructs.functions import FunctionSpec, handler_code, platform_function
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.nag import NagAck, acknowledge
from mlops_constructs.training.metrics import EVENT_DETAIL_TYPE, EVENT_SOURCE


class EpochMetricsStore(Construct):
    """The metrics table and the pipeline that fills it from training events."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function_name: str,
        lambda_src: str,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        logs: LogGroupSettings,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="job_name", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="epoch", type=dynamodb.AttributeType.NUMBER),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            removal_policy=removal_policy,
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            NagAck(
                "AwsSolutions-SQS3",
                "This queue is itself the dead-letter queue: of the EventBridge target, of the function's failed "
                "asynchronous invocations, and of malformed events the function rejects.",
            ),
        )
        self.function = platform_function(
            self,
            "Function",
            FunctionSpec(
                name=function_name,
                description="Stores each training epoch's metrics (EventBridge -> DynamoDB)",
                handler="training_metrics.handler.handle",
                code=handler_code(lambda_src, "training_metrics"),
                environment={
                    "TABLE_NAME": self.table.table_name,
                    "DEAD_LETTER_QUEUE_URL": self.dead_letters.queue_url,
                },
                powertools=True,
            ),
            logs=logs,
        )
        # PutItem only. DynamoDB uses the table's KMS key through the grant it holds itself;
        # callers of item APIs need no KMS permission ("Encryption at rest: how it works").
        self.table.grant(self.function, "dynamodb:PutItem")
        acknowledge(
            self.function,
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The Lambda basic execution policy lets the function write its own logs; its group is created here, "
                "encrypted and with a retention.",
            ),
            NagAck("AwsSolutions-L1", "Python 3.13 is the runtime the handler and Powertools layer are tested with."),
            NagAck(
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "CDK's grant to send to an encrypted queue; it names that queue's key only.",
            ),
        )
        self.dead_letters.grant_send_messages(self.function)
        # Invocations that fail after Lambda's retries (e.g. the table throttles) go to the queue too.
        self.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters), retry_attempts=2, max_event_age=cdk.Duration.hours(6)
        )
        self.rule = events.Rule(
            self,
            "EpochEvents",
            description="Training epoch events from the training image into the metrics table",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[EVENT_DETAIL_TYPE]),
            targets=[
                targets.LambdaFunction(
                    self.function, dead_letter_queue=self.dead_letters, retry_attempts=8, max_event_age=cdk.Duration.hours(2)
                )
            ],
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description="Training metric events could not be stored: read the messages in the dead-letter queue",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cw_actions.SnsAction(alert_topic))

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Query the epochs of a job (what `mlops train start --wait` does)."""
        return self.table.grant(grantee, "dynamodb:Query", "dynamodb:GetItem")
