"""The generated region -> PyTorch training DLC table matches the pinned SDK registry data."""

from __future__ import annotations

import pytest

from config.loader import REPO_ROOT
from mlops_constructs.training.base_images import pytorch_gpu_training_image
from scripts.gen_training_images import TARGET, render


def test_generated_module_matches_the_sdk_registry_data() -> None:
    assert TARGET.read_text() == render(), "run `make training-images`"


def test_image_uri_has_the_sdk_form() -> None:
    assert pytorch_gpu_training_image("eu-west-1") == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.10.0-gpu-py313"
    )
    assert pytorch_gpu_training_image("cn-north-1").startswith("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_unknown_region_is_named() -> None:
    with pytest.raises(ValueError, match=r"no PyTorch 2\.10\.0 GPU training image is published for region 'xx-east-9'"):
        pytorch_gpu_training_image("xx-east-9")


def test_makefile_regenerates_it() -> None:
    assert "scripts/gen_training_images.py" in (REPO_ROOT / "Makefile").read_text()
