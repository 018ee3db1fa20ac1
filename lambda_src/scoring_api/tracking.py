"""Asynchronous requests: tracking ids, the work message, and the results table.

A tracking id carries its own expiry (`<expiry, unix seconds, hex>-<32 random hex>`), so
`GET /requests/{id}` answers 410 for an expired id even after DynamoDB's TTL has deleted
the item (TTL deletes lazily, typically within days, so an expired item may also still be
there). The whole id is the table key: an id with a forged expiry names no item (404).

Item life: `submit` writes `pending` (conditional on the id being new), then queues the
work. The worker moves it to `done` or `failed` only from `pending`; a duplicate delivery
finds it already finished and changes nothing (the write is conditional, and the worker
reads first so it does not call the model again).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .archive import compact_json

PENDING = "pending"
DONE = "done"
FAILED = "failed"
KEY = "tracking_id"
EXPIRES = "expires_at"  # the table's TTL attribute (epoch seconds)
_TRACKING_ID = re.compile(r"^([0-9a-f]{8,12})-([0-9a-f]{32})$")

Clock = Callable[[], float]


class TableClient(Protocol):
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_item(self, **kwargs: Any) -> dict[str, Any]: ...


def new_tracking_id(expires_at: int) -> str:
    return f"{expires_at:x}-{secrets.token_hex(16)}"


def expiry_of(tracking_id: str) -> int | None:
    """The expiry an id carries, or None if it is not one of ours."""
    match = _TRACKING_ID.match(tracking_id)
    return int(match.group(1), 16) if match else None


@dataclass(frozen=True)
class WorkItem:
    """What the work queue carries: the caller's body and where the answer goes."""

    tracking_id: str
    request_id: str
    body: str  # the caller's JSON, as received
    received_at: float

    def to_message(self) -> str:
        """The body travels as JSON, not as an escaped string, so the message is about its size."""
        return compact_json(
            {
                "tracking_id": self.tracking_id,
                "request_id": self.request_id,
                "body": json.loads(self.body),
                "received_at": self.received_at,
            }
        )

    @staticmethod
    def from_message(text: str) -> WorkItem:
        """Raises ValueError for a message that is not a work item (a poison message)."""
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        tracking_id, request_id, body = value.get("tracking_id"), value.get("request_id"), value.get("body")
        if not isinstance(tracking_id, str) or expiry_of(tracking_id) is None:
            raise ValueError("no valid tracking_id")
        if not isinstance(request_id, str) or not isinstance(body, dict):
            raise ValueError("request_id must be a string and body a JSON object")
        received = value.get("received_at")
        return WorkItem(
            tracking_id, request_id, compact_json(body), float(received) if isinstance(received, int | float) else 0.0
        )


Lookup = Literal["unknown", "expired", "pending", "finished"]


@dataclass(frozen=True)
class Status:
    state: Lookup
    http_status: int = 0
    body: dict[str, Any] | None = None


class Results:
    """The results table (low-level client: the runtime's boto3, typed attribute values)."""

    def __init__(self, client: TableClient, table: str, *, clock: Clock = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def put_pending(self, tracking_id: str, request_id: str) -> None:
        expires = expiry_of(tracking_id)
        self._client.put_item(
            TableName=self._table,
            Item={
                KEY: {"S": tracking_id},
                "state": {"S": PENDING},
                "request_id": {"S": request_id},
                EXPIRES: {"N": str(expires)},
            },
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": KEY},
        )

    def is_finished(self, tracking_id: str) -> bool:
        item = self._get(tracking_id)
        return item is not None and item.get("state", {}).get("S") in (DONE, FAILED)

    def finish(self, tracking_id: str, *, http_status: int, body: dict[str, Any]) -> bool:
        """Record the answer once; False if it was already recorded (a duplicate delivery)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={KEY: {"S": tracking_id}},
                UpdateExpression="SET #s = :state, http_status = :status, answer = :answer, finished_at = :now",
                ConditionExpression="attribute_exists(#k) AND #s = :pending",
                ExpressionAttributeNames={"#k": KEY, "#s": "state"},
                ExpressionAttributeValues={
                    ":state": {"S": DONE if http_status == 200 else FAILED},
                    ":status": {"N": str(http_status)},
                    ":answer": {"S": json.dumps(body, separators=(",", ":"))},
                    ":now": {"N": str(int(self._clock()))},
                    ":pending": {"S": PENDING},
                },
            )
        except Exception as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def status(self, tracking_id: str) -> Status:
        expires = expiry_of(tracking_id)
        if expires is None:
            return Status("unknown")
        if expires <= self._clock():
            return Status("expired")
        item = self._get(tracking_id)
        if item is None:
            return Status("unknown")
        if item.get("state", {}).get("S") == PENDING:
            return Status("pending")
        return Status("finished", int(item["http_status"]["N"]), json.loads(item["answer"]["S"]))

    def _get(self, tracking_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={KEY: {"S": tracking_id}}, ConsistentRead=True
        ).get("Item")
        return item


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
