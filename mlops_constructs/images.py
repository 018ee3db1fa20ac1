"""Container images for SageMaker: built from `containers/<folder>` or pulled from ECR."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.instance_types import Architecture
from mlops_constructs.naming import parse_ecr_image_uri

_PLATFORMS = {"amd64": ecr_assets.Platform.LINUX_AMD64, "arm64": ecr_assets.Platform.LINUX_ARM64}
# Built into every image; tests and caches should not see them (and `.git` never ships).
_EXCLUDE = ["**/__pycache__", "**/*.pyc", ".pytest_cache", "tests", ".git"]


class ContainerImage(abc.ABC):
    """An image a SageMaker model runs, and the ECR permissions to pull it."""

    @property
    @abc.abstractmethod
    def image_uri(self) -> str: ...

    @abc.abstractmethod
    def grant_pull(self, grantee: iam.IGrantable) -> iam.Grant: ...

    @staticmethod
    def from_ecr_uri(uri: str) -> ContainerImage:
        """An image already in ECR, e.g. an AWS Deep Learning Container."""
        return _EcrImage(uri)

    @staticmethod
    def from_folder(
        scope: Construct,
        id: str,
        *,
        directory: str | Path,
        base_image: str | None = None,
        build_args: Mapping[str, str] | None = None,
        architecture: Architecture = "amd64",
    ) -> ContainerImage:
        """A Docker image asset built from `directory` at deploy time (staged, not built, at synth).

        `base_image` becomes the `BASE_IMAGE` build argument, so one build context serves
        a CPU and a CUDA image; `architecture` must match the instance family.
        """
        directory = Path(directory)
        if not (directory / "Dockerfile").is_file():
            raise ValueError(f"ContainerImage.from_folder: {directory}/Dockerfile does not exist")
        args = dict(build_args or {})
        if base_image:
            args["BASE_IMAGE"] = base_image
        asset = ecr_assets.DockerImageAsset(
            scope,
            id,
            directory=str(directory),
            build_args=args or None,
            platform=_PLATFORMS[architecture],
            exclude=_EXCLUDE,
        )
        return _AssetImage(asset)


def _pull(grantee: iam.IGrantable, repository_arn: str) -> iam.Grant:
    layers = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
        resource_arns=[repository_arn],
    )
    # GetAuthorizationToken has no resource-level permissions: its Resource must be "*".
    token = iam.Grant.add_to_principal(grantee=grantee, actions=["ecr:GetAuthorizationToken"], resource_arns=["*"])
    return layers.combine(token)


class _EcrImage(ContainerImage):
    def __init__(self, uri: str) -> None:
        self._uri = parse_ecr_image_uri(uri)

    @property
    def image_uri(self) -> str:
        return self._uri.uri

    def grant_pull(self, grantee: iam.IGrantable) -> iam.Grant:
        return _pull(
            grantee,
            f"arn:{cdk.Aws.PARTITION}:ecr:{self._uri.region}:{self._uri.account}:repository/{self._uri.repository}",
        )


class _AssetImage(ContainerImage):
    def __init__(self, asset: ecr_assets.DockerImageAsset) -> None:
        self.asset = asset

    @property
    def image_uri(self) -> str:
        return self.asset.image_uri

    def grant_pull(self, grantee: iam.IGrantable) -> iam.Grant:
        return _pull(grantee, self.asset.repository.repository_arn)
