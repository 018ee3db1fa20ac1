"""Batch transform: score files of JSON Lines offline with the same model and image as serving.

Transform jobs have no CloudFormation resource, so each configured transform is a Step
Functions state machine (named, because operators start it by name: `mlops batch start`)
that runs one SageMaker CreateTransformJob to completion (.sync). Input is read from
`batch/<name>/input/<prefix>` in the data bucket, output is written to
`batch/<name>/output/<job name>/`, both KMS-encrypted; the model's role may touch
nothing else. Records are sent MultiRecord, split by line, at most `max_payload_mb` per
request: under the inference server's 6 MB limit, so no request is ever refused for size.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.roles import SageMakerExecutionRole

# The inference server answers 413 above 6 MB (SageMaker's real-time limit); stay under it.
MAX_PAYLOAD_MB = 6


def input_prefix(name: str) -> str:
    return f"batch/{name}/input/"


def output_prefix(name: str) -> str:
    return f"batch/{name}/output/"


class BatchTransform(Construct):
    """A state machine that runs one transform job per execution.

    Execution input: `{"job_name": "<SageMaker name>", "input_prefix": "<key prefix under batch/<name>/input/>"}`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        state_machine_name: str,
        model: ModelArtifact,
        image: ContainerImage,
        data_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        instance_type: str,
        instance_count: int = 1,
        max_payload_mb: int = 5,
        max_concurrent_transforms: int = 1,
        environment: Mapping[str, str] | None = None,
        timeout: cdk.Duration = cdk.Duration.hours(6),
    ) -> None:
        super().__init__(scope, id)
        owner = f"BatchTransform({id})"
        if not is_sagemaker_name(name):
            raise ValueError(f"{owner}: name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
        try:
            instance = parse_instance_type(instance_type, "transform")
        except InstanceTypeError as error:
            raise ValueError(f"{owner}: instance_type {error}") from None
        if not 1 <= max_payload_mb <= MAX_PAYLOAD_MB:
            raise ValueError(
                f"{owner}: max_payload_mb {max_payload_mb} is outside 1-{MAX_PAYLOAD_MB} (the server's request limit)"
            )
        if instance_count < 1 or max_concurrent_transforms < 1:
            raise ValueError(f"{owner}: instance_count and max_concurrent_transforms must be at least 1")
        self.name = name

        execution = SageMakerExecutionRole(
            self, "ModelRole", purpose="transform", description=f"SageMaker batch transform role for {name}"
        )
        execution.allow_logs_and_metrics(f"{name}-*")
        role = self.role = execution.role
        model.grant_read(role)
        image.grant_pull(role)
        inputs = data_bucket.arn_for_objects(f"{input_prefix(name)}*")
        outputs = data_bucket.arn_for_objects(f"{output_prefix(name)}*")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[inputs]))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{input_prefix(name)}*"]}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[outputs])
        )
        encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        for resource, what in ((inputs, "reads input files"), (outputs, "writes result files")):
            acknowledge_resource(
                role, resource, f"The transform job {what} named at run time; the grant is limited to this transform's prefix."
            )

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.image_uri, model_data_url=model.s3_url, environment=dict(environment or {}) or None
            ),
        )
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.model.node.add_dependency(policy)

        locations = sfn.Pass(
            self,
            "Locations",
            comment="Resolve the S3 input and output locations from the execution input",
            parameters={
                "job_name": sfn.JsonPath.string_at("$.job_name"),
                "input_uri": sfn.JsonPath.format(
                    f"s3://{{}}/{input_prefix(name)}{{}}", data_bucket.bucket_name, sfn.JsonPath.string_at("$.input_prefix")
                ),
                "output_uri": sfn.JsonPath.format(
                    f"s3://{{}}/{output_prefix(name)}{{}}/", data_bucket.bucket_name, sfn.JsonPath.string_at("$.job_name")
                ),
            },
        )
        transform = tasks.SageMakerCreateTransformJob(
            self,
            "Transform",
            transform_job_name=sfn.JsonPath.string_at("$.job_name"),
            model_name=self.model.attr_model_name,
            role=role,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            batch_strategy=tasks.BatchStrategy.MULTI_RECORD,
            max_payload=cdk.Size.mebibytes(max_payload_mb),
            max_concurrent_transforms=max_concurrent_transforms,
            environment=dict(environment) if environment else None,
            transform_input=tasks.TransformInput(
                transform_data_source=tasks.TransformDataSource(
                    s3_data_source=tasks.TransformS3DataSource(
                        s3_uri=sfn.JsonPath.string_at("$.input_uri"),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
                content_type="application/jsonlines",
                split_type=tasks.SplitType.LINE,
            ),
            transform_output=tasks.TransformOutput(
                s3_output_path=sfn.JsonPath.string_at("$.output_uri"),
                accept="application/jsonlines",
                assemble_with=tasks.AssembleWith.LINE,
                encryption_key=encryption_key,
            ),
            transform_resources=tasks.TransformResources(
                instance_count=instance_count,
                instance_type=ec2.InstanceType(instance.name.removeprefix("ml.")),
                volume_encryption_key=None if instance.has_local_storage else encryption_key,
            ),
        )
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(locations.next(transform)),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        acknowledge_resource(
            self.state_machine,
            cdk.Stack.of(self).format_arn(service="sagemaker", resource="transform-job", resource_name="*"),
            "Each execution names its own transform job; Step Functions must create, describe and stop "
            "jobs it names at run time.",
        )
        acknowledge(
            self.state_machine,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray trace segments and CloudWatch Logs delivery APIs used by Step Functions have no "
                "resource-level permissions.",
            ),
        )

    def grant_start(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to start (and watch) executions: what `mlops batch start` needs."""
        return self.state_machine.grant_start_execution(grantee)
