"""Instance-type facts: the generated list matches botocore; family facts drive templates."""

from __future__ import annotations

import pytest

from mlops_constructs._sagemaker_instance_types import (
    HOSTING_INSTANCE_TYPES,
    PROCESSING_INSTANCE_TYPES,
    TRAINING_INSTANCE_TYPES,
    TRANSFORM_INSTANCE_TYPES,
)
from mlops_constructs.instance_types import InstanceTypeError, parse_instance_type
from scripts.gen_instance_types import (
    hosting_instance_types,
    processing_instance_types,
    training_instance_types,
    transform_instance_types,
)


def test_generated_lists_match_pinned_botocore() -> None:
    assert sorted(HOSTING_INSTANCE_TYPES) == hosting_instance_types(), "run `make instance-types`"
    assert sorted(TRANSFORM_INSTANCE_TYPES) == transform_instance_types(), "run `make instance-types`"
    assert sorted(PROCESSING_INSTANCE_TYPES) == processing_instance_types(), "run `make instance-types`"
    assert sorted(TRAINING_INSTANCE_TYPES) == training_instance_types(), "run `make instance-types`"


def test_training_types_are_checked_against_their_own_list() -> None:
    parse_instance_type("ml.g5.xlarge", "training")
    with pytest.raises(InstanceTypeError, match="not a SageMaker training instance type"):
        parse_instance_type("ml.c6g.large", "training")  # offered for hosting, not for training


def test_transform_types_are_checked_against_their_own_list() -> None:
    parse_instance_type("ml.c5.xlarge", "transform")
    with pytest.raises(InstanceTypeError, match="not a SageMaker batch transform instance type"):
        parse_instance_type("ml.c5d.large", "transform")  # offered for hosting, not for transform


@pytest.mark.parametrize(
    ("name", "local", "gpu", "arch"),
    [
        ("ml.c6i.xlarge", False, False, "amd64"),
        ("ml.m5d.large", True, False, "amd64"),
        ("ml.g5.xlarge", True, True, "amd64"),
        ("ml.g4dn.xlarge", True, True, "amd64"),
        ("ml.p4d.24xlarge", True, True, "amd64"),
        ("ml.c7g.large", False, False, "arm64"),
        ("ml.r6gd.large", True, False, "arm64"),
        ("ml.inf2.xlarge", False, False, "amd64"),
    ],
)
def test_family_facts(name: str, local: bool, gpu: bool, arch: str) -> None:
    instance = parse_instance_type(name)
    assert (instance.has_local_storage, instance.has_nvidia_gpu, instance.architecture) == (local, gpu, arch)


def test_every_fact_family_is_offered_for_hosting() -> None:
    families = {t.split(".")[1] for t in HOSTING_INSTANCE_TYPES}
    for family in ("c6i", "g5", "g6", "c7g", "p4d", "m5d"):
        assert family in families


def test_unknown_instance_type() -> None:
    with pytest.raises(InstanceTypeError, match="not a SageMaker real-time hosting instance type"):
        parse_instance_type("ml.c6i.giant")
