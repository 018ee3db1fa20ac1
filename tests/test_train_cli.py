"""`mlops train start [--wait]` against moto in server mode: Step Functions (executing the ASL),
DynamoDB (the metrics table), CloudFormation (the stack output) and SSM (the registration)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from config.loader import load_config
from mlops_cli.app import main
from mlops_cli.errors import CliError
from mlops_cli.train import METRICS_OUTPUT, plan
from stacks.training import model_parameter_name, state_machine_name
from tests.aws_emulator import REGION, Emulator

ACCOUNT = "222222222222"  # config/prod.yaml's account
NOW = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.UTC)
TABLE = "mlops-prod-training-metrics-table"


def test_plan_names_the_job_and_the_state_machine() -> None:
    request = plan(load_config("prod"), env="prod", job_name=None, now=NOW)
    assert request == {
        "stateMachineArn": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:mlops-prod-training",
        "name": "caller-risk-20261125100000",
        "input": json.dumps({"job_name": "caller-risk-20261125100000"}),
    }


@pytest.mark.parametrize(
    ("env", "job", "message"),
    [
        ("dev", None, "config/dev.yaml has no training section"),
        ("prod", "other-1", "must start with 'caller-risk-'"),
        ("prod", "caller-risk_1", "is invalid"),
    ],
)
def test_plan_rejects_bad_requests(env: str, job: str | None, message: str) -> None:
    with pytest.raises(CliError, match=message):
        plan(load_config(env), env=env, job_name=job, now=NOW)


def _config(url: str, execute: bool) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/config", data=body, method="POST"))


@pytest.fixture
def account(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator as config/prod.yaml's account, with Step Functions executing definitions."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    aws.route_sdk(monkeypatch)
    _config(aws.url, execute=True)
    try:
        yield aws
    finally:
        _config(aws.url, execute=False)


def _deploy(aws: Emulator, definition: dict[str, Any]) -> None:
    """What the training stack provides, as far as the CLI sees it."""
    aws.client("stepfunctions").create_state_machine(
        name=state_machine_name("prod"), definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/states"
    )
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {METRICS_OUTPUT: {"Value": TABLE}},
    }
    aws.client("cloudformation").create_stack(StackName="mlops-prod-training", TemplateBody=json.dumps(template))
    aws.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}, {"AttributeName": "epoch", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "job_name", "AttributeType": "S"},
            {"AttributeName": "epoch", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _store_epochs(aws: Emulator, job: str, epochs: int, first: int = 1, last: int | None = None) -> None:
    """Items as the metrics Lambda writes them."""
    for epoch in range(first, (last or epochs) + 1):
        aws.client("dynamodb").put_item(
            TableName=TABLE,
            Item={
                "job_name": {"S": job},
                "epoch": {"N": str(epoch)},
                "epochs": {"N": str(epochs)},
                "train_loss": {"N": str(0.6 - epoch / 10)},
                "validation_auc": {"N": str(0.7 + epoch / 100)},
            },
        )


SUCCEED = {"StartAt": "Train", "States": {"Train": {"Type": "Wait", "Seconds": 2, "Next": "Done"}, "Done": {"Type": "Succeed"}}}
FAIL = {
    "StartAt": "Train",
    "States": {
        "Train": {"Type": "Wait", "Seconds": 1, "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "TrainingFailed", "Cause": "The training job or its registration failed"},
    },
}


def test_start_wait_streams_epochs_and_prints_the_model(account: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    _deploy(account, SUCCEED)
    job = "caller-risk-20261125100000"
    _store_epochs(account, job, 3, last=1)
    value = f"artifacts://training/caller-risk/{job}/output/model.tar.gz"
    # Another execution finished meanwhile and overwrote the shared parameter: not this job's model.
    other = "artifacts://training/caller-risk/caller-risk-20261125110000/output/model.tar.gz"
    account.client("ssm").put_parameter(Name=model_parameter_name("prod", "caller-risk"), Value=other, Type="String")
    # Epochs 2 and 3 arrive while the command is already following the execution.
    later = threading.Timer(0.5, _store_epochs, args=(account, job, 3), kwargs={"first": 2})
    later.start()
    try:
        assert main(["train", "start", "--env", "prod", "--job-name", job, "--wait", "--poll", "0.1"]) == 0
    finally:
        later.join()
    stdout = capsys.readouterr().out
    assert f"started {job}: arn:aws:states:{REGION}:{ACCOUNT}:execution:mlops-prod-training:{job}" in stdout
    lines = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert lines == [
        "epoch 1/3 train_loss=0.5 validation_auc=0.71",
        "epoch 2/3 train_loss=0.4 validation_auc=0.72",
        "epoch 3/3 train_loss=0.3 validation_auc=0.73",
    ]
    assert f"trained {job}: model_data {value}" in stdout
    assert other not in stdout


def test_failed_execution_exits_1_with_the_cause(account: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    _deploy(account, FAIL)
    assert main(["train", "start", "--env", "prod", "--job-name", "caller-risk-1", "--wait", "--poll", "0.1"]) == 1
    assert "training failed: The training job or its registration failed" in capsys.readouterr().err


def test_start_without_wait_only_starts(account: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    _deploy(account, SUCCEED)
    assert main(["train", "start", "--env", "prod", "--job-name", "caller-risk-2"]) == 0
    executions = account.client("stepfunctions").list_executions(
        stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlops-prod-training"
    )["executions"]
    assert [e["name"] for e in executions] == ["caller-risk-2"]


def test_dev_has_no_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "start", "--env", "dev"]) == 2
    assert "config/dev.yaml has no training section" in capsys.readouterr().err
