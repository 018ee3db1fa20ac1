"""The caller-risk network: raw features in, probability out (normalisation inside the graph)."""

from __future__ import annotations

import numpy as np
import torch

from mlops_training.data import FEATURE_NAMES


class RiskModel(torch.nn.Module):
    """(x - mean) / std -> MLP -> sigmoid. `logits` is what training optimises; `forward` is
    what the ONNX export and the server run."""

    def __init__(self, hidden: tuple[int, ...], mean: np.ndarray, std: np.ndarray) -> None:
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


class Logits(torch.nn.Module):
    """RiskModel.logits as `forward`, so DistributedDataParallel (which hooks forward) syncs it."""

    def __init__(self, model: RiskModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.logits(x)
