"""Encrypted storage for the ML platform: one customer key and the buckets it protects.

Every bucket here is SSE-KMS with a customer-managed key (bucket keys on, so KMS is
called per bucket-key period rather than per object), TLS 1.2+ only, public access
blocked, ACLs disabled, versioned, and logs its access to the log bucket.

The one exception is the access-log bucket itself: S3 delivers server access logs only to
a target bucket whose default encryption is SSE-S3 (Amazon S3 User Guide, "Enabling
Amazon S3 server access logging": SSE-KMS is not supported for the target bucket), so it
uses S3-managed keys. It holds request metadata, never data.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from mlops_constructs.keys import customer_key
from mlops_constructs.nag import NagAck, acknowledge
from mlops_constructs.validation import PropsError


@dataclass(frozen=True)
class CaptureLifecycle:
    """How long captured inference data lives: infrequent access after N days, expiry after M."""

    infrequent_access_after_days: int = 30
    expire_after_days: int = 90

    def __post_init__(self) -> None:
        if self.infrequent_access_after_days < 30:
            raise ValueError("CaptureLifecycle.infrequent_access_after_days: S3 requires at least 30")
        if self.expire_after_days <= self.infrequent_access_after_days:
            raise ValueError("CaptureLifecycle.expire_after_days must be greater than infrequent_access_after_days")


def _removal(policy: cdk.RemovalPolicy) -> cdk.RemovalPolicy:
    # Buckets are only ever retained or destroyed; SNAPSHOT means nothing for them.
    return cdk.RemovalPolicy.DESTROY if policy == cdk.RemovalPolicy.DESTROY else cdk.RemovalPolicy.RETAIN


class SecureBucket(Construct):
    """An S3 bucket with the platform's security defaults; exposes the L2 as `bucket`.

    Destroy removes the bucket only when it is empty: emptying it would need a Lambda
    custom resource in every stack, which we leave to the operator on purpose.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        encryption_key: kms.IKey | None,
        access_logs_bucket: s3.IBucket | None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        noncurrent_version_expiration: cdk.Duration = cdk.Duration.days(30),
        lifecycle_rules: list[s3.LifecycleRule] | None = None,
    ) -> None:
        super().__init__(scope, id)
        if encryption_key is None and access_logs_bucket is not None:
            raise PropsError(self.node.path, ["encryption_key is required: only the access-log target bucket uses SSE-S3"])
        rules = [
            s3.LifecycleRule(
                id="tidy-versions-and-uploads",
                noncurrent_version_expiration=noncurrent_version_expiration,
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            ),
            *(lifecycle_rules or []),
        ]
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=encryption_key,
            bucket_key_enabled=True if encryption_key else None,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=f"{id.lower()}/" if access_logs_bucket else None,
            lifecycle_rules=rules,
            removal_policy=_removal(removal_policy),
        )
        if access_logs_bucket is None:
            acknowledge(
                self.bucket,
                NagAck(
                    "AwsSolutions-S1",
                    "This is the access-log bucket itself; logging it into itself would log its own log writes forever.",
                ),
            )


class MlStorage(Construct):
    """The customer-managed key and the platform's buckets.

    Buckets: `data` (training and labelling data), `artifacts` (model.tar.gz files),
    `capture` (endpoint data capture, with a lifecycle), `monitoring` (Model Monitor
    output), and `access_logs` (server access logs of the others, SSE-S3).
    `key` is the data key; its policy names no service principal.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        capture_lifecycle: CaptureLifecycle | None = None,
        noncurrent_version_expiration: cdk.Duration = cdk.Duration.days(30),
        access_log_retention: cdk.Duration = cdk.Duration.days(365),
    ) -> None:
        super().__init__(scope, id)
        lifecycle = capture_lifecycle or CaptureLifecycle()
        self.key = customer_key(
            self,
            "DataKey",
            description="Encrypts ML data, model artifacts, captured inference data and monitoring output",
            removal_policy=removal_policy,
        )

        def bucket(name: str, logs: s3.IBucket | None, rules: list[s3.LifecycleRule] | None = None) -> s3.Bucket:
            return SecureBucket(
                self,
                name,
                encryption_key=self.key if logs is not None else None,
                access_logs_bucket=logs,
                removal_policy=removal_policy,
                noncurrent_version_expiration=noncurrent_version_expiration,
                lifecycle_rules=rules,
            ).bucket

        self.access_logs = bucket(
            "AccessLogs",
            None,
            [s3.LifecycleRule(id="expire-access-logs", expiration=access_log_retention)],
        )
        self.data = bucket("Data", self.access_logs)
        self.artifacts = bucket("Artifacts", self.access_logs)
        self.capture = bucket(
            "Capture",
            self.access_logs,
            [
                s3.LifecycleRule(
                    id="age-out-captured-data",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(lifecycle.infrequent_access_after_days),
                        )
                    ],
                    expiration=cdk.Duration.days(lifecycle.expire_after_days),
                )
            ],
        )
        self.monitoring = bucket("Monitoring", self.access_logs)
