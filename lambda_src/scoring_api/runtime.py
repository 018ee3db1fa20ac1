"""What every handler module shares in the Lambda runtime: Powertools and clients made once per container."""

from __future__ import annotations

import os
import warnings
from functools import cache
from typing import Any, Final, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

from . import settings
from .invoke import Connection, EndpointRuntime
from .scoring import RuntimeClient

NAMESPACE = "MLOps/ScoringApi"  # CloudWatch metrics namespace (the stack's alarms read it)

# The handlers add metrics only for what API Gateway cannot count (failures, deferrals), so most invocations
# publish none; Powertools then warns each time, which its documentation suggests silencing this way.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)


# Two attempts of at most 1 s to connect and 5 s to read fit the score function's 15 s timeout
# (mlops_constructs/api/scoring_api.py), so a slow endpoint is answered with a clear 503 by the handler,
# not cut off by Lambda or by API Gateway's 29 s integration timeout.
CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 5
MAX_ATTEMPTS = 2
RETRIES: Final[dict[str, Any]] = {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}


def dimensions() -> dict[str, str]:
    return {"Api": settings.optional(settings.API_NAME) or "unknown"}


def apply_dimensions() -> None:
    """The default metric dimensions, from the environment. Powertools keeps them across invocations,
    so they are set again only when they differ (on the first invocation, in Lambda)."""
    wanted = dimensions()
    if any(metrics.default_dimensions.get(name) != value for name, value in wanted.items()):
        metrics.set_default_dimensions(**wanted)


@cache
def client(service: str) -> Any:
    """One boto3 client per service per container."""
    import boto3

    return boto3.client(service, config=_sdk_config())


def _sdk_config() -> Any:
    """The time-outs and retries every SDK client of the handlers takes (botocore's Config)."""
    from botocore.config import Config

    return Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S, retries=RETRIES)


@cache
def endpoint_runtime() -> RuntimeClient:
    """The scoring path's InvokeEndpoint (invoke.py): the same time-outs and retries as `client`, without
    the SDK's per-call cost; botocore still resolves the endpoint and the credentials, once.

    Where the environment routes AWS traffic through a proxy or verifies it with another CA bundle
    (HTTPS_PROXY, AWS_CA_BUNDLE, ...), EndpointRuntime, which connects directly with botocore's bundle,
    would not follow; the SDK's client does, so that is what the handlers get then."""
    import botocore.session
    from botocore.utils import get_environ_proxies

    session = botocore.session.get_session()
    sdk: Any = session.create_client("sagemaker-runtime", config=_sdk_config())
    custom_ca = session.get_config_variable("ca_bundle") or os.environ.get("REQUESTS_CA_BUNDLE")
    if get_environ_proxies(sdk.meta.endpoint_url) or custom_ca:
        logger.info("InvokeEndpoint through the SDK's client: a proxy or CA bundle is configured")
        return cast(RuntimeClient, sdk)
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials: Lambda sets them from the function's execution role")
    connection = Connection(sdk.meta.endpoint_url, connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)
    return EndpointRuntime(sdk, credentials, connection=connection)
