"""InvokeEndpoint on one kept-alive connection, signed here: the hot path of `POST /score`.

Why not `client.invoke_endpoint`: botocore spends about 0.6 ms of CPU per call on generic
machinery (event hooks, the user agent rebuilt twice, the generic serialiser, signer and
parser), more than a small model takes to answer (benchmarks/scoring_api.py). One operation
with a fixed shape needs none of it. What stays botocore's, because it must be exactly right:
the endpoint URL (its resolver, once, knows partitions and FIPS), the credentials (its
provider chain, refreshed as it refreshes them), TLS (its context builder and CA bundle), the
error responses (its parser and modelled exceptions, so callers get the same `ClientError`
they would from the SDK), and retries (the client's own retry handler: mode, attempts,
back-off, quota). tests/test_scoring_api_invoke.py holds this client to botocore's: the same
signed headers and body, the same signature, the same errors, the same retries.

Not done here, on purpose: parameter validation (the endpoint name comes from validated config,
the body's size is checked by the handler), proxies and custom CA bundles (runtime.py hands the
SDK's client out where the environment sets them), the SDK's user agent and its X-Ray subsegment.

Lambda runs one request at a time per execution environment, so one connection is enough; it
is reopened when the server closed it or a call failed on it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser

OPERATION = "InvokeEndpoint"
# InvokeEndpoint's REST binding (botocore/data/sagemaker-runtime/*/service-2.json): POST /endpoints/{EndpointName}/invocations
_PATH = "/endpoints/{}/invocations"
_TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
_INVOKED_VARIANT = "x-amzn-invoked-production-variant"
_TRACE_ID = "X-Amzn-Trace-Id"


class Credentials(Protocol):
    access_key: str
    secret_key: str
    token: str | None


class CredentialSource(Protocol):
    """botocore's Credentials (static or refreshable): `get_frozen_credentials` refreshes when due."""

    def get_frozen_credentials(self) -> Credentials: ...


