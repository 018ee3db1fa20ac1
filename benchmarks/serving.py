"""Inference throughput and latency: our server vs Flask + gunicorn, same model, same load.

For a tiny MLP and a heavy one (two hidden layers of 2048), each server is started as a
plain process on loopback and driven by wrk (Debian package `wrk`) at the same
concurrency; prints requests/s, P50, P99 and P99/P50. Bounded: fixed duration per run.
Also times `serve stdin` on JSON Lines. Usage:
  .venv/bin/python benchmarks/serving.py [--duration 10] [--connections 32] [--workers 2]

`--peers` (make bench-serving-peers; peers from requirements-bench.txt) compares our server at
its default settings with Flask + gunicorn, FastAPI + uvicorn, mosec and LitServe on the same
ONNX models: each server pinned to core 0 (taskset), wrk to core 1, at 1, 16 and 64
connections, in interleaved rounds (the server order rotates each round), printing medians:
  .venv/bin/python benchmarks/serving.py --peers [--duration 10] [--rounds 5] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
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
class Peer:
    """How to start one server on `port` (pinned by the caller) and where to send requests."""

    command: Callable[[int], list[str]]
    path: str  # the scoring route
    health: str  # answers 200 once the model is loaded
    module: str  # importable when the peer is installed


PEERS: dict[str, Peer] = {
    "ours (defaults)": Peer(lambda port: [sys.executable, "-m", "mlops_inference"], "/invocations", "/ping", "mlops_inference"),
    "flask+gunicorn": Peer(
        lambda port: [str(BIN / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                      "benchmarks.baseline_flask.app:app"],
        "/invocations", "/ping", "gunicorn",
    ),
    "fastapi+uvicorn": Peer(
        lambda port: [str(BIN / "uvicorn"), "benchmarks.peers.fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", "1", "--log-level", "warning", "--no-access-log"],
        "/invocations", "/ping", "fastapi",
    ),
    "mosec": Peer(
        lambda port: [sys.executable, "-m", "benchmarks.peers.mosec_app", "--address", "127.0.0.1", "--port", str(port)],
        "/inference", "/", "mosec",
    ),
    "litserve": Peer(
        lambda port: [sys.executable, "-m", "benchmarks.peers.litserve_app", str(port)], "/predict", "/health", "litserve"
    ),
}  # fmt: skip


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


def _wait_ready(port: int, timeout: float = 60, path: str = "/ping") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready")


@contextmanager
def _process(cmd: list[str], env: dict[str, str], port: int, health: str = "/ping") -> Iterator[None]:
    # Its own process group: peers start worker processes, and all of them must stop.
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_ready(port, path=health)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(
    port: int, script: Path, duration: int, connections: int, label: str, *, path: str = "/invocations", pin: str = ""
) -> Result:
    threads = 1 if pin else 2
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}{path}"]  # fmt: skip
    out = subprocess.run(
        (["taskset", "-c", pin] if pin else []) + command, check=True, capture_output=True, text=True,
        timeout=duration + 60,
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


def _peers(args: argparse.Namespace, models: dict[str, Path], script: Path) -> None:
    """Every server at every concurrency, in rounds; prints medians over the rounds."""
    if (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        sys.exit("--peers pins the server to core 0 and wrk to core 1: needs 2 cores and taskset")
    missing = [name for name, peer in PEERS.items() if not importlib.util.find_spec(peer.module)]
    if missing:
        print(f"skipping {', '.join(missing)}: pip install -r requirements-bench.txt")
    names = [name for name in PEERS if name not in missing and (not args.servers or name.split()[0] in args.servers)]
    results: dict[tuple[str, str, int], list[Result]] = {}
    print(
        f"cores={os.cpu_count()} servers on core 0, wrk (1 thread) on core 1; {args.rounds} round(s) x "
        f"{args.duration}s per point after {args.warmup}s warm-up; concurrency {args.concurrency}"
    )
    for round_index in range(args.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]  # interleaved
        for label, model_dir in models.items():
            for name in order:
                peer = PEERS[name]
                port = _free_port()
                env = {
                    **os.environ,
                    "MODEL_DIR": str(model_dir),
                    "PYTHONPATH": f"{ROOT}{os.pathsep}{INFERENCE}",
                    "STATS_INTERVAL_S": "0",
                    "PORT": str(port),
                    "INFERENCE_THREADS": "1",
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                }
                with _process(["taskset", "-c", "0", *peer.command(port)], env, port, peer.health):
                    if args.warmup:
                        _wrk(port, script, args.warmup, 16, name, path=peer.path, pin="1")
                    for connections in args.concurrency:
                        result = _wrk(port, script, args.duration, connections, name, path=peer.path, pin="1")
                        results.setdefault((label, name, connections), []).append(result)
                        print(
                            f"  round {round_index + 1} {label:22s} {name:18s} c={connections:<3d} "
                            f"{result.requests_per_s:8.0f} req/s P50 {result.p50_ms:6.2f} ms",
                            flush=True,
                        )
    print(f"\nmedians over {args.rounds} round(s):")
    print(f"{'server':18s} {'model':22s} {'c':>3s} {'req/s':>8s} {'P50 ms':>7s} {'P99 ms':>7s} {'errors':>6s}")
    for label in models:
        for connections in args.concurrency:
            rows = []
            for name in names:
                runs = results.get((label, name, connections), [])
                if runs:
                    rows.append((
                        name,
                        statistics.median(r.requests_per_s for r in runs),
                        statistics.median(r.p50_ms for r in runs),
                        statistics.median(r.p99_ms for r in runs),
                        sum(r.errors for r in runs),
                    ))  # fmt: skip
            for name, rps, p50, p99, errors in rows:
                print(f"{name:18s} {label:22s} {connections:3d} {rps:8.0f} {p50:7.2f} {p99:7.2f} {errors:6d}")
            ours = next((row for row in rows if row[0].startswith("ours")), None)
            others = [row for row in rows if not row[0].startswith("ours")]
            if ours and others:
                best = max(others, key=lambda row: row[1])
                print(f"{'  ours / best peer':18s} {label:22s} {connections:3d} {ours[1] / best[1]:7.2f}x  (best: {best[0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured point (wrk takes whole seconds)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn sync workers (one per core)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-delay-ms", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads in our server")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="our server's DEVICE (cuda needs onnxruntime-gpu)"
    )
    parser.add_argument("--peers", action="store_true", help="compare with FastAPI, mosec, LitServe, Flask (pinned)")
    parser.add_argument("--rounds", type=int, default=5, help="--peers: interleaved rounds (medians are printed)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64], help="--peers: wrk connections")
    parser.add_argument("--warmup", type=int, default=2, help="--peers: seconds of load before measuring a server (0: none)")
    parser.add_argument("--servers", nargs="*", help="--peers: a subset, by first word (ours flask+gunicorn mosec ...)")
    parser.add_argument("--models", nargs="*", choices=["tiny", "heavy"], help="--peers: a subset of the models")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    if args.peers:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            script = work / "post.lua"
            script.write_text(LUA)
            specs = {"tiny 12-64-32-1": ((64, 32), 4000, 2), "heavy 12-2048-2048-1": ((2048, 2048), 2000, 1)}
            model_dirs: dict[str, Path] = {}
            for label, (hidden, rows, epochs) in specs.items():
                if args.models and label.split()[0] not in args.models:
                    continue
                name = label.split()[0]
                build(work / f"{name}.tar.gz", hidden=hidden, rows=rows, epochs=epochs)
                model_dirs[label] = extract(work / f"{name}.tar.gz", work / name)
            _peers(args, model_dirs, script)
        return

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
