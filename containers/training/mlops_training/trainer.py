"""Training: the loop both `mlops model build` and the training image run.

Deterministic for a given seed, data and world size: the model is initialised after
`torch.manual_seed(seed)` and every epoch draws its permutation from one seeded generator,
so a run resumed from a checkpoint (model, optimiser and generator state) continues exactly
where the interrupted one stopped. With several processes each step's global batch is split
across ranks (`index[rank::world]`) and DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlops_training.data import Dataset, auc
from mlops_training.hyperparameters import Hyperparameters
from mlops_training.model import Logits, RiskModel

CHECKPOINT_FILE = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint from another run (different data or hyperparameters) or an unreadable one."""


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    epochs: int
    train_loss: float
    validation_loss: float
    validation_accuracy: float
    validation_auc: float
    samples_per_second: float
    started_at: str  # ISO 8601, UTC
    ended_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env() -> Distributed:
        """torchrun's RANK/WORLD_SIZE/LOCAL_RANK."""
        return Distributed(
            rank=int(os.environ.get("RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class Result:
    model: RiskModel
    history: list[EpochMetrics]
    resumed_from: int  # the epoch the run continued after (0: a fresh start)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def fingerprint(train: Dataset, validation: Dataset, hp: Hyperparameters, world_size: int) -> str:
    """What a checkpoint must match to be resumed: the data, the hyperparameters that shape
    the run, and the number of processes (it decides each rank's share of a batch)."""
    digest = hashlib.sha256()
    for array in (train.features, train.labels, validation.features, validation.labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    shaping = {k: v for k, v in asdict(hp).items() if k not in ("epochs", "model_name", "model_version", "threshold")}
    digest.update(json.dumps({**shaping, "world_size": world_size}, sort_keys=True, default=list).encode())
    return digest.hexdigest()


def train(
    train_data: Dataset,
    validation: Dataset,
    hp: Hyperparameters,
    *,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    dist: Distributed | None = None,
) -> Result:
    """Train for hp.epochs (continuing from checkpoint_dir's checkpoint if there is one)."""
    dist = dist or Distributed()
    device = torch.device(f"cuda:{dist.local_rank}" if torch.cuda.is_available() else "cpu")
    use_amp = hp.amp and device.type == "cuda"
    torch.manual_seed(hp.seed)
    mean = train_data.features.mean(axis=0)
    std = train_data.features.std(axis=0) + 1e-6
    model = RiskModel(hp.hidden, mean, std).to(device)
    step_model: torch.nn.Module = Logits(model)
    if dist.world_size > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(
            step_model, device_ids=[dist.local_rank] if device.type == "cuda" else None
        )
    optimiser = torch.optim.Adam(model.parameters(), lr=hp.learning_rate)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(hp.seed)
    history: list[EpochMetrics] = []
    start_epoch = 0
    mark = fingerprint(train_data, validation, hp, dist.world_size)
    checkpoint = checkpoint_dir / CHECKPOINT_FILE if checkpoint_dir else None
    if checkpoint and checkpoint.exists():
        state = _load(checkpoint)
        if state["fingerprint"] != mark:
            raise CheckpointError(
                f"{checkpoint} is from another run (different data, hyperparameters or process count); "
                "use a new checkpoint location or delete it"
            )
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        history = [EpochMetrics(**item) for item in state["history"]]
        start_epoch = int(state["epoch"])
        if dist.is_main:
            print(f"resuming from checkpoint epoch {start_epoch} of {hp.epochs}", flush=True)

    x_train = torch.from_numpy(train_data.features).to(device)
    y_train = torch.from_numpy(train_data.labels).unsqueeze(1).to(device)
    x_val = torch.from_numpy(validation.features).to(device)
    y_val = torch.from_numpy(validation.labels).unsqueeze(1).to(device)
    rows = len(train_data)
    for epoch in range(start_epoch + 1, hp.epochs + 1):
        started_at, began = _now(), time.perf_counter()
        step_model.train()
        total, count = 0.0, 0
        for batch in torch.split(torch.randperm(rows, generator=generator), hp.batch_size):
            if len(batch) < dist.world_size:
                continue  # every rank must take a step; a tail smaller than the world is dropped
            index = batch[dist.rank :: dist.world_size].to(device)
            optimiser.zero_grad()
            with torch.autocast(device.type, enabled=use_amp):
                loss = loss_fn(step_model(x_train[index]), y_train[index])
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach()) * len(index)
            count += len(index)
        seconds = time.perf_counter() - began
        metrics = _evaluate(model, x_val, y_val, loss_fn)
        model.train()
        history.append(
            EpochMetrics(
                epoch=epoch,
                epochs=hp.epochs,
                train_loss=_reduce_mean(total, count, dist, device),
                samples_per_second=rows / seconds if seconds > 0 else float("inf"),
                started_at=started_at,
                ended_at=_now(),
                **metrics,
            )
        )
        if checkpoint and dist.is_main:
            _save(
                checkpoint,
                {
                    "epoch": epoch,
                    "fingerprint": mark,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scaler": scaler.state_dict(),
                    "generator": generator.get_state(),
                    "history": [m.as_dict() for m in history],
                },
            )
        if on_epoch and dist.is_main:
            on_epoch(history[-1])
    model.eval()
    return Result(model=model.cpu(), history=history, resumed_from=start_epoch)


def _evaluate(model: RiskModel, x: torch.Tensor, y: torch.Tensor, loss_fn: torch.nn.Module) -> dict[str, float]:
    model.eval()
    with torch.inference_mode():
        logits = model.logits(x)
        loss = float(loss_fn(logits, y))
        risk = torch.sigmoid(logits).float().cpu().numpy().reshape(-1)
    labels = y.cpu().numpy().reshape(-1)
    return {
        "validation_loss": loss,
        "validation_accuracy": float(((risk >= 0.5) == (labels > 0.5)).mean()),
        "validation_auc": auc(risk, labels),
    }


def _reduce_mean(total: float, count: int, dist: Distributed, device: torch.device) -> float:
    if dist.world_size > 1:
        sums = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(sums)
        total, count = float(sums[0]), int(sums[1])
    return total / max(count, 1)


def _save(path: Path, state: dict[str, Any]) -> None:
    """Write then rename: a spot interruption mid-write leaves the previous checkpoint whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _load(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a torn or foreign file: say which and why
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    return state
