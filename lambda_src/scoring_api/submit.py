"""`POST /requests`: 202 `{tracking_id}` at once; the worker scores it later."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .archive import QueueClient
from .runtime import apply_dimensions, client, logger, metrics, tracer
from .scoring import ApiError, request_body, request_id, respond
from .tracking import Results, WorkItem, new_tracking_id


@dataclass(frozen=True)
class SubmitDependencies:
    results: Results
    queue: QueueClient
    queue_url: str
    max_body_bytes: int
    ttl_hours: int


def handle(event: dict[str, Any], context: Any, deps: SubmitDependencies) -> dict[str, Any]:
    """Record the id as pending, then queue the work (so a GET right after answers 202, not 404)."""
    rid = request_id(event, context)
    try:
        body = request_body(event, deps.max_body_bytes)
    except ApiError as error:
        return respond(error.status, error.body(rid), error.headers())
    now = time.time()
    tracking_id = new_tracking_id(int(now) + deps.ttl_hours * 3600)
    try:
        deps.results.put_pending(tracking_id, rid)
        deps.queue.send_message(
            QueueUrl=deps.queue_url,
            MessageBody=WorkItem(tracking_id, rid, body.decode(), now).to_message(),
        )
    except Exception:
        logger.exception("could not accept the request", extra={"request_id": rid})
        metrics.add_metric(name="SubmitFailed", unit=MetricUnit.Count, value=1)
        busy = {"error": "the request could not be accepted; retry shortly", "request_id": rid}
        return respond(503, busy, {"Retry-After": "1"})
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    return respond(202, {"tracking_id": tracking_id, "request_id": rid}, {"Location": f"/requests/{tracking_id}"})


_DEPS: list[SubmitDependencies] = []


def _dependencies() -> SubmitDependencies:
    if not _DEPS:
        _DEPS.append(
            SubmitDependencies(
                results=Results(client("dynamodb"), settings.required(settings.RESULTS_TABLE)),
                queue=client("sqs"),
                queue_url=settings.required(settings.WORK_QUEUE_URL),
                max_body_bytes=int(settings.required(settings.MAX_BODY_BYTES)),
                ttl_hours=int(settings.required(settings.RESULT_TTL_HOURS)),
            )
        )
    return _DEPS[0]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    apply_dimensions()
    return handle(event, context, _dependencies())
