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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.log_groups import VENDED_LOGS_STATES_PREFIX, LogGroupSettings, SageMakerLogLocation
from mlops_constructs.models import container_model
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.network import VpcPlacement
from mlops_constructs.roles import SageMakerExecutionRole, allow_sync_jobs
from mlops_constructs.service_limits import MAX_CONCURRENT_PAYLOAD_MB
from mlops_constructs.validation import Problems

# The inference server answers 413 above 6 MB (SageMaker's real-time limit); stay under it.
MAX_PAYLOAD_MB = 6


def input_prefix(name: str) -> str:
    return f"batch/{name}/input/"


def output_prefix(name: str) -> str:
    return f"batch/{name}/output/"


class BatchTransform(Construct):
    """A state machine that runs one transform job per execution.

    Execution input: `{"job_name": "<name>-...", "input_prefix": "<key prefix under batch/<name>/input/>"}`;
    the state machine may only create jobs whose names start with `<name>-`.
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
        logs: LogGroupSettings,
        instance_type: str,
        instance_count: int = 1,
        max_payload_mb: int = 5,
        max_concurrent_transforms: int = 1,
        environment: Mapping[str, str] | None = None,
        timeout: cdk.Duration = cdk.Duration.hours(6),
        vpc: VpcPlacement | None = None,
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(is_sagemaker_name(name), f"name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
        instance = None
        try:
            instance = parse_instance_type(instance_type, "transform")
        except InstanceTypeError as error:
            problems.add(f"instance_type {error}")
        problems.check(
            1 <= max_payload_mb <= MAX_PAYLOAD_MB,
            f"max_payload_mb {max_payload_mb} is outside 1-{MAX_PAYLOAD_MB} (the server's request limit)",
        )
        problems.check(instance_count >= 1, f"instance_count {instance_count} must be at least 1")
        problems.check(
            max_concurrent_transforms >= 1, f"max_concurrent_transforms {max_concurrent_transforms} must be at least 1"
        )
        problems.check(
            max_concurrent_transforms * max_payload_mb <= MAX_CONCURRENT_PAYLOAD_MB,
            f"max_concurrent_transforms x max_payload_mb = {max_concurrent_transforms * max_payload_mb} MB; "
            f"CreateTransformJob allows at most {MAX_CONCURRENT_PAYLOAD_MB} MB",
        )
        retention = logs.problem()
        problems.check(retention is None, f"logs.retention_days: {retention}")
        problems.raise_if_any()
        assert instance is not None
        self.name = name

        self.job_prefix = f"{name}-"
        execution = SageMakerExecutionRole(self, "ModelRole", description=f"SageMaker batch transform role for {name}")
        execution.allow_logs_and_metrics(SageMakerLogLocation.job("transform", self.job_prefix))
        role = self.role = execution.role
        # Transform jobs run in their model's VpcConfig (CreateTransformJob has none of its own).
        self.model = container_model(self, "Model", role=role, model=model, image=image, environment=environment, vpc=vpc)
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
        if not instance.has_local_storage:  # SageMaker rejects a volume key on local-NVMe instances
            execution.allow_volume_encryption(encryption_key)
        for resource, what in ((inputs, "reads input files"), (outputs, "writes result files")):
            acknowledge_resource(
                role, resource, f"The transform job {what} named at run time; the grant is limited to this transform's prefix."
            )

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
        resources: dict[str, object] = {"InstanceCount": instance_count, "InstanceType": instance.name}
        if not instance.has_local_storage:  # SageMaker rejects a volume key on local-NVMe instances
            resources["VolumeKmsKeyId"] = encryption_key.key_arn
        parameters: dict[str, object] = {
            "TransformJobName.$": "$.job_name",
            "ModelName": self.model.attr_model_name,
            "BatchStrategy": "MultiRecord",
            "MaxPayloadInMB": max_payload_mb,
            "MaxConcurrentTransforms": max_concurrent_transforms,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.input_uri"}},
                "ContentType": "application/jsonlines",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath.$": "$.output_uri",
                "Accept": "application/jsonlines",
                "AssembleWith": "Line",
                "KmsKeyId": encryption_key.key_arn,
            },
            "TransformResources": resources,
        }
        # The environment lives on the Model's container only: CreateTransformJob's own
        # Environment map holds at most 16 entries and would only repeat it.
        # The one task is written as Amazon States Language: the L2 task class would import
        # aws_stepfunctions_tasks, which alone costs ~0.5 s of every synth (measured).
        transform = sfn.CustomState(
            self,
            "Transform",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createTransformJob.sync",
                "Parameters": parameters,
            },
        )
        log_group = logs.log_group(self, "Logs", f"{VENDED_LOGS_STATES_PREFIX}{state_machine_name}")
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(locations.next(transform)),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        # What createTransformJob.sync needs: run and watch jobs named <name>-*, the managed
        # EventBridge rule that reports their completion, and passing only the model's role.
        machine_role = self.state_machine.role
        allow_sync_jobs(self.state_machine, machine_role, "Transform", self.job_prefix)
        # CreateTransformJob with a VolumeKmsKeyId: the caller, too, must be able to create
        # the volume's KMS grant (for AWS resources only).
        if "VolumeKmsKeyId" in resources:
            iam.Grant.add_to_principal(
                grantee=machine_role,
                actions=["kms:CreateGrant"],
                resource_arns=[encryption_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        machine_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
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
