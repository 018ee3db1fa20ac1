"""End to end on this machine: the score handler in front of the real inference server.

The server from containers/inference runs as a process on a model built by the real
builder (`mlops model build`'s code, conftest's `model_dir`). Each test runs with both
InvokeEndpoint clients: EndpointRuntime (what the deployed functions use, its real Connection
code) and boto3's sagemaker-runtime client, each reaching the server through the test-only
adapter (tests/invoke_endpoint_adapter.py). The score must equal `serve stdin`'s for the same record.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from lambda_src.scoring_api import score, status, submit, worker
from lambda_src.scoring_api.invoke import EndpointRuntime
from lambda_src.scoring_api.scoring import RuntimeClient, Scorer
from lambda_src.scoring_api.tracking import Results
from mlops_cli.model_artifact import FEATURE_NAMES
from tests.aws_emulator import Emulator
from tests.invoke_endpoint_adapter import LocalEndpointConnection, LocalInvokeEndpoint
from tests.scoring_api_harness import FakeContext, api_event, queue_with_dlq, run_event_source, runtime_client
from tests.serving_fixtures import INFERENCE_DIR, RISKY, ROW, process_env, server_process


@dataclass(frozen=True)
class Local:
    client: RuntimeClient
    endpoints_called: list[str]


@pytest.fixture(scope="module")
def server_port(model_dir: Path) -> Iterator[int]:
    with server_process(model_dir) as (port, _):
        yield port


@pytest.fixture(params=["EndpointRuntime", "boto3"])
def local_endpoint(server_port: int, request: pytest.FixtureRequest) -> Iterator[Local]:
    if request.param == "boto3":
        adapter = LocalInvokeEndpoint(server_port, variant="champion")
        yield Local(adapter.attach(runtime_client()), adapter.endpoints_called)
        adapter.close()
    else:
        connection = LocalEndpointConnection(server_port, variant="champion")
        credentials = Credentials("testing", "testing")
        yield Local(EndpointRuntime(runtime_client(), credentials, connection=connection), connection.endpoints_called)
        connection.close()


def _handler_deps(local: Local) -> score.ScoreDependencies:
    return score.ScoreDependencies(scorer=Scorer(local.client, "caller-risk"), max_body_bytes=16384)


def _stdin_scores(model_dir: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    payload = "".join(json.dumps(r) + "\n" for r in records).encode()
    result = subprocess.run(
        [str(INFERENCE_DIR / "serve"), "stdin"], input=payload, env=process_env(model_dir), capture_output=True, check=True
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("row", [ROW, RISKY], ids=["ordinary", "risky"])
def test_score_handler_returns_the_same_score_as_serve_stdin(local_endpoint: Local, model_dir: Path, row: list[float]) -> None:
    record = {"features": dict(zip(FEATURE_NAMES, row, strict=True)), "id": "call-1"}
    response = score.handle(api_event(json.dumps(record), request_id="req-local"), FakeContext(), _handler_deps(local_endpoint))
    [offline] = _stdin_scores(model_dir, [record])
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["score"] == offline["risk"]
    assert body["label"] == offline["label"]
    assert (body["model_variant"], body["request_id"]) == ("champion", "req-local")
    assert local_endpoint.endpoints_called[-1] == "caller-risk"


def test_a_record_the_server_refuses_is_a_400_with_the_servers_reason(local_endpoint: Local) -> None:
    record = {"features": [1.0, 2.0]}  # the model takes 12 features
    response = score.handle(api_event(json.dumps(record)), FakeContext(), _handler_deps(local_endpoint))
    body = json.loads(response["body"])
    assert response["statusCode"] == 400
    assert body["error"].startswith("the model refused the record:")
    assert "expected 12 features" in body["error"], body


def test_the_asynchronous_path_gives_the_same_score(local_endpoint: Local, model_dir: Path, aws: Emulator) -> None:
    """submit -> SQS (moto) -> worker -> the server -> DynamoDB (moto) -> status."""
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    dynamodb.create_table(
        TableName="results",
        KeySchema=[{"AttributeName": "tracking_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tracking_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue, _ = queue_with_dlq(sqs, "work")
    results = Results(dynamodb, "results")
    record = {"features": dict(zip(FEATURE_NAMES, RISKY, strict=True))}
    accepted = submit.handle(
        api_event(json.dumps(record)),
        FakeContext(),
        submit.SubmitDependencies(results=results, queue=sqs, queue_url=queue, max_body_bytes=16384, ttl_hours=1),
    )
    tracking_id = json.loads(accepted["body"])["tracking_id"]
    scorer = Scorer(local_endpoint.client, "caller-risk")
    run_event_source(sqs, queue, lambda e: worker.handle(e, worker.WorkerDependencies(scorer=scorer, results=results)), rounds=1)
    answer = status.handle(api_event(None, tracking_id=tracking_id), FakeContext(), results)
    [offline] = _stdin_scores(model_dir, [record])
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["score"] == offline["risk"]
