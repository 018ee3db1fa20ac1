"""Ground Truth pre-annotation Lambda: one manifest line in, the template's task input out.

Request (SageMaker Developer Guide, "Using pre-annotation and post-annotation Lambda
functions"): `{"version": "2018-10-16", "labelingJobArn": ..., "dataObject": {...}}`, where
`dataObject` is one line of the input manifest: `source` holds the text itself, or
`source-ref` names an S3 object holding it; a chained job's line also carries the labels
earlier jobs wrote. Response: `{"taskInput": {...}}`, which the template reads as
`task.input`.

The template reads one value, `task.input.task_json`: the text and any earlier labels as
JSON with `<`, `>` and `&` escaped as \\u escapes, so no text can close the template's
<script> element whatever it contains.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from .ner import previous_labels
from .s3io import S3Client, read_text

LOG = Logger()
# A manifest line may be up to 100 KB (same guide); a referenced text object may be larger,
# but a worker reads it in one page: 1 MiB of UTF-8 is already far more than that.
MAX_SOURCE_BYTES = 1024 * 1024
_CLIENTS: dict[str, Any] = {}


class PreAnnotationError(ValueError):
    """The request is not one this Lambda can turn into a task; the message says why."""


def _s3() -> S3Client:
    if "s3" not in _CLIENTS:
        import boto3

        _CLIENTS["s3"] = boto3.client("s3")
    client: S3Client = _CLIENTS["s3"]
    return client


def safe_json(value: object) -> str:
    """JSON that is also safe inside an HTML <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def task_input(event: dict[str, Any], s3: S3Client) -> dict[str, Any]:
    """The response for one request; raises PreAnnotationError for a request it cannot serve."""
    if not isinstance(event, dict):
        raise PreAnnotationError("the event must be a JSON object")
    data_object = event.get("dataObject")
    if not isinstance(data_object, dict):
        raise PreAnnotationError("dataObject is missing or not an object (expected one input manifest line)")
    has_source, has_ref = "source" in data_object, "source-ref" in data_object
    if has_source == has_ref:
        raise PreAnnotationError("dataObject must have exactly one of 'source' (the text) and 'source-ref' (an S3 URI)")
    if has_source:
        text = data_object["source"]
        if not isinstance(text, str):
            raise PreAnnotationError("dataObject.source must be a string")
        ref = None
    else:
        ref = data_object["source-ref"]
        text = read_text(s3, ref, max_bytes=MAX_SOURCE_BYTES)
    payload = {"text": text, "source_ref": ref, "previous": previous_labels(data_object)}
    return {"taskInput": {"task_json": safe_json(payload), "source_ref": ref or ""}}


@LOG.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    response = task_input(event, _s3())
    LOG.info(
        "task input ready", extra={"labeling_job": event.get("labelingJobArn"), "source_ref": response["taskInput"]["source_ref"]}
    )
    return response
