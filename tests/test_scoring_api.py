"""The scoring API's handlers (lambda_src/scoring_api) as real code.

SQS, DynamoDB, S3 and KMS are moto in server mode (real HTTP through boto3); the
sagemaker-runtime calls go through botocore's Stubber, which checks each request against
the service model. Queues are driven as Lambda's SQS event source drives them
(tests/scoring_api_harness.py), so retries, duplicates and dead-letter moves are SQS's own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from lambda_src.scoring_api import archiver, score, settings, status, submit, worker
from lambda_src.scoring_api.archive import LOGGED_RECORD_CHARS, Archive, ArchiveWriter, Message, compact_json, object_key
from lambda_src.scoring_api.scoring import Scorer
from lambda_src.scoring_api.tracking import Results, WorkItem, expiry_of, new_tracking_id
from tests.aws_emulator import Emulator
from tests.scoring_api_harness import (
    FakeContext,
    api_event,
    drain,
    expect_invoke,
    model_answer,
    queue_with_dlq,
    run_event_source,
    runtime_client,
)

ENDPOINT = "caller-risk"
RECORD = {"features": {"call_duration_s": 120.0, "calls_last_24h": 8}, "id": "call-1"}
BODY = json.dumps(RECORD, separators=(",", ":"))  # compact, as queued messages carry it
ANSWER = {"risk": 0.125, "label": 0, "id": "call-1"}
CONTEXT = FakeContext()
TABLE = "results"


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = runtime_client()
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _score_deps(client: Any, *, archive: Archive | None = None, max_bytes: int = 4096, target: str | None = None) -> Any:
    return score.ScoreDependencies(scorer=Scorer(client, ENDPOINT, target), max_body_bytes=max_bytes, archive=archive)


def _body(response: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(response["body"])
    return value


# --- POST /score -------------------------------------------------------------------------


def test_score_returns_score_variant_and_request_id(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER, "challenger"))
    response = score.handle(api_event(BODY, request_id="req-42"), CONTEXT, _score_deps(client))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert _body(response) == {"score": 0.125, "model_variant": "challenger", "request_id": "req-42", "label": 0}


def test_score_sends_the_target_variant_when_configured(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER), target="champion")
    response = score.handle(api_event(BODY), CONTEXT, _score_deps(client, target="champion"))
    assert _body(response)["model_variant"] == "champion"


def test_score_reads_a_base64_body(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    event = {**api_event(base64.b64encode(BODY.encode()).decode()), "isBase64Encoded": True}
    assert score.handle(event, CONTEXT, _score_deps(client))["statusCode"] == 200


@pytest.mark.parametrize(
    ("code", "http", "fields", "status", "message"),
    [
        ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": '{"error": "boom"}'}, 502, "the model failed"),
        ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": '{"error": "record 0: bad"}'}, 400, "record 0: bad"),
        ("ModelError", 424, {"OriginalStatusCode": 503, "OriginalMessage": '{"error": "busy"}'}, 503, "busy"),
        ("ModelNotReadyException", 429, {}, 429, "too many requests"),
        ("ThrottlingException", 400, {}, 429, "too many requests"),
        ("ValidationError", 400, {}, 400, "refused the request"),
        ("ServiceUnavailable", 503, {}, 503, "unavailable"),
        ("InternalDependencyException", 530, {}, 503, "unavailable"),
        ("InternalFailure", 500, {}, 500, "internal error"),
    ],
)
def test_sagemaker_errors_map_to_clear_answers_without_a_stack_trace(
    runtime: tuple[Any, Stubber], code: str, http: int, fields: dict[str, Any], status: int, message: str
) -> None:
    client, stubber = runtime
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message="Received server error (500) from primary with message ... Traceback (most recent call last)",
        http_status_code=http,
        modeled_fields=fields,
    )
    response = score.handle(api_event(BODY, request_id="req-7"), CONTEXT, _score_deps(client))
    body = _body(response)
    assert response["statusCode"] == status
    assert message in body["error"]
    assert body["request_id"] == "req-7"
    assert "Traceback" not in response["body"]
    assert ("Retry-After" in response["headers"]) == (status in (429, 503))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (None, 400, "needs a JSON object body"),
        ("{not json", 400, "not JSON"),
        ("[1, 2]", 400, "one JSON object"),
        ("{" + '"a": "' + "x" * 5000 + '"}', 413, "at most 4096"),
    ],
)
def test_bad_bodies_are_refused_before_the_endpoint_is_called(
    runtime: tuple[Any, Stubber], body: str | None, status: int, message: str
) -> None:
    client, _ = runtime  # no response queued: a call to the endpoint would fail the test
    response = score.handle(api_event(body), CONTEXT, _score_deps(client))
    assert response["statusCode"] == status
    assert message in _body(response)["error"]


def test_a_model_answer_that_cannot_be_read_is_a_502(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    expect_invoke(stubber, BODY.encode(), model_answer(b"<html>"))
    assert score.handle(api_event(BODY), CONTEXT, _score_deps(client))["statusCode"] == 502


def test_score_archives_the_request_and_its_answer(aws: Emulator, runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    score.handle(api_event(BODY, request_id="req-9"), CONTEXT, _score_deps(client, archive=Archive(sqs, queue)))
    [line] = [json.loads(b) for b in drain(sqs, queue)]
    assert line["request"] == RECORD
    assert line["response"]["score"] == 0.125
    assert (line["route"], line["request_id"], line["status"]) == ("score", "req-9", 200)


def test_a_failed_request_is_archived_with_its_answer(aws: Emulator, runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    stubber.add_client_error(
        "invoke_endpoint", service_error_code="ModelError", http_status_code=424, modeled_fields={"OriginalStatusCode": 500}
    )
    score.handle(api_event(BODY, request_id="req-11"), CONTEXT, _score_deps(client, archive=Archive(sqs, queue)))
    [line] = [json.loads(b) for b in drain(sqs, queue)]
    assert (line["status"], line["response"]["request_id"], line["request"]) == (502, "req-11", RECORD)


def test_a_failed_archive_send_still_answers_and_logs_the_whole_record(
    aws: Emulator, runtime: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = runtime
    sqs = aws.client("sqs")
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    missing = f"{aws.url}/123456789012/no-such-queue"
    response = score.handle(api_event(BODY, request_id="req-10"), CONTEXT, _score_deps(client, archive=Archive(sqs, missing)))
    assert response["statusCode"] == 200
    assert "archive send failed" in caplog.text
    assert '"request_id":"req-10"' in caplog.text


def test_an_oversized_body_is_archived_as_its_size_and_a_prefix(aws: Emulator, runtime: tuple[Any, Stubber]) -> None:
    """API Gateway passes bodies up to 10 MB; one above the API's limit is refused 413 and archived small enough
    for an SQS message (1 MiB), not whole."""
    client, _ = runtime
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    huge = '{"a": "' + "x" * 2_000_000 + '"}'
    response = score.handle(api_event(huge, request_id="req-big"), CONTEXT, _score_deps(client, archive=Archive(sqs, queue)))
    assert response["statusCode"] == 413
    [message] = drain(sqs, queue)
    line = json.loads(message)
    assert line["request"] == {"size": len(huge), "truncated": huge[:4096]}
    assert (line["status"], line["request_truncated"]) == (413, True)
    assert len(message.encode()) < 16_384


def test_a_failed_archive_send_logs_at_most_a_bounded_record(
    aws: Emulator, runtime: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = runtime
    sqs = aws.client("sqs")
    big = json.dumps({"features": {"note": "y" * 200_000}})
    expect_invoke(stubber, big.encode(), model_answer(ANSWER))
    missing = f"{aws.url}/123456789012/no-such-queue"
    deps = _score_deps(client, archive=Archive(sqs, missing), max_bytes=300_000)
    assert score.handle(api_event(big, request_id="req-12"), CONTEXT, deps)["statusCode"] == 200
    [logged] = [r.getMessage() for r in caplog.records if "archive send failed" in r.getMessage()]
    assert len(logged) <= LOGGED_RECORD_CHARS + 200
    assert "characters left out" in logged
    assert '"request_id":"req-12"' in logged


def test_queued_json_keeps_non_ascii_as_is_and_escapes_only_what_utf8_cannot_carry() -> None:
    assert compact_json({"name": "Zoë"}) == '{"name":"Zoë"}'
    assert compact_json({"bad": "\ud800"}) == '{"bad":"\\ud800"}'


# --- asynchronous: POST /requests, the worker, GET /requests/{id} ----------------------


@pytest.fixture
def async_api(aws: Emulator) -> dict[str, Any]:
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tracking_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tracking_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    work, work_dlq = queue_with_dlq(sqs, "work", max_receive_count=2)
    archive_queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    return {
        "dynamodb": dynamodb,
        "sqs": sqs,
        "work": work,
        "work_dlq": work_dlq,
        "archive": archive_queue,
        "results": Results(dynamodb, TABLE),
    }


def _submit(api: dict[str, Any], body: str = BODY, *, ttl_hours: int = 24) -> dict[str, Any]:
    deps = submit.SubmitDependencies(
        results=api["results"], queue=api["sqs"], queue_url=api["work"], max_body_bytes=4096, ttl_hours=ttl_hours
    )
    return submit.handle(api_event(body, request_id="req-async"), CONTEXT, deps)


def _status(api: dict[str, Any], tracking_id: str, results: Results | None = None) -> dict[str, Any]:
    return status.handle(api_event(None, tracking_id=tracking_id), CONTEXT, results or api["results"])


def _worker(api: dict[str, Any], client: Any, *, results: Results | None = None, max_receive_count: int | None = None) -> Any:
    deps = worker.WorkerDependencies(
        scorer=Scorer(client, ENDPOINT),
        results=results or api["results"],
        archive=Archive(api["sqs"], api["archive"]),
        max_receive_count=max_receive_count,
    )
    return lambda event: worker.handle(event, deps)


def test_submit_answers_202_with_a_tracking_id_and_queues_the_work(async_api: dict[str, Any]) -> None:
    response = _submit(async_api)
    assert response["statusCode"] == 202
    tracking_id = _body(response)["tracking_id"]
    assert response["headers"]["Location"] == f"/requests/{tracking_id}"
    [message] = drain(async_api["sqs"], async_api["work"])
    item = WorkItem.from_message(message)
    assert (item.tracking_id, item.body, item.request_id) == (tracking_id, BODY, "req-async")


def test_a_submitted_request_is_pending_then_scored(async_api: dict[str, Any], runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    pending = _status(async_api, tracking_id)
    assert pending["statusCode"] == 202
    assert _body(pending)["status"] == "pending"
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=2)
    done = _status(async_api, tracking_id)
    assert done["statusCode"] == 200
    assert _body(done) == {
        "tracking_id": tracking_id,
        "score": 0.125,
        "model_variant": "champion",
        "request_id": "req-async",
        "label": 0,
    }
    [archived] = [json.loads(b) for b in drain(async_api["sqs"], async_api["archive"])]
    assert (archived["route"], archived["tracking_id"], archived["request"]) == ("requests", tracking_id, RECORD)


def test_a_duplicate_delivery_neither_calls_the_model_nor_writes_again(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    [message] = drain(async_api["sqs"], async_api["work"])
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))  # exactly one model call for two deliveries
    event = {"Records": [{"messageId": "m-1", "body": message}]}
    run = _worker(async_api, client)
    assert run(event) == {"batchItemFailures": []}
    first = _status(async_api, tracking_id)["body"]
    assert run(event) == {"batchItemFailures": []}
    assert _status(async_api, tracking_id)["body"] == first
    assert len(drain(async_api["sqs"], async_api["archive"])) == 1


def test_the_conditional_write_records_an_answer_once(async_api: dict[str, Any]) -> None:
    results: Results = async_api["results"]
    tracking_id = new_tracking_id(2_000_000_000)
    results.put_pending(tracking_id, "req")
    assert results.finish(tracking_id, http_status=200, body={"score": 0.1}) is True
    assert results.finish(tracking_id, http_status=502, body={"error": "late duplicate"}) is False
    assert _body(_status(async_api, tracking_id))["score"] == 0.1


def test_poison_work_messages_fail_alone_and_end_in_the_dlq(async_api: dict[str, Any], runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    sqs = async_api["sqs"]
    tracking_id = _body(_submit(async_api))["tracking_id"]
    for poison in ["not json", json.dumps({"tracking_id": "nope", "request_id": "r", "body": "{}"}), "[]"]:
        sqs.send_message(QueueUrl=async_api["work"], MessageBody=poison)
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    run_event_source(sqs, async_api["work"], _worker(async_api, client), rounds=4)
    assert _status(async_api, tracking_id)["statusCode"] == 200
    assert sorted(drain(sqs, async_api["work_dlq"])) == sorted(
        ["not json", json.dumps({"tracking_id": "nope", "request_id": "r", "body": "{}"}), "[]"]
    )
    assert drain(sqs, async_api["work"]) == []


def test_a_busy_endpoint_is_retried_and_the_request_stays_pending(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    stubber.add_client_error("invoke_endpoint", service_error_code="ModelNotReadyException", http_status_code=429)
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)
    assert _status(async_api, tracking_id)["statusCode"] == 202
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)
    assert _status(async_api, tracking_id)["statusCode"] == 200


def test_a_model_error_is_recorded_as_the_answer(async_api: dict[str, Any], runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    stubber.add_client_error(
        "invoke_endpoint", service_error_code="ModelError", http_status_code=424, modeled_fields={"OriginalStatusCode": 500}
    )
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)
    response = _status(async_api, tracking_id)
    assert response["statusCode"] == 502
    assert _body(response)["request_id"] == "req-async"


def test_sagemakers_internal_failure_is_retried_by_the_worker(async_api: dict[str, Any], runtime: tuple[Any, Stubber]) -> None:
    """A 500 InternalFailure is SageMaker's, not the record's: the worker leaves it to SQS instead of recording a 500."""
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    stubber.add_client_error("invoke_endpoint", service_error_code="InternalFailure", http_status_code=500)
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)
    assert _status(async_api, tracking_id)["statusCode"] == 202
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)
    assert _status(async_api, tracking_id)["statusCode"] == 200


def test_a_request_still_failing_on_its_last_delivery_is_recorded_as_503_and_archived(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    """The work queue moves a message to the DLQ after maxReceiveCount (2 here): on that delivery the worker
    records a final 503, so the caller's GET says so instead of 202 until the id expires."""
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]
    for _ in range(2):
        stubber.add_client_error("invoke_endpoint", service_error_code="ModelNotReadyException", http_status_code=429)
    run = _worker(async_api, client, max_receive_count=2)
    run_event_source(async_api["sqs"], async_api["work"], run, rounds=1)
    assert _status(async_api, tracking_id)["statusCode"] == 202
    run_event_source(async_api["sqs"], async_api["work"], run, rounds=2)
    response = _status(async_api, tracking_id)
    assert response["statusCode"] == 503
    assert _body(response)["request_id"] == "req-async"
    assert drain(async_api["sqs"], async_api["work_dlq"]) == []
    [archived] = [json.loads(b) for b in drain(async_api["sqs"], async_api["archive"])]
    assert (archived["tracking_id"], archived["status"]) == (tracking_id, 503)


