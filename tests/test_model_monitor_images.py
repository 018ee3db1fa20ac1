"""The generated analyzer-image module matches the SDK's registry; lookups name what is missing."""

from __future__ import annotations

import pytest

from mlops_constructs._model_monitor_images import ANALYZER_IMAGES
from mlops_constructs.model_monitor_images import UnsupportedRegionError, analyzer_image
from scripts.gen_model_monitor_images import analyzer_images


def test_generated_module_matches_the_sdk_registry() -> None:
    assert analyzer_images() == ANALYZER_IMAGES, "run `make model-monitor-images`"


def test_region_resolves_to_the_registry_account() -> None:
    image = analyzer_image("eu-west-1")
    assert image.uri == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert (image.account, image.region, image.repository) == ("468650794304", "eu-west-1", "sagemaker-model-monitor-analyzer")


def test_china_regions_use_their_own_domain() -> None:
    assert analyzer_image("cn-north-1").uri.endswith(".amazonaws.com.cn/sagemaker-model-monitor-analyzer")


def test_unknown_region_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedRegionError, match=r"not published in xx-east-9 \(regions: af-south-1"):
        analyzer_image("xx-east-9")
