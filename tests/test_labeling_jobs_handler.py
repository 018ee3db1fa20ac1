"""`Custom::LabelingJob` and the chain starter (lambda_src/labeling/jobs.py) as real code.

The properties are the prod stack's own, resolved as CloudFormation would send them
(tests/labeling_fixtures.py). S3 is moto in server mode: the template, the label category
config and pending chained requests really land there, SSE-KMS. moto has no labelling-job
API, so SageMaker is botocore's Stubber: every request is validated against the real
CreateLabelingJob / DescribeLabelingJob / StopLabelingJob models, and the test states each
call the handler must make, in order.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.labeling import jobs
from tests.aws_emulator import Emulator
from tests.conftest import Synthesized
from tests.labeling_fixtures import ACCOUNT, REGION, job_properties

NOW = datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)


@pytest.fixture
def annotate(prod: Synthesized) -> dict[str, str]:
    return job_properties(prod, "transcript-entities")


@pytest.fixture
def review(prod: Synthesized) -> dict[str, str]:
    return job_properties(prod, "transcript-entities-review")


@pytest.fixture
def s3(aws: Emulator, annotate: dict[str, str]) -> Any:
    client = aws.client("s3")
    bucket = annotate["OutputPath"].split("/")[2]
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def described(name: str, status: str) -> dict[str, Any]:
    """A DescribeLabelingJob response (the fields the output shape requires)."""
    return {
        "LabelingJobStatus": status,
        "LabelCounters": {},
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "JobReferenceCode": "abc",
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/out/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/labeling",
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/t",
            "UiConfig": {"UiTemplateS3Uri": "s3://b/t.html"},
            "TaskTitle": "t",
            "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 60,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:c"
            },
        },
    }


def expected_request(properties: dict[str, str], manifest: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(properties["Request"])
    name = request["LabelingJobName"] = jobs.job_name(properties)
    folder = f"{properties['ConfigPrefix']}{name}"
    request["LabelCategoryConfigS3Uri"] = f"{folder}/label-categories.json"
    request["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": f"{folder}/template.liquid.html"}
    if manifest:
        request["InputConfig"] = {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest}}}
    return request


def _object(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    response: dict[str, Any] = s3.get_object(Bucket=bucket, Key=key)
    return response


def _event(kind: str, properties: dict[str, str], physical_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"RequestType": kind, "ResourceType": "Custom::LabelingJob", "ResourceProperties": properties}
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


@pytest.fixture
def clients(sagemaker: tuple[Any, Stubber], s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(jobs._CLIENTS, "sagemaker", sagemaker[0])
    monkeypatch.setitem(jobs._CLIENTS, "s3", s3)


def test_job_names_are_stable_per_settings_and_fit_sagemaker(annotate: dict[str, str]) -> None:
    name = jobs.job_name(annotate)
    assert name == jobs.job_name(dict(annotate, ServiceToken="another-token"))
    assert name != jobs.job_name(dict(annotate, LabelCategories='["entity:PERSON"]'))
    # The template's code is not a setting: a platform upgrade of the page leaves running jobs alone.
    assert name == jobs.job_name(dict(annotate, Template=annotate["Template"] + " "))
    assert name.startswith("transcript-entities-")
    assert len(name) == len("transcript-entities") + 9 <= 63


def test_create_uploads_the_template_encrypted_then_creates_the_job(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None
) -> None:
    _, stubber = sagemaker
    name = jobs.job_name(annotate)
    stubber.add_response(
        "create_labeling_job",
        {"LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}"},
        expected_request(annotate),
    )
    result = jobs.on_event(_event("Create", annotate))
    assert result == {"PhysicalResourceId": name, "Data": {"JobName": name, "Status": "Created"}}
    template = _object(s3, jobs.config_uri(annotate["ConfigPrefix"], name, jobs.TEMPLATE_FILE))
    assert template["ServerSideEncryption"] == "aws:kms"
    assert template["SSEKMSKeyId"] == annotate["KmsKeyId"]
    assert template["Body"].read().decode() == annotate["Template"]
    categories = json.loads(_object(s3, jobs.config_uri(annotate["ConfigPrefix"], name, jobs.LABELS_FILE))["Body"].read())
    assert categories["document-version"] == "2018-11-28"
    assert {"label": "entity:PERSON"} in categories["labels"]
    assert {"label": "class:cancellation"} in categories["labels"]


def test_a_chained_job_waits_for_its_source_then_the_chain_starter_creates_it(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None
) -> None:
    client, stubber = sagemaker
    source = review["FromJob"]
    name = jobs.job_name(review)
    stubber.add_response("describe_labeling_job", described(source, "InProgress"), {"LabelingJobName": source})
    result = jobs.on_event(_event("Create", review))
    assert result["Data"] == {"JobName": name, "Status": f"WaitingFor:{source}"}
    pending_uri = jobs.pending_uri(review["PendingPrefix"], name)
    assert _object(s3, pending_uri)["ServerSideEncryption"] == "aws:kms"

    bucket, prefix = review["PendingPrefix"][len("s3://") :].split("/", 1)
    stubber.add_response("describe_labeling_job", described(source, "InProgress"), {"LabelingJobName": source})
    assert jobs.tick(client, s3, bucket, prefix) == {"created": [], "waiting": [name], "blocked": []}

    manifest = f"{review['OutputPath']}{source}/manifests/output/output.manifest"
    stubber.add_response("describe_labeling_job", described(source, "Completed"), {"LabelingJobName": source})
    stubber.add_response(
        "create_labeling_job",
        {"LabelingJobArn": "arn:aws:sagemaker:eu-west-1:1:labeling-job/x"},
        expected_request(review, manifest),
    )
    assert jobs.tick(client, s3, bucket, prefix) == {"created": [name], "waiting": [], "blocked": []}
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount") == 0


def test_a_chained_job_whose_source_failed_stays_blocked_and_is_reported(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None
) -> None:
    client, stubber = sagemaker
    source = review["FromJob"]
    stubber.add_response("describe_labeling_job", described(source, "Initializing"), {"LabelingJobName": source})
    jobs.on_event(_event("Create", review))
    bucket, prefix = review["PendingPrefix"][len("s3://") :].split("/", 1)
    stubber.add_response("describe_labeling_job", described(source, "Failed"), {"LabelingJobName": source})
    assert jobs.tick(client, s3, bucket, prefix)["blocked"] == [jobs.job_name(review)]
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 1


def test_a_chained_job_whose_source_already_completed_starts_at_once(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None
) -> None:
    _, stubber = sagemaker
    source = review["FromJob"]
    manifest = f"{review['OutputPath']}{source}/manifests/output/output.manifest"
    stubber.add_response("describe_labeling_job", described(source, "Completed"), {"LabelingJobName": source})
    stubber.add_response(
        "create_labeling_job",
        {"LabelingJobArn": "arn:aws:sagemaker:eu-west-1:1:labeling-job/x"},
        expected_request(review, manifest),
    )
    assert jobs.on_event(_event("Create", review))["Data"]["Status"] == "Created"


def test_a_chained_job_whose_source_does_not_exist_fails_the_deploy(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None
) -> None:
    _, stubber = sagemaker
    stubber.add_client_error("describe_labeling_job", service_error_code="ResourceNotFound", http_status_code=400)
    with pytest.raises(jobs.LabelingJobError, match="does not exist"):
        jobs.on_event(_event("Create", review))


def test_an_update_with_the_same_settings_changes_nothing(annotate: dict[str, str], s3: Any, clients: None) -> None:
    name = jobs.job_name(annotate)
    assert jobs.on_event(_event("Update", annotate, name)) == {"PhysicalResourceId": name, "Data": {"JobName": name}}
    # Only the template's code changed: the running job keeps its page; nothing is uploaded over it.
    newer = dict(annotate, Template=annotate["Template"].replace("Entities", "Mentions"))
    assert jobs.on_event(_event("Update", newer, name))["PhysicalResourceId"] == name
    assert s3.list_objects_v2(Bucket=annotate["OutputPath"].split("/")[2]).get("KeyCount", 0) == 0


def test_an_update_with_new_settings_starts_a_new_job(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None
) -> None:
    _, stubber = sagemaker
    request = json.loads(annotate["Request"])
    request["HumanTaskConfig"]["TaskTitle"] = "Mark every mention"
    changed = dict(annotate, Request=json.dumps(request))
    stubber.add_response(
        "create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:eu-west-1:1:labeling-job/x"}, expected_request(changed)
    )
    result = jobs.on_event(_event("Update", changed, jobs.job_name(annotate)))
    assert result["PhysicalResourceId"] == jobs.job_name(changed) != jobs.job_name(annotate)


@pytest.mark.parametrize(
    ("status", "stops"), [("InProgress", True), ("Initializing", True), ("Completed", False), ("Stopped", False)]
)
def test_delete_stops_only_a_running_job(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None, status: str, stops: bool
) -> None:
    _, stubber = sagemaker
    name = jobs.job_name(annotate)
    stubber.add_response("describe_labeling_job", described(name, status), {"LabelingJobName": name})
    if stops:
        stubber.add_response("stop_labeling_job", {}, {"LabelingJobName": name})
    assert jobs.on_event(_event("Delete", annotate, name)) == {"PhysicalResourceId": name}


def test_delete_of_a_chained_job_that_never_started_forgets_its_request(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None
) -> None:
    _, stubber = sagemaker
    source, name = review["FromJob"], jobs.job_name(review)
    stubber.add_response("describe_labeling_job", described(source, "InProgress"), {"LabelingJobName": source})
    jobs.on_event(_event("Create", review))
    stubber.add_client_error("describe_labeling_job", service_error_code="ResourceNotFound", http_status_code=400)
    jobs.on_event(_event("Delete", review, name))
    bucket, prefix = review["PendingPrefix"][len("s3://") :].split("/", 1)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0