def test_the_worker_stops_before_its_deadline_and_leaves_the_rest_to_sqs(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    """With less than one message's worst case left, the rest of the batch is reported failed untouched."""
    client, stubber = runtime
    ids = [_body(_submit(async_api))["tracking_id"] for _ in range(3)]
    messages = drain(async_api["sqs"], async_api["work"])
    by_id = {WorkItem.from_message(m).tracking_id: m for m in messages}
    records = [
        {"messageId": f"m{i}", "body": by_id[t], "attributes": {"ApproximateReceiveCount": "1"}} for i, t in enumerate(ids)
    ]
    budget_ms = settings.WORKER_MESSAGE_BUDGET_S * 1000
    left = [budget_ms + 1, budget_ms - 1, budget_ms - 1]  # Lambda's remaining time, asked once before each message
    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))  # one model call: the first message only
    deps = worker.WorkerDependencies(scorer=Scorer(client, ENDPOINT), results=async_api["results"], max_receive_count=2)
    result = worker.handle({"Records": records}, deps, lambda: left.pop(0))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert [_status(async_api, t)["statusCode"] for t in ids] == [200, 202, 202]


def test_a_message_deferred_on_its_last_delivery_is_recorded_as_503(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    client, _ = runtime  # no model call: there is no time for one
    tracking_id = _body(_submit(async_api))["tracking_id"]
    [message] = drain(async_api["sqs"], async_api["work"])
    records = [{"messageId": "m0", "body": message, "attributes": {"ApproximateReceiveCount": "2"}}]
    deps = worker.WorkerDependencies(scorer=Scorer(client, ENDPOINT), results=async_api["results"], max_receive_count=2)
    left_ms = settings.WORKER_MESSAGE_BUDGET_S * 1000 - 1  # too little to score, enough to record the failure
    assert worker.handle({"Records": records}, deps, lambda: left_ms) == {"batchItemFailures": []}
    assert _status(async_api, tracking_id)["statusCode"] == 503


def test_the_worker_timeout_covers_a_whole_batch_at_its_worst() -> None:
    from mlops_constructs.api.scoring_api import WORKER_BATCH_SIZE, WORKER_TIMEOUT

    assert WORKER_TIMEOUT.to_seconds() >= WORKER_BATCH_SIZE * settings.WORKER_MESSAGE_BUDGET_S


def test_a_crash_between_recording_and_archiving_loses_no_archive_record(
    async_api: dict[str, Any], runtime: tuple[Any, Stubber]
) -> None:
    """The worker archives before it records: if it dies right after the table write, the archive has the line."""
    client, stubber = runtime
    tracking_id = _body(_submit(async_api))["tracking_id"]

    class CrashAfterFinish(Results):
        def finish(self, tracking_id: str, *, http_status: int, body: dict[str, Any]) -> bool:
            super().finish(tracking_id, http_status=http_status, body=body)
            raise RuntimeError("the function was stopped here")

    expect_invoke(stubber, BODY.encode(), model_answer(ANSWER))
    crashing = _worker(async_api, client, results=CrashAfterFinish(async_api["dynamodb"], TABLE))
    run_event_source(async_api["sqs"], async_api["work"], crashing, rounds=1)
    run_event_source(async_api["sqs"], async_api["work"], _worker(async_api, client), rounds=1)  # the redelivery
    assert _status(async_api, tracking_id)["statusCode"] == 200
    archived = [json.loads(b) for b in drain(async_api["sqs"], async_api["archive"])]
    assert [(a["tracking_id"], a["status"]) for a in archived] == [(tracking_id, 200)]


def test_status_is_404_for_an_unknown_or_malformed_id(async_api: dict[str, Any]) -> None:
    assert _status(async_api, new_tracking_id(2_000_000_000))["statusCode"] == 404
    assert _status(async_api, "../../etc/passwd")["statusCode"] == 404


def test_status_is_410_after_expiry_even_once_ttl_deleted_the_item(async_api: dict[str, Any]) -> None:
    tracking_id = _body(_submit(async_api, ttl_hours=1))["tracking_id"]
    expires = expiry_of(tracking_id)
    assert expires is not None
    later = Results(async_api["dynamodb"], TABLE, clock=lambda: expires + 1)
    assert _status(async_api, tracking_id, later)["statusCode"] == 410
    async_api["dynamodb"].delete_item(TableName=TABLE, Key={"tracking_id": {"S": tracking_id}})
    assert _status(async_api, tracking_id, later)["statusCode"] == 410


def test_pending_items_carry_the_ttl_attribute(async_api: dict[str, Any]) -> None:
    tracking_id = _body(_submit(async_api, ttl_hours=2))["tracking_id"]
    item = async_api["dynamodb"].get_item(TableName=TABLE, Key={"tracking_id": {"S": tracking_id}})["Item"]
    assert int(item["expires_at"]["N"]) == expiry_of(tracking_id)


def test_submit_answers_503_when_it_cannot_queue(async_api: dict[str, Any]) -> None:
    async_api["work"] = async_api["work"] + "-missing"
    response = _submit(async_api)
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"


# --- the archive: SQS -> S3 ---------------------------------------------------------------


@pytest.fixture
def archive_store(aws: Emulator) -> dict[str, Any]:
    s3, kms, sqs = aws.client("s3"), aws.client("kms"), aws.client("sqs")
    s3.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    queue, dlq = queue_with_dlq(sqs, "archive", max_receive_count=2)
    return {"s3": s3, "sqs": sqs, "key": key_arn, "queue": queue, "dlq": dlq}


def _line(request_id: str, received_at: float) -> str:
    return json.dumps({"request_id": request_id, "received_at": received_at, "request": RECORD, "status": 200})


def _objects(s3: Any) -> dict[str, list[dict[str, Any]]]:
    listed = s3.list_objects_v2(Bucket="data").get("Contents", [])
    return {
        o["Key"]: [json.loads(line) for line in s3.get_object(Bucket="data", Key=o["Key"])["Body"].read().splitlines()]
        for o in listed
    }


DAY_1, DAY_2 = 1_764_028_800.0, 1_764_115_200.0  # 2025-11-25 and 2025-11-26, 00:00 UTC


def test_archive_writes_one_kms_encrypted_object_per_day_partition(archive_store: dict[str, Any]) -> None:
    writer = ArchiveWriter(archive_store["s3"], bucket="data", key_arn=archive_store["key"], api_name="caller-risk")
    messages = [Message("m1", _line("r1", DAY_1 + 5)), Message("m2", _line("r2", DAY_2 + 5)), Message("m3", _line("r3", DAY_1))]
    assert archiver.handle({"Records": [{"messageId": m.message_id, "body": m.body} for m in messages]}, writer) == {
        "batchItemFailures": []
    }
    objects = _objects(archive_store["s3"])
    assert sorted(objects) == sorted(
        [object_key("caller-risk", "2025-11-25", ["m1", "m3"]), object_key("caller-risk", "2025-11-26", ["m2"])]
    )
    assert all(key.startswith("api/caller-risk/date=2025-11-2") for key in objects)
    assert [r["request_id"] for r in objects[object_key("caller-risk", "2025-11-25", ["m1", "m3"])]] == ["r1", "r3"]
    head = archive_store["s3"].head_object(Bucket="data", Key=next(iter(objects)))
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == archive_store["key"]


def test_a_redelivered_archive_batch_overwrites_the_same_object(archive_store: dict[str, Any]) -> None:
    writer = ArchiveWriter(archive_store["s3"], bucket="data", key_arn=archive_store["key"], api_name="caller-risk")
    batch = [Message("m1", _line("r1", DAY_1)), Message("m2", _line("r2", DAY_1))]
    writer.write(batch)
    writer.write(list(reversed(batch)))
    assert len(_objects(archive_store["s3"])) == 1


def test_poison_archive_messages_go_to_the_dlq_and_the_rest_is_written(archive_store: dict[str, Any]) -> None:
    sqs, s3 = archive_store["sqs"], archive_store["s3"]
    for body in [_line("r1", DAY_1), "not json", json.dumps({"no": "request id"}), _line("r2", DAY_1)]:
        sqs.send_message(QueueUrl=archive_store["queue"], MessageBody=body)
    writer = ArchiveWriter(s3, bucket="data", key_arn=archive_store["key"], api_name="caller-risk")
    run_event_source(sqs, archive_store["queue"], lambda e: archiver.handle(e, writer), rounds=4)
    assert sorted(r["request_id"] for lines in _objects(s3).values() for r in lines) == ["r1", "r2"]
    assert sorted(drain(sqs, archive_store["dlq"])) == sorted(["not json", json.dumps({"no": "request id"})])


def test_nothing_is_lost_while_s3_is_unavailable(archive_store: dict[str, Any]) -> None:
    """S3 down for the first delivery: every message is retried and lands once S3 is back."""
    sqs, s3 = archive_store["sqs"], archive_store["s3"]
    bodies = [_line(f"r{i}", DAY_1) for i in range(5)]
    for body in bodies:
        sqs.send_message(QueueUrl=archive_store["queue"], MessageBody=body)
    down = ArchiveWriter(s3, bucket="no-such-bucket", key_arn=archive_store["key"], api_name="caller-risk")
    run_event_source(sqs, archive_store["queue"], lambda e: archiver.handle(e, down), rounds=1)
    assert _objects(s3) == {}
    up = ArchiveWriter(s3, bucket="data", key_arn=archive_store["key"], api_name="caller-risk")
    run_event_source(sqs, archive_store["queue"], lambda e: archiver.handle(e, up), rounds=2)
    assert sorted(r["request_id"] for lines in _objects(s3).values() for r in lines) == [f"r{i}" for i in range(5)]


def test_archive_messages_end_in_the_dlq_when_s3_stays_unavailable(archive_store: dict[str, Any]) -> None:
    sqs, s3 = archive_store["sqs"], archive_store["s3"]
    sqs.send_message(QueueUrl=archive_store["queue"], MessageBody=_line("r1", DAY_1))
    down = ArchiveWriter(s3, bucket="no-such-bucket", key_arn=archive_store["key"], api_name="caller-risk")
    run_event_source(sqs, archive_store["queue"], lambda e: archiver.handle(e, down), rounds=4)
    assert [json.loads(b)["request_id"] for b in drain(sqs, archive_store["dlq"])] == ["r1"]


# --- the handlers as Lambda calls them -----------------------------------------------------


def test_status_handler_runs_as_lambda_invokes_it(
    async_api: dict[str, Any], aws: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module-level handler with Powertools around it, its client from the environment."""
    from lambda_src.scoring_api import runtime

    aws.route_sdk(monkeypatch)
    for name, value in {
        settings.RESULTS_TABLE: TABLE,
        settings.API_NAME: "caller-risk",
    }.items():
        monkeypatch.setenv(name, value)
    runtime.client.cache_clear()
    monkeypatch.setattr(status, "_RESULTS", [])
    tracking_id = _body(_submit(async_api))["tracking_id"]
    try:
        response = status.handler(api_event(None, tracking_id=tracking_id), CONTEXT)
    finally:
        runtime.client.cache_clear()
    assert response["statusCode"] == 202


def test_a_throttled_request_emits_the_metric_the_throttle_alarm_reads(
    runtime: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status429 in MLOps/ScoringApi with dimensions Api and service (the function's name), as the stack's alarm reads it."""
    from lambda_src.scoring_api.runtime import NAMESPACE, dimensions, metrics
    from mlops_constructs.api.scoring_api import METRICS_NAMESPACE

    client, stubber = runtime
    monkeypatch.setenv(settings.API_NAME, "caller-risk")
    stubber.add_client_error("invoke_endpoint", service_error_code="ModelNotReadyException", http_status_code=429)
    metrics.clear_metrics()  # what earlier tests' score.handle calls added (never flushed) in this process

    @metrics.log_metrics
    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.set_default_dimensions(**dimensions())
        return score.handle(event, context, _score_deps(client))

    monkeypatch.setattr(metrics, "service", "mlops-prod-api-caller-risk-score")
    assert invoke(api_event(BODY), CONTEXT)["statusCode"] == 429
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE == METRICS_NAMESPACE
    assert set(directive["Dimensions"][0]) == {"Api", "service"}
    assert (emf["Api"], emf["service"], emf["Status429"]) == ("caller-risk", "mlops-prod-api-caller-risk-score", [1.0])


def test_the_sdk_gives_up_before_the_score_function_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_src.scoring_api.runtime import client
    from mlops_constructs.api.scoring_api import SCORE_TIMEOUT

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    config = client.__wrapped__("sagemaker-runtime").meta.config  # not cached: a fresh client as Lambda makes it
    worst = config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)
    assert worst < SCORE_TIMEOUT.to_seconds()


@pytest.mark.parametrize("error", ["ReadTimeoutError", "EndpointConnectionError"])
def test_an_endpoint_that_does_not_answer_is_a_503_to_retry(error: str) -> None:
    import botocore.exceptions

    class Silent:
        def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
            raise getattr(botocore.exceptions, error)(endpoint_url="https://runtime.sagemaker.eu-west-1.amazonaws.com")

    response = score.handle(api_event(BODY), CONTEXT, score.ScoreDependencies(Scorer(Silent(), ENDPOINT), 4096))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert "amazonaws.com" not in response["body"]
