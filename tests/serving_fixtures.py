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
from dataclasses import dataclass
from pathlib import Path

from config.loader import REPO_ROOT

INFERENCE_DIR = REPO_ROOT / "containers" / "inference"
TRAINING_DIR = REPO_ROOT / "containers" / "training"  # mlops_training, which the CLI imports
ROW = [120.0, 8, 5, 0.1, 0.2, 800, 0.05, 900, 0.3, 0, 1, 0]
RISKY = [30.0, 40, 30, 0.9, 0.9, 10, 0.5, 100, 0.3, 3, 1, 2]


def process_env(model_dir: Path, **extra: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {
        **os.environ,
        "PATH": path,
        "MODEL_DIR": str(model_dir),
        "PYTHONPATH": os.pathsep.join(map(str, (REPO_ROOT, INFERENCE_DIR, TRAINING_DIR))),
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
    env = process_env(model_dir, **{"PORT": str(port), "STATS_INTERVAL_S": "0", **extra})
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


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def read_response(sock: socket.socket, buffer: bytearray, *, head: bool = False) -> RawResponse | None:
    """One HTTP response from `sock` (bytes already read are in `buffer`); None if the server closed first.

    The socket's own timeout bounds each read.
    """
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n")
    status_line, *lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    if not status_line.startswith("HTTP/1."):
        raise ValueError(f"not a response: {status_line[:80]!r} (a body left over from the previous one?)")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = 0 if head else int(headers.get("content-length", "0"))
    del buffer[: end + 4]
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(buffer)} of {length} body bytes")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return RawResponse(int(status_line.split()[1]), headers, body)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (reads EOF or a reset); False if the read timed out."""
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    """The bytes of one request (Content-Length added when there is a body)."""
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
