"""The training container's CUDA paths: AMP through the real entrypoint, on a machine with a GPU.

Skipped without CUDA (CI has none). They ran on a lent H100 (2026-11-25: all pass; README
"Training" has the figures); run them wherever a GPU is at hand:
`pytest tests/test_training_cuda.py`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from mlops_inference.model import Model
from mlops_training.data import synthetic_calls
from mlops_training.hyperparameters import Hyperparameters
from mlops_training.trainer import train

from tests.serving_fixtures import RISKY, ROW
from tests.test_training_resume import _final, _metrics, _reference
from tests.training_fixtures import OptMl

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")

# The entrypoint as SageMaker runs it, plus a report of the CUDA memory it used (proves the GPU ran it).
WRAPPED = (
    "import atexit, sys, runpy, torch;"
    "atexit.register(lambda: print(f'CUDA_MAX_MEM={torch.cuda.max_memory_allocated()}', file=sys.stderr, flush=True));"
    "sys.argv=['mlops_training','train'];"
    "runpy.run_module('mlops_training', run_name='__main__', alter_sys=True)"
)


def _run_wrapped(opt_ml: OptMl) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WRAPPED], env=opt_ml.env(), capture_output=True, text=True, check=False)


def test_autocast_engages_on_cuda_with_amp() -> None:
    """hp.amp=True: the hidden layers run in float16 under autocast; the exported model is float32."""
    seen: list[torch.dtype] = []
    original = torch.nn.Linear.forward

    def spy(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        out = original(self, x)
        seen.append(out.dtype)
        return out

    train_part, validation = synthetic_calls(2000, seed=1).split(1600)
    torch.nn.Linear.forward = spy  # type: ignore[method-assign,assignment]
    try:
        result = train(train_part, validation, Hyperparameters(epochs=2, hidden=(32, 16), batch_size=256, amp=True))
    finally:
        torch.nn.Linear.forward = original  # type: ignore[method-assign]
    assert torch.float16 in seen, set(seen)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    print("linear output dtypes under amp:", sorted({str(d) for d in seen}))


def test_amp_job_end_to_end_writes_an_artifact_onnx_and_the_server_model_accept(tmp_path: Path) -> None:
    hyper = {"epochs": "4", "hidden": "64,32", "batch_size": "256", "seed": "5", "amp": "true", "model_version": "amp-1"}
    opt_ml = OptMl.create(tmp_path, hyperparameters=hyper, train=synthetic_calls(6000, seed=11))
    result = _run_wrapped(opt_ml)
    assert result.returncode == 0, result.stderr
    used = int(re.search(r"CUDA_MAX_MEM=(\d+)", result.stderr)[1])  # type: ignore[index]
    assert used > 0, "the job did not allocate CUDA memory"
    assert sorted(p.name for p in opt_ml.paths.model.iterdir()) == ["metadata.json", "model.onnx"]
    assert not opt_ml.paths.failure.exists()
    metadata = json.loads((opt_ml.paths.model / "metadata.json").read_text())
    assert metadata["training"]["hyperparameters"]["amp"] == "true"
    graph = onnx.load(str(opt_ml.paths.model / "model.onnx"))
    onnx.checker.check_model(graph, full_check=True)
    model = Model(opt_ml.paths.model, device="cpu", threads=1)
    risk = model.predict(np.array([ROW, RISKY], dtype=np.float32))
    assert risk.dtype == np.float32
    assert risk.shape[0] == 2
    assert risk[1] > risk[0]
    print(f"amp job: CUDA max memory {used} B, holdout_auc {metadata['training']['holdout_auc']}, risk {risk.ravel().tolist()}")


def test_amp_killed_job_resumes_from_its_checkpoint_and_ends_the_same(tmp_path: Path) -> None:
    """As test_training_resume's spot test, with amp=true: the GradScaler state rides in the checkpoint."""
    hyper = {"epochs": "20", "hidden": "16", "batch_size": "16", "seed": "3", "amp": "true"}
    opt_ml = OptMl.create(tmp_path / "spot", hyperparameters=hyper, train=synthetic_calls(2400, seed=2))
    proc = subprocess.Popen(opt_ml.command(), env=opt_ml.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch=2/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    resumed = opt_ml.run()
    assert resumed.returncode == 0, resumed.stderr
    saved = int(re.search(r"resuming from checkpoint epoch (\d+) of 20", resumed.stdout)[1])  # type: ignore[index]
    assert min(_metrics(resumed.stdout)) == saved + 1
    state = torch.load(opt_ml.paths.checkpoints / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["scaler"], "no GradScaler state in the checkpoint"
    print(
        "scaler state in checkpoint:",
        {k: (float(v) if not isinstance(v, (int, float)) else v) for k, v in state["scaler"].items()},
    )
    final, expected = _final(opt_ml, resumed.stdout, 20), _reference(opt_ml)
    diffs = {n: abs(final[n] - expected[n]) for n in ("train_loss", "validation_loss", "validation_auc", "holdout_auc")}
    print(f"amp resume: saved at epoch {saved}; |resumed - uninterrupted| = {diffs}")
    for name, diff in diffs.items():
        assert diff <= 1e-4, name


def test_more_processes_than_gpus_is_the_failure_reason_on_a_gpu_host(tmp_path: Path) -> None:
    """One process more than the host has GPUs fails before launch, with the reason (it used to be "invalid device ordinal")."""
    gpus = torch.cuda.device_count()
    opt_ml = OptMl.create(
        tmp_path,
        hyperparameters={"epochs": "1", "hidden": "4", "processes_per_host": str(gpus + 1)},
        train=synthetic_calls(300, seed=3),
    )
    result = opt_ml.run()
    assert result.returncode == 1
    assert opt_ml.failure().startswith(f"processes_per_host={gpus + 1} exceeds the {gpus} GPU(s) on this host"), opt_ml.failure()
    assert "launching" not in result.stdout
    print("failure reason:", opt_ml.failure())


@pytest.mark.parametrize(("rows", "epochs", "hidden"), [(2000, 2, (32, 16)), (6000, 4, (64, 32)), (20000, 4, (256, 128))])
def test_amp_quality_matches_fp32(rows: int, epochs: int, hidden: tuple[int, ...]) -> None:
    train_part, validation = synthetic_calls(rows, seed=1).split(int(rows * 0.8))
    out = {}
    for amp in (False, True):
        last = train(train_part, validation, Hyperparameters(epochs=epochs, hidden=hidden, batch_size=256, amp=amp)).history[-1]
        out[amp] = (last.validation_auc, last.validation_loss)
    print(f"rows={rows} epochs={epochs} hidden={hidden}: fp32 auc/loss {out[False]}, amp auc/loss {out[True]}")
    assert abs(out[True][0] - out[False][0]) < 0.02
