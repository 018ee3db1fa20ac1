"""`POST /score`: one record in, `{score, model_variant, request_id}` out, at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .archive import Archive, record
from .runtime import apply_dimensions, client, endpoint_runtime, logger, metrics, tracer
from .scoring import ApiError, Scorer, request_body, request_id, respond

ROUTE = "score"


@dataclass(frozen=True)
class ScoreDependencies:
    scorer: Scorer
    max_body_bytes: int
    archive: Archive | None = None


def handle(event: dict[str, Any], context: Any, deps: ScoreDependencies) -> dict[str, Any]:
    """Score the body; archive the request and its answer when the API archives."""
    rid = request_id(event, context)
    received = time.time()
    body: bytes | str = event.get("body") or ""
    try:
        body = request_body(event, deps.max_body_bytes)
        # Successes are counted by API Gateway (Count); the handler adds metrics only for what it alone
        # sees, so the common path prints no EMF line.
        status, answer, headers = 200, deps.scorer.score(body).body(rid), {}
    except ApiError as error:
        status, answer, headers = error.status, error.body(rid), error.headers()
        logger.warning("score refused", extra={"status": status, "code": error.code, "request_id": rid})
        metrics.add_metric(name=f"Status{status}", unit=MetricUnit.Count, value=1)
    if deps.archive is not None:  # every request that reached the handler, whatever its answer
        sent = deps.archive.send(
            record(
                route=ROUTE,
                request_id=rid,
                body=body,
                status=status,
                answer=answer,
                received_at=received,
                max_request_bytes=deps.max_body_bytes,
            )
        )
        if not sent:
            metrics.add_metric(name="ArchiveSendFailed", unit=MetricUnit.Count, value=1)
    return respond(status, answer, headers)


_DEPS: list[ScoreDependencies] = []


def _dependencies() -> ScoreDependencies:
    if not _DEPS:
        archive_url = settings.optional(settings.ARCHIVE_QUEUE_URL)
        _DEPS.append(
            ScoreDependencies(
                scorer=Scorer(
                    endpoint_runtime(),
                    settings.required(settings.ENDPOINT_NAME),
                    settings.optional(settings.TARGET_VARIANT),
                ),
                max_body_bytes=int(settings.required(settings.MAX_BODY_BYTES)),
                archive=Archive(client("sqs"), archive_url) if archive_url else None,
            )
        )
    return _DEPS[0]


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # answers hold customers' scores: not for X-Ray
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    apply_dimensions()
    return handle(event, context, _dependencies())
