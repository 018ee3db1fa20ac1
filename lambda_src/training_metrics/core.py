"""Per-epoch training metrics: the event's shape and the table write. No Powertools, no globals.

An event (source `mlops.training`, detail-type `Training Epoch Completed`, sent by the training
image each epoch) becomes one item keyed by job name and epoch. EventBridge delivers at least
once, so the write is conditional: a second delivery of the same epoch changes nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

SOURCE = "mlops.training"
DETAIL_TYPE = "Training Epoch Completed"
METRICS = ("train_loss", "validation_loss", "validation_accuracy", "validation_auc", "samples_per_second")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # CreateTrainingJob TrainingJobName


class MalformedEventError(ValueError):
    """The event cannot be stored; the message says why (it goes to the dead-letter queue)."""


@dataclass(frozen=True)
class EpochRecord:
    job_name: str
    epoch: int
    epochs: int
    metrics: dict[str, float]  # finite values only: DynamoDB numbers cannot be NaN or infinite
    started_at: str
    ended_at: str
    event_id: str

    def item(self) -> dict[str, dict[str, str]]:
        """The DynamoDB item (low-level attribute values)."""
        item = {
            "job_name": {"S": self.job_name},
            "epoch": {"N": str(self.epoch)},
            "epochs": {"N": str(self.epochs)},
            "started_at": {"S": self.started_at},
            "ended_at": {"S": self.ended_at},
            "event_id": {"S": self.event_id},
        }
        item.update({name: {"N": repr(value)} for name, value in self.metrics.items()})
        return item


def parse(event: dict[str, Any]) -> EpochRecord:
    """The record in an EventBridge event, or MalformedEventError naming every problem."""
    problems: list[str] = []
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEventError(
            f"not a training epoch event (source {event.get('source')!r}, detail-type {event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError("detail is not an object")
    job = detail.get("job_name")
    if not isinstance(job, str) or not _JOB_NAME.match(job):
        problems.append(f"job_name {job!r} is not a training job name")
    epoch, epochs = _int_or_none(detail.get("epoch")), _int_or_none(detail.get("epochs"))
    if epoch is None or epoch < 1:
        problems.append(f"epoch {detail.get('epoch')!r} is not a positive integer")
    if epochs is None or (epoch is not None and epochs < epoch):
        problems.append(f"epochs {detail.get('epochs')!r} is not an integer >= epoch")
    metrics: dict[str, float] = {}
    for name in METRICS:
        value = detail.get(name)
        if value is None and name in detail:
            continue  # sent as null: unknown this epoch
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{name} {value!r} is not a number")
        elif math.isfinite(value):
            metrics[name] = float(value)
    for name in ("started_at", "ended_at"):
        if not isinstance(detail.get(name), str):
            problems.append(f"{name} is missing")
    if problems or not isinstance(job, str) or epoch is None or epochs is None:
        raise MalformedEventError("; ".join(problems))
    return EpochRecord(
        job_name=job,
        epoch=epoch,
        epochs=epochs,
        metrics=metrics,
        started_at=detail["started_at"],
        ended_at=detail["ended_at"],
        event_id=str(event.get("id", "")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def store(dynamodb: Any, table: str, record: EpochRecord) -> bool:
    """Write the epoch once; False if it was already there (a repeated delivery)."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item=record.item(),
            ConditionExpression="attribute_not_exists(job_name)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
