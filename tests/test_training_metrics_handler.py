"""The training-metrics Lambda with real event shapes, writing to DynamoDB and SQS in moto's server."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from mlops_training.reporting import DETAIL_TYPE, SOURCE, event_detail
from mlops_training.trainer import EpochMetrics

from lambda_src.training_metrics import core, handler
from tests.aws_emulator import REGION, Emulator

TABLE = "training-metrics"


def _event(**detail_changes: Any) -> dict[str, Any]:
    """An EventBridge event as the rule delivers it, with the detail the training image sends."""
    metrics = EpochMetrics(
        epoch=3,
        epochs=8,
        train_loss=0.41,
        validation_loss=0.43,
        validation_accuracy=0.81,
        validation_auc=0.79,
        samples_per_second=51234.5,
        started_at="2026-11-25T10:00:00.000+00:00",
        ended_at="2026-11-25T10:00:04.500+00:00",
    )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": "123456789012",
        "time": "2026-11-25T10:00:04Z",
        "region": REGION,
        "resources": ["arn:aws:sagemaker:eu-west-1:123456789012:training-job/train-20261125100000"],
        "detail": {**event_detail("train-20261125100000", metrics), **detail_changes},
    }


@dataclass
class Backend:
    dynamodb: Any
    sqs: Any
    env: dict[str, str]

    def items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=TABLE)["Items"])

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.env["DEAD_LETTER_QUEUE_URL"], MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.fixture
def backend(aws: Emulator) -> Backend:
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}, {"AttributeName": "epoch", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "job_name", "AttributeType": "S"},
            {"AttributeName": "epoch", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName="training-metrics-dlq")["QueueUrl"]
    return Backend(dynamodb, sqs, {"TABLE_NAME": TABLE, "DEAD_LETTER_QUEUE_URL": queue})


def _process(backend: Backend, event: dict[str, Any]) -> dict[str, Any]:
    return handler.process(event, dynamodb=backend.dynamodb, sqs=backend.sqs, env=backend.env)


def test_epoch_event_becomes_one_item(backend: Backend) -> None:
    assert _process(backend, _event()) == {"stored": True, "malformed": False}
    [item] = backend.items()
    assert item["job_name"] == {"S": "train-20261125100000"}
    assert item["epoch"] == {"N": "3"}
    assert float(item["validation_auc"]["N"]) == 0.79
    assert item["started_at"] == {"S": "2026-11-25T10:00:00.000+00:00"}


def test_repeated_delivery_is_stored_once(backend: Backend) -> None:
    event = _event()
    _process(backend, event)
    retry = {**_event(validation_auc=0.1), "id": "another-delivery"}
    assert _process(backend, retry) == {"stored": False, "malformed": False}
    [item] = backend.items()
    assert float(item["validation_auc"]["N"]) == 0.79  # the first write stands
    assert backend.dead_letters() == []


def test_each_epoch_is_its_own_item(backend: Backend) -> None:
    for epoch in (1, 2, 3):
        _process(backend, _event(epoch=epoch))
    assert sorted(int(i["epoch"]["N"]) for i in backend.items()) == [1, 2, 3]


def test_non_finite_metric_is_left_out(backend: Backend) -> None:
    """A validation set with one class has AUC NaN; the image sends it as null (JSON has no NaN)."""
    event = json.loads(json.dumps(_event(validation_auc=None), allow_nan=False))
    _process(backend, event)
    [item] = backend.items()
    assert "validation_auc" not in item
    assert "validation_loss" in item


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"epoch": "three"}, "epoch 'three' is not a positive integer"),
        ({"epoch": 0}, "epoch 0 is not a positive integer"),
        ({"epochs": 2}, "epochs 2 is not an integer >= epoch"),
        ({"job_name": "bad name"}, "job_name 'bad name' is not a training job name"),
        ({"train_loss": "low"}, "train_loss 'low' is not a number"),
        ({"started_at": None}, "started_at is missing"),
    ],
)
def test_malformed_event_goes_to_the_dead_letter_queue(backend: Backend, changes: dict[str, Any], reason: str) -> None:
    event = _event(**changes)
    assert _process(backend, event) == {"stored": False, "malformed": True}
    assert backend.items() == []
    [letter] = backend.dead_letters()
    assert reason in letter["reason"]
    assert letter["event"]["id"] == event["id"]


def test_event_from_another_source_is_malformed(backend: Backend) -> None:
    event = {**_event(), "source": "aws.sagemaker"}
    _process(backend, event)
    assert "not a training epoch event" in backend.dead_letters()[0]["reason"]


def test_failed_write_raises_for_lambdas_retries(backend: Backend) -> None:
    """Not malformed but not stored (here: the table is missing): raise, so Lambda retries."""
    backend.env["TABLE_NAME"] = "no-such-table"
    with pytest.raises(backend.dynamodb.exceptions.ResourceNotFoundException):
        _process(backend, _event())
    assert backend.dead_letters() == []


@dataclass
class _Context:
    function_name: str = "mlops-test-training-metrics"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:mlops-test-training-metrics"
    aws_request_id: str = "req-1"


def test_lambda_entry_point_with_powertools(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(handler._CLIENTS, "dynamodb", backend.dynamodb)
    monkeypatch.setitem(handler._CLIENTS, "sqs", backend.sqs)
    result = handler.handle(_event(), _Context())  # type: ignore[arg-type]
    assert result == {"stored": True, "malformed": False}
    assert len(backend.items()) == 1


def test_handler_and_image_agree_on_the_event() -> None:
    assert (core.SOURCE, core.DETAIL_TYPE) == (SOURCE, DETAIL_TYPE)
    assert set(core.METRICS) < set(_event()["detail"])


def test_handler_imports_as_lambda_imports_it() -> None:
    """Lambda puts the asset root (lambda_src/) on sys.path and imports training_metrics.handler."""
    import subprocess
    import sys

    from config.loader import REPO_ROOT

    result = subprocess.run(
        [sys.executable, "-c", "import training_metrics.handler as h; print(h.handle.__name__)"],
        cwd=REPO_ROOT / "lambda_src",
        env={"PATH": "", "PYTHONPATH": "", "AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
