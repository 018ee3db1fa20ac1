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
MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"  # the work queue's maxReceiveCount: a failure on that delivery is final

# The worker's worst case for one message: InvokeEndpoint gives up within 2 x (1 s connect + 5 s read)
# (runtime.py), plus the table read and write. The worker starts a message only with this much time left,
# and the stack gives it a timeout of at least batch size x this (mlops_constructs/api/scoring_api.py).
WORKER_MESSAGE_BUDGET_S = 15

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
    MAX_RECEIVE_COUNT,
)


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the API stack sets it)")
    return value


def optional(name: str) -> str | None:
    return os.environ.get(name) or None
