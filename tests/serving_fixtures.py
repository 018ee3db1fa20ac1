"""Model artifacts for the serving tests, built once per session with the real builder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.loader import REPO_ROOT

INFERENCE_DIR = REPO_ROOT / "containers" / "inference"
ROW = [120.0, 8, 5, 0.1, 0.2, 800, 0.05, 900, 0.3, 0, 1, 0]
RISKY = [30.0, 40, 30, 0.9, 0.9, 10, 0.5, 100, 0.3, 3, 1, 2]


def process_env(model_dir: Path, **extra: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {
        **os.environ,
        "PATH": path,
        "MODEL_DIR": str(model_dir),
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{INFERENCE_DIR}",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(model_dir: Path, **extra: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`serve` as SageMaker runs it: a plain process on a port, stopped with SIGTERM."""
    port = free_port()
    env = process_env(model_dir, PORT=str(port), STATS_INTERVAL_S="0", **extra)
    proc = subprocess.Popen([str(INFERENCE_DIR / "serve")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}") from None
                time.sleep(0.05)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
