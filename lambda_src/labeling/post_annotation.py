"""Ground Truth annotation-consolidation (post-annotation) Lambda.

Request (SageMaker Developer Guide, "Using pre-annotation and post-annotation Lambda
functions"): `{"version", "labelingJobArn", "labelCategories", "labelAttributeName",
"roleArn", "payload": {"s3Uri"}}`. The payload object is a JSON list with one entry per
data object: `{"datasetObjectId", "dataObject": {"content" | "s3Uri"}, "annotations":
[{"workerId", "annotationData": {"content" | "s3Uri"}}]}`. The response is a list with one
entry per data object: `{"datasetObjectId", "consolidatedAnnotation": {"content":
{<labelAttributeName>: <label>}}}`; Ground Truth writes the label into output.manifest
under the label attribute name.

A request this Lambda cannot read fails with a message naming what is wrong (Ground Truth
retries, then reports the failure on the job); a single worker's unreadable answer is
listed in the label's `rejected` and does not vote. Every data object in the payload gets
an entry in the response.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from .ner import Answer, AnswerError, consolidate, parse_answer, vocabulary
from .s3io import S3Client, read_text

LOG = Logger()
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024
_CLIENTS: dict[str, Any] = {}


class ConsolidationError(ValueError):
    """The request or its payload cannot be consolidated; the message says why."""


def _s3() -> S3Client:
    if "s3" not in _CLIENTS:
        import boto3

        _CLIENTS["s3"] = boto3.client("s3")
    client: S3Client = _CLIENTS["s3"]
    return client


def _field(mapping: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind):
        raise ConsolidationError(f"{where}.{key} is missing or not a {kind.__name__}")
    return value


def _job_name(arn: object) -> str:
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) else ""


def consolidate_request(event: dict[str, Any], s3: S3Client) -> list[dict[str, Any]]:
    """The response for one consolidation request."""
    if not isinstance(event, dict):
        raise ConsolidationError("the event must be a JSON object")
    attribute = _field(event, "labelAttributeName", str, "event")
    payload_uri = _field(_field(event, "payload", dict, "event"), "s3Uri", str, "event.payload")
    try:
        words = vocabulary(event.get("labelCategories"))
    except ValueError as error:
        raise ConsolidationError(f"event.labelCategories: {error}") from None
    try:
        objects = json.loads(read_text(s3, payload_uri, max_bytes=MAX_PAYLOAD_BYTES))
    except json.JSONDecodeError as error:
        raise ConsolidationError(f"payload {payload_uri} is not JSON ({error.msg} at {error.pos})") from None
    if not isinstance(objects, list):
        raise ConsolidationError(f"payload {payload_uri} must be a JSON list of data objects")
    job = _job_name(event.get("labelingJobArn"))
    response = []
    for index, item in enumerate(objects):
        where = f"payload[{index}]"
        if not isinstance(item, dict):
            raise ConsolidationError(f"{where} must be an object")
        object_id = _field(item, "datasetObjectId", str, where)
        data_object = _field(item, "dataObject", dict, where)
        if isinstance(data_object.get("content"), str):
            text = data_object["content"]
        elif isinstance(data_object.get("s3Uri"), str):
            text = read_text(s3, data_object["s3Uri"], max_bytes=MAX_TEXT_BYTES)
        else:
            raise ConsolidationError(f"{where}.dataObject has neither 'content' nor 's3Uri'")
        answers: list[Answer] = []
        rejected: list[dict[str, str]] = []
        for a_index, annotation in enumerate(_field(item, "annotations", list, where)):
            a_where = f"{where}.annotations[{a_index}]"
            if not isinstance(annotation, dict):
                raise ConsolidationError(f"{a_where} must be an object")
            worker = _field(annotation, "workerId", str, a_where)
            data = _field(annotation, "annotationData", dict, a_where)
            content = data.get("content")
            if content is None and isinstance(data.get("s3Uri"), str):
                content = read_text(s3, data["s3Uri"], max_bytes=MAX_TEXT_BYTES)
            try:
                answers.append(parse_answer(worker, content, text=text, vocabulary=words))
            except AnswerError as error:
                rejected.append({"workerId": worker, "reason": str(error)})
                LOG.warning("answer rejected", extra={"datasetObjectId": object_id, "workerId": worker, "reason": str(error)})
        label = consolidate(text, answers, rejected, job_name=job)
        response.append({"datasetObjectId": object_id, "consolidatedAnnotation": {"content": {attribute: label}}})
    return response


@LOG.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: object) -> list[dict[str, Any]]:
    response = consolidate_request(event, _s3())
    rejected = sum(len(r["consolidatedAnnotation"]["content"][event["labelAttributeName"]]["rejected"]) for r in response)
    LOG.info("consolidated", extra={"labeling_job": event.get("labelingJobArn"), "objects": len(response), "rejected": rejected})
    return response
