"""A temporary /opt/ml tree and the training entrypoint run as SageMaker runs it: a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_training.contract import Paths
from mlops_training.data import Dataset, write_csv

from config.loader import REPO_ROOT

TRAINING_DIR = REPO_ROOT / "containers" / "training"


@dataclass(frozen=True)
class OptMl:
    paths: Paths

    @staticmethod
    def create(root: Path, *, hyperparameters: dict[str, str], train: Dataset, validation: Dataset | None = None) -> OptMl:
        paths = Paths(root=root, checkpoints=root / "checkpoints")
        paths.hyperparameters.parent.mkdir(parents=True, exist_ok=True)
        paths.hyperparameters.write_text(json.dumps(hyperparameters))
        write_csv(train, paths.channel("train") / "part-0.csv")
        if validation is not None:
            write_csv(validation, paths.channel("validation") / "part-0.csv")
        return OptMl(paths)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if k not in ("MLOPS_EVENT_BUS", "SM_HOSTS", "SM_CURRENT_HOST")},
            "MLOPS_ML_ROOT": str(self.paths.root),
            "PYTHONPATH": str(TRAINING_DIR),
            "OMP_NUM_THREADS": "1",
            **extra,
        }

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlops_training", "train"]

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(), env=self.env(**extra), capture_output=True, text=True, check=False)

    def failure(self) -> str:
        return self.paths.failure.read_text()
