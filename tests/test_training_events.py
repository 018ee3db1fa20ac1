"""Per-epoch reporting from the real entrypoint: metric lines the stack's regexes match, and
EventBridge events (moto in server mode) that the stack's rule pattern matches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mlops_training import reporting
from mlops_training.data import synthetic_calls
from mlops_training.trainer import EpochMetrics

from mlops_constructs.training.metrics import EVENT_DETAIL_TYPE, EVENT_SOURCE, METRIC_DEFINITIONS, metric_definitions
from tests.aws_emulator import REGION, Emulator
from tests.training_fixtures import OptMl

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def job_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    opt_ml = OptMl.create(
        tmp_path_factory.mktemp("opt-ml"), hyperparameters={"epochs": "2", "hidden": "8"}, train=synthetic_calls(600, seed=8)
    )
    result = opt_ml.run()
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_metric_regexes_match_the_jobs_real_lines(job_output: str) -> None:
    lines = [line for line in job_output.splitlines() if line.startswith("epoch=")]
    assert len(lines) == 2
    for line in lines:
        for name, regex in METRIC_DEFINITIONS:
            match = re.search(regex, line)
            assert match, f"{name} does not match {line!r}"
            float(match[1])
    assert re.search(dict(METRIC_DEFINITIONS)["epoch"], lines[-1])[1] == "2"  # type: ignore[index]
    assert re.search(dict(METRIC_DEFINITIONS)["train:loss"], "epoch=1/2 validation_loss=0.5") is None  # no cross-match


def test_metric_regexes_read_every_number_form_the_image_prints() -> None:
    regex = dict(METRIC_DEFINITIONS)["validation:loss"]
    for text in ("0.412345", "1.2e-05", "51234.5", "3", "nan", "inf", "-0.5"):
        assert re.search(regex, f"epoch=1/1 validation_loss={text} x")[1] == text  # type: ignore[index]


def test_metric_definitions_fit_create_training_job() -> None:
    """Service model: at most 40 definitions, Name 1-255, Regex 1-500 characters."""
    from botocore.session import get_session

    shapes = get_session().get_service_model("sagemaker").shape_for("MetricDefinition").members
    definitions = metric_definitions()
    assert len(definitions) <= 40
    for item in definitions:
        assert 1 <= len(item["Name"]) <= shapes["Name"].metadata["max"]
        assert 1 <= len(item["Regex"]) <= shapes["Regex"].metadata["max"]


def test_image_and_stack_agree_on_the_event() -> None:
    assert (reporting.SOURCE, reporting.DETAIL_TYPE) == (EVENT_SOURCE, EVENT_DETAIL_TYPE)


def test_each_epoch_reaches_eventbridge(aws: Emulator, tmp_path: Path) -> None:
    """The entrypoint as a process, PutEvents to moto; a rule with the stack's pattern delivers to SQS."""
    events, sqs = aws.client("events"), aws.client("sqs")
    bus = events.create_event_bus(Name="mlops-test-training")["EventBusArn"]
    queue = sqs.create_queue(QueueName="epochs")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}
    events.put_rule(Name="epochs", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="epochs", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "3", "hidden": "4"}, train=synthetic_calls(400, seed=8))
    result = opt_ml.run(
        MLOPS_EVENT_BUS=bus,
        TRAINING_JOB_NAME="risk-2026-11-25",
        AWS_ENDPOINT_URL=aws.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    assert result.returncode == 0, result.stderr
    assert "epoch event not sent" not in result.stderr
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    details = sorted((json.loads(m["Body"])["detail"] for m in received), key=lambda d: d["epoch"])
    assert [d["epoch"] for d in details] == [1, 2, 3]
    assert {d["job_name"] for d in details} == {"risk-2026-11-25"}
    assert set(details[0]) == {
        "job_name", "epoch", "epochs", "train_loss", "validation_loss", "validation_accuracy",
        "validation_auc", "samples_per_second", "started_at", "ended_at",
    }  # fmt: skip
    assert details[0]["started_at"] <= details[0]["ended_at"]
    assert region_of(bus) == REGION


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def test_job_name_falls_back_to_the_stacks_variable() -> None:
    assert reporting.EpochReporter(env={"MLOPS_JOB_NAME": "risk-1"}).job_name == "risk-1"
    assert reporting.EpochReporter(env={"TRAINING_JOB_NAME": "risk-2", "MLOPS_JOB_NAME": "risk-1"}).job_name == "risk-2"


def test_unreachable_bus_does_not_fail_the_job(aws: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """PutEvents fails (no such bus): the reporter says so on stderr and training goes on."""
    reporter = reporting.EpochReporter(
        env={"MLOPS_EVENT_BUS": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/does-not-exist", "TRAINING_JOB_NAME": "j-1"},
        client=aws.client("events"),
    )
    reporter(EpochMetrics(1, 1, 0.5, 0.5, 0.8, 0.7, 1000.0, "2026-11-25T10:00:00", "2026-11-25T10:00:01"))
    captured = capsys.readouterr()
    assert captured.out.startswith("epoch=1/1 train_loss=0.5 ")
    assert "epoch event not sent" in captured.err
    assert reporter.sent == 0


def _strict(text: str) -> object:
    """json.loads that refuses NaN/Infinity, as PutEvents' "valid JSON object" Detail does."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_metrics_are_sent_as_null() -> None:
    """One-class validation gives AUC NaN, a too-fast epoch inf samples/s: the Detail stays JSON."""
    sent: list[dict[str, object]] = []

    class Events:
        def put_events(self, Entries: list[dict[str, object]]) -> dict[str, object]:  # noqa: N803 (boto3's name)
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}

    reporter = reporting.EpochReporter(env={"MLOPS_EVENT_BUS": "bus", "TRAINING_JOB_NAME": "j-1"}, client=Events())
    reporter(EpochMetrics(1, 1, 0.5, 0.5, 0.8, float("nan"), float("inf"), "2026-11-25T10:00:00", "2026-11-25T10:00:01"))
    [entry] = sent
    detail = _strict(str(entry["Detail"]))
    assert isinstance(detail, dict)
    assert detail["validation_auc"] is None
    assert detail["samples_per_second"] is None
    assert detail["validation_loss"] == 0.5
    assert reporter.sent == 1
