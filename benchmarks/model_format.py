"""TorchScript vs ONNX Runtime for the caller-risk MLP: load cost and per-batch latency on CPU.

Why this exists: it is the measured reason for the artifact format (see containers/inference/MODEL_FORMAT.md).
Each runtime is timed in a fresh process for import + load; latency is the median of 200 runs.
Usage: .venv/bin/python benchmarks/model_format.py
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_cli.model_artifact import export_onnx

FEATURES = 32


def mlp(hidden: list[int]) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    width = FEATURES
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers += [torch.nn.Linear(width, 1), torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers).eval()


LOAD_TS = "import time;t=time.perf_counter();import torch;m=torch.jit.load({path!r});print(time.perf_counter()-t)"
LOAD_ORT = (
    "import time;t=time.perf_counter();import onnxruntime as ort;"
    "s=ort.InferenceSession({path!r},providers=['CPUExecutionProvider']);print(time.perf_counter()-t)"
)


def _fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _median_ms(call: Callable[[], object], runs: int = 200) -> float:
    for _ in range(20):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    import onnxruntime as ort

    torch.set_num_threads(2)
    rows: list[tuple[str, int | str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, hidden in (("tiny 32-64-1", [64]), ("heavy 32-2048-2048-1", [2048, 2048])):
            model = mlp(hidden)
            example = torch.randn(4, FEATURES)
            ts_path = str(Path(tmp) / f"{len(hidden)}.pt")
            torch.jit.save(torch.jit.trace(model, example), ts_path)  # type: ignore[no-untyped-call]
            onnx_path = str(Path(tmp) / f"{len(hidden)}.onnx")
            export_onnx(model, example, Path(onnx_path))
            ts = torch.jit.load(ts_path)  # type: ignore[no-untyped-call]
            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
            for batch in (1, 32):
                x = np.random.default_rng(0).standard_normal((batch, FEATURES), dtype=np.float32)
                tx = torch.from_numpy(x)
                with torch.inference_mode():
                    ts_ms = _median_ms(functools.partial(ts, tx))
                ort_ms = _median_ms(functools.partial(session.run, None, {"features": x}))
                rows.append((label, batch, ts_ms, ort_ms))
            ts_load = min(_fresh(LOAD_TS.format(path=ts_path)) for _ in range(3))
            ort_load = min(_fresh(LOAD_ORT.format(path=onnx_path)) for _ in range(3))
            rows.append((label, "import+load s", ts_load, ort_load))
    print(f"{'model':22s} {'batch':>14s} {'TorchScript':>12s} {'ONNX Runtime':>13s}")
    for label, size, ts_ms, ort_ms in rows:
        unit = "" if isinstance(size, str) else " ms"
        print(f"{label:22s} {size!s:>14s} {ts_ms:11.3f}{unit} {ort_ms:12.3f}{unit}")
    print(json.dumps({"torch": torch.__version__, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
