"""`mlops model build`: a caller-risk model.tar.gz from synthetic data, in the documented format.

For tests and demos. It trains with the training image's own code (containers/training/
mlops_training: the same loop, export and archive writer a SageMaker training job runs), so
what the CLI builds and what a job produces are one format by construction
(containers/inference/MODEL_FORMAT.md). Deterministic: the same arguments give the same
archive bytes (fixed seeds, sorted members, zeroed timestamps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_training.artifact import FORMAT_NAME, FORMAT_VERSION, export_onnx, extract, write_archive
from mlops_training.data import FEATURE_NAMES, Dataset, auc, synthetic_calls

__all__ = [
    "FEATURE_NAMES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Dataset",
    "auc",
    "build",
    "export_onnx",
    "extract",
    "synthetic_calls",
    "write_archive",
]


def build(
    output: Path,
    *,
    hidden: tuple[int, ...] = (64, 32),
    rows: int = 20_000,
    epochs: int = 8,
    seed: int = 7,
    model_name: str = "caller-risk",
    model_version: str = "synthetic-1",
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Train on synthetic_calls(rows) (first 80% train, rest holdout), write `output`; returns the metadata."""
    import torch  # heavy; only the builder needs it
    from mlops_training import artifact
    from mlops_training.hyperparameters import Hyperparameters
    from mlops_training.trainer import train

    data = synthetic_calls(rows, seed=seed)
    train_data, holdout = data.split(int(rows * 0.8))
    hp = Hyperparameters(epochs=epochs, hidden=hidden, seed=seed, model_name=model_name, model_version=model_version)
    result = train(train_data, holdout, hp)
    meta = artifact.metadata(
        model_name=model_name,
        model_version=model_version,
        threshold=threshold,
        training={
            "data": f"synthetic_calls(rows={rows}, seed={seed})",
            "hidden": list(hidden),
            "epochs": epochs,
            "holdout_auc": round(result.history[-1].validation_auc, 4),
        },
    )
    write_archive(output, artifact.model_files(result.model, torch.from_numpy(train_data.features[:4]), meta))
    return meta
