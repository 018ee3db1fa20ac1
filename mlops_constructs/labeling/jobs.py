"""Ground Truth labelling jobs managed from the stack, with their Lambdas and role.

Labelling jobs have no CloudFormation resource: `Custom::LabelingJob` (CDK Provider
framework; handler `lambda_src/labeling/jobs.py`) creates one per configured job, stops it
when the resource is deleted, and starts a new job when its settings change (a job cannot
be changed once created; see that module for update and chaining behaviour).

What runs where, and who may do what:
- the labelling role (SageMaker assumes it for the job) reads `labeling/` in the data
  bucket (manifests, text objects, the template and label config the handler uploads),
  writes `labeling/output/`, uses the data key for both, invokes exactly the two Lambdas,
  and writes its logs to `/aws/sagemaker/LabelingJobs` streams named after its jobs;
- the pre-annotation and consolidation Lambdas read `labeling/` with the data key;
- the handler creates, describes and stops only jobs named after configured jobs, passes
  only the labelling role, and writes the template and label config (under
  `labeling/config/<job name>/`, never overwriting a running job's) and pending chained
  requests (`labeling/pending/`).

Output is encrypted with the data key (OutputConfig.KmsKeyId). A volume key has no place in
a custom-task job: CreateLabelingJob takes VolumeKmsKeyId only inside
LabelingJobAlgorithmsConfig (automated data labeling), which only built-in task types use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from constructs import Construct

from mlops_constructs.functions import FunctionSpec, handler_code, platform_function
from mlops_constructs.labeling.template import NerTemplate
from mlops_constructs.log_groups import LogGroupSettings, SageMakerLogLocation
from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.roles import SageMakerExecutionRole
from mlops_constructs.validation import Problems

_HANDLER_FOLDER = "labeling"
PREFIX = "labeling/"
OUTPUT_PREFIX = f"{PREFIX}output/"
CONFIG_PREFIX = f"{PREFIX}config/"
PENDING_PREFIX = f"{PREFIX}pending/"
RESOURCE_TYPE = "Custom::LabelingJob"


@dataclass(frozen=True)
class LabelingJobSpec:
    """One job as the construct takes it (the stack maps config to this)."""

    name: str  # the job name's prefix; jobs are named <name>-<8 hex>
    label_attribute: str
    template: NerTemplate
    label_categories: Sequence[str]
    task_title: str
    task_description: str
    task_keywords: Sequence[str]
    time_limit_seconds: int
    workers_per_object: int
    input_manifest_key: str | None = None  # in the data bucket, under labeling/
    from_job: str | None = None  # the name of an earlier spec whose output manifest is the input
    availability_seconds: int | None = None
    max_concurrent_tasks: int | None = None
    price_usd: Mapping[str, int] | None = None  # PublicWorkforceTaskPrice.AmountInUsd
    content_classifiers: Sequence[str] = field(default_factory=tuple)


class LabelingJobs(Construct):
    """The labelling role, the two Ground Truth Lambdas, the job provider, and one resource per job."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        jobs: Sequence[LabelingJobSpec],
        workteam_arn: str,
        data_bucket: s3.IBucket,
        data_key: kms.IKey,
        logs: LogGroupSettings,
        lambda_src: str,
        chain_check_interval: cdk.Duration = cdk.Duration.minutes(15),
        alert_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._validate(jobs, logs)
        stack = cdk.Stack.of(self)
        code = handler_code(lambda_src, _HANDLER_FOLDER)
        labeling_objects = data_bucket.arn_for_objects(f"{PREFIX}*")
        output_objects = data_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")

        def function(id: str, suffix: str, entry: str, description: str, **extra: Any) -> lambda_.Function:
            spec = FunctionSpec(
                name=f"{stack.stack_name}-{suffix}",
                description=description,
                handler=f"{_HANDLER_FOLDER}.{entry}",
                code=code,
                powertools=True,
                **extra,
            )
            return platform_function(self, id, spec, logs=logs)

        def read_labeling_data(grantee: iam.IGrantable) -> None:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[labeling_objects])
            )
            data_key.grant_decrypt(grantee)

        # --- the job's role -------------------------------------------------------------------
        execution = SageMakerExecutionRole(self, "Role", description="Ground Truth labelling jobs of the ML platform")
        self.role = execution.role
        for job in jobs:
            execution.allow_logs_and_metrics(SageMakerLogLocation.job("labeling", f"{job.name}-"))
        read_labeling_data(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{PREFIX}*"]}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[output_objects])
        )
        # Output encryption (OutputConfig.KmsKeyId): the API reference asks for kms:Encrypt on the key;
        # DescribeKey and the bucket's location are what Ground Truth's role guidance adds.
        data_key.grant(self.role, "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[data_bucket.bucket_arn])
        )
        acknowledge_resource(
            self.role, labeling_objects, "Manifests name their text objects at run time; reads stay under labeling/."
        )
        acknowledge_resource(
            self.role, output_objects, "Ground Truth writes each job's output under its own name in labeling/output/."
        )

        # --- Ground Truth's Lambdas -------------------------------------------------------------
        self.pre_annotation = function(
            "PreAnnotation",
            "pre-annotation",
            "pre_annotation.handler",
            "Ground Truth pre-annotation: turns a manifest line into the NER template's task input",
        )
        self.consolidation = function(
            "Consolidation",
            "consolidation",
            "post_annotation.handler",
            "Ground Truth annotation consolidation: majority vote of workers' entity spans",
            timeout=cdk.Duration.minutes(5),
            memory_size=1024,
        )
        for fn in (self.pre_annotation, self.consolidation):
            read_labeling_data(fn)
            fn.grant_invoke(self.role)
            acknowledge_resource(
                fn.role or fn,
                labeling_objects,
                "Ground Truth names the text objects and payloads at run time, all under labeling/.",
            )

        # --- the job provider ---------------------------------------------------------------------
        handler = function(
            "Handler",
            "jobs",
            "jobs.on_event",
            "Creates and stops Ground Truth labelling jobs for CloudFormation (Custom::LabelingJob)",
            timeout=cdk.Duration.minutes(2),
        )
        job_arns = [
            stack.format_arn(service="sagemaker", resource="labeling-job", resource_name=f"{j.name.lower()}-*") for j in jobs
        ]
        config_objects = data_bucket.arn_for_objects(f"{CONFIG_PREFIX}*")
        pending_objects = data_bucket.arn_for_objects(f"{PENDING_PREFIX}*")
        starters: list[lambda_.Function] = [handler]
        if any(j.from_job for j in jobs):
            starter = function(
                "ChainStarter",
                "chain",
                "jobs.on_schedule",
                "Starts chained labelling jobs once the job they read from has completed",
                timeout=cdk.Duration.minutes(2),
                environment={"PENDING_PREFIX": data_bucket.s3_url_for_object(PENDING_PREFIX.rstrip("/"))},
            )
            events.Rule(
                self,
                "ChainSchedule",
                description="Starts chained labelling jobs whose source job has completed",
                schedule=events.Schedule.rate(chain_check_interval),
                targets=[targets.LambdaFunction(starter, retry_attempts=2)],
            )
            starter.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[data_bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [PENDING_PREFIX]}},
                )
            )
            starter.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:GetObject", "s3:DeleteObject"], resources=[pending_objects])
            )
            data_key.grant_decrypt(starter)
            starters.append(starter)
            self.chain_alarm = self._alarm_on_errors(starter, chain_check_interval, alert_topic)
        for fn in starters:
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob", "sagemaker:StopLabelingJob"],
                    resources=job_arns,
                )
            )
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
            for arn in job_arns:
                acknowledge_resource(
                    fn.role or fn, arn, "Job names end in a hash of their settings; the grant covers only this job's names."
                )
        handler.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[config_objects, pending_objects]))
        handler.add_to_role_policy(iam.PolicyStatement(actions=["s3:DeleteObject"], resources=[pending_objects]))
        data_key.grant(handler, "kms:GenerateDataKey", "kms:Decrypt")
        for objects in (config_objects, pending_objects):
            acknowledge_resource(
                handler.role or handler, objects, "Templates and pending chained requests are written per job under this prefix."
            )
        if len(starters) > 1:
            acknowledge_resource(
                starters[1].role or starters[1], pending_objects, "Pending chained requests are read per job under this prefix."
            )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=handler,
            log_group=logs.log_group(self, "FrameworkLogs", f"/aws/lambda/{stack.stack_name}-labeling-framework"),
        )
        self._acknowledge(stack, [handler, self.pre_annotation, self.consolidation])

        # --- one resource per job -----------------------------------------------------------------
        bucket_uri = f"s3://{data_bucket.bucket_name}/"
        role_policy = self.role.node.find_child("DefaultPolicy")
        self.jobs: dict[str, cdk.CustomResource] = {}
        for job in jobs:
            source = self.jobs.get(job.from_job) if job.from_job else None
            request = self._request(job, bucket_uri, workteam_arn, data_key.key_arn)
            resource = cdk.CustomResource(
                self,
                f"Job-{job.name}",
                service_token=self.provider.service_token,
                resource_type=RESOURCE_TYPE,
                properties={
                    "JobName": job.name,
                    "Request": stack.to_json_string(request),
                    "Template": job.template.render(),
                    "LabelCategories": stack.to_json_string(list(job.label_categories)),
                    "ConfigPrefix": f"{bucket_uri}{CONFIG_PREFIX}",
                    "KmsKeyId": data_key.key_arn,
                    "OutputPath": f"{bucket_uri}{OUTPUT_PREFIX}",
                    "PendingPrefix": f"{bucket_uri}{PENDING_PREFIX}",
                    "FromJob": source.get_att_string("JobName") if source else "",
                },
            )
            resource.node.add_dependency(role_policy)  # the role may do its work before a job starts
            self.jobs[job.name] = resource

    def _alarm_on_errors(
        self, starter: lambda_.Function, interval: cdk.Duration, alert_topic: sns.ITopic | None
    ) -> cloudwatch.Alarm:
        """Pages when the chain starter logs an error: a pending chained job that cannot start
        (its source failed or was stopped, its request is unreadable, or SageMaker refuses it) is
        logged as an ERROR on every tick until someone acts (Powertools writes `"level": "ERROR"`)."""
        metric_filter = logs_.MetricFilter(
            self,
            "ChainErrors",
            log_group=starter.log_group,
            filter_pattern=logs_.FilterPattern.string_value("$.level", "=", "ERROR"),
            metric_namespace="MLOps/Labeling",
            metric_name=f"{cdk.Stack.of(self).stack_name}-chain-errors",
            metric_value="1",
        )
        alarm = metric_filter.metric(statistic="Sum", period=interval).create_alarm(
            self,
            "ChainErrorsAlarm",
            alarm_description="A chained labelling job cannot start: see the chain starter's log (blocked jobs)",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if alert_topic is not None:
            alarm.add_alarm_action(cw_actions.SnsAction(alert_topic))
        return alarm

    def job_name(self, name: str) -> str:
        """The created job's name (`<name>-<8 hex>`), as CloudFormation returns it."""
        return self.jobs[name].get_att_string("JobName")

    def _request(self, job: LabelingJobSpec, bucket_uri: str, workteam_arn: str, key_arn: str) -> dict[str, Any]:
        """CreateLabelingJob's request less what the handler adds: the name, the template and label
        config locations (a folder per job name) and a chained job's input."""
        task: dict[str, Any] = {
            "WorkteamArn": workteam_arn,
            "PreHumanTaskLambdaArn": self.pre_annotation.function_arn,
            "TaskKeywords": list(job.task_keywords),
            "TaskTitle": job.task_title,
            "TaskDescription": job.task_description,
            "NumberOfHumanWorkersPerDataObject": job.workers_per_object,
            "TaskTimeLimitInSeconds": job.time_limit_seconds,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": self.consolidation.function_arn},
        }
        if job.availability_seconds is not None:
            task["TaskAvailabilityLifetimeInSeconds"] = job.availability_seconds
        if job.max_concurrent_tasks is not None:
            task["MaxConcurrentTaskCount"] = job.max_concurrent_tasks
        if job.price_usd is not None:
            task["PublicWorkforceTaskPrice"] = {"AmountInUsd": dict(job.price_usd)}
        input_config: dict[str, Any] = {}
        if job.input_manifest_key is not None:
            input_config["DataSource"] = {"S3DataSource": {"ManifestS3Uri": f"{bucket_uri}{job.input_manifest_key}"}}
        if job.content_classifiers:
            input_config["DataAttributes"] = {"ContentClassifiers": list(job.content_classifiers)}
        request: dict[str, Any] = {
            "LabelAttributeName": job.label_attribute,
            "OutputConfig": {"S3OutputPath": f"{bucket_uri}{OUTPUT_PREFIX}", "KmsKeyId": key_arn},
            "RoleArn": self.role.role_arn,
            "HumanTaskConfig": task,
        }
        if input_config:
            request["InputConfig"] = input_config
        return request

    def _validate(self, jobs: Sequence[LabelingJobSpec], logs: LogGroupSettings) -> None:
        problems = Problems(self)
        problems.check(bool(jobs), "jobs: give at least one job")
        names = [j.name for j in jobs]
        for index, job in enumerate(jobs):
            if job.from_job is not None and job.from_job not in names[:index]:
                problems.add(f"jobs[{index}].from_job: '{job.from_job}' is not an earlier job")
            if (job.input_manifest_key is None) == (job.from_job is None):
                problems.add(f"jobs[{index}]: give exactly one of input_manifest_key and from_job")
            if job.input_manifest_key is not None and not job.input_manifest_key.startswith(PREFIX):
                problems.add(f"jobs[{index}].input_manifest_key: must lie under {PREFIX} (the role reads only there)")
            for problem in job.template.problems():
                problems.add(f"jobs[{index}].template.{problem}")
        if len(set(names)) != len(names):
            problems.add("jobs: names repeat")
        retention = logs.problem()
        problems.check(retention is None, f"logs.retention_days: {retention}")
        problems.raise_if_any()

    def _acknowledge(self, stack: cdk.Stack, functions: Sequence[lambda_.Function]) -> None:
        acknowledge(
            self,
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The Lambda basic execution policy lets these functions write their own logs; the groups are "
                "created here, encrypted and with a retention.",
            ),
            NagAck(
                "AwsSolutions-L1",
                "The provider framework's own function uses the runtime aws-cdk-lib pins; ours use Python 3.13.",
            ),
        )
        for fn in functions:
            acknowledge(
                self,
                NagAck(
                    f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(fn.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
                    "Invoking a function by ARN with any version qualifier (`<arn>:*`): the labelling role invokes "
                    "the Ground Truth Lambdas, the provider framework the handler; the grant names this one function.",
                ),
            )
