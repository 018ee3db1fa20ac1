"""Inference throughput and latency: our server vs Flask + gunicorn, same model, same load.

For a tiny MLP and a heavy one (two hidden layers of 2048), each server is started as a
plain process on loopback and driven by wrk (Debian package `wrk`) at the same
concurrency; prints requests/s, P50, P99 and P99/P50. Bounded: fixed duration per run.
Also times `serve stdin` on JSON Lines. Usage:
  .venv/bin/python benchmarks/serving.py [--duration 10] [--connections 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INFERENCE = ROOT / "containers" / "inference"
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT), str(INFERENCE)]

from mlops_cli.model_artifact import FEATURE_NAMES, build, extract  # noqa: E402

BODY = json.dumps({"features": [120, 8, 5, 0.1, 0.2, 800, 0.05, 900, 0.3, 0, 1, 0]})
LUA = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{BODY}'
"""


@dataclass(frozen=True)
class Result:
    server: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready")


@contextmanager
def _process(cmd: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(port: int, script: Path, duration: int, connections: int, label: str) -> Result:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}/invocations"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(label, rps, p50, p99, int(errors_match.group(1)) if errors_match else 0)


def _gpu_memory_mib() -> str:
    """Memory in use on the GPU, from nvidia-smi (while the server is up)."""
    query = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
    return subprocess.run(query, check=True, capture_output=True, text=True).stdout.strip()


def _stdin_rate(model_dir: Path, lines: int) -> float:
    record = json.dumps({"features": json.loads(BODY)["features"]}) + "\n"
    payload = (record * lines).encode()
    env = {**os.environ, "MODEL_DIR": str(model_dir), "PYTHONPATH": str(INFERENCE)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlops_inference", "stdin"], input=payload, env=env, check=True, capture_output=True)
    return lines / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn sync workers (one per core)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-delay-ms", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads in our server")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="our server's DEVICE (cuda needs onnxruntime-gpu)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "post.lua"
        script.write_text(LUA)
        models = {
            "tiny 12-64-32-1": build(work / "tiny.tar.gz", hidden=(64, 32), rows=4000, epochs=2),
            "heavy 12-2048-2048-1": build(work / "heavy.tar.gz", hidden=(2048, 2048), rows=2000, epochs=1),
        }
        print(f"cores={os.cpu_count()} connections={args.connections} duration={args.duration}s features={len(FEATURE_NAMES)}")
        print(f"{'model':22s} {'server':34s} {'req/s':>8s} {'P50 ms':>7s} {'P99 ms':>7s} {'P99/P50':>7s} {'errors':>6s}")
        for (label, _), archive in zip(models.items(), ("tiny.tar.gz", "heavy.tar.gz"), strict=True):
            model_dir = extract(work / archive, work / archive.replace(".tar.gz", ""))
            base_env = {
                **os.environ,
                "MODEL_DIR": str(model_dir),
                "PYTHONPATH": f"{ROOT}{os.pathsep}{INFERENCE}",
                "STATS_INTERVAL_S": "0",
            }
            results = []
            port = _free_port()
            gunicorn = [str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
            with _process([*gunicorn, "benchmarks.baseline_flask.app:app"], base_env, port):
                results.append(
                    _wrk(port, script, args.duration, args.connections, f"flask+gunicorn ({args.workers} sync workers)")
                )
            # Ours with batching, then the same server at batch size 1: what batching itself buys.
            for batch, delay in ((args.batch_size, args.batch_delay_ms), (1, 0)):
                port = _free_port()
                ours_env = {
                    **base_env,
                    "PORT": str(port),
                    "MAX_BATCH_SIZE": str(batch),
                    "MAX_BATCH_DELAY_MS": str(delay),
                    "INFERENCE_THREADS": str(args.threads),
                    "DEVICE": args.device,
                }
                with _process([sys.executable, "-m", "mlops_inference"], ours_env, port):
                    results.append(_wrk(port, script, args.duration, args.connections, f"ours (batch {batch}, {delay} ms)"))
                    if args.device == "cuda":
                        print(f"{label:22s} GPU memory used at batch {batch}: {_gpu_memory_mib()} MiB")
            for result in results:
                print(
                    f"{label:22s} {result.server:34s} {result.requests_per_s:8.0f} {result.p50_ms:7.2f} "
                    f"{result.p99_ms:7.2f} {result.p99_ms / result.p50_ms:7.2f} {result.errors:6d}"
                )
            print(f"{label:22s} {'ours vs baseline (req/s)':34s} {results[1].requests_per_s / results[0].requests_per_s:8.2f}x")
            batching_gain = results[1].requests_per_s / results[2].requests_per_s
            print(f"{label:22s} {'batching vs batch 1 (req/s)':34s} {batching_gain:8.2f}x")
            print(f"{label:22s} {'serve stdin (JSON Lines)':34s} {_stdin_rate(model_dir, 20000):8.0f} lines/s")


if __name__ == "__main__":
    main()
