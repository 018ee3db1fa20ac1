"""Score one record with InvokeEndpoint, and say what went wrong in HTTP terms.

API Gateway has already checked the body against the API's JSON Schema; the handler checks
only what the endpoint call relies on (a JSON object within the size limit) and forwards
the caller's bytes unchanged. SageMaker's errors become answers a client can act on, never
a stack trace (InvokeEndpoint errors in the SageMaker Runtime API reference):

| from | answer |
|---|---|
| body not JSON, not an object | 400 |
| body above payload.max_kb | 413 |
| ValidationError | 400 (SageMaker refused the request) |
| ModelError, container said 400/413/415 (bad record) | 400 with the container's message |
| ModelError, container said 503 (its queue is full) | 503 + Retry-After |
| ModelError, anything else | 502 with the request id |
| ModelNotReadyException, ThrottlingException | 429 + Retry-After |
| ServiceUnavailable, InternalDependencyException, connection/read failures | 503 + Retry-After |
| InternalFailure, anything unexpected | 500 with the request id |

Each error body is `{"error": ..., "request_id": ...}`; the id is the one in the logs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

JSON = "application/json"
RETRY_AFTER_S = 1
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps with options builds one per call
# ModelError.OriginalStatusCode values that mean the record itself was refused (the
# inference container's documented 4xx answers: bad input, too large, wrong content type).
_CALLER_FAULT_STATUSES = frozenset({400, 413, 415})
_THROTTLED = frozenset({"ModelNotReadyException", "ThrottlingException", "Throttling", "TooManyRequestsException"})
_UNAVAILABLE = frozenset({"ServiceUnavailable", "InternalDependencyException"})


class RuntimeClient(Protocol):
    """A sagemaker-runtime client (botocore's) or invoke.EndpointRuntime: InvokeEndpoint's SDK signature."""

    def invoke_endpoint(
        self,
        *,
        EndpointName: str,  # noqa: N803
        Body: bytes,  # noqa: N803
        ContentType: str,  # noqa: N803
        Accept: str,  # noqa: N803
        TargetVariant: str = ...,  # noqa: N803
    ) -> dict[str, Any]: ...


class ApiError(Exception):
    """An answer other than success: status, a message safe to show the caller, optional headers."""

    def __init__(self, status: int, message: str, *, retry: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry = retry  # transient: worth retrying (429/503)
        self.code = code  # what caused it, for logs and metrics

    def body(self, request_id: str) -> dict[str, Any]:
        return {"error": self.message, "request_id": request_id}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_S)} if self.retry else {}


@dataclass(frozen=True)
class Score:
    score: float
    model_variant: str
    label: int | None = None

    def body(self, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "model_variant": self.model_variant, "request_id": request_id}
        if self.label is not None:
            out["label"] = self.label
        return out


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway (REST, Lambda proxy) answer."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, **(headers or {})},
        "body": _COMPACT.encode(body),
    }


def request_id(event: dict[str, Any], context: Any) -> str:
    """API Gateway's request id (what the caller and the access log see), else Lambda's."""
    context_id = (event.get("requestContext") or {}).get("requestId")
    if context_id:
        return str(context_id)
    return str(getattr(context, "aws_request_id", "") or "unknown")


def request_body(event: dict[str, Any], max_bytes: int) -> bytes:
    """The caller's body as bytes, checked to be one JSON object within `max_bytes`."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise ApiError(400, "the request needs a JSON object body", code="EmptyBody")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except ValueError:
            raise ApiError(400, "the body is not valid base64", code="BadBody") from None
    else:
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(body) > max_bytes:
        raise ApiError(413, f"the body is {len(body)} bytes; this API accepts at most {max_bytes}", code="TooLarge")
    try:
        value = json.loads(body)
    except ValueError as error:
        raise ApiError(400, f"the body is not JSON: {error}", code="BadBody") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be one JSON object (one record per request)", code="BadBody")
    return body


class Scorer:
    """InvokeEndpoint for one record, its answer as a Score, its failures as ApiError."""

    def __init__(self, client: RuntimeClient, endpoint_name: str, target_variant: str | None = None) -> None:
        self._client = client
        self._endpoint = endpoint_name
        self._target = target_variant

    def score(self, body: bytes) -> Score:
        request: dict[str, Any] = {"EndpointName": self._endpoint, "Body": body, "ContentType": JSON, "Accept": JSON}
        if self._target:
            request["TargetVariant"] = self._target
        try:
            response = self._client.invoke_endpoint(**request)
            payload = response["Body"].read()
        except Exception as error:  # botocore's errors, without importing botocore at module level
            raise map_error(error) from None
        return parse_prediction(payload, str(response.get("InvokedProductionVariant") or self._target or "unknown"))


def parse_prediction(payload: bytes, variant: str) -> Score:
    """The inference container's answer to one record: `{"risk": r, "label": l}` (or a list of one)."""
    try:
        value = json.loads(payload)
        if isinstance(value, dict) and "predictions" in value:
            value = value["predictions"]
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError(f"{len(value)} predictions for one record")
            value = value[0]
        risk = value["risk"]
        if isinstance(risk, bool) or not isinstance(risk, int | float):
            raise ValueError("risk is not a number")
        label = value.get("label")
    except (ValueError, TypeError, KeyError) as error:
        raise ApiError(502, f"the model's answer could not be read ({error})", code="BadModelAnswer") from None
    return Score(score=float(risk), model_variant=variant, label=int(label) if isinstance(label, int | bool) else None)


def map_error(error: Exception) -> ApiError:
    """A failed InvokeEndpoint call as the answer the caller gets (see the module's table)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error") or {}
        code = str(details.get("Code") or "")
        if code == "ModelError":
            original = _int(response.get("OriginalStatusCode", details.get("OriginalStatusCode")))
            message = _model_message(response.get("OriginalMessage", details.get("OriginalMessage")))
            if original in _CALLER_FAULT_STATUSES:
                return ApiError(400, f"the model refused the record: {message}", code="ModelRejected")
            if original == 503:
                return ApiError(503, "the model is busy; retry shortly", retry=True, code="ModelBusy")
            return ApiError(502, "the model failed on this request", code="ModelError")
        if code in _THROTTLED:
            return ApiError(429, "too many requests to the model; retry shortly", retry=True, code=code)
        if code in _UNAVAILABLE:
            return ApiError(503, "the model endpoint is unavailable; retry shortly", retry=True, code=code)
        if code == "ValidationError":
            return ApiError(400, "the model endpoint refused the request", code=code)
        return ApiError(500, "internal error", code=code or "ClientError")
    name = type(error).__name__
    if name in {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError"}:
        return ApiError(503, "the model endpoint did not answer; retry shortly", retry=True, code=name)
    return ApiError(500, "internal error", code=name)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _model_message(original: Any) -> str:
    """The container's own error text: its JSON `{"error": ...}` body, else the text, kept short."""
    text = str(original or "")
    try:
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            text = value["error"]
    except ValueError:
        pass
    return text[:500] or "no reason given"
