"""Training: the job's state machine, its dataset and base image, and the per-epoch metrics store."""

from mlops_constructs.training.base_images import pytorch_gpu_training_image
from mlops_constructs.training.dataset import TrainingDataset
from mlops_constructs.training.epoch_metrics import EpochMetricsStore
from mlops_constructs.training.job import SpotOptions, TrainingStateMachine

__all__ = ["EpochMetricsStore", "SpotOptions", "TrainingDataset", "TrainingStateMachine", "pytorch_gpu_training_image"]
