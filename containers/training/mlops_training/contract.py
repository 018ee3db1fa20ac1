"""The SageMaker training contract: where a job's inputs and outputs live inside the container.

SageMaker ("How Amazon SageMaker Provides Training Information" / "Run your own training
image") mounts /opt/ml: hyperparameters and resourceconfig.json under input/config, each input
channel under input/data/<channel>, the model is whatever the job leaves in /opt/ml/model, a
failure reason goes to /opt/ml/output/failure, and /opt/ml/checkpoints is synced with the
job's CheckpointConfig.S3Uri (restored into the folder when a spot job restarts).

MLOPS_ML_ROOT (default /opt/ml) and MLOPS_CHECKPOINT_DIR move these for tests and local runs;
nothing account- or stack-specific is baked in: the job passes it as environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FAILURE_LIMIT = 1024  # DescribeTrainingJob's FailureReason holds at most 1024 characters


@dataclass(frozen=True)
class Paths:
    root: Path
    checkpoints: Path

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        root = Path(env.get("MLOPS_ML_ROOT", "/opt/ml"))
        return Paths(root=root, checkpoints=Path(env.get("MLOPS_CHECKPOINT_DIR", str(root / "checkpoints"))))

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def resource_config(self) -> Path:
        return self.root / "input" / "config" / "resourceconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"


@dataclass(frozen=True)
class Cluster:
    hosts: tuple[str, ...]
    current_host: str

    @property
    def node_rank(self) -> int:
        return self.hosts.index(self.current_host)


def cluster(paths: Paths, env: Mapping[str, str] | None = None) -> Cluster:
    """The job's hosts: SM_HOSTS/SM_CURRENT_HOST (set by SageMaker's training toolkit) or
    resourceconfig.json (always written by SageMaker); one local host otherwise."""
    env = os.environ if env is None else env
    if "SM_HOSTS" in env and "SM_CURRENT_HOST" in env:
        hosts, current = json.loads(env["SM_HOSTS"]), env["SM_CURRENT_HOST"]
    elif paths.resource_config.exists():
        config = json.loads(paths.resource_config.read_text())
        hosts, current = config["hosts"], config["current_host"]
    else:
        return Cluster(("localhost",), "localhost")
    hosts = sorted(hosts)  # every host must agree on ranks
    if current not in hosts:
        raise ValueError(f"current host {current!r} is not among the job's hosts {hosts}")
    return Cluster(tuple(hosts), current)


def write_failure(paths: Paths, message: str) -> None:
    """The reason SageMaker reports for a failed job (truncated to what it keeps)."""
    paths.failure.parent.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(message[:FAILURE_LIMIT])
