"""Training: a state machine that runs one SageMaker training job per execution and registers its model.

Training jobs have no CloudFormation resource, so, as for batch transforms, a named Step
Functions state machine (`mlops train start` addresses it) runs CreateTrainingJob to
completion (`.sync`), then writes the model's location to an SSM parameter in the form a
variant's `model_data` takes (`artifacts://<output_prefix><job>/output/model.tar.gz`), and on
any failure publishes to the alert topic before failing.

The job: output and checkpoints KMS-encrypted in the artifacts bucket under `output_prefix`;
the environment's VPC placement if it has one (then S3, ECR, CloudWatch Logs and, for epoch
events, EventBridge must be reachable from the subnets); volume KMS where the instance type
allows it (CreateTrainingJob rejects VolumeKmsKeyId on local-NVMe types); managed spot with a
checkpoint location per job (SageMaker restores /opt/ml/checkpoints into a restarted job);
network isolation if asked; inter-container encryption when distributed; the image's metric
lines as metric definitions; and MLOPS_EVENT_BUS so the image sends per-epoch events (the role
may PutEvents with source `mlops.training` only). The task is hand-written ASL
(aws_stepfunctions_tasks costs ~0.5 s of every synth).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from mlops_constructs.log_groups import VENDED_LOGS_STATES_PREFIX, LogGroupSettings, SageMakerLogLocation
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.network import VpcPlacement
from mlops_constructs.roles import SageMakerExecutionRole, allow_sync_jobs
from mlops_constructs.training.dataset import TrainingDataset
from mlops_constructs.training.metrics import EVENT_SOURCE, metric_definitions
from mlops_constructs.validation import Problems

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
EVENT_BUS_ENV = "MLOPS_EVENT_BUS"  # read by containers/training/mlops_training/reporting.py
JOB_NAME_ENV = "MLOPS_JOB_NAME"  # ditto: the events' key, should SageMaker's TRAINING_JOB_NAME be absent
MAX_RUNTIME = cdk.Duration.days(28)  # StoppingCondition.MaxRuntimeInSeconds


def model_data_uri(output_prefix: str, job_name: str) -> str:
    """Where a job's model.tar.gz lands (SageMaker: <S3OutputPath><job>/output/model.tar.gz).

    The state machine registers this value and `mlops train start --wait` derives it from the
    job name the same way, rather than reading the shared parameter another run may overwrite.
    """
    return f"artifacts://{output_prefix}{job_name}/output/model.tar.gz"


@dataclass(frozen=True)
class SpotOptions:
    """Managed spot training; `max_wait` (capacity wait plus runtime) must be >= the max runtime."""

    max_wait: cdk.Duration


class TrainingStateMachine(Construct):
    """Execution input: `{"job_name": "<name>-..."}`; the machine may only create jobs named `<name>-*`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        state_machine_name: str,
        model_parameter_name: str,
        image: ContainerImage,
        dataset: TrainingDataset,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        alert_topic: sns.ITopic,
        logs: LogGroupSettings,
        instance_type: str,
        instance_count: int = 1,
        volume_size_gb: int = 50,
        max_runtime: cdk.Duration = cdk.Duration.hours(24),
        spot: SpotOptions | None = None,
        checkpoints: bool = True,
        network_isolation: bool = False,
        epoch_events: bool = True,
        hyperparameters: Mapping[str, str] | None = None,
        output_prefix: str = "training/",
        vpc: VpcPlacement | None = None,
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(is_sagemaker_name(name), f"name '{name}' is invalid: {SAGEMAKER_NAME_RULE}")
        instance = None
        try:
            instance = parse_instance_type(instance_type, "training")
        except InstanceTypeError as error:
            problems.add(f"instance_type {error}")
        problems.check(instance_count >= 1, f"instance_count {instance_count} must be at least 1")
        problems.check(volume_size_gb >= 1, f"volume_size_gb {volume_size_gb} must be at least 1")
        runtime_s = max_runtime.to_seconds()
        problems.check(1 <= runtime_s <= MAX_RUNTIME.to_seconds(), f"max_runtime {runtime_s} s is outside 1 s - 28 days")
        if spot is not None:
            problems.check(
                spot.max_wait.to_seconds() >= runtime_s,
                f"spot.max_wait {spot.max_wait.to_seconds()} s is less than max_runtime {runtime_s} s "
                "(MaxWaitTimeInSeconds must be >= MaxRuntimeInSeconds)",
            )
            problems.check(checkpoints, "spot training needs checkpoints: an interrupted job would start over")
        problems.check(
            not (network_isolation and epoch_events), "a network-isolated job cannot send epoch events (no outbound calls)"
        )
        problems.check(
            output_prefix.endswith("/") and not output_prefix.startswith("/"), f"output_prefix '{output_prefix}' must end in '/'"
        )
        retention = logs.problem()
        problems.check(retention is None, f"logs.retention_days: {retention}")
        if vpc is not None:
            for problem in vpc.problems():
                problems.add(problem)
        problems.raise_if_any()
        assert instance is not None
        stack = cdk.Stack.of(self)
        self.job_prefix = f"{name}-"
        self.output_prefix = output_prefix
        checkpoint_prefix = f"{output_prefix}checkpoints/"

        execution = SageMakerExecutionRole(self, "JobRole", description=f"SageMaker training job role for {name}")
        execution.allow_logs_and_metrics(SageMakerLogLocation.job("training", self.job_prefix))
        role = self.role = execution.role
        image.grant_pull(role)
        dataset.grant_read(role)
        if vpc is not None:  # SageMaker attaches the job's network interfaces as this role
            vpc.grant_network_interfaces(role)
        outputs = artifacts_bucket.arn_for_objects(f"{output_prefix}*")
        checkpoint_objects = artifacts_bucket.arn_for_objects(f"{checkpoint_prefix}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[outputs])
        )
        if checkpoints:  # a restarted job downloads its checkpoints
            role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[checkpoint_objects]))
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[artifacts_bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{checkpoint_prefix}*"]}},
                )
            )
        encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        volume_key = not instance.has_local_storage  # CreateTrainingJob rejects VolumeKmsKeyId on local NVMe
        if volume_key:
            execution.allow_volume_encryption(encryption_key)
        acknowledge_resource(
            role, outputs, "The job writes its model and checkpoints under keys named per run, within this training prefix."
        )
        if checkpoints:
            acknowledge_resource(
                role,
                checkpoint_objects,
                "A restarted spot job reads back its own checkpoints, written under per-job keys in this prefix.",
            )

        environment: dict[str, str] = {}
        self.event_bus_arn = stack.format_arn(service="events", resource="event-bus", resource_name="default")
        if epoch_events:
            environment[EVENT_BUS_ENV] = self.event_bus_arn
            environment[f"{JOB_NAME_ENV}.$"] = "$.job_name"
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["events:PutEvents"],
                    resources=[self.event_bus_arn],
                    conditions={"StringEquals": {"events:source": EVENT_SOURCE}},
                )
            )

        self.model_parameter = ssm.StringParameter(
            self,
            "ModelData",
            parameter_name=model_parameter_name,
            string_value="none",
            description=f"model_data of the latest model trained by {state_machine_name} (artifacts://...)",
        )

        resources: dict[str, object] = {
            "InstanceType": instance.name,
            "InstanceCount": instance_count,
            "VolumeSizeInGB": volume_size_gb,
        }
        if volume_key:
            resources["VolumeKmsKeyId"] = encryption_key.key_arn
        stopping: dict[str, object] = {"MaxRuntimeInSeconds": int(runtime_s)}
        if spot is not None:
            stopping["MaxWaitTimeInSeconds"] = int(spot.max_wait.to_seconds())
        bucket = artifacts_bucket.bucket_name
        parameters: dict[str, object] = {
            "TrainingJobName.$": "$.job_name",
            "RoleArn": role.role_arn,
            "AlgorithmSpecification": {
                "TrainingImage": image.image_uri,
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions(),
            },
            "HyperParameters": dict(hyperparameters or {}),
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": dataset.s3_uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{output_prefix}", "KmsKeyId": encryption_key.key_arn},
            "ResourceConfig": resources,
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": spot is not None,
            "EnableNetworkIsolation": network_isolation,
            "EnableInterContainerTrafficEncryption": instance_count > 1,
            "Environment": environment,
        }
        if vpc is not None:
            parameters["VpcConfig"] = {"SecurityGroupIds": list(vpc.security_group_ids), "Subnets": list(vpc.subnet_ids)}
        if checkpoints:
            parameters["CheckpointConfig"] = {
                "S3Uri.$": f"States.Format('s3://{bucket}/{checkpoint_prefix}{{}}/', $.job_name)",
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            }
        catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]
        definition = {
            "Comment": f"Train {name}: one SageMaker training job per execution, then register its model",
            "StartAt": "Train",
            "States": {
                "Train": {
                    "Type": "Task",
                    "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
                    "Parameters": parameters,
                    "ResultSelector": {"model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
                    "ResultPath": "$.training",
                    "Catch": catch,
                    "Next": "Register",
                },
                "Register": {
                    "Type": "Task",
                    "Resource": f"arn:{cdk.Aws.PARTITION}:states:::aws-sdk:ssm:putParameter",
                    "Parameters": {
                        "Name": self.model_parameter.parameter_name,
                        "Type": "String",
                        "Overwrite": True,
                        "Value.$": f"States.Format('{model_data_uri(output_prefix, '{}')}', $.job_name)",
                    },
                    "ResultPath": None,
                    "Catch": catch,
                    "Next": "Trained",
                },
                "Trained": {"Type": "Succeed"},
                "NotifyFailure": {
                    "Type": "Task",
                    "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sns:publish",
                    "Parameters": {
                        "TopicArn": alert_topic.topic_arn,
                        "Subject": f"Training failed: {state_machine_name}",
                        "Message.$": "States.Format('Training job {} failed: {} {}', $.job_name, $.error.Error, $.error.Cause)",
                    },
                    "ResultPath": None,
                    "Next": "Failed",
                },
                "Failed": {"Type": "Fail", "Error": "TrainingFailed", "Cause": "The training job or its registration failed"},
            },
        }
        log_group = logs.log_group(self, "Logs", f"{VENDED_LOGS_STATES_PREFIX}{state_machine_name}")
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_string(stack.to_json_string(definition)),
            timeout=cdk.Duration.seconds(int((spot.max_wait if spot else max_runtime).to_seconds()) + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        self._grant_machine(role, encryption_key if volume_key else None, alert_topic)

    def _grant_machine(self, job_role: iam.IRole, volume_key: kms.IKey | None, topic: sns.ITopic) -> None:
        """What createTrainingJob.sync, the registration and the notification need, and no more."""
        machine_role = self.state_machine.role
        allow_sync_jobs(self.state_machine, machine_role, "Training", self.job_prefix)
        machine_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        if volume_key is not None:  # CreateTrainingJob with VolumeKmsKeyId: the caller creates the volume's grant
            iam.Grant.add_to_principal(
                grantee=machine_role,
                actions=["kms:CreateGrant"],
                resource_arns=[volume_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        self.model_parameter.grant_write(machine_role)
        topic.grant_publish(machine_role)
        acknowledge(
            self.state_machine,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray trace segments and CloudWatch Logs delivery APIs used by Step Functions have no "
                "resource-level permissions.",
            ),
            NagAck(
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "CDK's grant to publish to the KMS-encrypted alert topic; it names that topic's key only.",
            ),
        )

    def grant_start(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to start executions (what `mlops train start` needs)."""
        return self.state_machine.grant_start_execution(grantee)