class _Payload:
    """The answer's body with the one method callers use on botocore's StreamingBody."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, amt: int | None = None) -> bytes:
        data = self._data if amt is None else self._data[:amt]
        self._data = self._data[len(data) :]
        return data


@dataclass(frozen=True)
class Exchange:
    """One HTTP answer: status, headers (names in lower case), the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class SigV4:
    """AWS Signature Version 4 for requests with a body in memory (the AWS General Reference,
    "Create a signed AWS API request"); the derived key is kept for its day, as it depends on
    nothing else that changes."""

    def __init__(self, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._key: tuple[str, str, bytes] | None = None  # (secret, date, signing key)

    def headers(
        self, credentials: Credentials, host: str, path: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> dict[str, str]:
        """`headers` plus the date, the session token and the Authorization that sign them. `path` is sent
        as given, so it is its own canonical form: URI-encoded, no `.` or `..` segments, as _PATH makes it."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        date = stamp[:8]
        signed = {"host": host, "x-amz-date": stamp}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        for name, value in headers.items():
            signed[name.lower()] = " ".join(value.split())
        names = sorted(signed)
        canonical = "\n".join(
            (
                "POST",
                path,  # already URI-encoded: the request's own path
                "",  # no query string
                "".join(f"{name}:{signed[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date}/{self._region}/{self._service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(self._signing_key(credentials.secret_key, date), to_sign.encode(), "sha256").hex()
        out = dict(headers)
        out["X-Amz-Date"] = stamp
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        out["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return out

    def _signing_key(self, secret: str, date: str) -> bytes:
        if self._key is None or self._key[0] != secret or self._key[1] != date:
            key = f"AWS4{secret}".encode()
            for part in (date, self._region, self._service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._key = (secret, date, key)
        return self._key[2]


class _AnswerLostError(Exception):
    """The answer's status arrived but its body did not: the model has run, so the call is not repeated
    (botocore reads InvokeEndpoint's streaming body after its retry loop, so it never retries this either)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Connection:
    """One kept-alive HTTP(S) connection to the endpoint's host, with separate connect and read
    time-outs, TLS verified as botocore verifies it, failures raised as the botocore exceptions
    the SDK raises for them."""

    def __init__(self, endpoint_url: str, *, connect_timeout: float, read_timeout: float, ca_bundle: str | None = None) -> None:
        parts = urlsplit(endpoint_url)
        self.url = endpoint_url
        self.host = parts.netloc
        self.prefix = parts.path.rstrip("/")  # an endpoint URL with a path: requests go under it
        self._hostname = parts.hostname or ""
        self._port = parts.port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._tls = _tls_context(ca_bundle) if parts.scheme == "https" else None
        self._conn: http.client.HTTPConnection | None = None

    def send(self, path: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        conn = self._open()
        try:
            conn.request("POST", path, body=body, headers={"Host": self.host, **headers})
            response = conn.getresponse()
        except TimeoutError as error:
            self.close()
            raise ReadTimeoutError(endpoint_url=self.url, error=error) from error
        except (http.client.HTTPException, OSError) as error:
            self.close()
            raise ConnectionClosedError(endpoint_url=self.url, error=error) from error
        try:
            data = response.read()
        except TimeoutError as error:  # botocore's StreamingBody raises these two for a body cut short
            self.close()
            raise _AnswerLostError(ReadTimeoutError(endpoint_url=self.url, error=error)) from error
        except (http.client.HTTPException, OSError) as error:
            self.close()
            raise _AnswerLostError(ResponseStreamingError(error=error)) from error
        if response.will_close:
            self.close()
        return Exchange(response.status, {name.lower(): value for name, value in response.getheaders()}, data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is not None:
            if not _dropped(self._conn.sock):
                return self._conn
            self.close()  # the server closed it while idle (or Lambda was frozen meanwhile): don't spend an attempt on it
        conn: http.client.HTTPConnection
        if self._tls is not None:
            conn = http.client.HTTPSConnection(self._hostname, self._port, timeout=self._connect_timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except TimeoutError as error:
            raise ConnectTimeoutError(endpoint_url=self.url, error=error) from error
        except ssl.SSLError as error:  # a certificate that does not verify is not an unavailable endpoint
            raise SSLError(endpoint_url=self.url, error=error) from error
        except OSError as error:
            raise EndpointConnectionError(endpoint_url=self.url, error=error) from error
        assert conn.sock is not None
        conn.sock.settimeout(self._read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        return conn


def _dropped(sock: socket.socket | None) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (or holds stray bytes)."""
    return sock is None or bool(select.select([sock], [], [], 0)[0])


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """botocore's TLS context (its own builder and options), verifying against its CA bundle
    (certifi's when installed, else botocore's) or `ca_bundle`, with the host name checked."""
    from botocore.httpsession import create_urllib3_context, get_cert_path

    context: ssl.SSLContext = create_urllib3_context()
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    bundle = ca_bundle or get_cert_path(True)
    context.load_verify_locations(cafile=bundle if isinstance(bundle, str) else None)
    return context


class EndpointRuntime:
    """`invoke_endpoint(**kwargs)` as the sagemaker-runtime client offers it, for the parameters the
    scoring API sends, answering `{Body, ContentType, InvokedProductionVariant}` or raising the
    client's modelled `ClientError`s and connection errors.

    Retries are the client's own: its retry handler (the mode and attempts of its Config) is asked,
    through the client's `needs-retry` event, after every failed attempt, and told of every answer
    through `after-call` (its retry quota's refunds), exactly as botocore's endpoint does."""

    def __init__(
        self,
        client: Any,
        credentials: CredentialSource,
        *,
        connection: Connection | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`client`: a botocore sagemaker-runtime client, for its endpoint, service model, exception classes
        and retry handler; its own request machinery is used for nothing."""
        meta = client.meta
        self._model = meta.service_model
        self._operation = self._model.operation_model(OPERATION)
        self._exceptions = client.exceptions
        self._events = meta.events
        service = self._model.service_id.hyphenize()
        self._needs_retry = f"needs-retry.{service}.{OPERATION}"
        self._after_call = f"after-call.{service}.{OPERATION}"
        self._credentials = credentials
        self._connection = connection or Connection(meta.endpoint_url, connect_timeout=1, read_timeout=5)
        self._signer = SigV4(self._model.signing_name, meta.region_name)
        self._clock = clock
        self._sleep = sleep
        self._paths: dict[str, str] = {}

    def invoke_endpoint(
        self,
        *,
        EndpointName: str,  # noqa: N803 - the SDK's parameter names, so Scorer takes either client
        Body: bytes,  # noqa: N803
        ContentType: str,  # noqa: N803
        Accept: str,  # noqa: N803
        TargetVariant: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        path = self._paths.get(EndpointName) or self._paths.setdefault(EndpointName, self._path(EndpointName))
        headers = {"Content-Type": ContentType, "Accept": Accept}
        if TargetVariant:
            headers[_TARGET_VARIANT] = TargetVariant
        context: dict[str, Any] = {}  # the request context botocore's retry handler and quota keep their notes in
        attempt = 1
        while True:
            caught: Exception | None = None
            response: tuple[_Answer, dict[str, Any]] | None = None
            try:
                credentials = self._credentials.get_frozen_credentials()
                signed = self._signer.headers(credentials, self._connection.host, path, headers, Body, self._clock())
                trace = _trace_header()
                if trace:  # as botocore adds it in Lambda: after signing, not signed
                    signed[_TRACE_ID] = trace
                exchange = self._connection.send(path, signed, Body)
            except _AnswerLostError as lost:
                raise lost.error from None
            except (ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError, SSLError) as error:
                caught = error
            else:
                answer = _Answer(exchange.status, exchange.headers)
                if exchange.status < 300:
                    metadata = {"ResponseMetadata": _metadata(exchange, attempt)}
                    self._answered(answer, metadata, context)
                    out = {
                        "Body": _Payload(exchange.body),
                        "InvokedProductionVariant": exchange.headers.get(_INVOKED_VARIANT),
                        **metadata,
                    }
                    content_type = exchange.headers.get("content-type")
                    if content_type is not None:
                        out["ContentType"] = content_type
                    return out
                response = (answer, self._parse_error(exchange))
            delay = first_non_none_response(
                self._events.emit(
                    self._needs_retry,
                    response=response,
                    endpoint=None,
                    operation=self._operation,
                    attempts=attempt,
                    caught_exception=caught,
                    request_dict={"context": context},
                )
            )
            if delay is None or delay is False:
                if response is None:
                    assert caught is not None
                    raise caught
                answer, parsed = response
                parsed["ResponseMetadata"]["RetryAttempts"] = attempt - 1
                self._answered(answer, parsed, context)
                raise self._exceptions.from_code(parsed["Error"]["Code"])(parsed, OPERATION)
            self._sleep(delay)
            attempt += 1

    def _path(self, endpoint_name: str) -> str:
        # Sent as is and signed as is: botocore's canonical path is quote(normalize_url_path(path), safe="/~"),
        # which leaves this one unchanged, since EndpointName matches ^[a-zA-Z0-9](-*[a-zA-Z0-9])* (service model).
        return self._connection.prefix + _PATH.format(quote(endpoint_name, safe=""))

    def _answered(self, answer: _Answer, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        """botocore's after-call, for its retry quota: a success refunds what retries took."""
        self._events.emit(self._after_call, http_response=answer, parsed=parsed, model=self._operation, context=context)

    def _parse_error(self, exchange: Exchange) -> dict[str, Any]:
        """What botocore's client makes of an error answer: its rest-json parser, then the modelled
        error's own members (ModelError's OriginalStatusCode, ...) at the top level."""
        parser = create_parser(self._model.metadata["protocol"])
        response = {"status_code": exchange.status, "headers": dict(exchange.headers), "body": exchange.body}
        parsed: dict[str, Any] = parser.parse(response, self._operation.output_shape)
        shape = self._model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        if shape is not None:
            parsed.update(parser.parse(response, shape))
        return parsed


def _metadata(exchange: Exchange, attempt: int) -> dict[str, Any]:
    return {
        "RequestId": exchange.headers.get("x-amzn-requestid"),
        "HTTPStatusCode": exchange.status,
        "HTTPHeaders": exchange.headers,  # a fresh mapping per answer already (Connection.send)
        "RetryAttempts": attempt - 1,
    }


def _trace_header() -> str | None:
    """botocore's recursion-detection header (handlers.add_recursion_detection_header): Lambda's trace id."""
    trace_id = os.environ.get("_X_AMZN_TRACE_ID")
    if not trace_id or "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return None
    return quote(trace_id, safe="-=;:+&[]{}\"',")


@dataclass(frozen=True)
class _Answer:
    """What botocore's retry checks, back-off and quota read of an HTTP answer (status, x-amz-retry-after)."""

    status_code: int
    headers: Mapping[str, str]
