"""The asynchronous worker: SQS work messages -> InvokeEndpoint -> the results table.

Reports partial batch failures (the event source mapping sets ReportBatchItemFailures), so
one bad message never makes SQS deliver its neighbours again:
- a message that is not a work item (poison) fails; after maxReceiveCount it is in the DLQ;
- a transient endpoint error (429/503, or SageMaker's own 500 InternalFailure) fails, so SQS
  retries it after the visibility timeout;
- a definite answer (a score, or a 4xx/502 from the model) is archived, then recorded once; a
  duplicate delivery finds it recorded and neither calls the model nor writes again. Archiving
  first means a crash between the two loses nothing: the redelivery records it, and the archive
  may hold the line twice (dedupe on `request_id`);
- a message starts only while `settings.WORKER_MESSAGE_BUDGET_S` is left before the function's
  deadline; the rest of the batch is reported failed, untouched, for SQS to deliver again;
- on a message's last delivery (ApproximateReceiveCount >= the queue's maxReceiveCount) a
  transient failure or a deferral is final: the request is recorded (and archived) as a 503, so
  the caller's GET says it failed instead of answering 202 until the id expires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .archive import Archive, record
from .runtime import apply_dimensions, client, endpoint_runtime, logger, metrics, tracer
from .scoring import ApiError, Scorer
from .tracking import Results, WorkItem

ROUTE = "requests"
# Worth another delivery in this path: SageMaker Runtime's InternalFailure is a 500 on its side, not the record's
# fault; the synchronous route still answers it 500 at once (the caller may retry), the worker retries it itself.
_RETRYABLE_CODES = frozenset({"InternalFailure"})
# On a last delivery, recording the 503 needs a table write (and a queue send): start it only with this much left.
_GIVE_UP_BUDGET_MS = 2_000
GAVE_UP_STATUS = 503
GAVE_UP_MESSAGE = "the request could not be scored; submit it again"

RemainingMs = Callable[[], int]


@dataclass(frozen=True)
class WorkerDependencies:
    scorer: Scorer
    results: Results
    archive: Archive | None = None
    max_receive_count: int | None = None  # the queue's maxReceiveCount; None: never treat a delivery as the last


def handle(event: dict[str, Any], deps: WorkerDependencies, remaining_ms: RemainingMs | None = None) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for message in event.get("Records", []):
        message_id = str(message.get("messageId", ""))
        text = str(message.get("body", ""))
        last = _last_delivery(message, deps.max_receive_count)
        if remaining_ms is not None and remaining_ms() < settings.WORKER_MESSAGE_BUDGET_S * 1000:
            outcome = "deferred"
        else:
            try:
                outcome = _process(text, deps)
            except ValueError as error:
                logger.error("poison work message", extra={"message_id": message_id, "reason": str(error)})
                outcome = "poison"
            except Exception:
                logger.exception("work message failed; SQS will deliver it again", extra={"message_id": message_id})
                outcome = "error"
        transient = outcome in ("retry", "error", "deferred")
        if transient and last and (remaining_ms is None or remaining_ms() >= _GIVE_UP_BUDGET_MS):
            outcome = _give_up(text, deps, message_id, outcome)
        metrics.add_metric(name=f"Work{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        if outcome in ("poison", "error", "retry", "deferred"):
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _last_delivery(message: dict[str, Any], max_receive_count: int | None) -> bool:
    if max_receive_count is None:
        return False
    try:
        count = int((message.get("attributes") or {}).get("ApproximateReceiveCount", 0))
    except (TypeError, ValueError):
        return False
    return count >= max_receive_count


def _process(text: str, deps: WorkerDependencies) -> str:
    item = WorkItem.from_message(text)
    if deps.results.is_finished(item.tracking_id):
        return "duplicate"
    try:
        status, answer = 200, deps.scorer.score(item.body.encode()).body(item.request_id)
    except ApiError as error:
        if error.retry or error.code in _RETRYABLE_CODES:
            logger.warning("endpoint busy; retrying later", extra={"tracking_id": item.tracking_id, "code": error.code})
            return "retry"
        status, answer = error.status, error.body(item.request_id)
    return _record(item, deps, status, answer)


def _record(item: WorkItem, deps: WorkerDependencies, status: int, answer: dict[str, Any]) -> str:
    """Archive, then record: a crash in between leaves the item pending, so a redelivery records it."""
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
    if not deps.results.finish(item.tracking_id, http_status=status, body=answer):
        return "duplicate"
    return "scored" if status == 200 else "failed"


def _give_up(text: str, deps: WorkerDependencies, message_id: str, outcome: str) -> str:
    """The last delivery failed for a transient reason: record a final 503; if even that fails, leave it to the DLQ."""
    try:
        item = WorkItem.from_message(text)
        answer = {"error": GAVE_UP_MESSAGE, "request_id": item.request_id}
        result = _record(item, deps, GAVE_UP_STATUS, answer)
    except Exception:
        logger.exception("could not record the final failure; the message goes to the DLQ", extra={"message_id": message_id})
        return outcome
    logger.error("last delivery failed; recorded as 503", extra={"message_id": message_id, "reason": outcome})
    return "gaveup" if result != "duplicate" else result


_DEPS: list[WorkerDependencies] = []


def _dependencies() -> WorkerDependencies:
    if not _DEPS:
        archive_url = settings.optional(settings.ARCHIVE_QUEUE_URL)
        _DEPS.append(
            WorkerDependencies(
                scorer=Scorer(
                    endpoint_runtime(),
                    settings.required(settings.ENDPOINT_NAME),
                    settings.optional(settings.TARGET_VARIANT),
                ),
                results=Results(client("dynamodb"), settings.required(settings.RESULTS_TABLE)),
                archive=Archive(client("sqs"), archive_url) if archive_url else None,
                max_receive_count=int(settings.required(settings.MAX_RECEIVE_COUNT)),
            )
        )
    return _DEPS[0]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    apply_dimensions()
    return handle(event, _dependencies(), getattr(context, "get_remaining_time_in_millis", None))
