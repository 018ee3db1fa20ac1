"""SageMaker execution roles: one per purpose, each scoped to the resources it names.

No AWS-managed policies: everything a role may do is a statement added by the construct
that needs it (`ModelArtifact.grant_read`, `ContainerImage.grant_pull`, ...).
"""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource

Purpose = Literal["serving", "transform", "training", "monitoring", "labelling"]

_LOG_GROUP_PREFIX: dict[Purpose, str] = {
    "serving": "/aws/sagemaker/Endpoints",
    "transform": "/aws/sagemaker/TransformJobs",
    "training": "/aws/sagemaker/TrainingJobs",
    "monitoring": "/aws/sagemaker/ProcessingJobs",
    "labelling": "/aws/sagemaker/LabelingJobs",
}


class SageMakerExecutionRole(Construct):
    """A role SageMaker assumes for one purpose, limited to this account (confused-deputy guard)."""

    def __init__(self, scope: Construct, id: str, *, purpose: Purpose, description: str) -> None:
        super().__init__(scope, id)
        self.purpose = purpose
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=description,
        )
        self._log_prefix = _LOG_GROUP_PREFIX[purpose]

    def allow_logs_and_metrics(self, resource_name: str) -> None:
        """CloudWatch Logs for `resource_name`'s log group; metrics in SageMaker's namespace only."""
        stack = cdk.Stack.of(self)
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self._log_prefix}/{resource_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
            )
        )
        acknowledge_resource(
            self.role,
            log_group,
            "Log streams are created by SageMaker per instance at run time; the grant is limited to this one log group.",
        )
        acknowledge(
            self.role,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:PutMetricData and ecr:GetAuthorizationToken support no resource-level permissions; "
                "PutMetricData is limited to SageMaker namespaces by condition.",
            ),
        )
