"""The environment variables the platform sets on every model container, in one place.

The stacks set them and the inference server reads them (containers/inference's
settings.PLATFORM_ENV); a test checks the two lists agree, so no variable is set for
nobody and user environments leave room for them under SageMaker's limit.
"""

from __future__ import annotations

MLOPS_ENDPOINT = "MLOPS_ENDPOINT"  # the endpoint's name: a metric dimension in the server's EMF lines
MLOPS_VARIANT = "MLOPS_VARIANT"  # the variant's name: a metric dimension
MAX_BATCH_SIZE = "MAX_BATCH_SIZE"  # dynamic batching: rows per model call
MAX_BATCH_DELAY_MS = "MAX_BATCH_DELAY_MS"  # dynamic batching: how long a batch may wait to fill

PLATFORM_ENV = (MLOPS_ENDPOINT, MLOPS_VARIANT, MAX_BATCH_SIZE, MAX_BATCH_DELAY_MS)

# ContainerDefinition.Environment: at most 100 entries (CreateModel API reference).
SAGEMAKER_MAX_ENVIRONMENT = 100
MAX_USER_ENVIRONMENT = SAGEMAKER_MAX_ENVIRONMENT - len(PLATFORM_ENV)
