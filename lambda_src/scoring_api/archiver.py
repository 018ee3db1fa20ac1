"""The archiver: SQS archive records -> S3 `api/<name>/date=YYYY-MM-DD/`, failures reported per message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import settings
from .archive import ArchiveWriter, Message
from .runtime import apply_dimensions, client, logger, metrics, tracer


def handle(event: dict[str, Any], writer: ArchiveWriter) -> dict[str, Any]:
    records = event.get("Records", [])
    messages = [Message(str(r.get("messageId", "")), str(r.get("body", ""))) for r in records]
    failed = writer.write(messages)
    metrics.add_metric(name="Archived", unit=MetricUnit.Count, value=len(messages) - len(failed))
    if failed:
        metrics.add_metric(name="ArchiveFailed", unit=MetricUnit.Count, value=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


_WRITER: list[ArchiveWriter] = []


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    apply_dimensions()
    if not _WRITER:
        _WRITER.append(
            ArchiveWriter(
                client("s3"),
                bucket=settings.required(settings.ARCHIVE_BUCKET),
                key_arn=settings.required(settings.ARCHIVE_KEY_ARN),
                api_name=settings.required(settings.API_NAME),
            )
        )
    return handle(event, _WRITER[0])
