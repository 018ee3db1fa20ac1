"""`Custom::LabelingJob` (CDK Provider framework) and the chain starter: labelling jobs from the stack.

Ground Truth labelling jobs have no CloudFormation resource, and a job can be neither
changed nor renamed once created (a stopped job's name is never free again). So:

- Create: ask SageMaker whether a job of this name exists first. A running or completed one is
  adopted as it is (nothing uploaded, nothing created): that is what a rollback meets (Update
  with the old properties while the old job still runs) and what returning to settings whose
  job completed means. A stopped or failed one cannot be created again (its name is never free),
  so the same settings take the next generation of the name. Otherwise upload the job's
  template and label category config under a folder of the job's own name (SSE-KMS with the
  data key, where the job's role reads them), then CreateLabelingJob. The job is named
  `<config name>-<8 hex of its settings and generation>`, so identical settings give the same
  name (generation 0) and every name stays deterministic.
- Update: settings that change (task, labels, workers, input, output, Lambdas, role) give a
  new name: a new job starts with the new settings and CloudFormation then deletes the old
  resource, which stops the old job. Its labels so far stay in its output manifest. The
  template's own code is not a setting: a platform upgrade that only changes how the page
  works leaves running jobs alone and reaches the next job. Unchanged settings change nothing.
- Delete: StopLabelingJob if the job is still running (a finished job is left as is), and
  forget a chained job that never started. A physical ID that is not one of this resource's
  job names (CloudFormation's own after a failed create) is left alone.
- Chaining: a job with `FromJob` reads that job's output manifest. It cannot start before
  that job has completed, which takes days: until then the request waits as a JSON object
  under the pending prefix, and the chain starter (a scheduled function, `tick`) creates it
  once the earlier job is Completed. An earlier job that fails or is stopped leaves the
  chained job waiting and logged, never started on a partial manifest. A pending request that
  cannot be read or is refused is reported under `blocked` and logged as an error, and the
  others still start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any

from aws_lambda_powertools import Logger

from .s3io import split_s3_uri

LOG = Logger()
RUNNING = ("Initializing", "InProgress")
_CLIENTS: dict[str, Any] = {}


class LabelingJobError(RuntimeError):
    """The job cannot be created or chained as configured; the message says why."""


def _client(service: str) -> Any:
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


# Not settings of the job: the provider's token, the name itself, and the template's code.
_NOT_SETTINGS = ("ServiceToken", "JobName", "Template")
TEMPLATE_FILE = "template.liquid.html"
LABELS_FILE = "label-categories.json"


# How many stopped or failed jobs with the same settings a resource steps over before it gives up.
MAX_GENERATIONS = 20


def job_name(properties: dict[str, Any], generation: int = 0) -> str:
    """`<name>-<8 hex>` from every setting that shapes the job (CloudFormation passes strings).

    Generation 0 hashes the settings alone; generation n>0 also hashes n (the same settings
    after n stopped or failed jobs)."""
    settings = {k: properties[k] for k in sorted(properties) if k not in _NOT_SETTINGS}
    if generation:
        settings["_generation"] = generation
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"{properties['JobName']}-{digest}"


def is_job_name(properties: dict[str, Any], name: str) -> bool:
    """Whether `name` has the shape of this resource's job names (`<JobName>-<8 lower-case hex>`)."""
    return re.fullmatch(rf"{re.escape(properties['JobName'])}-[0-9a-f]{{8}}", name) is not None


def own_names(properties: dict[str, Any]) -> list[str]:
    """Every name these settings may have: generation 0 to MAX_GENERATIONS - 1."""
    return [job_name(properties, g) for g in range(MAX_GENERATIONS)]


def output_manifest(output_path: str, job: str) -> str:
    """Where Ground Truth writes a job's labels (Developer Guide, "Labeling job output data")."""
    return f"{output_path.rstrip('/')}/{job}/manifests/output/output.manifest"


def config_uri(config_prefix: str, name: str, file: str) -> str:
    """Where a job's template or label config lives: a folder of the job's own name."""
    return f"{config_prefix.rstrip('/')}/{name}/{file}"


def request_for(properties: dict[str, Any], name: str, manifest: str | None) -> dict[str, Any]:
    """The CreateLabelingJob request: the stack's settings, this job's name, files and input manifest."""
    request: dict[str, Any] = json.loads(properties["Request"])
    request["LabelingJobName"] = name
    request["LabelCategoryConfigS3Uri"] = config_uri(properties["ConfigPrefix"], name, LABELS_FILE)
    request["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": config_uri(properties["ConfigPrefix"], name, TEMPLATE_FILE)}
    if manifest is not None:
        request["InputConfig"] = {**request.get("InputConfig", {}), "DataSource": {"S3DataSource": {"ManifestS3Uri": manifest}}}
    if "DataSource" not in request.get("InputConfig", {}):
        raise LabelingJobError(f"{name}: no input manifest (neither InputConfig nor FromJob)")
    return request


def _put(s3: Any, uri: str, body: str, key_id: str, content_type: str) -> None:
    bucket, key = split_s3_uri(uri)
    s3.put_object(
        Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id
    )


def _status(sagemaker: Any, name: str) -> str | None:
    try:
        status: str = sagemaker.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"]
        return status
    except sagemaker.exceptions.ResourceNotFound:
        return None


ADOPTED = (*RUNNING, "Completed")


