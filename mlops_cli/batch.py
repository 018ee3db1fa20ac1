"""`mlops batch start`: run a configured batch transform now.

Starts one execution of the transform's state machine (`mlops-<env>-batch-<name>`);
the execution name is the transform job name, so a repeated start with the same
--job-name is refused by Step Functions instead of running twice.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from config.loader import CONFIG_DIR, load_config
from config.schema import MlopsConfig
from mlops_cli.errors import CliError
from mlops_constructs.batch_transform import input_prefix as input_key_prefix
from mlops_constructs.batch_transform import output_prefix as output_key_prefix
from mlops_constructs.naming import SAGEMAKER_NAME_RULE, is_sagemaker_name
from stacks.batch import state_machine_name


@dataclass(frozen=True)
class Execution:
    job_name: str
    execution_arn: str
    input_key_prefix: str
    output_key_prefix: str


def plan(config: MlopsConfig, *, env: str, name: str, prefix: str, job_name: str | None, now: dt.datetime) -> dict[str, Any]:
    """Validate the request and build the StartExecution parameters (no AWS call)."""
    names = [t.name for t in config.batch_transforms]
    if name not in names:
        raise CliError(f"no batch transform '{name}' in config/{env}.yaml (configured: {', '.join(names) or 'none'})")
    job = job_name or f"{name}-{now:%Y%m%d-%H%M%S}"
    if not is_sagemaker_name(job):
        raise CliError(f"job name '{job}' is invalid: {SAGEMAKER_NAME_RULE}")
    if not job.startswith(f"{name}-"):
        raise CliError(f"job name '{job}' must start with '{name}-': the state machine may only create jobs named so")
    relative = prefix.removeprefix(input_key_prefix(name))
    if relative.startswith(("s3://", "/")) or ".." in relative.split("/"):
        raise CliError(
            f"--input is a key prefix under {input_key_prefix(name)} in the data bucket, e.g. 2026-11-22/ (got '{prefix}')"
        )
    arn = f"arn:aws:states:{config.region}:{config.account}:stateMachine:{state_machine_name(env, name)}"
    return {"stateMachineArn": arn, "name": job, "input": json.dumps({"job_name": job, "input_prefix": relative})}


def start(
    *,
    env: str,
    name: str,
    prefix: str,
    job_name: str | None = None,
    config_dir: Path = CONFIG_DIR,
    client: Any = None,
    now: dt.datetime | None = None,
) -> Execution:
    config = load_config(env, config_dir=config_dir)
    request = plan(config, env=env, name=name, prefix=prefix, job_name=job_name, now=now or dt.datetime.now(dt.UTC))
    stepfunctions = client or boto3.client("stepfunctions", region_name=config.region)
    response = stepfunctions.start_execution(**request)
    body = json.loads(request["input"])
    return Execution(
        job_name=request["name"],
        execution_arn=response["executionArn"],
        input_key_prefix=f"{input_key_prefix(name)}{body['input_prefix']}",
        output_key_prefix=f"{output_key_prefix(name)}{request['name']}/",
    )
