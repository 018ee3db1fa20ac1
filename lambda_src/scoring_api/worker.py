"""The asynchronous worker: SQS work messages -> InvokeEndpoint -> the results table.

Reports partial batch failures (the event source mapping sets ReportBatchItemFailures), so
one bad message never makes SQS deliver its neighbours again:
- a message that is not a work item (poison) fails; after maxReceiveCount it is in the DLQ;
- a transient endpoint error (429/503) fails, so SQS retries it after the visibility timeout;
- a definite answer (a score, or a 4xx/502 from the model) is recorded once; a duplicate
  delivery finds it recorded and neither calls the model nor writes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .archive import Archive, record
from .runtime import client, dimensions, logger, metrics, tracer
from .scoring import ApiError, Scorer
from .tracking import Results, WorkItem

ROUTE = "requests"


@dataclass(frozen=True)
class WorkerDependencies:
    scorer: Scorer
    results: Results
    archive: Archive | None = None


def handle(event: dict[str, Any], deps: WorkerDependencies) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for message in event.get("Records", []):
        message_id = str(message.get("messageId", ""))
        try:
            outcome = _process(str(message.get("body", "")), deps)
        except ValueError as error:
            logger.error("poison work message", extra={"message_id": message_id, "reason": str(error)})
            outcome = "poison"
        except Exception:
            logger.exception("work message failed; SQS will deliver it again", extra={"message_id": message_id})
            outcome = "error"
        metrics.add_metric(name=f"Work{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        if outcome in ("poison", "error", "retry"):
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _process(text: str, deps: WorkerDependencies) -> str:
    item = WorkItem.from_message(text)
    if deps.results.is_finished(item.tracking_id):
        return "duplicate"
    try:
        status, answer = 200, deps.scorer.score(item.body.encode()).body(item.request_id)
    except ApiError as error:
        if error.retry:
            logger.warning("endpoint busy; retrying later", extra={"tracking_id": item.tracking_id, "code": error.code})
            return "retry"
        status, answer = error.status, error.body(item.request_id)
    if not deps.results.finish(item.tracking_id, http_status=status, body=answer):
        return "duplicate"
    if deps.archive is not None:
        sent = deps.archive.send(
            record(
                route=ROUTE,
                request_id=item.request_id,
                body=item.body,
                status=status,
                answer=answer,
                received_at=item.received_at,
                tracking_id=item.tracking_id,
            )
        )
        if not sent:
            metrics.add_metric(name="ArchiveSendFailed", unit=MetricUnit.Count, value=1)
    return "scored" if status == 200 else "failed"


_DEPS: list[WorkerDependencies] = []


def _dependencies() -> WorkerDependencies:
    if not _DEPS:
        archive_url = settings.optional(settings.ARCHIVE_QUEUE_URL)
        _DEPS.append(
            WorkerDependencies(
                scorer=Scorer(
                    client("sagemaker-runtime"),
                    settings.required(settings.ENDPOINT_NAME),
                    settings.optional(settings.TARGET_VARIANT),
                ),
                results=Results(client("dynamodb"), settings.required(settings.RESULTS_TABLE)),
                archive=Archive(client("sqs"), archive_url) if archive_url else None,
            )
        )
    return _DEPS[0]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.set_default_dimensions(**dimensions())
    return handle(event, _dependencies())
