"""Every accepted request and its answer, archived to S3 through a queue.

Handlers put one record per request on the archive queue (`Archive.send`); the archiver
function takes a batch from the queue and writes one JSON Lines object per UTC day under
`api/<name>/date=YYYY-MM-DD/` (Hive-style partitions that Athena reads as a `date` column),
SSE-KMS with the data bucket's key.

Nothing is lost: a batch whose object cannot be written reports each of its messages as a
batch item failure, so SQS delivers them again and, after the queue's maxReceiveCount, moves
them to the dead-letter queue (Lambda Developer Guide, "Handling errors for an SQS event
source": ReportBatchItemFailures). A message that is not an archive record (poison) is
reported the same way and ends in the dead-letter queue rather than being dropped.

Idempotent under duplicate delivery of a batch: an object's key is a hash of its message
ids, so delivering the same batch again overwrites the same object. A message delivered
again in a different batch appears twice; each line carries its `request_id` to deduplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

LOG = logging.getLogger(__name__)
PREFIX = "api"
# A body above the API's limit (refused 413; API Gateway lets up to 10 MB through) is archived as its size and
# a prefix of at most this many bytes: even escaped six-fold as JSON it stays far below SQS's 1 MiB message.
ARCHIVED_PREFIX_BYTES = 64 * 1024
# A record that could not be queued is logged up to this many characters, well inside a CloudWatch Logs event.
LOGGED_RECORD_CHARS = 64 * 1024


class QueueClient(Protocol):
    def send_message(self, **kwargs: Any) -> dict[str, Any]: ...


class ObjectClient(Protocol):
    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...


def record(
    *,
    route: str,
    request_id: str,
    body: bytes | str,
    status: int,
    answer: dict[str, Any],
    received_at: float,
    max_request_bytes: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One archive line: the caller's request (as JSON when it parses) and the answer given.

    A body above `max_request_bytes` (the API's own limit) is kept as `{"size", "truncated"}`: its length in
    bytes and its first `min(max_request_bytes, ARCHIVED_PREFIX_BYTES)` bytes as text, so the record fits a
    queue message."""
    raw = body.encode(errors="surrogatepass") if isinstance(body, str) else body
    request: Any
    if max_request_bytes is not None and len(raw) > max_request_bytes:
        prefix = raw[: min(max_request_bytes, ARCHIVED_PREFIX_BYTES)]
        request = {"size": len(raw), "truncated": prefix.decode(errors="replace")}
        extra = {"request_truncated": True, **extra}
    else:
        text = raw.decode(errors="replace")
        try:
            request = json.loads(text)
        except ValueError:
            request = text
    return {
        "request_id": request_id,
        "route": route,
        "received_at": received_at,
        "request": request,
        "status": status,
        "response": answer,
        **extra,
    }


def compact_json(value: Any) -> str:
    """JSON without spaces, non-ASCII kept as is (SQS counts bytes; escapes would triple them),
    escaped only when the text holds something UTF-8 cannot carry (a lone surrogate)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"))
    return text


class Archive:
    """The sending side: puts records on the archive queue; a failed send is logged (up to LOGGED_RECORD_CHARS), never raised."""

    def __init__(self, client: QueueClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, item: dict[str, Any]) -> bool:
        text = compact_json(item)
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=text)
        except Exception:
            # The caller already has its answer; keep the record in the function's log
            # (retained, encrypted) so it can be replayed, and let the metric alarm.
            clipped = len(text) - LOGGED_RECORD_CHARS
            LOG.exception(
                "archive send failed; the record follows%s: %s",
                f" (its last {clipped} characters left out)" if clipped > 0 else "",
                text[:LOGGED_RECORD_CHARS],
            )
            return False
        return True


@dataclass(frozen=True)
class Message:
    message_id: str
    body: str


def partition(received_at: float) -> str:
    return datetime.fromtimestamp(received_at, UTC).strftime("%Y-%m-%d")


def object_key(api_name: str, day: str, message_ids: Iterable[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:32]
    return f"{PREFIX}/{api_name}/date={day}/{digest}.jsonl"


class ArchiveWriter:
    """The receiving side: a batch of queue messages -> one object per day; returns the failed message ids."""

    def __init__(
        self, client: ObjectClient, *, bucket: str, key_arn: str, api_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key_arn = key_arn
        self._api = api_name
        self._clock = clock

    def write(self, messages: Iterable[Message]) -> list[str]:
        failed: list[str] = []
        days: dict[str, list[tuple[str, str]]] = {}
        for message in messages:
            try:
                item = json.loads(message.body)
                if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
                    raise ValueError("not an archive record")
                received = item.get("received_at")
                day = partition(float(received) if isinstance(received, int | float) else self._clock())
            except (ValueError, TypeError, OverflowError, OSError) as error:
                LOG.error("poison archive message %s: %s", message.message_id, error)
                failed.append(message.message_id)
                continue
            days.setdefault(day, []).append((message.message_id, compact_json(item)))
        for day, lines in sorted(days.items()):
            ids = [message_id for message_id, _ in lines]
            try:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=object_key(self._api, day, ids),
                    Body=("\n".join(line for _, line in lines) + "\n").encode(),
                    ContentType="application/x-ndjson",
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=self._key_arn,
                    BucketKeyEnabled=True,
                )
            except Exception as error:
                LOG.error("archive write for %s failed (%d messages will be retried): %s", day, len(ids), error)
                failed.extend(ids)
        return failed
