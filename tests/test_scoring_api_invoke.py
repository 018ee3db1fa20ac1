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
import ssl
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
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
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
        sdk_client(credentials, attempts), credentials, connection=connection, clock=lambda: NOW, sleep=sleeps.append
    )
    return client, connection, sleeps


def sdk_answering(
    *answers: Exchange, credentials: Credentials = WITH_TOKEN, attempts: int = 1
) -> tuple[Any, list[AWSPreparedRequest]]:
    """A botocore client whose requests get `answers` back in turn (the last one from then on), and the
    requests it sent."""
    client = sdk_client(credentials, attempts)
    sent: list[AWSPreparedRequest] = []

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        reply = answers[min(len(sent), len(answers) - 1)]
        sent.append(request)
        return AWSResponse(request.url, reply.status, HTTPHeaderDict(dict(reply.headers)), _Raw(reply.body))

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", answer)
    return client, sent


OK = Exchange(200, {"content-type": "application/json", "x-amzn-invoked-production-variant": "champion"}, b'{"risk": 0.25}')


@pytest.mark.parametrize("credentials", [WITH_TOKEN, WITHOUT_TOKEN], ids=["session token", "no token"])
@pytest.mark.parametrize("request_params", REQUESTS, ids=["plain", "target variant", "empty csv"])
def test_the_request_is_the_sdks_and_botocore_verifies_its_signature(
    request_params: dict[str, Any], credentials: Credentials
) -> None:
    sdk, sdk_sent = sdk_answering(OK, credentials=credentials)
    sdk.invoke_endpoint(**request_params)
    [theirs] = sdk_sent
    client, connection, _ = ours([OK], credentials=credentials)
    client.invoke_endpoint(**request_params)
    [(path, headers, body)] = connection.sent

    # The same operation: method, path, body, and the same headers with the same values, bar the
    # SDK's own bookkeeping (and the signature, compared below against botocore's signer).
    assert theirs.method == "POST"
    assert theirs.url == connection.url + path
    assert body == (theirs.body or b"")
    sdk_only = {"user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "content-length"}
    expected = {k.lower(): _text(v) for k, v in theirs.headers.items() if k.lower() not in sdk_only | {"authorization"}}
    mine = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    assert set(mine) == set(expected)
    assert {k: v for k, v in mine.items() if k != "x-amz-date"} == {k: v for k, v in expected.items() if k != "x-amz-date"}

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
    """The derived key is cached for its day: past midnight (UTC) or with rotated credentials, a signer
    that signed before must sign exactly as a fresh one does."""
    signer = SigV4("sagemaker", REGION)
    rotated = Credentials("AKIDEXAMPLE", "another-secret", "t")
    next_day = NOW.replace(day=26)
    signer.headers(WITH_TOKEN, "h", "/p", {}, b"", NOW)
    assert signer.headers(WITH_TOKEN, "h", "/p", {}, b"", next_day) == SigV4("sagemaker", REGION).headers(
        WITH_TOKEN, "h", "/p", {}, b"", next_day
    )
    assert signer.headers(rotated, "h", "/p", {}, b"", next_day) == SigV4("sagemaker", REGION).headers(
        rotated, "h", "/p", {}, b"", next_day
    )


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
    if retried:  # a success after a retry refunds the quota the retry took (botocore's after-call)
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
        sdk, sdk_sent = sdk_answering(first, OK, attempts=2)
        with mock.patch("time.sleep"), contextlib.suppress(ClientError):
            sdk.invoke_endpoint(**REQUESTS[0])
        assert (len(sdk_sent) == 2) == retried


def test_the_last_failure_is_raised_after_the_last_attempt() -> None:
    client, connection, sleeps = ours([ReadTimeoutError(endpoint_url="u"), ReadTimeoutError(endpoint_url="u")], attempts=2)
    with pytest.raises(ReadTimeoutError) as raised:
        client.invoke_endpoint(**REQUESTS[0])
    assert len(connection.sent) == 2
    assert len(sleeps) == 1
    assert map_error(raised.value).status == 503


def test_the_back_off_is_botocores_and_honours_x_amz_retry_after() -> None:
    """The delay comes from the client's own retry handler: here SageMaker's x-amz-retry-after (ms)."""
    # max(rand(0, 1) x 1 s throttling base, 2 s asked for): 2 s, whatever the jitter
    throttled = Exchange(429, {**ERRORS["throttled"].headers, "x-amz-retry-after": "2000"}, ERRORS["throttled"].body)
    client, _, sleeps = ours([throttled, OK], attempts=2)
    client.invoke_endpoint(**REQUESTS[0])
    sdk, _ = sdk_answering(throttled, OK, attempts=2)
    with mock.patch("time.sleep") as slept:
        sdk.invoke_endpoint(**REQUESTS[0])
    assert sleeps == [call.args[0] for call in slept.call_args_list] == [2.0]


def test_the_retry_quota_runs_out_as_botocores_does() -> None:
    """botocore's standard mode stops retrying once its retry quota is spent (500 tokens, 14 a
    transient retry), so an endpoint that keeps failing is not sent twice the traffic; each success
    gives a token back (after-call)."""

    def attempts_per_call(invoke: Callable[[], Any], sent: Callable[[], int]) -> list[int]:
        counts = []
        for _ in range(40):
            before = sent()
            with contextlib.suppress(ClientError):
                invoke()
            counts.append(sent() - before)
        return counts

    unavailable = ERRORS["unavailable"]
    client, connection, _ = ours([unavailable] * 80, attempts=2)
    mine = attempts_per_call(lambda: client.invoke_endpoint(**REQUESTS[0]), lambda: len(connection.sent))
    sdk, sdk_sent = sdk_answering(unavailable, attempts=2)
    with mock.patch("time.sleep"):
        theirs = attempts_per_call(lambda: sdk.invoke_endpoint(**REQUESTS[0]), lambda: len(sdk_sent))
    assert mine == theirs
    assert mine[0] == 2
    assert mine[-1] == 1  # the quota ran out
    # Each success gives a token back: 10 were left, a retry costs 14, so after four successes one more retry.
    connection.answers[:] = [OK] * 4 + [unavailable, unavailable]
    for _ in range(4):
        client.invoke_endpoint(**REQUESTS[0])
    before = len(connection.sent)
    with contextlib.suppress(ClientError):
        client.invoke_endpoint(**REQUESTS[0])
    assert len(connection.sent) - before == 2


def test_a_success_refunds_the_retry_it_took() -> None:
    """After a retried success the quota is back where it was: 40 throttled-then-successful calls keep retrying."""
    client, connection, _ = ours([ERRORS["internal"], OK] * 40, attempts=2)
    for _ in range(40):
        client.invoke_endpoint(**REQUESTS[0])
    assert len(connection.sent) == 80


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


def _runtime(url: str, read_timeout: float = 5, attempts: int = 1) -> EndpointRuntime:
    connection = Connection(url, connect_timeout=1, read_timeout=read_timeout)
    return EndpointRuntime(sdk_client(attempts=attempts), WITH_TOKEN, connection=connection)


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


def test_an_answer_cut_short_is_not_sent_again_as_botocore_does_not() -> None:
    """The status line came, so the model ran: with two attempts allowed, still one request, and the
    error botocore raises when InvokeEndpoint's streaming body breaks (ResponseStreamingError, a 500)."""

    def drop(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        handler.close_connection = True

    with server(drop) as (url, seen):
        with pytest.raises(ResponseStreamingError) as mine:
            _runtime(url, attempts=2).invoke_endpoint(**REQUESTS[0])
        assert len(seen) == 1
        sdk = boto3.client(
            "sagemaker-runtime",
            region_name=REGION,
            endpoint_url=url,
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )
        with pytest.raises(ResponseStreamingError) as theirs:
            sdk.invoke_endpoint(**REQUESTS[0])["Body"].read()
        assert len(seen) == 2  # one more: the SDK's single request
    assert map_error(mine.value).status == map_error(theirs.value).status == 500


_ROUTING = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "http://proxy.internal:3128"),
        ("AWS_CA_BUNDLE", "/etc/ssl/inspection.pem"),
        ("REQUESTS_CA_BUNDLE", "/etc/ssl/b.pem"),
    ],
)
def test_a_proxy_or_ca_bundle_in_the_environment_gets_the_sdks_client(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """EndpointRuntime connects directly with botocore's bundle; where traffic must go through a proxy or be
    verified with another bundle, the handlers get the SDK's client, which honours both."""
    for variable in _ROUTING:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv(name, value)
    runtime.endpoint_runtime.cache_clear()
    try:
        client = runtime.endpoint_runtime()
    finally:
        runtime.endpoint_runtime.cache_clear()
    assert not isinstance(client, EndpointRuntime)
    assert type(client).__name__ == "SageMakerRuntime"


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
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE", *_ROUTING):
        monkeypatch.delenv(name, raising=False)
    runtime.endpoint_runtime.cache_clear()
    try:
        client = runtime.endpoint_runtime()
        assert isinstance(client, EndpointRuntime)
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


# -- TLS: botocore's context, the certificate and the host name checked ----------------------------


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for DNS name `localhost` only (no IP address), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now.replace(year=now.year - 1))
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize(
    ("host", "trusted", "outcome"),
    [("localhost", True, "answered"), ("localhost", False, "SSLError"), ("127.0.0.1", True, "SSLError")],
    ids=["verified", "unknown issuer", "host name mismatch"],
)
def test_https_verifies_the_certificate_and_the_host_name(
    localhost_certificate: tuple[str, str], host: str, trusted: bool, outcome: str
) -> None:
    """A certificate that does not verify is botocore's SSLError (a 500: not worth retrying), not an unavailable endpoint."""
    cert_path, key_path = localhost_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    seen: list[tuple[int, str]] = []

    def record(handler: http.server.BaseHTTPRequestHandler) -> None:
        seen.append((handler.client_address[1], handler.path))
        _reply(handler)

    handler = type("H", (_Handler,), {"behaviour": staticmethod(record)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://{host}:{httpd.server_address[1]}"
        connection = Connection(url, connect_timeout=5, read_timeout=5, ca_bundle=cert_path if trusted else None)
        client = EndpointRuntime(sdk_client(), WITH_TOKEN, connection=connection)
        if outcome == "answered":
            assert client.invoke_endpoint(**REQUESTS[0])["InvokedProductionVariant"] == "champion"
            assert [path for _, path in seen] == ["/endpoints/caller-risk/invocations"]
        else:
            with pytest.raises(SSLError) as raised:
                client.invoke_endpoint(**REQUESTS[0])
            assert map_error(raised.value).status == 500
            assert seen == []
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_in_lambda_the_trace_header_goes_unsigned_as_botocore_sends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mlops-prod-api-caller-risk-score")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    sdk, sdk_sent = sdk_answering(OK)
    sdk.invoke_endpoint(**REQUESTS[0])
    client, connection, _ = ours([OK])
    client.invoke_endpoint(**REQUESTS[0])
    [(_, headers, _)] = connection.sent
    assert headers["X-Amzn-Trace-Id"] == _text(sdk_sent[0].headers["X-Amzn-Trace-Id"])
    assert "x-amzn-trace-id" not in headers["Authorization"]


def test_an_endpoint_url_with_a_path_keeps_it_and_signs_it() -> None:
    with server(_reply) as (url, seen):
        connection = Connection(url + "/sagemaker/", connect_timeout=1, read_timeout=5)
        EndpointRuntime(sdk_client(), WITH_TOKEN, connection=connection).invoke_endpoint(**REQUESTS[0])
    assert [path for _, path in seen] == ["/sagemaker/endpoints/caller-risk/invocations"]
