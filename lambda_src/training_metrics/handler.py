"""EventBridge -> this function -> the training metrics table (one item per job and epoch).

Thin: Powertools for the structured log and the typed EventBridge envelope; parsing and the
write live in core.py. A malformed event is sent to the dead-letter queue with the reason and
the function returns normally (a retry could not fix it); a failed write raises, so Lambda's
asynchronous retries and then the same queue (the function's on-failure DLQ) take it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from .core import MalformedEventError, parse, store

logger = Logger()
_CLIENTS: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handle(event: EventBridgeEvent, context: object) -> dict[str, Any]:
    return process(event.raw_event, dynamodb=_client("dynamodb"), sqs=_client("sqs"), env=os.environ)


def process(event: dict[str, Any], *, dynamodb: Any, sqs: Any, env: Any) -> dict[str, Any]:
    try:
        record = parse(event)
    except MalformedEventError as error:
        logger.warning("malformed training event", extra={"reason": str(error), "event_id": event.get("id")})
        sqs.send_message(
            QueueUrl=env["DEAD_LETTER_QUEUE_URL"],
            MessageBody=json.dumps({"reason": str(error), "event": event}, default=str),
        )
        return {"stored": False, "malformed": True}
    stored = store(dynamodb, env["TABLE_NAME"], record)
    logger.info(
        "epoch stored" if stored else "epoch already stored (repeated delivery)",
        extra={"job_name": record.job_name, "epoch": record.epoch},
    )
    return {"stored": stored, "malformed": False}
