"""Spot interruptions and distributed training, with the entrypoint run as a process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from mlops_training.data import synthetic_calls
from mlops_training.entrypoint import load_data
from mlops_training.hyperparameters import Hyperparameters, load
from mlops_training.trainer import CheckpointError, train

from tests.serving_fixtures import free_port
from tests.training_fixtures import OptMl

METRIC_LINE = re.compile(r"^epoch=(\d+)/(\d+) (.*)$")


def _metrics(stdout: str) -> dict[int, dict[str, float]]:
    """{epoch: {name: value}} from the job's metric lines."""
    found = {}
    for line in stdout.splitlines():
        if match := METRIC_LINE.match(line):
            found[int(match[1])] = {k: float(v) for k, v in (pair.split("=") for pair in match[3].split())}
    return found


def _final(opt_ml: OptMl, stdout: str, epochs: int) -> dict[str, float]:
    metrics = _metrics(stdout)[epochs]
    metadata = json.loads((opt_ml.paths.model / "metadata.json").read_text())
    return {**metrics, "holdout_auc": metadata["training"]["holdout_auc"]}


def _reference(opt_ml: OptMl) -> dict[str, float]:
    """The uninterrupted single-process run, in this process (same data split, same loop), on one
    thread like the job processes (OMP_NUM_THREADS=1): tiny steps on two contended threads are ~10x slower."""
    import torch

    hp = load(opt_ml.paths.hyperparameters)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        final = train(*load_data(opt_ml.paths, hp), hp).history[-1]
    finally:
        torch.set_num_threads(threads)
    return {**final.as_dict(), "holdout_auc": round(final.validation_auc, 4)}


# 20 epochs of 60 small steps (~0.07 s each here): after the kill at epoch 2 the job would need
# over a second more to finish, so the kill lands mid-run even on a loaded machine; what is
# checked (the resumed run ends exactly as the uninterrupted one) does not depend on the size.
RESUME = {"epochs": "20", "hidden": "16", "batch_size": "16", "seed": "3"}


def test_killed_job_resumes_from_its_checkpoint_and_ends_the_same(tmp_path: Path) -> None:
    data = synthetic_calls(1200, seed=2)
    opt_ml = OptMl.create(tmp_path / "spot", hyperparameters=RESUME, train=data)
    proc = subprocess.Popen(opt_ml.command(), env=opt_ml.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # kill it (as a spot reclaim would) once epoch 2 is checkpointed
        if line.startswith("epoch=2/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not opt_ml.paths.model.exists()

    resumed = opt_ml.run()
    assert resumed.returncode == 0, resumed.stderr
    saved = int(re.search(r"resuming from checkpoint epoch (\d+) of 20", resumed.stdout)[1])  # type: ignore[index]
    assert 2 <= saved < 20
    assert min(_metrics(resumed.stdout)) == saved + 1  # no epoch trained twice
    final, expected = _final(opt_ml, resumed.stdout, 20), _reference(opt_ml)
    for name in ("train_loss", "validation_loss", "validation_accuracy", "validation_auc", "holdout_auc"):
        assert final[name] == pytest.approx(expected[name], abs=1e-4), name


def test_checkpoint_from_another_run_is_refused(tmp_path: Path) -> None:
    train_part, validation = synthetic_calls(300, seed=2).split(240)
    train(train_part, validation, Hyperparameters(epochs=1, hidden=(4,)), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match=r"checkpoint.pt is from another run"):
        train(train_part, validation, Hyperparameters(epochs=2, hidden=(8,)), checkpoint_dir=tmp_path)


def test_two_process_gloo_run_matches_one_process(tmp_path: Path) -> None:
    """torchrun --nproc_per_node 2 on CPU (gloo): each rank takes half of every batch and DDP
    averages gradients, so the run follows the single-process one (equal halves: 2,400 rows,
    batches of 128). No GPUs visible to the job: on a GPU machine each process would need its own."""
    data = synthetic_calls(3000, seed=4)
    hyperparameters = {"epochs": "3", "hidden": "16,8", "batch_size": "128", "seed": "9"}
    double = OptMl.create(tmp_path / "two", hyperparameters={**hyperparameters, "processes_per_host": "2"}, train=data)
    two = double.run(MLOPS_MASTER_PORT=str(free_port()), CUDA_VISIBLE_DEVICES="")
    assert two.returncode == 0, two.stderr
    assert "launching 2 processes (1 host(s) x 2)" in two.stdout
    assert json.loads((double.paths.model / "metadata.json").read_text())["training"]["processes"] == 2
    final, expected = (
        _final(double, two.stdout, 3),
        _reference(OptMl.create(tmp_path / "one", hyperparameters=hyperparameters, train=data)),
    )
    for name in ("train_loss", "validation_loss", "validation_auc"):
        assert final[name] == pytest.approx(expected[name], abs=1e-3), name


def test_launcher_failure_without_a_worker_reason_is_the_failure_reason(tmp_path: Path) -> None:
    """torchrun itself fails (here: a master port it cannot parse, before any worker starts):
    no worker wrote /opt/ml/output/failure, so the entrypoint writes the launcher's exit status."""
    opt_ml = OptMl.create(
        tmp_path, hyperparameters={"epochs": "1", "hidden": "4", "processes_per_host": "2"}, train=synthetic_calls(300, seed=3)
    )
    result = opt_ml.run(MLOPS_MASTER_PORT="not-a-port", CUDA_VISIBLE_DEVICES="")  # CPU: two processes on one GPU are refused
    assert result.returncode != 0
    assert opt_ml.failure() == f"torchrun exited with rc {result.returncode}"
