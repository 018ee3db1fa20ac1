"""The environment the stack sets on the API's functions: one source for construct and handlers."""

from __future__ import annotations

import os

ENDPOINT_NAME = "ENDPOINT_NAME"  # the SageMaker endpoint to invoke
TARGET_VARIANT = "TARGET_VARIANT"  # optional: route every request to this production variant
API_NAME = "API_NAME"  # the API's config name: the archive prefix api/<name>/
MAX_BODY_BYTES = "MAX_BODY_BYTES"  # payload.max_kb * 1024
ARCHIVE_QUEUE_URL = "ARCHIVE_QUEUE_URL"  # optional: archive every accepted request and its answer
WORK_QUEUE_URL = "WORK_QUEUE_URL"  # asynchronous requests
RESULTS_TABLE = "RESULTS_TABLE"  # DynamoDB table of asynchronous results
RESULT_TTL_HOURS = "RESULT_TTL_HOURS"
ARCHIVE_BUCKET = "ARCHIVE_BUCKET"
ARCHIVE_KEY_ARN = "ARCHIVE_KEY_ARN"  # the data bucket's KMS key: archive objects are SSE-KMS with it

# Set by the stack on every function, read by each handler module that needs it.
ALL = (
    ENDPOINT_NAME,
    TARGET_VARIANT,
    API_NAME,
    MAX_BODY_BYTES,
    ARCHIVE_QUEUE_URL,
    WORK_QUEUE_URL,
    RESULTS_TABLE,
    RESULT_TTL_HOURS,
    ARCHIVE_BUCKET,
    ARCHIVE_KEY_ARN,
)


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the API stack sets it)")
    return value


def optional(name: str) -> str | None:
    return os.environ.get(name) or None
