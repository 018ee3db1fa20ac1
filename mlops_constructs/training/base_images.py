"""The training image's base: an AWS Deep Learning Container for PyTorch GPU training per region.

The URIs come from the SageMaker SDK's registry data through a generated module
(`make training-images`), so synth imports neither the SDK nor botocore's loader.
"""

from __future__ import annotations

from mlops_constructs.training._pytorch_training_images import PYTORCH_GPU_TRAINING_IMAGES, PYTORCH_TRAINING_VERSION


def pytorch_gpu_training_image(region: str) -> str:
    """The DLC URI for `region`; a clear error for a region AWS publishes none in."""
    try:
        return PYTORCH_GPU_TRAINING_IMAGES[region]
    except KeyError:
        raise ValueError(
            f"no PyTorch {PYTORCH_TRAINING_VERSION} GPU training image is published for region '{region}' "
            f"(regions: {', '.join(sorted(PYTORCH_GPU_TRAINING_IMAGES))})"
        ) from None
