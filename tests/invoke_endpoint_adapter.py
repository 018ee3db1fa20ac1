"""TEST-ONLY: answer InvokeEndpoint from a local inference server, for either client the handlers use.

Never used by deployed code. Two ways in, one answer:
- `LocalInvokeEndpoint.attach(client)`: a boto3 `sagemaker-runtime` client. It hooks botocore's
  `before-send` event, so everything up to the wire is the real client's (parameter validation,
  REST serialisation to `POST /endpoints/<name>/invocations`, signing) and everything after is
  botocore's real parsing.
- `LocalEndpointConnection`: the `Connection` of lambda_src/scoring_api/invoke.py's
  EndpointRuntime (what the deployed score and worker functions use). The signed request goes
  over the real Connection code to the server, its path rewritten.
Only the hop between SageMaker Runtime and the container is replaced: the request's body,
`Content-Type` and `Accept` go to the server's `/invocations` (the SageMaker hosting contract)
on a kept-alive connection, and its answer comes back shaped as SageMaker Runtime shapes it:
- 2xx: the body, its `Content-Type`, and `x-Amzn-Invoked-Production-Variant`;
- anything else: 424 `ModelError` with `OriginalStatusCode` and `OriginalMessage` (the
  container's status and body), as InvokeEndpoint reports a container's error answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from urllib3 import HTTPHeaderDict

from lambda_src.scoring_api.invoke import Connection, Exchange

JSON = "application/json"
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")


class _Raw:
    """What botocore reads an AWSResponse's body from (streaming and non-streaming shapes)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, amt: int | None = None) -> bytes:
        if amt is None:
            data, self._data = self._data, b""
            return data
        data, self._data = self._data[:amt], self._data[amt:]
        return data

    def stream(self, **_: Any) -> Any:
        yield self.read()


class LocalInvokeEndpoint:
    """Routes every InvokeEndpoint of the clients it is attached to to `127.0.0.1:<port>/invocations`,
    over the same LocalEndpointConnection the EndpointRuntime route uses."""

    def __init__(self, port: int, *, variant: str = "local") -> None:
        self.port = port
        self.variant = variant
        self._local = LocalEndpointConnection(port, variant=variant)
        self.endpoints_called = self._local.endpoints_called

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._send)
        return client

    def close(self) -> None:
        self._local.close()

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        headers = {name: _text(request.headers[name]) for name in ("Content-Type", "Accept") if name in request.headers}
        body = request.body if isinstance(request.body, bytes | None) else request.body.read()
        answer = self._local.send(urlsplit(request.url).path, headers, body or b"")
        return AWSResponse(request.url, answer.status, HTTPHeaderDict(dict(answer.headers)), _Raw(answer.body))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sagemaker_answer(status: int, content_type: str, data: bytes, variant: str) -> Exchange:
    """The container's answer as SageMaker Runtime returns it (headers in lower case)."""
    if 200 <= status < 300:
        return Exchange(200, {"content-type": content_type, "x-amzn-invoked-production-variant": variant}, data)
    error = {
        "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else "SERVER_ERROR_FROM_MODEL",
        "Message": f"Received error ({status}) from primary with message {data.decode(errors='replace')!r}.",
        "OriginalStatusCode": status,
        "OriginalMessage": data.decode(errors="replace"),
    }
    headers = {"content-type": "application/json", "x-amzn-errortype": "ModelError"}
    return Exchange(424, headers, json.dumps(error).encode())


class LocalEndpointConnection(Connection):
    """EndpointRuntime's connection to `127.0.0.1:<port>`: `/endpoints/<name>/invocations` -> `/invocations`.

    The request (signed headers and all) goes through Connection.send, the deployed code."""

    def __init__(self, port: int, *, variant: str = "local") -> None:
        super().__init__(f"http://127.0.0.1:{port}", connect_timeout=5, read_timeout=30)
        self.variant = variant
        self.endpoints_called: list[str] = []

    def send(self, path: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        match = _PATH.match(path)
        if match is None:
            raise ValueError(f"not an InvokeEndpoint request: {path}")
        self.endpoints_called.append(match.group(1))
        answer = super().send("/invocations", headers, body)
        return sagemaker_answer(answer.status, answer.headers.get("content-type", JSON), answer.body, self.variant)
