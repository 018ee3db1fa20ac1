"""The training job: read the contract's inputs, train, write the artifact, report failures."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_training import contract
from mlops_training.contract import Cluster, Paths
from mlops_training.data import Dataset, read_channel
from mlops_training.hyperparameters import HyperparameterError, Hyperparameters, load

MASTER_PORT_ENV = "MLOPS_MASTER_PORT"
DEFAULT_MASTER_PORT = "29500"

if TYPE_CHECKING:
    from mlops_training.trainer import Distributed, Result


@dataclass(frozen=True)
class LaunchPlan:
    nodes: int
    node_rank: int
    processes_per_host: int
    master_addr: str

    @property
    def world_size(self) -> int:
        return self.nodes * self.processes_per_host


def plan(cluster: Cluster, hp: Hyperparameters, gpus: int) -> LaunchPlan:
    """One process per GPU on each host (or `processes_per_host`), one without GPUs.

    On a GPU host each process takes its own GPU (cuda:LOCAL_RANK, one NCCL rank per device),
    so `processes_per_host` above the host's GPU count is refused here, before any worker
    starts, rather than as a worker's "CUDA error: invalid device ordinal"."""
    per_host = hp.processes_per_host or max(gpus, 1)
    if gpus and per_host > gpus:
        raise ValueError(
            f"processes_per_host={per_host} exceeds the {gpus} GPU(s) on this host: "
            "each process trains on its own GPU (use 0 for one per GPU)"
        )
    return LaunchPlan(len(cluster.hosts), cluster.node_rank, per_host, cluster.hosts[0])


def torchrun_command(launch: LaunchPlan, env: Mapping[str, str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={launch.nodes}",
        f"--node_rank={launch.node_rank}",
        f"--nproc_per_node={launch.processes_per_host}",
        f"--master_addr={launch.master_addr}",
        f"--master_port={env.get(MASTER_PORT_ENV, DEFAULT_MASTER_PORT)}",
        "-m",
        "mlops_training",
        "worker",
    ]


def main(argv: Sequence[str]) -> int:
    paths = Paths.from_env()
    command = argv[0] if argv else "train"
    if command not in ("train", "worker"):
        return _fail(paths, f"unknown command {command!r}: the image runs `train`")
    try:
        hp = load(paths.hyperparameters)
        cluster = contract.cluster(paths)
    except (HyperparameterError, ValueError, KeyError) as error:
        return _fail(paths, str(error))
    if command == "worker":
        return _worker(paths, hp, None)
    try:  # before torch is imported or workers start: a bad channel fails in a second
        data = load_data(paths, hp)
    except ValueError as error:
        return _fail(paths, f"{type(error).__name__}: {error}")
    import torch

    try:
        launch = plan(cluster, hp, torch.cuda.device_count())
    except ValueError as error:
        return _fail(paths, str(error))
    if launch.world_size == 1:
        return _worker(paths, hp, data)
    print(f"launching {launch.world_size} processes ({launch.nodes} host(s) x {launch.processes_per_host})", flush=True)
    rc = subprocess.run(torchrun_command(launch, os.environ), check=False).returncode  # noqa: S603 - our own interpreter
    if rc != 0 and not paths.failure.exists():
        # A worker that fails writes its own reason; the launcher itself (bad arguments, a
        # rendezvous timeout, a worker killed by a signal) writes none, and the job's
        # FailureReason would be SageMaker's generic one.
        print(f"training failed: torchrun exited with rc {rc}", file=sys.stderr, flush=True)
        contract.write_failure(paths, f"torchrun exited with rc {rc}")
    return rc


def load_data(paths: Paths, hp: Hyperparameters) -> tuple[Dataset, Dataset]:
    """(train, validation): the `validation` channel if there is one, else the tail of `train`."""
    data = read_channel(paths.channel("train"))
    if paths.channel("validation").is_dir():
        return data, read_channel(paths.channel("validation"))
    return data.split(len(data) - int(len(data) * hp.validation_fraction))


def _worker(paths: Paths, hp: Hyperparameters, data: tuple[Dataset, Dataset] | None) -> int:
    from mlops_training.trainer import Distributed

    dist = Distributed.from_env()
    try:
        return _train(paths, hp, dist, data or load_data(paths, hp))
    except Exception as error:  # every failure becomes the job's FailureReason
        traceback.print_exc()
        if paths.failure.exists():  # another rank failed first: its reason is the cause, this one a consequence
            print(f"training failed after another process: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return 1
        return _fail(paths, f"{type(error).__name__}: {error}")
    finally:
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(paths: Paths, hp: Hyperparameters, dist: Distributed, data: tuple[Dataset, Dataset]) -> int:
    import torch

    from mlops_training.reporting import EpochReporter
    from mlops_training.trainer import train

    if dist.world_size > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(dist.local_rank)
        torch.distributed.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    train_data, validation = data
    if len(train_data) < dist.world_size or len(validation) == 0:
        raise ValueError(f"too few rows: {len(train_data)} to train on, {len(validation)} to validate")
    reporter = EpochReporter()
    result = train(train_data, validation, hp, checkpoint_dir=paths.checkpoints, on_epoch=reporter, dist=dist)
    if dist.is_main:
        _write_model(paths, hp, result, (train_data, validation), reporter.job_name, dist.world_size)
    if dist.world_size > 1:
        # The ranks leave together: a rank that tore its gloo group down while rank 0 was still writing
        # the model once died with "terminate called without an active exception" (SIGABRT).
        torch.distributed.barrier()
    return 0


def _write_model(
    paths: Paths, hp: Hyperparameters, result: Result, data: tuple[Dataset, Dataset], job_name: str, processes: int
) -> None:
    import torch

    from mlops_training import artifact

    train_data, validation = data
    final = result.history[-1]
    meta = artifact.metadata(
        model_name=hp.model_name,
        model_version=hp.model_version,
        threshold=hp.threshold,
        training={
            "data": {"train_rows": len(train_data), "validation_rows": len(validation)},
            "hidden": list(hp.hidden),
            "epochs": hp.epochs,
            "holdout_auc": round(final.validation_auc, 4),
            "job_name": job_name,
            "hyperparameters": hp.as_strings(),
            "processes": processes,
        },
    )
    example = torch.from_numpy(train_data.features[:4])
    artifact.write_directory(paths.model, artifact.model_files(result.model, example, meta))
    print(f"wrote {paths.model}: validation AUC {final.validation_auc:.4f} after {final.epoch} epochs", flush=True)


def _fail(paths: Paths, message: str) -> int:
    print(f"training failed: {message}", file=sys.stderr, flush=True)
    contract.write_failure(paths, message)
    return 1
