"""Build a caller-risk model.tar.gz from synthetic data, in the documented format.

For tests and demos; the training issue produces real ones in the same format
(containers/inference/MODEL_FORMAT.md). Deterministic: the same arguments give the
same archive bytes (fixed seeds, sorted members, zeroed timestamps).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "mlops-tabular-classifier"
FORMAT_VERSION = 1

FEATURE_NAMES = (
    "call_duration_s",
    "calls_last_24h",
    "distinct_callees_24h",
    "international_ratio",
    "night_call_ratio",
    "account_age_days",
    "failed_call_ratio",
    "mean_call_gap_s",
    "sms_ratio",
    "device_changes_30d",
    "roaming",
    "prior_reports",
)


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # float32 (n, len(FEATURE_NAMES))
    labels: np.ndarray  # float32 (n,)


def synthetic_calls(rows: int, *, seed: int = 7) -> Dataset:
    """Call-level features with a risk label from a known, mildly non-linear rule."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.gamma(2.0, 60.0, rows),  # call_duration_s
            rng.poisson(8, rows),  # calls_last_24h
            rng.poisson(5, rows),  # distinct_callees_24h
            rng.beta(1, 8, rows),  # international_ratio
            rng.beta(1, 5, rows),  # night_call_ratio
            rng.gamma(2.0, 400.0, rows),  # account_age_days
            rng.beta(1, 10, rows),  # failed_call_ratio
            rng.gamma(2.0, 900.0, rows),  # mean_call_gap_s
            rng.beta(2, 5, rows),  # sms_ratio
            rng.poisson(0.3, rows),  # device_changes_30d
            rng.integers(0, 2, rows),  # roaming
            rng.poisson(0.1, rows),  # prior_reports
        ]
    ).astype(np.float32)
    logit = (
        -3.0
        + 0.08 * x[:, 2]
        + 4.0 * x[:, 3]
        + 2.5 * x[:, 4]
        - 0.002 * x[:, 5]
        + 6.0 * x[:, 6]
        + 0.9 * x[:, 9]
        + 1.5 * x[:, 11]
        + 2.0 * x[:, 3] * x[:, 4] * 4
    )
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return Dataset(x, labels)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula."""
    order = scores.argsort()
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels > 0.5
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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
    """Train, export to ONNX and write `output` (a .tar.gz); returns the metadata."""
    import torch  # heavy; only the builder needs it

    torch.manual_seed(seed)
    data = synthetic_calls(rows, seed=seed)
    split = int(rows * 0.8)
    mean = data.features[:split].mean(axis=0)
    std = data.features[:split].std(axis=0) + 1e-6

    class RiskModel(torch.nn.Module):
        """(x - mean) / std -> MLP -> sigmoid: raw features in, probability out."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("std", torch.from_numpy(std))
            layers: list[torch.nn.Module] = []
            width = len(FEATURE_NAMES)
            for size in hidden:
                layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
                width = size
            layers.append(torch.nn.Linear(width, 1))
            self.mlp = torch.nn.Sequential(*layers)

        def logits(self, x: torch.Tensor) -> torch.Tensor:
            normalised = (x - self.get_buffer("mean")) / self.get_buffer("std")
            out: torch.Tensor = self.mlp(normalised)
            return out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.logits(x))

    model = RiskModel()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x_train = torch.from_numpy(data.features[:split])
    y_train = torch.from_numpy(data.labels[:split]).unsqueeze(1)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.split(torch.randperm(split, generator=generator), 256):
            optimiser.zero_grad()
            loss = loss_fn(model.logits(x_train[index]), y_train[index])
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.inference_mode():
        holdout = model(torch.from_numpy(data.features[split:])).numpy().reshape(-1)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, torch.from_numpy(data.features[:4]), onnx_path)
        onnx_bytes = onnx_path.read_bytes()
    metadata: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "model_version": model_version,
        "feature_names": list(FEATURE_NAMES),
        "input_name": "features",
        "output_name": "risk",
        "threshold": threshold,
        "training": {
            "data": f"synthetic_calls(rows={rows}, seed={seed})",
            "hidden": list(hidden),
            "epochs": epochs,
            "holdout_auc": round(auc(holdout, data.labels[split:]), 4),
        },
    }
    write_archive(output, {"model.onnx": onnx_bytes, "metadata.json": (json.dumps(metadata, indent=2) + "\n").encode()})
    return metadata


def export_onnx(model: Any, example: Any, path: Path) -> None:
    """ONNX opset 17 with a dynamic batch axis, via the TorchScript-based exporter
    (torch 2.13's dynamo exporter would need onnxscript, which nothing else needs)."""
    import torch

    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["features"],
        output_names=["risk"],
        dynamic_axes={"features": {0: "batch"}, "risk": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def write_archive(output: Path, members: dict[str, bytes]) -> None:
    """A byte-for-byte reproducible .tar.gz of `members`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def extract(archive: Path, directory: Path) -> Path:
    """Unpack a model.tar.gz as SageMaker does into /opt/ml/model."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(directory, filter="data")
    return directory
