"""Where a training job reads its `train` channel from, and the read grant for exactly that."""

from __future__ import annotations

import abc

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from mlops_constructs.nag import acknowledge_resource
from mlops_constructs.naming import parse_s3_uri


class TrainingDataset(abc.ABC):
    """An S3 location (prefix or single object) a job's role may read, and nothing around it."""

    @property
    @abc.abstractmethod
    def s3_uri(self) -> str: ...

    @abc.abstractmethod
    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant: ...

    @staticmethod
    def from_s3_uri(uri: str) -> TrainingDataset:
        """A bucket this app does not manage (its bucket policy and key must admit the job role)."""
        parsed = parse_s3_uri(uri)
        return _Prefix(uri, f"arn:aws:s3:::{parsed.bucket}", parsed.key)

    @staticmethod
    def from_bucket(bucket: s3.IBucket, prefix: str) -> TrainingDataset:
        """A prefix in one of the platform's buckets (its KMS key is granted too)."""
        return _BucketPrefix(bucket, prefix)

    @staticmethod
    def from_asset(scope: Construct, id: str, path: str) -> TrainingDataset:
        """A local .csv file, uploaded as one S3 object at deploy time."""
        return _Asset(s3_assets.Asset(scope, id, path=path))


def _read(grantee: iam.IGrantable, bucket_arn: str, prefix: str) -> iam.Grant:
    objects = iam.Grant.add_to_principal(grantee=grantee, actions=["s3:GetObject"], resource_arns=[f"{bucket_arn}/{prefix}*"])
    if isinstance(grantee.grant_principal, Construct):
        acknowledge_resource(
            grantee.grant_principal,
            f"{bucket_arn}/{prefix}*",
            "A training channel is every object under the dataset prefix; the grant is read-only and that prefix only.",
        )
    listing = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["s3:ListBucket"],
        resource_arns=[bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    )
    return objects.combine(listing)


class _Prefix(TrainingDataset):
    def __init__(self, uri: str, bucket_arn: str, prefix: str) -> None:
        self._uri, self._bucket_arn, self._prefix = uri, bucket_arn, prefix

    @property
    def s3_uri(self) -> str:
        return self._uri

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        return _read(grantee, self._bucket_arn, self._prefix)


class _BucketPrefix(TrainingDataset):
    def __init__(self, bucket: s3.IBucket, prefix: str) -> None:
        self._bucket, self._prefix = bucket, prefix

    @property
    def s3_uri(self) -> str:
        return self._bucket.s3_url_for_object(self._prefix)

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        grant = _read(grantee, self._bucket.bucket_arn, self._prefix)
        if self._bucket.encryption_key:
            grant = grant.combine(self._bucket.encryption_key.grant(grantee, "kms:Decrypt"))
        return grant


class _Asset(TrainingDataset):
    def __init__(self, asset: s3_assets.Asset) -> None:
        self._asset = asset

    @property
    def s3_uri(self) -> str:
        return self._asset.s3_object_url

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        return self._asset.bucket.grant_read(grantee, self._asset.s3_object_key)
