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


def not_found(stubber: Stubber, name: str) -> None:
    """DescribeLabelingJob of `name` answers ResourceNotFound: no job of that name exists yet."""
    stubber.add_client_error(
        "describe_labeling_job",
        service_error_code="ResourceNotFound",
        http_status_code=400,
        expected_params={"LabelingJobName": name},
    )


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
    not_found(stubber, name)
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
    not_found(stubber, name)
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
    not_found(stubber, jobs.job_name(review))
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
    not_found(stubber, jobs.job_name(review))
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
    not_found(stubber, jobs.job_name(review))
    not_found(stubber, review["FromJob"])
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
    not_found(stubber, jobs.job_name(changed))
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
    not_found(stubber, name)
    stubber.add_response("describe_labeling_job", described(source, "InProgress"), {"LabelingJobName": source})
    jobs.on_event(_event("Create", review))
    stubber.add_client_error("describe_labeling_job", service_error_code="ResourceNotFound", http_status_code=400)
    jobs.on_event(_event("Delete", review, name))
    bucket, prefix = review["PendingPrefix"][len("s3://") :].split("/", 1)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


# --- idempotent creation (rollbacks, reverts) --------------------------------------------------


@pytest.mark.parametrize("status", ["InProgress", "Initializing", "Completed"])
def test_a_job_that_already_exists_is_adopted_not_created_again_nor_its_files_overwritten(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None, status: str
) -> None:
    # A rollback sends Update with the old properties and the new job's physical ID: the old job is
    # still there (CloudFormation deletes it only after a successful update). CreateLabelingJob for
    # its name would fail with ResourceInUse and leave the stack in UPDATE_ROLLBACK_FAILED.
    _, stubber = sagemaker
    old = jobs.job_name(annotate)
    request = json.loads(annotate["Request"])
    request["HumanTaskConfig"]["TaskTitle"] = "Mark every mention"
    newer = jobs.job_name(dict(annotate, Request=json.dumps(request)))
    stubber.add_response("describe_labeling_job", described(old, status), {"LabelingJobName": old})
    result = jobs.on_event(_event("Update", annotate, newer))
    assert result == {"PhysicalResourceId": old, "Data": {"JobName": old, "Status": status}}
    # Nothing uploaded: a running job's template and label config stay as they are.
    assert s3.list_objects_v2(Bucket=annotate["OutputPath"].split("/")[2]).get("KeyCount", 0) == 0


@pytest.mark.parametrize("status", ["Stopped", "Failed", "Stopping"])
def test_returning_to_settings_whose_job_was_stopped_starts_a_next_generation_of_that_name(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None, status: str
) -> None:
    # A stopped job's name is never free again; the same settings get the next deterministic name.
    _, stubber = sagemaker
    first, second = jobs.job_name(annotate), jobs.job_name(annotate, generation=1)
    assert first != second
    assert jobs.is_job_name(annotate, second)
    stubber.add_response("describe_labeling_job", described(first, status), {"LabelingJobName": first})
    not_found(stubber, second)
    request = expected_request(annotate)
    request["LabelingJobName"] = second
    folder = f"{annotate['ConfigPrefix']}{second}"
    request["LabelCategoryConfigS3Uri"] = f"{folder}/label-categories.json"
    request["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": f"{folder}/template.liquid.html"}
    stubber.add_response(
        "create_labeling_job", {"LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/x"}, request
    )
    result = jobs.on_event(_event("Update", annotate, "transcript-entities-0f0f0f0f"))
    assert result["PhysicalResourceId"] == second
    # The next deploy with the same settings recognises the second generation as its own.
    assert jobs.on_event(_event("Update", annotate, second)) == {"PhysicalResourceId": second, "Data": {"JobName": second}}


# --- delete of a physical ID that is not one of ours --------------------------------------------


@pytest.mark.parametrize(
    "physical_id",
    [
        "mlops-prod-labeling-JobsJobtranscriptentities8A5E6744-1A2B3C4D5E6F",  # CloudFormation's, after a failed create
        "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED",
        "transcript-entities-review-0a1b2c3d",  # another job's name
        "transcript-entities-0A1B2C3D",
    ],
)
def test_delete_of_a_physical_id_that_is_not_one_of_our_job_names_does_nothing(
    annotate: dict[str, str], sagemaker: tuple[Any, Stubber], clients: None, physical_id: str
) -> None:
    # After a failed create CloudFormation deletes the resource under a physical ID it made up
    # (aws-cloudformation roadmap #1814); DescribeLabelingJob refuses such a name (ValidationException,
    # or AccessDenied outside the handler's grant) and the stack would end in ROLLBACK_FAILED.
    # The Stubber has no responses queued: any SageMaker call fails the test.
    assert jobs.on_event(_event("Delete", annotate, physical_id)) == {"PhysicalResourceId": physical_id}


# --- the chain starter survives a bad pending request ---------------------------------------------


def test_one_bad_pending_request_does_not_block_the_others(
    review: dict[str, str], sagemaker: tuple[Any, Stubber], s3: Any, clients: None
) -> None:
    client, stubber = sagemaker
    source, name = review["FromJob"], jobs.job_name(review)
    not_found(stubber, name)
    stubber.add_response("describe_labeling_job", described(source, "InProgress"), {"LabelingJobName": source})
    jobs.on_event(_event("Create", review))
    bucket, prefix = review["PendingPrefix"][len("s3://") :].split("/", 1)
    good = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}{name}.json")["Body"].read())
    # Listed before the good one (keys sort): a corrupt marker and a request SageMaker refuses.
    s3.put_object(Bucket=bucket, Key=f"{prefix}aaa-corrupt.json", Body=b"{not json")
    refused = dict(good, name="aab-refused-0a1b2c3d")
    s3.put_object(Bucket=bucket, Key=f"{prefix}aab-refused-0a1b2c3d.json", Body=json.dumps(refused).encode())

    stubber.add_response("describe_labeling_job", described(source, "Completed"), {"LabelingJobName": source})
    stubber.add_client_error(
        "create_labeling_job",
        service_error_code="ValidationException",
        service_message="manifest not found",
        http_status_code=400,
    )
    stubber.add_response("describe_labeling_job", described(source, "Completed"), {"LabelingJobName": source})
    stubber.add_response(
        "create_labeling_job",
        {"LabelingJobArn": "arn:aws:sagemaker:eu-west-1:1:labeling-job/x"},
        expected_request(review, f"{review['OutputPath']}{source}/manifests/output/output.manifest"),
    )
    result = jobs.tick(client, s3, bucket, prefix)
    assert result == {"created": [name], "waiting": [], "blocked": [f"{prefix}aaa-corrupt.json", "aab-refused-0a1b2c3d"]}
    # The bad ones stay for the next tick (and keep logging errors); the good one is gone.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [f"{prefix}aaa-corrupt.json", f"{prefix}aab-refused-0a1b2c3d.json"]
