"""`mlops monitor baseline`: make a Model Monitor baseline as a SageMaker processing job.

Data quality runs the region's Model Monitor analyzer over the configured baseline dataset;
text drift runs the drift image's `baseline` command. Either way the job writes
`statistics.json` and `constraints.json` to `s3://<monitoring bucket>/baselines/<endpoint>/<kind>/`,
exactly where the schedule reads them (mlops_constructs.monitoring_rules is the one source).

The job runs as the endpoint's monitoring role, network-isolated, its volume and output
encrypted with the data key, which is why the dataset is first staged into the monitoring
bucket (`baselines/<endpoint>/<kind>/dataset/<job name>/`): the role reads nothing else. What the job
needs from the account (role, buckets, key, drift image) comes from the outputs of the
`mlops-<env>-monitoring` stack.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from config.loader import CONFIG_DIR, REPO_ROOT, load_config
from config.monitoring import ARTIFACTS_SCHEME, DataQualityMonitoring, TextDriftMonitoring
from config.schema import MlopsConfig
from mlops_cli.errors import CliError
from mlops_cli.weights import aws_call
from mlops_constructs.instance_types import parse_instance_type
from mlops_constructs.model_monitor_images import analyzer_image
from mlops_constructs.monitoring_rules import (
    DRIFT_ENV_BATCH_SIZE,
    DRIFT_ENV_TEXT_FIELD,
    MONITOR_KINDS,
    baseline_job_prefix,
    baseline_prefix,
    dataset_prefix,
    output_key,
)
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name, parse_s3_uri

DATASET_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
OUTPUT_PATH = "/opt/ml/processing/output"
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class AccountFacts:
    """What the deployed monitoring stack tells the CLI (its CloudFormation outputs)."""

    role_arn: str
    monitoring_bucket: str
    artifacts_bucket: str
    data_key_arn: str
    drift_image_uri: str | None


@dataclass(frozen=True)
class Staging:
    """How the dataset reaches the monitoring bucket: an upload or a server-side copy."""

    key: str
    local_file: Path | None = None
    copy_from: tuple[str, str] | None = None  # (bucket, key)


@dataclass(frozen=True)
class BaselinePlan:
    request: dict[str, Any]
    staging: Staging

    @property
    def job_name(self) -> str:
        return str(self.request["ProcessingJobName"])


def monitoring_stack_name(env: str) -> str:
    return f"mlops-{env}-monitoring"


def account_facts(outputs: dict[str, str], *, env: str, endpoint: str, kind: str) -> AccountFacts:
    needed = [output_key("RoleArn", endpoint), output_key("MonitoringBucket"), output_key("DataKeyArn")]
    needed += [output_key("ArtifactsBucket")]
    if kind == "text-drift":
        needed.append(output_key("DriftImageUri"))
    missing = [name for name in needed if name not in outputs]
    if missing:
        raise CliError(
            f"stack {monitoring_stack_name(env)} has no output {', '.join(missing)}: "
            f"deploy it with monitoring for {endpoint} first (npx cdk deploy -c env={env} {monitoring_stack_name(env)})"
        )
    return AccountFacts(
        role_arn=outputs[output_key("RoleArn", endpoint)],
        monitoring_bucket=outputs[output_key("MonitoringBucket")],
        artifacts_bucket=outputs[output_key("ArtifactsBucket")],
        data_key_arn=outputs[output_key("DataKeyArn")],
        drift_image_uri=outputs.get(output_key("DriftImageUri")),
    )


def _section(config: MlopsConfig, env: str, endpoint: str, kind: str) -> DataQualityMonitoring | TextDriftMonitoring:
    names = [e.name for e in config.endpoints]
    match = next((e for e in config.endpoints if e.name == endpoint), None)
    if match is None:
        raise CliError(f"no endpoint '{endpoint}' in config/{env}.yaml (endpoints: {', '.join(names) or 'none'})")
    section = None
    if match.monitoring is not None:
        section = match.monitoring.data_quality if kind == "data-quality" else match.monitoring.text_drift
    if section is None:
        configured = [
            k
            for k, s in (
                ("data-quality", match.monitoring.data_quality if match.monitoring else None),
                ("text-drift", match.monitoring.text_drift if match.monitoring else None),
            )
            if s is not None
        ]
        raise CliError(
            f"endpoint '{endpoint}' has no monitoring.{kind.replace('-', '_')} in config/{env}.yaml "
            f"(configured: {', '.join(configured) or 'none'})"
        )
    return section


def _staging(baseline: str, *, folder: str, facts: AccountFacts, root: Path) -> Staging:
    name = baseline.rsplit("/", 1)[-1]
    key = f"{folder}/{name}"
    if baseline.startswith("s3://"):
        uri = parse_s3_uri(baseline)
        return Staging(key=key, copy_from=(uri.bucket, uri.key))
    if baseline.startswith(ARTIFACTS_SCHEME):
        return Staging(key=key, copy_from=(facts.artifacts_bucket, baseline[len(ARTIFACTS_SCHEME) :]))
    path = root / baseline
    if not path.is_file():
        raise CliError(f"baseline dataset {path} does not exist")
    return Staging(key=key, local_file=path)


def plan(
    config: MlopsConfig,
    *,
    env: str,
    endpoint: str,
    kind: str,
    facts: AccountFacts,
    now: dt.datetime,
    root: Path = REPO_ROOT,
) -> BaselinePlan:
    """The CreateProcessingJob request and how to stage its dataset (no AWS call)."""
    if kind not in MONITOR_KINDS:
        raise CliError(f"--kind {kind}: one of {', '.join(MONITOR_KINDS)}")
    section = _section(config, env, endpoint, kind)
    job_name = f"{baseline_job_prefix(endpoint, kind)}{now:%Y%m%d%H%M%S}"
    if not is_sagemaker_name(job_name):
        raise CliError(f"job name '{job_name}' is invalid: {SAGEMAKER_NAME_RULE}")
    # A folder per job: the job reads its whole input prefix, so an earlier run's file never joins in.
    folder = f"{dataset_prefix(endpoint, kind)}/{job_name}"
    staging = _staging(section.baseline, folder=folder, facts=facts, root=root)
    bucket = facts.monitoring_bucket
    cluster: dict[str, Any] = {
        "InstanceCount": section.instance_count if isinstance(section, DataQualityMonitoring) else 1,
        "InstanceType": section.instance_type,
        "VolumeSizeInGB": section.volume_size_gb,
    }
    if not parse_instance_type(section.instance_type, "processing").has_local_storage:
        cluster["VolumeKmsKeyId"] = facts.data_key_arn  # rejected on local-NVMe instance types
    environment = {"dataset_source": DATASET_INPUT, "output_path": OUTPUT_PATH}
    if isinstance(section, DataQualityMonitoring):
        dataset_format = {"csv": {"header": True, "output_columns_position": "START"}}
        if section.baseline.endswith(".jsonl"):
            dataset_format = {"json": {"lines": True}}
        app: dict[str, Any] = {"ImageUri": analyzer_image(config.region).uri}
        environment |= {"dataset_format": json.dumps(dataset_format), "publish_cloudwatch_metrics": "Disabled"}
    else:
        if not facts.drift_image_uri:
            raise CliError("the monitoring stack has no drift image output")
        app = {"ImageUri": facts.drift_image_uri, "ContainerArguments": ["baseline"]}
        environment |= {DRIFT_ENV_TEXT_FIELD: section.text_field, DRIFT_ENV_BATCH_SIZE: str(section.batch_size)}
    request = {
        "ProcessingJobName": job_name,
        "ProcessingInputs": [
            {
                "InputName": "baseline_dataset_input",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/{folder}/",
                    "LocalPath": DATASET_INPUT,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "baseline",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/{baseline_prefix(endpoint, kind)}",
                        "LocalPath": OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": facts.data_key_arn,
        },
        "ProcessingResources": {"ClusterConfig": cluster},
        "StoppingCondition": {"MaxRuntimeInSeconds": section.max_runtime_minutes * 60},
        "AppSpecification": app,
        "Environment": environment,
        "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        "RoleArn": facts.role_arn,
        "Tags": [{"Key": "mlops:environment", "Value": env}, {"Key": "mlops:endpoint", "Value": endpoint}],
    }
    return BaselinePlan(request=request, staging=staging)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = aws_call(f"read stack {stack_name}", lambda: cloudformation.describe_stacks(StackName=stack_name))["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


@dataclass(frozen=True)
class JobResult:
    job_name: str
    status: str
    failure_reason: str | None = None
    exit_message: str | None = None


def wait(
    sagemaker: Any,
    job_name: str,
    *,
    report: Callable[[str], None],
    poll_seconds: float = 30,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> JobResult:
    """Poll until the job ends, reporting each status change with the elapsed time."""
    started = clock()
    last = ""
    while True:
        job = sagemaker.describe_processing_job(ProcessingJobName=job_name)
        status = str(job["ProcessingJobStatus"])
        if status != last:
            report(f"{job_name}: {status} after {int(clock() - started)} s")
            last = status
        if status in TERMINAL:
            return JobResult(job_name, status, job.get("FailureReason"), job.get("ExitMessage"))
        sleep(poll_seconds)


def baseline(
    *,
    env: str,
    endpoint: str,
    kind: str,
    wait_for_it: bool,
    report: Callable[[str], None],
    config_dir: Path = CONFIG_DIR,
    root: Path = REPO_ROOT,
    session: Any = None,
    now: dt.datetime | None = None,
    poll_seconds: float = 30,
    sleep: Callable[[float], None] = time.sleep,
) -> JobResult:
    """Stage the dataset, start the job, and (with `wait_for_it`) wait for its end."""
    config = load_config(env, config_dir=config_dir)
    session = session or boto3.session.Session(region_name=config.region)
    facts = account_facts(
        stack_outputs(session.client("cloudformation"), monitoring_stack_name(env)), env=env, endpoint=endpoint, kind=kind
    )
    job = plan(config, env=env, endpoint=endpoint, kind=kind, facts=facts, now=now or dt.datetime.now(dt.UTC), root=root)
    s3 = session.client("s3")
    staging = job.staging
    target = f"s3://{facts.monitoring_bucket}/{staging.key}"
    if staging.local_file is not None:
        local = str(staging.local_file)
        aws_call(f"upload {local} to {target}", lambda: s3.upload_file(local, facts.monitoring_bucket, staging.key))
    elif staging.copy_from is not None:
        bucket, key = staging.copy_from
        aws_call(
            f"copy s3://{bucket}/{key} to {target}",
            lambda: s3.copy_object(Bucket=facts.monitoring_bucket, Key=staging.key, CopySource={"Bucket": bucket, "Key": key}),
        )
    report(f"staged {target}")
    sagemaker = session.client("sagemaker")
    aws_call(f"start {job.job_name}", lambda: sagemaker.create_processing_job(**job.request))
    report(f"started {job.job_name} ({kind}); writes s3://{facts.monitoring_bucket}/{baseline_prefix(endpoint, kind)}/")
    if not wait_for_it:
        return JobResult(job.job_name, "InProgress")
    result: JobResult = aws_call(
        f"wait for {job.job_name}",
        lambda: wait(sagemaker, job.job_name, report=report, poll_seconds=poll_seconds, sleep=sleep),
    )
    return result
