"""What every handler module shares in the Lambda runtime: Powertools and clients made once per container."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from . import settings

NAMESPACE = "MLOps/ScoringApi"  # CloudWatch metrics namespace (the stack's alarms read it)

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)


def dimensions() -> dict[str, str]:
    return {"Api": settings.optional(settings.API_NAME) or "unknown"}


@cache
def client(service: str) -> Any:
    """One boto3 client per service per container. Two attempts of at most 1 s to connect and 5 s to
    read fit the score function's 15 s timeout (mlops_constructs/api/scoring_api.py), so a slow
    endpoint is answered with a clear 503 by the handler, not cut off by Lambda or by API
    Gateway's 29 s integration timeout."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, config=Config(connect_timeout=1, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})
    )
