"""SageMaker execution roles: one per purpose, each scoped to the resources it names.

No AWS-managed policies: everything a role may do is a statement added by the construct
that needs it (`ModelArtifact.grant_read`, `ContainerImage.grant_pull`, ...).
"""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from mlops_constructs.log_groups import SageMakerLogLocation
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource


class SageMakerExecutionRole(Construct):
    """A role SageMaker assumes for one workload, limited to this account (confused-deputy guard)."""

    def __init__(self, scope: Construct, id: str, *, description: str) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=description,
        )

    def allow_logs_and_metrics(self, location: SageMakerLogLocation) -> iam.Grant:
        """CloudWatch Logs where SageMaker writes this workload's logs; metrics in SageMaker's namespaces only."""
        stack = cdk.Stack.of(self)
        grant = location.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
            )
        )
        acknowledge_resource(
            self.role,
            location.group_arn(stack),
            "SageMaker creates log streams per instance at run time; the grant names only the log group it writes to.",
        )
        if location.stream_prefix:
            acknowledge_resource(
                self.role,
                location.stream_arn(stack),
                "Stream names start with the job's name, chosen per run; writes are limited to this workload's jobs.",
            )
        acknowledge(
            self.role,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:PutMetricData and ecr:GetAuthorizationToken support no resource-level permissions; "
                "PutMetricData is limited to SageMaker namespaces by condition.",
            ),
        )
        return grant

    def allow_volume_encryption(self, key: kms.IKey) -> iam.Grant:
        """Let SageMaker attach `key`-encrypted volumes to this workload's instances.

        SageMaker creates a KMS grant for the instances' EBS volumes on the role's behalf
        (CreateTransformJob/CreateTrainingJob/CreateProcessingJob API references:
        VolumeKmsKeyId must be usable by the role); `kms:GrantIsForAWSResource` keeps the
        grant for AWS services only.
        """
        return iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["kms:CreateGrant"],
            resource_arns=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )


def allow_sync_jobs(machine: Construct, role: iam.IRole, kind: Literal["Training", "Transform"], job_prefix: str) -> str:
    """What Step Functions' `create<kind>Job.sync` needs to run and watch jobs named `<job_prefix>...`.

    The jobs themselves, and the managed EventBridge rule through which Step Functions learns
    that they finished (Step Functions Developer Guide, "IAM policies for Amazon SageMaker AI").
    SageMaker ARNs carry the job name lower-cased; log streams keep its case, so only the ARN
    is lowered. Returns the jobs' ARN pattern.
    """
    stack = cdk.Stack.of(machine)
    noun = kind.lower()
    managed_rule = f"StepFunctionsGetEventsForSageMaker{kind}JobsRule"
    jobs = stack.format_arn(service="sagemaker", resource=f"{noun}-job", resource_name=f"{job_prefix.lower()}*")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                f"sagemaker:Create{kind}Job",
                f"sagemaker:Describe{kind}Job",
                f"sagemaker:Stop{kind}Job",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            resources=[jobs],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[stack.format_arn(service="events", resource="rule", resource_name=managed_rule)],
        )
    )
    acknowledge_resource(
        machine, jobs, f"Each execution names its own {noun} job; the grant covers only jobs named after this {noun}."
    )
    return jobs
