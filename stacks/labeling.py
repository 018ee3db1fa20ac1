"""Ground Truth labelling of one environment: the workforce, the template per job, and the jobs.

Present only when config has `labeling`. The Cognito user pool is stateful (workers' identities
live in it) and follows the environment's removal policy; the jobs change with config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.labeling import PUBLIC_WORKTEAM, Labeling, LabelingJob
from lambda_src.labeling.ner import label_categories
from mlops_constructs.labeling.jobs import LabelingJobs, LabelingJobSpec
from mlops_constructs.labeling.portal import WorkerPortalSignIn
from mlops_constructs.labeling.template import NerTemplate
from mlops_constructs.labeling.workforce import PrivateWorkforce
from mlops_constructs.log_groups import LogGroupSettings


@dataclass(frozen=True)
class LabelingDependencies:
    """What the labelling stack uses from the foundation."""

    data_bucket: s3.IBucket
    data_key: kms.IKey
    logs_key: kms.IKey
    log_retention_days: int
    alert_topic: sns.ITopic | None = None  # chained jobs that cannot start page here


def workteam_name(env_name: str) -> str:
    return f"mlops-{env_name}-annotators"


def _spec(labeling: Labeling, job: LabelingJob) -> LabelingJobSpec:
    source = labeling.source_of(job)
    return LabelingJobSpec(
        name=job.name,
        label_attribute=job.label_attribute,
        template=NerTemplate(
            title=job.task.title,
            description=job.task.description,
            entity_labels=job.entity_labels,
            relation_types=job.relation_types,
            document_classes=job.document_classes,
            prefill_from=source.label_attribute if source else None,
        ),
        label_categories=label_categories(job.entity_labels, job.relation_types, job.document_classes),
        task_title=job.task.title,
        task_description=job.task.description,
        task_keywords=job.task.keywords,
        time_limit_seconds=job.task.time_limit_seconds,
        availability_seconds=job.task.availability_seconds,
        max_concurrent_tasks=job.task.max_concurrent_tasks,
        workers_per_object=job.workers_per_object,
        input_manifest_key=job.input_manifest,
        from_job=source.name if source else None,
        price_usd=(
            {"Dollars": job.price.dollars, "Cents": job.price.cents, "TenthFractionsOfACent": job.price.tenth_fractions_of_a_cent}
            if job.price
            else None
        ),
        content_classifiers=("FreeOfPersonallyIdentifiableInformation",) if job.data_free_of_pii else (),
    )


class LabelingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        labeling: Labeling,
        env_name: str,
        uses: LabelingDependencies,
        removal_policy: cdk.RemovalPolicy,
        repo_root: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description="Ground Truth labelling: workforce, NER template, labelling jobs", **kwargs)  # type: ignore[arg-type]
        workforce = labeling.workforce
        logs = LogGroupSettings(encryption_key=uses.logs_key, retention_days=uses.log_retention_days)
        lambda_src = str(repo_root / "lambda_src")
        self.workforce: PrivateWorkforce | None = None
        self.portal_sign_in: WorkerPortalSignIn | None = None
        if workforce.type == "private":
            workforce_name = f"mlops-{env_name}-workforce"
            self.workforce = PrivateWorkforce(
                self,
                "Workforce",
                workforce_name=workforce_name,
                workteam_name=workteam_name(env_name),
                domain_prefix=f"mlops-{env_name}-{self.account}-labeling",
                members=workforce.members,
                removal_policy=removal_policy,
            )
            self.portal_sign_in = WorkerPortalSignIn(
                self, "PortalSignIn", workforce=self.workforce, workforce_name=workforce_name, logs=logs, lambda_src=lambda_src
            )
            workteam_arn = self.workforce.workteam_arn
        elif workforce.type == "public":
            workteam_arn = PUBLIC_WORKTEAM.format(region=self.region)
        else:
            workteam_arn = str(workforce.workteam_arn)
        self.jobs = None
        if labeling.jobs:
            self.jobs = LabelingJobs(
                self,
                "Jobs",
                jobs=[_spec(labeling, job) for job in labeling.jobs],
                workteam_arn=workteam_arn,
                data_bucket=uses.data_bucket,
                data_key=uses.data_key,
                logs=logs,
                lambda_src=lambda_src,
                alert_topic=uses.alert_topic,
            )
