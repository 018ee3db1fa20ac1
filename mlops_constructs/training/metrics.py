"""What a training job reports per epoch, as the stack sees it: metric definitions and the event.

The training image (containers/training/mlops_training/reporting.py) prints one line per epoch,

    epoch=3/8 train_loss=0.412345 validation_loss=0.40123 validation_accuracy=0.8123 ...

and SageMaker turns each regex's first group into a training metric (CreateTrainingJob
AlgorithmSpecification.MetricDefinitions: at most 40, Name 1-255 characters, Regex 1-500;
numbers are printed with `%.6g`, so exponents and nan/inf appear). The same epoch goes to
EventBridge with SOURCE / DETAIL_TYPE; the training stack's rule matches exactly those.
tests/test_training_events.py runs the image and matches these regexes against its real lines.
No CDK import: the CLI and tests read this too.
"""

from __future__ import annotations

EVENT_SOURCE = "mlops.training"
EVENT_DETAIL_TYPE = "Training Epoch Completed"

_NUMBER = r"(-?(?:[0-9]+\.?[0-9]*(?:e[+-]?[0-9]+)?|nan|inf))"

METRIC_DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("epoch", r"^epoch=([0-9]+)/"),
    ("train:loss", rf" train_loss={_NUMBER}"),
    ("validation:loss", rf" validation_loss={_NUMBER}"),
    ("validation:accuracy", rf" validation_accuracy={_NUMBER}"),
    ("validation:auc", rf" validation_auc={_NUMBER}"),
    ("train:samples_per_second", rf" samples_per_second={_NUMBER}"),
)


def metric_definitions() -> list[dict[str, str]]:
    """AlgorithmSpecification.MetricDefinitions as CreateTrainingJob takes them."""
    return [{"Name": name, "Regex": regex} for name, regex in METRIC_DEFINITIONS]
