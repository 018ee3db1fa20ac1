"""Test harness for lambda_src/scoring_api: Lambda's SQS poller, contexts, and sagemaker-runtime clients.

`run_event_source` does what Lambda's SQS event source mapping does with
ReportBatchItemFailures (Lambda Developer Guide, "Using Lambda with Amazon SQS"): receive a
batch, invoke the function, delete the messages that did not fail; failed ones become
visible again (here at once: visibility timeout 0) and, past the queue's maxReceiveCount,
SQS moves them to the dead-letter queue.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber

from tests.aws_emulator import REGION


@dataclass(frozen=True)
class FakeContext:
    """The attributes Powertools' inject_lambda_context reads from Lambda's context object."""

    aws_request_id: str = "lambda-request-1"
    function_name: str = "mlops-test-api"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:mlops-test-api"


def api_event(body: str | None, *, request_id: str = "api-request-1", tracking_id: str | None = None) -> dict[str, Any]:
    """An API Gateway REST (Lambda proxy) event, as much of it as the handlers read."""
    event: dict[str, Any] = {
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id},
        "pathParameters": {"tracking_id": tracking_id} if tracking_id is not None else None,
    }
    return event


def runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def model_answer(payload: dict[str, Any] | bytes, variant: str = "champion") -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentType": "application/json",
        "InvokedProductionVariant": variant,
    }


def expect_invoke(
    stubber: Stubber, body: bytes, answer: dict[str, Any], *, endpoint: str = "caller-risk", target: str | None = None
) -> None:
    expected: dict[str, Any] = {
        "EndpointName": endpoint,
        "Body": body,
        "ContentType": "application/json",
        "Accept": "application/json",
    }
    if target:
        expected["TargetVariant"] = target
    stubber.add_response("invoke_endpoint", answer, expected)


def run_event_source(sqs: Any, queue_url: str, function: Callable[[dict[str, Any]], dict[str, Any]], *, rounds: int) -> int:
    """Poll `queue_url` `rounds` times as Lambda would; returns how many invocations ran."""
    invocations = 0
    for _ in range(rounds):
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        if not received:
            continue
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
            }
            for m in received
        ]
        result = function({"Records": records})
        invocations += 1
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in received:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return invocations


def queue_with_dlq(sqs: Any, name: str, *, max_receive_count: int = 3) -> tuple[str, str]:
    """A queue and its dead-letter queue, as the stack makes them; returns (queue url, dlq url)."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})},
    )["QueueUrl"]
    return queue_url, dlq_url


def drain(sqs: Any, queue_url: str) -> list[str]:
    """Every message body left on a queue."""
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
