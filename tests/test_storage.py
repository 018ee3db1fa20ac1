"""Promises of MlStorage / SecureBucket, checked on the synthesised foundation stacks."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.conftest import Synthesized, resources_of_type


def _buckets(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return resources_of_type(synth.template_json(synth.stacks.foundation.stack_name), "AWS::S3::Bucket")


def _key_ids(synth: Synthesized) -> dict[str, str]:
    return {k: k for k in resources_of_type(synth.template_json(synth.stacks.foundation.stack_name), "AWS::KMS::Key")}


def test_five_buckets_data_artifacts_capture_monitoring_logs(dev: Synthesized) -> None:
    names = sorted(_buckets(dev))
    for purpose in ("AccessLogs", "Data", "Artifacts", "Capture", "Monitoring"):
        assert any(purpose in n for n in names), f"no {purpose} bucket in {names}"
    assert len(names) == 5


def test_every_data_bucket_is_sse_kms_with_the_data_key_and_bucket_keys(dev: Synthesized) -> None:
    data_key = next(k for k in _key_ids(dev) if "DataKey" in k)
    for name, bucket in _buckets(dev).items():
        if "AccessLogs" in name:
            continue
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BucketKeyEnabled"] is True, name
        default = rule["ServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == "aws:kms", name
        assert default["KMSMasterKeyID"] == {"Fn::GetAtt": [data_key, "Arn"]}, name


def test_access_log_bucket_is_sse_s3_as_s3_requires_of_log_targets(dev: Synthesized) -> None:
    (bucket,) = [b for name, b in _buckets(dev).items() if "AccessLogs" in name]
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_data_key_admits_no_service_principal(dev: Synthesized) -> None:
    # Service principals (CloudWatch Logs, SNS publishers) get keys of their own; the key
    # that protects data and models is used through IAM only.
    keys = resources_of_type(dev.template_json(dev.stacks.foundation.stack_name), "AWS::KMS::Key")
    data_key = next(v for k, v in keys.items() if "DataKey" in k)
    principals = [s["Principal"] for s in data_key["Properties"]["KeyPolicy"]["Statement"]]
    assert principals == [{"AWS": "arn:aws:iam::111111111111:root"}]


def test_every_bucket_blocks_public_access_and_disables_acls(dev: Synthesized) -> None:
    for name, bucket in _buckets(dev).items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, name


def test_every_bucket_is_versioned(dev: Synthesized) -> None:
    for name, bucket in _buckets(dev).items():
        assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}, name


def test_every_bucket_policy_denies_non_tls_and_old_tls(dev: Synthesized) -> None:
    policies = resources_of_type(dev.template_json(dev.stacks.foundation.stack_name), "AWS::S3::BucketPolicy")
    assert len(policies) == 5
    for name, policy in policies.items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), name
        assert any(s.get("Condition") == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies), name


def test_buckets_log_access_to_the_log_bucket(dev: Synthesized) -> None:
    buckets = _buckets(dev)
    log_bucket = next(n for n in buckets if "AccessLogs" in n)
    for name, bucket in buckets.items():
        if name == log_bucket:
            assert "LoggingConfiguration" not in bucket["Properties"]
            continue
        logging = bucket["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": log_bucket}, name


def test_log_bucket_admits_s3_logging_service_only_from_this_account(dev: Synthesized) -> None:
    dev.foundation().has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Condition": Match.object_like({"StringEquals": {"aws:SourceAccount": "111111111111"}}),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_capture_bucket_ages_data_to_infrequent_access_then_expires(prod: Synthesized) -> None:
    capture = next(b for n, b in _buckets(prod).items() if "Capture" in n)
    rules = {r["Id"]: r for r in capture["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules["age-out-captured-data"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert rule["ExpirationInDays"] == 180  # config/prod.yaml storage.capture_retention_days


def test_noncurrent_versions_and_stale_uploads_are_tidied(dev: Synthesized) -> None:
    for name, bucket in _buckets(dev).items():
        rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
        tidy = rules["tidy-versions-and-uploads"]
        assert tidy["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}, name
        assert tidy["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}, name


def test_keys_rotate(dev: Synthesized) -> None:
    keys = resources_of_type(dev.template_json(dev.stacks.foundation.stack_name), "AWS::KMS::Key")
    assert len(keys) == 3  # data, access logs, alert topic
    for name, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, name


def test_removal_policy_retain_in_prod(prod: Synthesized) -> None:
    template = prod.template_json(prod.stacks.foundation.stack_name)
    stateful = {**resources_of_type(template, "AWS::S3::Bucket"), **resources_of_type(template, "AWS::KMS::Key")}
    for name, resource in stateful.items():
        assert resource["DeletionPolicy"] == "Retain", name
        assert resource["UpdateReplacePolicy"] == "Retain", name
    assert prod.stacks.foundation.termination_protection is True


def test_removal_policy_destroy_in_dev(dev: Synthesized) -> None:
    template = dev.template_json(dev.stacks.foundation.stack_name)
    for name, resource in resources_of_type(template, "AWS::S3::Bucket").items():
        assert resource["DeletionPolicy"] == "Delete", name
    for name, resource in resources_of_type(template, "AWS::KMS::Key").items():
        assert resource["Properties"]["PendingWindowInDays"] == 7, name
    assert dev.stacks.foundation.termination_protection is False
