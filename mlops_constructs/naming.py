"""Naming and URI rules taken from the AWS API references, in one place.

Both the config schema and the constructs validate with these functions, so a rule is
written once and a message reads the same wherever it is raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CreateEndpoint / CreateEndpointConfig / ProductionVariant: EndpointName, VariantName.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
SAGEMAKER_NAME_RULE = "1-63 characters: letters, digits and hyphens, starting and ending with a letter or digit"

# PutScheduledAction: ScheduledActionName, 1-256 characters, no leading/trailing space,
# no control characters, none of ':' '/' '|'.
_SCHEDULED_ACTION_NAME = re.compile(r"^(?![ ])(?!.*[ ]$)[^\x00-\x1f\x7f-\x9f:/|]{1,256}$")
SCHEDULED_ACTION_NAME_RULE = "1-256 characters, no ':', '/', '|' or control characters, no leading or trailing space"

# ContainerDefinition.ModelDataUrl: (https|s3)://([^/]+)/?(.*), at most 1024 characters.
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+)$")

# An ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@sha256:<digest>)
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))$"
)

# Container folder names under containers/ (also used as CDK construct ids).
CONTAINER_FOLDER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def is_sagemaker_name(name: str) -> bool:
    return bool(SAGEMAKER_NAME.match(name))


def is_scheduled_action_name(name: str) -> bool:
    return bool(_SCHEDULED_ACTION_NAME.match(name))


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Uri:
    """Parse `s3://bucket/key`, raising ValueError with the expected form."""
    if len(uri) > 1024:
        raise ValueError(f"S3 URI is {len(uri)} characters; SageMaker accepts at most 1024")
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"'{uri}' is not an S3 object URI of the form s3://<bucket>/<key>")
    return S3Uri(bucket=match["bucket"], key=match["key"])


@dataclass(frozen=True)
class EcrImageUri:
    account: str
    region: str
    repository: str
    reference: str  # tag or sha256 digest

    @property
    def uri(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.repository}{sep}{self.reference}"


def looks_like_image_uri(value: str) -> bool:
    """An image reference with a registry host rather than a containers/ folder name."""
    return "/" in value or "." in value or ":" in value


def parse_ecr_image_uri(uri: str) -> EcrImageUri:
    """Parse an ECR image URI (SageMaker hosting pulls only from ECR)."""
    if len(uri) > 255:
        raise ValueError(f"image URI is {len(uri)} characters; SageMaker accepts at most 255")
    match = _ECR_URI.match(uri)
    if not match:
        raise ValueError(
            f"'{uri}' is not an ECR image URI of the form "
            "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>); "
            "SageMaker hosting pulls images only from ECR"
        )
    return EcrImageUri(
        account=match["account"],
        region=match["region"],
        repository=match["repository"],
        reference=match["tag"] or match["digest"],
    )
