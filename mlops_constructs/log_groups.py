"""CloudWatch Logs for the platform: where SageMaker writes, and groups we own.

SageMaker picks the log group and stream names itself (Amazon SageMaker Developer Guide,
"Log groups and streams that Amazon SageMaker AI sends to Amazon CloudWatch Logs"):
endpoints write to one group per endpoint, `/aws/sagemaker/Endpoints/<endpoint>`, with
streams `<variant>/<instance>`; every job type writes to one shared group per type
(`/aws/sagemaker/TransformJobs`, ...) with streams `<job name>/<host>-<epoch>`. A grant
on `/aws/sagemaker/TransformJobs/<job>*` therefore names a group that never exists.

Groups the platform creates carry a retention and a customer key. The key's policy must
let `logs.<region>.amazonaws.com` use it for this account's log groups, or CreateLogGroup
fails (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from mlops_constructs.keys import customer_key
from mlops_constructs.service_limits import retention_problem

SageMakerLogSource = Literal["endpoint", "transform", "training", "processing", "labeling"]

_JOB_GROUPS: dict[SageMakerLogSource, str] = {
    "transform": "/aws/sagemaker/TransformJobs",
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",  # also Model Monitor schedules' jobs
    "labeling": "/aws/sagemaker/LabelingJobs",
}
ENDPOINT_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
# Step Functions (and other vended logs) must log under this prefix, or each state machine
# adds to the account's CloudWatch Logs resource policy, which is capped at 5,120
# characters (Step Functions Developer Guide, "Logging using CloudWatch Logs").
VENDED_LOGS_STATES_PREFIX = "/aws/vendedlogs/states/"

# PutRetentionPolicy accepts only these (service_limits.RETENTION_DAYS); each has a RetentionDays member.
_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


@dataclass(frozen=True)
class SageMakerLogLocation:
    """The log group SageMaker writes to for one workload, and the streams that are its own."""

    group: str
    stream_prefix: str  # "" when the whole group is the workload's (endpoints)

    @staticmethod
    def endpoint(endpoint_name: str) -> SageMakerLogLocation:
        return SageMakerLogLocation(f"{ENDPOINT_GROUP_PREFIX}{endpoint_name}", "")

    @staticmethod
    def job(source: SageMakerLogSource, job_name_prefix: str) -> SageMakerLogLocation:
        """Jobs named `<job_name_prefix>...`: their streams start with the job name."""
        if source == "endpoint":
            raise ValueError("endpoints have a group of their own: use SageMakerLogLocation.endpoint")
        return SageMakerLogLocation(_JOB_GROUPS[source], job_name_prefix)

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """What SageMaker needs, acting as `grantee`, to write this workload's logs.

        Group-level calls (CreateLogGroup, DescribeLogStreams, CreateLogStream) name the
        group (`...:log-group:<group>:*`); PutLogEvents is limited to the workload's own
        streams when it shares the group with other jobs.
        """
        stack = cdk.Stack.of(grantee.grant_principal) if isinstance(grantee.grant_principal, Construct) else None
        if stack is None:
            raise ValueError("grant_write needs a grantee that lives in a stack")
        group_actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"]
        if not self.stream_prefix:  # the whole group is this workload's
            return iam.Grant.add_to_principal(
                grantee=grantee, actions=[*group_actions, "logs:PutLogEvents"], resource_arns=[self.group_arn(stack)]
            )
        group = iam.Grant.add_to_principal(grantee=grantee, actions=group_actions, resource_arns=[self.group_arn(stack)])
        events = iam.Grant.add_to_principal(
            grantee=grantee, actions=["logs:PutLogEvents"], resource_arns=[self.stream_arn(stack)]
        )
        return group.combine(events)

    def group_arn(self, stack: cdk.Stack) -> str:
        return stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.group}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def stream_arn(self, stack: cdk.Stack) -> str:
        return stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.group}:log-stream:{self.stream_prefix}*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )


def logs_key(scope: Construct, id: str, *, removal_policy: cdk.RemovalPolicy) -> kms.Key:
    """A customer key that CloudWatch Logs may use for this account's log groups only."""
    key = customer_key(scope, id, description="Encrypts the ML platform's CloudWatch log groups", removal_policy=removal_policy)
    stack = cdk.Stack.of(scope)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsForThisAccountsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs", resource="log-group", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
                    )
                }
            },
        )
    )
    return key


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for `days`, which must be one CloudWatch Logs accepts."""
    problem = retention_problem(days)
    if problem:
        raise ValueError(problem)
    return _RETENTION[days]


@dataclass(frozen=True)
class LogGroupSettings:
    """How the platform's log groups are made: a customer key and a retention CloudWatch Logs accepts.

    Deleted with their stack by default (`removal_policy`): the groups have fixed names (an
    endpoint's, a state machine's, a function's), and a retained one would make re-creating
    its owner fail with "already exists".
    """

    encryption_key: kms.IKey
    retention_days: int = 90
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY

    def problem(self) -> str | None:
        """Why these settings cannot be used, or None."""
        return retention_problem(self.retention_days)

    def log_group(self, scope: Construct, id: str, log_group_name: str) -> logs.LogGroup:
        """The named log group, encrypted and expiring."""
        return logs.LogGroup(
            scope,
            id,
            log_group_name=log_group_name,
            encryption_key=self.encryption_key,
            retention=retention(self.retention_days),
            removal_policy=self.removal_policy,
        )