def start(properties: dict[str, Any], sagemaker: Any, s3: Any) -> dict[str, Any]:
    """Adopt the job these settings already have, create it now, or park it until the job it reads from has completed."""
    for name in own_names(properties):
        existing = _status(sagemaker, name)
        if existing is None:
            break
        if existing in ADOPTED:
            LOG.info("job exists; adopted", extra={"job": name, "status": existing})
            return {"PhysicalResourceId": name, "Data": {"JobName": name, "Status": existing}}
        LOG.info("job name taken by a finished job; next generation", extra={"job": name, "status": existing})
    else:
        raise LabelingJobError(
            f"{properties['JobName']}: {MAX_GENERATIONS} stopped or failed jobs with these settings; change a setting"
        )
    key_id = properties["KmsKeyId"]
    prefix = properties["ConfigPrefix"]
    _put(s3, config_uri(prefix, name, TEMPLATE_FILE), properties["Template"], key_id, "text/html")
    labels = {"document-version": "2018-11-28", "labels": [{"label": c} for c in json.loads(properties["LabelCategories"])]}
    _put(s3, config_uri(prefix, name, LABELS_FILE), json.dumps(labels), key_id, "application/json")
    source = properties.get("FromJob") or None
    if source is None:
        sagemaker.create_labeling_job(**request_for(properties, name, None))
        return {"PhysicalResourceId": name, "Data": {"JobName": name, "Status": "Created"}}
    status = _status(sagemaker, source)
    if status == "Completed":
        sagemaker.create_labeling_job(**request_for(properties, name, output_manifest(properties["OutputPath"], source)))
        return {"PhysicalResourceId": name, "Data": {"JobName": name, "Status": "Created"}}
    if status is None:
        raise LabelingJobError(f"{name}: the job it reads from, {source}, does not exist")
    pending = {
        "name": name,
        "from_job": source,
        "output_path": properties["OutputPath"],
        "config_prefix": prefix,
        "request": properties["Request"],
    }
    _put(s3, pending_uri(properties["PendingPrefix"], name), json.dumps(pending), key_id, "application/json")
    LOG.info("chained job waits", extra={"job": name, "from_job": source, "from_status": status})
    return {"PhysicalResourceId": name, "Data": {"JobName": name, "Status": f"WaitingFor:{source}"}}


def pending_uri(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}.json"


def stop(properties: dict[str, Any], name: str, sagemaker: Any, s3: Any) -> None:
    """Stop a running job; forget a chained one that never started; leave any other physical ID alone."""
    if not is_job_name(properties, name):
        LOG.info("not one of this resource's job names; nothing to delete", extra={"physical_id": name})
        return
    status = _status(sagemaker, name)
    if status in RUNNING:
        sagemaker.stop_labeling_job(LabelingJobName=name)
    bucket, key = split_s3_uri(pending_uri(properties["PendingPrefix"], name))
    s3.delete_object(Bucket=bucket, Key=key)
    LOG.info("job deleted", extra={"job": name, "status": status})


def on_event(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Provider framework onEvent for `Custom::LabelingJob`."""
    sagemaker, s3 = _client("sagemaker"), _client("s3")
    properties = event["ResourceProperties"]
    kind = event["RequestType"]
    LOG.info("labeling job event", extra={"request": kind, "job": properties.get("JobName")})
    if kind == "Delete":
        stop(properties, event["PhysicalResourceId"], sagemaker, s3)
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if kind == "Update" and event.get("PhysicalResourceId") in own_names(properties):
        return {"PhysicalResourceId": event["PhysicalResourceId"], "Data": {"JobName": event["PhysicalResourceId"]}}
    return start(properties, sagemaker, s3)


def tick(sagemaker: Any, s3: Any, bucket: str, prefix: str) -> dict[str, list[str]]:
    """Create each waiting job whose source job has completed; report the rest.

    Each pending request is handled on its own: one that cannot be read or that SageMaker
    refuses is reported under `blocked` (its name, or its key when it cannot be read) and
    logged as an error (the stack alarms on those), and it stays for the next tick."""
    result: dict[str, list[str]] = {"created": [], "waiting": [], "blocked": []}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            label = key
            try:
                pending = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                label = str(pending["name"])
                outcome = _tick_one(sagemaker, pending)
            except Exception as error:  # any one request's fault; the others still start
                result["blocked"].append(label)
                LOG.error("pending chained job cannot start", extra={"job": label, "key": key, "error": repr(error)})
                continue
            if outcome == "created":
                s3.delete_object(Bucket=bucket, Key=key)
            result[outcome].append(label)
    return result


def _tick_one(sagemaker: Any, pending: dict[str, Any]) -> str:
    """created / waiting / blocked for one pending request."""
    name, source = pending["name"], pending["from_job"]
    status = _status(sagemaker, source)
    if status == "Completed":
        settings = {"Request": pending["request"], "ConfigPrefix": pending["config_prefix"]}
        request = request_for(settings, name, output_manifest(pending["output_path"], source))
        # ResourceInUse: an earlier tick created it but did not get to delete its marker.
        with contextlib.suppress(sagemaker.exceptions.ResourceInUse):
            sagemaker.create_labeling_job(**request)
        return "created"
    if status in (*RUNNING, "Stopping"):
        return "waiting"
    LOG.error("chained job cannot start", extra={"job": name, "from_job": source, "from_status": status})
    return "blocked"


def on_schedule(event: dict[str, Any], context: object = None) -> dict[str, list[str]]:
    """The chain starter's entry point (an EventBridge schedule)."""
    import os

    bucket, prefix = split_s3_uri(os.environ["PENDING_PREFIX"])
    result = tick(_client("sagemaker"), _client("s3"), bucket, prefix)
    LOG.info("chain tick", extra=result)
    return result
