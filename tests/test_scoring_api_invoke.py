"""invoke.EndpointRuntime held to botocore's sagemaker-runtime client.

The score and worker functions call InvokeEndpoint through EndpointRuntime (its own signing,
one kept-alive connection) instead of the SDK's client. Each test here feeds both the same
input and compares what matters: the request on the wire and its SigV4 signature (against
botocore's SigV4Auth), the errors a caller catches (botocore's own parser and exception
classes), the retries (botocore's standard mode), and the connection's failures as the
exceptions the SDK raises. Connections are real sockets to servers on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from urllib3 import HTTPHeaderDict

from lambda_src.scoring_api import runtime
from lambda_src.scoring_api.invoke import Connection, EndpointRuntime, Exchange, SigV4
from lambda_src.scoring_api.scoring import Scorer, map_error
from tests.invoke_endpoint_adapter import _Raw

REGION = "eu-west-1"
NOW = datetime(2026, 11, 25, 21, 30, 5, tzinfo=UTC)
BODY = b'{"features": {"duration_s": 12.5}, "id": "call-1"}'
WITH_TOKEN = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token/with+chars=")
WITHOUT_TOKEN = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
REQUESTS: list[dict[str, Any]] = [
    {"EndpointName": "caller-risk", "Body": BODY, "ContentType": "application/json", "Accept": "application/json"},
    {
        "EndpointName": "mlops-prod-caller-risk-2",
        "Body": BODY,
        "ContentType": "application/json",
        "Accept": "application/json",
        "TargetVariant": "challenger",
    },
    {"EndpointName": "e", "Body": b"", "ContentType": "text/csv", "Accept": "application/json"},
]


def sdk_client(credentials: Credentials = WITH_TOKEN, attempts: int = 1) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


class Scripted(Connection):
    """A Connection that records what it is asked to send and answers from a script."""

    def __init__(self, answers: list[Exchange | Exception]) -> None:
        super().__init__(f"https://runtime.sagemaker.{REGION}.amazonaws.com", connect_timeout=1, read_timeout=5)
        self.answers = answers
        self.sent: list[tuple[str, dict[str, str], bytes]] = []

    def send(self, path: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        self.sent.append((path, dict(headers), body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ours(
    answers: list[Exchange | Exception], *, credentials: Credentials = WITH_TOKEN, attempts: int = 1
) -> tuple[EndpointRuntime, Scripted, list[float]]:
    connection = Scripted(answers)
    sleeps: list[float] = []
    client = EndpointRuntime(
        sdk_client(credentials), credentials, connection=connection, max_attempts=attempts, clock=lambda: NOW, sleep=sleeps.append
    )
    return client, connection, sleeps


def sdk_answering(exchange: Exchange, credentials: Credentials = WITH_TOKEN) -> tuple[Any, list[AWSPreparedRequest]]:
    """A botocore client whose every request gets `exchange` back, and the requests it sent."""
    client = sdk_client(credentials)
    sent: list[AWSPreparedRequest] = []

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, exchange.status, HTTPHeaderDict(dict(exchange.headers)), _Raw(exchange.body))

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", answer)
    return client, sent


OK = Exchange(200, {"content-type": "application/json", "x-amzn-invoked-production-variant": "champion"}, b'{"risk": 0.25}')


@pytest.mark.parametrize("credentials", [WITH_TOKEN, WITHOUT_TOKEN], ids=["session token", "no token"])
@pytest.mark.parametrize("request_params", REQUESTS, ids=["plain", "target variant", "empty csv"])
def test_the_request_is_the_sdks_and_botocore_verifies_its_signature(
    request_params: dict[str, Any], credentials: Credentials
) -> None:
    sdk, sdk_sent = sdk_answering(OK, credentials)
    sdk.invoke_endpoint(**request_params)
    [theirs] = sdk_sent
    client, connection, _ = ours([OK], credentials=credentials)
    client.invoke_endpoint(**request_params)
    [(path, headers, body)] = connection.sent

    # The same operation: method, path, body, and every header ours sends has the SDK's value.
    assert theirs.method == "POST"
    assert theirs.url == connection.url + path
    assert body == (theirs.body or b"")
    for name, value in headers.items():
        if name not in ("Authorization", "X-Amz-Date"):
            assert _text(theirs.headers[name]) == value, name
    assert {n.lower() for n in theirs.headers} >= {n.lower() for n in headers}

    # Our Authorization is what botocore's SigV4Auth computes for exactly this request at this time.
    from botocore.auth import SigV4Auth

    request = AWSRequest(
        method="POST",
        url=connection.url + path,
        data=body,
        headers={k: v for k, v in headers.items() if k not in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(credentials, "sagemaker", REGION).add_auth(request)
    assert headers["Authorization"] == request.headers["Authorization"]
    assert headers["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20261125T213005Z"
    assert headers.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token") == credentials.token


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_the_signing_key_follows_the_date_and_the_secret() -> None:
    """The derived key is cached for its day: a new day or rotated credentials must sign anew."""
    signer = SigV4("sagemaker", REGION)
    day1 = signer.headers(WITH_TOKEN, "h", "/p", {}, b"", NOW)["Authorization"]
    day2 = signer.headers(WITH_TOKEN, "h", "/p", {}, b"", NOW.replace(day=26))["Authorization"]
    rotated = Credentials("AKIDEXAMPLE", "another-secret", "t")
    after = signer.headers(rotated, "h", "/p", {}, b"", NOW.replace(day=26))["Authorization"]
    fresh = SigV4("sagemaker", REGION).headers(rotated, "h", "/p", {}, b"", NOW.replace(day=26))["Authorization"]
    assert len({day1, day2, after}) == 3
    assert after == fresh


def test_a_success_answers_as_the_sdk_does() -> None:
    sdk, _ = sdk_answering(OK)
    theirs = sdk.invoke_endpoint(**REQUESTS[0])
    client, _, _ = ours([OK])
    answer = client.invoke_endpoint(**REQUESTS[0])
    assert answer["Body"].read() == theirs["Body"].read() == b'{"risk": 0.25}'
    for key in ("ContentType", "InvokedProductionVariant"):
        assert answer[key] == theirs[key]


def _error(status: int, code: str | None, body: dict[str, Any] | bytes) -> Exchange:
    headers = {"content-type": "application/json", "x-amzn-requestid": "req-123"}
    if code:
        headers["x-amzn-errortype"] = code
    return Exchange(status, headers, body if isinstance(body, bytes) else json.dumps(body).encode())


# What SageMaker Runtime answers (InvokeEndpoint's errors in the API reference; botocore's service model).
ERRORS = {
    "model 400": _error(
        424,
        "ModelError",
        {
            "message": "Received client error (400)",
            "OriginalStatusCode": 400,
            "OriginalMessage": '{"error": "bad field"}',
            "LogStreamArn": "arn:aws:logs:x",
        },
    ),
    "model 503": _error(
        424,
        "ModelError:http://internal.amazon.com/coral/",
        {"Message": "busy", "OriginalStatusCode": 503, "OriginalMessage": "busy"},
    ),
    "model 500": _error(424, "ModelError", {"message": "boom", "OriginalStatusCode": 500}),
    "validation": _error(400, "ValidationError", {"message": "Endpoint x of account y not found."}),
    "throttled": _error(429, "ThrottlingException", {"message": "Rate exceeded"}),
    "not ready": _error(429, "ModelNotReadyException", {"message": "not ready"}),
    "internal": _error(500, "InternalFailure", {"message": "internal"}),
    "unavailable": _error(503, "ServiceUnavailable", {"message": "unavailable"}),
    "dependency": _error(424, "InternalDependencyException", {"message": "dependency"}),
    "type in body": _error(400, None, {"__type": "com.amazon.coral#ValidationError", "message": "in the body"}),
    "html gateway page": Exchange(502, {"content-type": "text/html"}, b"<html><body><b>Http/1.1 Bad Gateway</b></body></html>"),
    "empty": Exchange(500, {}, b""),
}


@pytest.mark.parametrize("name", ERRORS)
def test_an_error_is_the_sdks_error(name: str) -> None:
    """Same exception class, same response and message, hence the same answer to the caller."""
    exchange = ERRORS[name]
    sdk, _ = sdk_answering(exchange)
    with pytest.raises(ClientError) as theirs:
        sdk.invoke_endpoint(**REQUESTS[0])
    client, _, _ = ours([exchange])
    with pytest.raises(ClientError) as mine:
        client.invoke_endpoint(**REQUESTS[0])
    assert type(mine.value) is type(theirs.value)
    assert mine.value.response == theirs.value.response
    assert str(mine.value) == str(theirs.value)
    assert vars(map_error(mine.value)) == vars(map_error(theirs.value))


@pytest.mark.parametrize(
    ("first", "retried"),
    [
        (ERRORS["throttled"], True),
        (ERRORS["internal"], True),
        (ERRORS["unavailable"], True),
        (ERRORS["html gateway page"], True),
        (ConnectionClosedError(endpoint_url="u"), True),
        (ReadTimeoutError(endpoint_url="u"), True),
        (ERRORS["model 500"], False),
        (ERRORS["validation"], False),
        (ERRORS["not ready"], False),
    ],
    ids=["throttled", "internal", "unavailable", "html 502", "closed", "read timeout", "model error", "validation", "not ready"],
)
def test_retries_what_botocore_standard_mode_retries(first: Exchange | Exception, retried: bool) -> None:
    """Two attempts, as runtime.RETRIES configures the SDK clients; the same decision botocore takes."""
    client, connection, sleeps = ours([first, OK], attempts=2)
    if retried:
        assert client.invoke_endpoint(**REQUESTS[0])["Body"].read() == b'{"risk": 0.25}'
        assert len(connection.sent) == 2
        assert len(sleeps) == 1
        assert 0 <= sleeps[0] <= 1
    else:
        with pytest.raises(ClientError):
            client.invoke_endpoint(**REQUESTS[0])
        assert len(connection.sent) == 1
        assert sleeps == []
    if isinstance(first, Exchange):  # botocore, given the same first answer, decides the same
        sdk = sdk_client(attempts=2)
        answers = [first, OK]

        def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            reply = answers.pop(0)
            return AWSResponse(request.url, reply.status, HTTPHeaderDict(dict(reply.headers)), _Raw(reply.body))

        sdk.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", answer)
        with mock.patch("time.sleep"), contextlib.suppress(ClientError):
            sdk.invoke_endpoint(**REQUESTS[0])
        assert (len(answers) == 0) == retried


def test_the_last_failure_is_raised_after_the_last_attempt() -> None:
    client, connection, sleeps = ours([ReadTimeoutError(endpoint_url="u"), ReadTimeoutError(endpoint_url="u")], attempts=2)
    with pytest.raises(ReadTimeoutError) as raised:
        client.invoke_endpoint(**REQUESTS[0])
    assert len(connection.sent) == 2
    assert len(sleeps) == 1
    assert map_error(raised.value).status == 503


# -- the real connection, over sockets ------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    behaviour: Callable[[http.server.BaseHTTPRequestHandler], None]

    def do_POST(self) -> None:
        type(self).behaviour(self)

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def server(behaviour: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """A threaded HTTP/1.1 server on 127.0.0.1; yields its URL and (client port, path) per request."""
    seen: list[tuple[int, str]] = []

    def record(handler: http.server.BaseHTTPRequestHandler) -> None:
        seen.append((handler.client_address[1], handler.path))
        behaviour(handler)

    handler = type("H", (_Handler,), {"behaviour": staticmethod(record)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _reply(handler: http.server.BaseHTTPRequestHandler, body: bytes = b'{"risk": 0.5}', close: bool = False) -> None:
    handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("x-Amzn-Invoked-Production-Variant", "champion")
    handler.send_header("Content-Length", str(len(body)))
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(body)


def _runtime(url: str, read_timeout: float = 5) -> EndpointRuntime:
    connection = Connection(url, connect_timeout=1, read_timeout=read_timeout)
    return EndpointRuntime(sdk_client(), WITH_TOKEN, connection=connection, max_attempts=1)


def test_one_connection_is_kept_alive_across_calls() -> None:
    with server(_reply) as (url, seen):
        client = _runtime(url)
        for _ in range(3):
            assert client.invoke_endpoint(**REQUESTS[0])["InvokedProductionVariant"] == "champion"
    assert [path for _, path in seen] == ["/endpoints/caller-risk/invocations"] * 3
    assert len({port for port, _ in seen}) == 1


def test_a_connection_the_server_closes_is_reopened_without_spending_an_attempt() -> None:
    """`Connection: close`, and an idle keep-alive the server dropped, both reconnect; one attempt suffices."""
    with server(lambda h: _reply(h, close=True)) as (url, seen):
        client = _runtime(url)
        client.invoke_endpoint(**REQUESTS[0])
        client.invoke_endpoint(**REQUESTS[0])
    assert len({port for port, _ in seen}) == 2

    def reply_then_drop(handler: http.server.BaseHTTPRequestHandler) -> None:
        _reply(handler)  # a keep-alive answer, then the server closes the idle connection without a word
        handler.close_connection = True

    with server(reply_then_drop) as (url, seen):
        client = _runtime(url)
        client.invoke_endpoint(**REQUESTS[0])
        conn = client._connection._conn
        assert conn is not None
        assert conn.sock is not None
        readable, _, _ = select.select([conn.sock], [], [], 5)  # the server's FIN has arrived
        assert readable
        client.invoke_endpoint(**REQUESTS[0])
    assert len({port for port, _ in seen}) == 2


def test_a_server_that_does_not_answer_in_time_is_a_read_timeout() -> None:
    release = threading.Event()

    def hang(_: http.server.BaseHTTPRequestHandler) -> None:
        release.wait(5)

    with server(hang) as (url, _):
        client = _runtime(url, read_timeout=0.2)
        with pytest.raises(ReadTimeoutError) as raised:
            client.invoke_endpoint(**REQUESTS[0])
        release.set()
    assert map_error(raised.value).status == 503


def test_a_closed_port_is_an_endpoint_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EndpointConnectionError) as raised:
        _runtime(f"http://127.0.0.1:{port}").invoke_endpoint(**REQUESTS[0])
    assert map_error(raised.value).status == 503


def test_a_connection_dropped_mid_answer_is_connection_closed() -> None:
    def drop(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        handler.close_connection = True

    with server(drop) as (url, _), pytest.raises(ConnectionClosedError) as raised:
        _runtime(url).invoke_endpoint(**REQUESTS[0])
    assert map_error(raised.value).status == 503


def test_the_deployed_functions_build_it_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Region, endpoint and credentials come from botocore's resolution, as in Lambda's environment."""
    for name, value in {
        "AWS_REGION": "ap-southeast-2",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_ACCESS_KEY_ID": "AKIDLAMBDA",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    runtime.endpoint_runtime.cache_clear()
    try:
        client = runtime.endpoint_runtime()
        assert client._connection.url == "https://runtime.sagemaker.ap-southeast-2.amazonaws.com"
        assert (client._connection._connect_timeout, client._connection._read_timeout) == (1, 5)
        sent: list[dict[str, str]] = []

        def send(path: str, headers: Mapping[str, str], body: bytes) -> Exchange:
            sent.append(dict(headers))
            return OK

        monkeypatch.setattr(client._connection, "send", send)
        answer = Scorer(client, "caller-risk").score(BODY)
    finally:
        runtime.endpoint_runtime.cache_clear()
    assert answer.model_variant == "champion"
    [headers] = sent
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLAMBDA/")
    assert "/ap-southeast-2/sagemaker/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "token"
