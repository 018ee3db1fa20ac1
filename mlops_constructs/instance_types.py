"""What we know about SageMaker hosting instance types: one module, imported everywhere.

The set of valid names comes from botocore's `ProductionVariantInstanceType` enum
(generated into `_sagemaker_instance_types.py`). The family facts below are the ones a
template depends on:

* local NVMe storage: CreateEndpointConfig fails if `KmsKeyId` is set while any variant
  runs on an instance type with local instance storage (those volumes are encrypted by
  the instance's hardware module), so the endpoint construct omits it for them;
* CPU architecture: a Graviton variant needs an arm64 image, or the container never starts;
* NVIDIA GPU: for documentation, defaults and the serving container's device choice.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from mlops_constructs._sagemaker_instance_types import (
    HOSTING_INSTANCE_TYPES,
    PROCESSING_INSTANCE_TYPES,
    TRAINING_INSTANCE_TYPES,
    TRANSFORM_INSTANCE_TYPES,
)

INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.(?P<family>[a-z0-9]+(?:-[a-z0-9]+)?)\.(?P<size>[a-z0-9]+)$")

# Families whose instances carry local NVMe instance storage (EC2 "d" variants and the
# accelerated families that ship NVMe). Source: EC2 instance store volume tables.
_LOCAL_STORAGE_FAMILIES = frozenset(
    {
        "c5d", "c6gd", "m5d", "m6gd", "r5d", "r6gd", "r7gd",
        "g4dn", "g5", "g6", "g6e", "g7", "g7e",
        "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
        "trn1", "trn1n", "trn2", "dl1",
    }
)  # fmt: skip

_NVIDIA_GPU_FAMILIES = frozenset(
    {
        "g4dn", "g5", "g6", "g6e", "g7", "g7e",
        "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
    }
)  # fmt: skip

# AWS Graviton (and Grace) families run arm64 only.
_ARM64_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$|^p6e-gb200$")

Architecture = Literal["amd64", "arm64"]


@dataclass(frozen=True)
class InstanceType:
    """A validated SageMaker hosting instance type and the facts templates depend on."""

    name: str
    family: str
    size: str

    @property
    def has_local_storage(self) -> bool:
        return self.family in _LOCAL_STORAGE_FAMILIES

    @property
    def has_nvidia_gpu(self) -> bool:
        return self.family in _NVIDIA_GPU_FAMILIES

    @property
    def architecture(self) -> Architecture:
        return "arm64" if _ARM64_FAMILY.match(self.family) else "amd64"


class InstanceTypeError(ValueError):
    """Raised for an instance type SageMaker hosting does not offer."""


Purpose = Literal["hosting", "transform", "processing", "training"]
_OFFERED: dict[Purpose, tuple[frozenset[str], str]] = {
    "hosting": (HOSTING_INSTANCE_TYPES, "SageMaker real-time hosting"),
    "transform": (TRANSFORM_INSTANCE_TYPES, "SageMaker batch transform"),
    "processing": (PROCESSING_INSTANCE_TYPES, "SageMaker processing (Model Monitor)"),
    "training": (TRAINING_INSTANCE_TYPES, "SageMaker training"),
}


def parse_instance_type(name: str, purpose: Purpose = "hosting") -> InstanceType:
    """Validate `name` against the instance types SageMaker offers for `purpose`.

    The error names the expected form and, where the name is close to a real one,
    suggests it (`ml.g5.xlarg` -> `ml.g5.xlarge`).
    """
    match = INSTANCE_TYPE_PATTERN.match(name)
    if not match:
        raise InstanceTypeError(f"'{name}' is not of the form ml.<family>.<size> (for example ml.c6i.xlarge)")
    offered, service = _OFFERED[purpose]
    if name not in offered:
        close = difflib.get_close_matches(name, sorted(offered), n=3, cutoff=0.8)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        families = sorted({t.split(".")[1] for t in offered})
        raise InstanceTypeError(f"'{name}' is not a {service} instance type{hint} (families offered: {', '.join(families)})")
    return InstanceType(name=name, family=match["family"], size=match["size"])
