"""Turn config references (model_data, image) into ModelArtifact / ContainerImage objects.

Shared by the endpoint and batch stacks. Images are memoised per stack by (reference,
CPU architecture), so variants that share an image share one asset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import ARTIFACTS_SCHEME, Image
from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.instance_types import Architecture
from mlops_constructs.naming import looks_like_image_uri


class ModelSources:
    def __init__(self, scope: Construct, *, images: Mapping[str, Image], repo_root: Path, artifacts: s3.IBucket) -> None:
        self._scope = scope
        self._settings = images
        self._root = repo_root
        self._artifacts = artifacts
        self._images: dict[tuple[str, Architecture], ContainerImage] = {}

    def model(self, model_data: str, asset_id: str) -> ModelArtifact:
        if model_data.startswith("s3://"):
            return ModelArtifact.from_s3_uri(model_data)
        if model_data.startswith(ARTIFACTS_SCHEME):
            return ModelArtifact.from_bucket(self._artifacts, model_data[len(ARTIFACTS_SCHEME) :])
        return ModelArtifact.from_asset(self._scope, asset_id, str(self._root / model_data))

    def image(self, reference: str, architecture: Architecture) -> ContainerImage:
        if looks_like_image_uri(reference):
            return ContainerImage.from_ecr_uri(reference)
        key = (reference, architecture)
        if key not in self._images:
            settings = self._settings.get(reference)
            folder = (settings.folder if settings else None) or reference
            self._images[key] = ContainerImage.from_folder(
                self._scope,
                f"Image-{reference}-{architecture}",
                directory=self._root / "containers" / folder,
                base_image=settings.base_image if settings else None,
                build_args=settings.build_args if settings else None,
                architecture=architecture,
            )
        return self._images[key]
