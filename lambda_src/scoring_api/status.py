"""`GET /requests/{tracking_id}`: 200 with the answer, 202 pending, 404 unknown, 410 expired."""

from __future__ import annotations

from typing import Any

from . import settings
from .runtime import apply_dimensions, client, logger, metrics, tracer
from .scoring import request_id, respond
from .tracking import Results


def handle(event: dict[str, Any], context: Any, results: Results) -> dict[str, Any]:
    rid = request_id(event, context)
    tracking_id = str((event.get("pathParameters") or {}).get("tracking_id") or "")
    status = results.status(tracking_id)
    if status.state == "unknown":
        return respond(404, {"error": "no such tracking id", "request_id": rid})
    if status.state == "expired":
        return respond(410, {"error": "this result has expired", "request_id": rid})
    if status.state == "pending":
        return respond(202, {"tracking_id": tracking_id, "status": "pending"}, {"Retry-After": "1"})
    return respond(status.http_status, {"tracking_id": tracking_id, **(status.body or {})})


_RESULTS: list[Results] = []


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # answers hold customers' scores: not for X-Ray
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    apply_dimensions()
    if not _RESULTS:
        _RESULTS.append(Results(client("dynamodb"), settings.required(settings.RESULTS_TABLE)))
    return handle(event, context, _RESULTS[0])
