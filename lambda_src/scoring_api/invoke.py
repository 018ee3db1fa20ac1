"""InvokeEndpoint on one kept-alive connection, signed here: the hot path of `POST /score`.

Why not `client.invoke_endpoint`: botocore spends about 0.6 ms of CPU per call on generic
machinery (event hooks, the user agent rebuilt twice, the generic serialiser, signer and
parser), more than a small model takes to answer (benchmarks/scoring_api.py). One operation
with a fixed shape needs none of it. What stays botocore's, because it must be exactly right:
the endpoint URL (its resolver, once, knows partitions and FIPS), the credentials (its
provider chain, refreshed as it refreshes them), the error responses (its own parser and
modelled exceptions, so callers get the same `ClientError` they would from the SDK), and the
retry decision and back-off (its standard mode). tests/test_scoring_api_invoke.py holds this
client to botocore's: the same request on the wire, the same signature, the same errors.

Lambda runs one request at a time per execution environment, so one connection is enough; it
is reopened when the server closed it or a call failed on it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import select
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.parsers import create_parser
from botocore.retries.standard import ExponentialBackoff, RetryContext, StandardRetryConditions

OPERATION = "InvokeEndpoint"
# InvokeEndpoint's REST binding (botocore/data/sagemaker-runtime/*/service-2.json): POST /endpoints/{EndpointName}/invocations
_PATH = "/endpoints/{}/invocations"
_TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
_INVOKED_VARIANT = "x-amzn-invoked-production-variant"


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
        signature = hmac.new(self._signing_key(credentials.secret_key, date), to_sign.encode(), hashlib.sha256).hexdigest()
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
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = (secret, date, key)
        return self._key[2]


class Connection:
    """One kept-alive HTTP(S) connection to the endpoint's host, with separate connect and read
    time-outs, failures raised as the botocore exceptions the SDK raises for them."""

    def __init__(self, endpoint_url: str, *, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(endpoint_url)
        self.url = endpoint_url
        self.host = parts.netloc
        self._https = parts.scheme == "https"
        self._hostname = parts.hostname or ""
        self._port = parts.port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._tls = ssl.create_default_context(cafile=_ca_bundle()) if self._https else None
        self._conn: http.client.HTTPConnection | None = None

    def send(self, path: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        conn = self._open()
        try:
            conn.request("POST", path, body=body, headers={"Host": self.host, **headers})
            response = conn.getresponse()
            data = response.read()
        except TimeoutError as error:
            self.close()
            raise ReadTimeoutError(endpoint_url=self.url, error=error) from error
        except (http.client.HTTPException, OSError) as error:
            self.close()
            raise ConnectionClosedError(endpoint_url=self.url, error=error) from error
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


def _ca_bundle() -> str | None:
    """The CA bundle botocore verifies with (certifi's when installed, else its own)."""
    from botocore.httpsession import get_cert_path

    path = get_cert_path(True)
    return path if isinstance(path, str) else None


class EndpointRuntime:
    """`invoke_endpoint(**kwargs)` as the sagemaker-runtime client offers it, for the parameters the
    scoring API sends, answering `{Body, ContentType, InvokedProductionVariant}` or raising the
    client's modelled `ClientError`s and connection errors."""

    def __init__(
        self,
        client: Any,
        credentials: CredentialSource,
        *,
        connection: Connection | None = None,
        max_attempts: int = 2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`client`: a botocore sagemaker-runtime client, used once for its endpoint, service model
        and exception classes, and again for every error answer (its parser), never per success."""
        meta = client.meta
        self._model = meta.service_model
        self._operation = self._model.operation_model(OPERATION)
        self._exceptions = client.exceptions
        self._credentials = credentials
        self._connection = connection or Connection(meta.endpoint_url, connect_timeout=1, read_timeout=5)
        self._signer = SigV4(self._model.signing_name, meta.region_name)
        self._retry = StandardRetryConditions(max_attempts=max_attempts)
        self._backoff = ExponentialBackoff()
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
        path = self._paths.get(EndpointName) or self._paths.setdefault(EndpointName, _PATH.format(quote(EndpointName, safe="")))
        headers = {"Content-Type": ContentType, "Accept": Accept}
        if TargetVariant:
            headers[_TARGET_VARIANT] = TargetVariant
        attempt = 1
        while True:
            caught: Exception | None = None
            parsed: dict[str, Any] | None = None
            exchange: Exchange | None = None
            try:
                credentials = self._credentials.get_frozen_credentials()
                signed = self._signer.headers(credentials, self._connection.host, path, headers, Body, self._clock())
                exchange = self._connection.send(path, signed, Body)
                if exchange.status < 300:
                    return {
                        "Body": _Payload(exchange.body),
                        "ContentType": exchange.headers.get("content-type", ""),
                        "InvokedProductionVariant": exchange.headers.get(_INVOKED_VARIANT),
                    }
                parsed = self._parse_error(exchange)
            except (ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError) as error:
                caught = error
            context = RetryContext(
                attempt_number=attempt,
                operation_model=self._operation,
                parsed_response=parsed,
                http_response=_Answer(exchange.status, exchange.headers) if exchange else None,
                caught_exception=caught,
            )
            if not self._retry.is_retryable(context):
                if caught is not None:
                    raise caught
                assert parsed is not None
                # botocore's retry handler records the same in the response (and ClientError's message)
                parsed["ResponseMetadata"].update(context.get_retry_metadata(), RetryAttempts=attempt - 1)
                code = parsed["Error"]["Code"]
                raise self._exceptions.from_code(code)(parsed, OPERATION)
            self._sleep(self._backoff.delay_amount(context))
            attempt += 1

    def _parse_error(self, exchange: Exchange) -> dict[str, Any]:
        """What botocore's client makes of an error answer: its rest-json parser, then the modelled
        error's own members (ModelError's OriginalStatusCode, ...) at the top level."""
        parser = create_parser(self._model.metadata["protocol"])
        response = {
            "status_code": exchange.status,
            "headers": dict(exchange.headers),
            "body": exchange.body,
        }
        parsed: dict[str, Any] = parser.parse(response, self._operation.output_shape)
        shape = self._model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        if shape is not None:
            parsed.update(parser.parse(response, shape))
        return parsed


@dataclass(frozen=True)
class _Answer:
    """What botocore's retry checks and back-off read of an HTTP answer (status, x-amz-retry-after)."""

    status_code: int
    headers: Mapping[str, str]
