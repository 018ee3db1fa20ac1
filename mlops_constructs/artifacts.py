"""Where a model's `model.tar.gz` lives, and how a role is allowed to read exactly that object."""

from __future__ import annotations

import abc

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from mlops_constructs.naming import parse_s3_uri


class ModelArtifact(abc.ABC):
    """A model archive SageMaker downloads when it starts a variant's instances."""

    @property
    @abc.abstractmethod
    def s3_url(self) -> str:
        """The `ModelDataUrl` (may be a CloudFormation token)."""

    @abc.abstractmethod
    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to read this one object (and decrypt it where we own the key)."""

    @staticmethod
    def from_bucket(bucket: s3.IBucket, key: str) -> ModelArtifact:
        """An object in a bucket this app manages (e.g. the artifacts bucket)."""
        if not key or key.startswith("/"):
            raise ValueError(f"ModelArtifact.from_bucket: key '{key}' must be a relative object key")
        return _BucketArtifact(bucket, key)

    @staticmethod
    def from_s3_uri(uri: str) -> ModelArtifact:
        """An object in a bucket outside this app. If that bucket uses a customer KMS key,
        its owner must grant the serving role kms:Decrypt on it."""
        return _ExternalArtifact(uri)

    @staticmethod
    def from_asset(scope: Construct, id: str, path: str) -> ModelArtifact:
        """A local `model.tar.gz`, uploaded to the CDK assets bucket at deploy time."""
        if not path.endswith(".tar.gz"):
            raise ValueError(f"ModelArtifact.from_asset: '{path}' must be a .tar.gz archive")
        return _AssetArtifact(s3_assets.Asset(scope, id, path=path))


def _read(grantee: iam.IGrantable, object_arn: str) -> iam.Grant:
    return iam.Grant.add_to_principal(grantee=grantee, actions=["s3:GetObject"], resource_arns=[object_arn])


class _BucketArtifact(ModelArtifact):
    def __init__(self, bucket: s3.IBucket, key: str) -> None:
        self._bucket = bucket
        self._key = key

    @property
    def s3_url(self) -> str:
        return self._bucket.s3_url_for_object(self._key)

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        grant = _read(grantee, self._bucket.arn_for_objects(self._key))
        if self._bucket.encryption_key:
            grant = grant.combine(self._bucket.encryption_key.grant(grantee, "kms:Decrypt"))
        return grant


class _ExternalArtifact(ModelArtifact):
    def __init__(self, uri: str) -> None:
        self._uri = parse_s3_uri(uri)

    @property
    def s3_url(self) -> str:
        return self._uri.uri

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        return _read(grantee, f"arn:{cdk.Aws.PARTITION}:s3:::{self._uri.bucket}/{self._uri.key}")


class _AssetArtifact(ModelArtifact):
    def __init__(self, asset: s3_assets.Asset) -> None:
        self._asset = asset

    @property
    def s3_url(self) -> str:
        return self._asset.s3_object_url

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        return _read(grantee, self._asset.bucket.arn_for_objects(self._asset.s3_object_key))
