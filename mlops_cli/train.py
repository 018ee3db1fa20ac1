"""`mlops train start`: run the configured training job now, and optionally follow it.

Starts one execution of `mlops-<env>-training`; the execution name is the training job name
(`<training.name>-<UTC yyyymmddHHMMss>`), so a repeated start with the same --job-name is
refused by Step Functions instead of running twice. `--wait` follows the execution and
streams each epoch from the metrics table (filled by the training stack's EventBridge ->
Lambda pipeline) until the job ends, then prints the model_data the execution registered (derived from the job
name, as the state machine derives it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from config.loader import CONFIG_DIR, load_config
from config.schema import MlopsConfig
from config.training import MAX_TRAINING_NAME
from mlops_cli.errors import CliError
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from mlops_constructs.training.job import model_data_uri
from stacks.training import state_machine_name

METRICS_OUTPUT = "MetricsTableName"  # the training stack's CfnOutput


@dataclass(frozen=True)
class Execution:
    job_name: str
    execution_arn: str
    env: str
    region: str
    training_name: str
    output_prefix: str


@dataclass(frozen=True)
class Epoch:
    epoch: int
    epochs: int
    metrics: dict[str, float]


@dataclass
class Outcome:
    status: str  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    epochs: list[Epoch] = field(default_factory=list)
    cause: str | None = None
    model_data: str | None = None


def plan(config: MlopsConfig, *, env: str, job_name: str | None, now: dt.datetime) -> dict[str, Any]:
    """Validate the request and build the StartExecution parameters (no AWS call)."""
    if config.training is None:
        raise CliError(f"config/{env}.yaml has no training section (see the README's config reference)")
    name = config.training.name
    job = job_name or f"{name}-{now:%Y%m%d%H%M%S}"
    if not is_sagemaker_name(job):
        raise CliError(f"job name '{job}' is invalid: {SAGEMAKER_NAME_RULE}")
    if not job.startswith(f"{name}-"):
        raise CliError(f"job name '{job}' must start with '{name}-': the state machine may only create jobs named so")
    if len(job) > MAX_TRAINING_NAME + 15:
        raise CliError(f"job name '{job}' is longer than 63 characters")
    arn = f"arn:aws:states:{config.region}:{config.account}:stateMachine:{state_machine_name(env)}"
    return {"stateMachineArn": arn, "name": job, "input": json.dumps({"job_name": job})}


def start(
    *,
    env: str,
    job_name: str | None = None,
    config_dir: Path = CONFIG_DIR,
    client: Any = None,
    now: dt.datetime | None = None,
) -> Execution:
    config = load_config(env, config_dir=config_dir)
    request = plan(config, env=env, job_name=job_name, now=now or dt.datetime.now(dt.UTC))
    stepfunctions = client or boto3.client("stepfunctions", region_name=config.region)
    response = stepfunctions.start_execution(**request)
    assert config.training is not None
    training = config.training
    return Execution(request["name"], response["executionArn"], env, config.region, training.name, training.output_prefix)


def metrics_table(cloudformation: Any, env: str) -> str:
    """The metrics table's name, from the training stack's output."""
    stack = f"mlops-{env}-training"
    try:
        outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except cloudformation.exceptions.ClientError as error:
        raise CliError(f"cannot read stack {stack}: {error}") from None
    for output in outputs:
        if output["OutputKey"] == METRICS_OUTPUT:
            return str(output["OutputValue"])
    raise CliError(f"stack {stack} has no {METRICS_OUTPUT} output (deployed before the metrics table existed?)")


def new_epochs(dynamodb: Any, table: str, job_name: str, after: int) -> Iterator[Epoch]:
    """Epochs of `job_name` stored after epoch `after`, in order (paginated Query)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "job_name = :job AND epoch > :after",
        "ExpressionAttributeValues": {":job": {"S": job_name}, ":after": {"N": str(after)}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**request)
        for item in page["Items"]:
            numbers = {k: float(v["N"]) for k, v in item.items() if "N" in v and k not in ("epoch", "epochs")}
            yield Epoch(int(item["epoch"]["N"]), int(item["epochs"]["N"]), numbers)
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def follow(
    execution: Execution,
    *,
    stepfunctions: Any,
    dynamodb: Any,
    table: str,
    on_epoch: Callable[[Epoch], None],
    poll_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll the execution and the table until the execution ends; report every epoch once."""
    outcome = Outcome(status="RUNNING")
    while True:
        described = stepfunctions.describe_execution(executionArn=execution.execution_arn)
        last = outcome.epochs[-1].epoch if outcome.epochs else 0
        for epoch in new_epochs(dynamodb, table, execution.job_name, last):
            outcome.epochs.append(epoch)
            on_epoch(epoch)
        if described["status"] != "RUNNING":
            break
        sleep(poll_seconds)
    outcome.status = described["status"]
    outcome.cause = described.get("cause") or described.get("error")
    if outcome.status == "SUCCEEDED":
        # This job's own artifact, as the state machine registered it; not the shared SSM
        # parameter, which a later execution may already have overwritten.
        outcome.model_data = model_data_uri(execution.output_prefix, execution.job_name)
    return outcome
