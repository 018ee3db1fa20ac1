"""The server's life as a process: start-up refusals, low-load latency, bounded memory, metrics
dimensions, and draining on SIGTERM (issue 15, and issue 8's EndpointName dimension)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from mlops_inference import server
from mlops_inference.model import Model
from mlops_inference.settings import MLOPS_ENDPOINT, MLOPS_VARIANT, PLATFORM_ENV, SERVER_ENV, Settings

from tests.serving_fixtures import (
    INFERENCE_DIR,
    ROW,
    closed_by_server,
    free_port,
    http_request,
    process_env,
    read_response,
    rss_kib,
    server_process,
)

CSV_ROW = b",".join(str(v).encode() for v in ROW) + b"\n"


def _csv(rows: int, **headers: str) -> bytes:
    return http_request("POST", "/invocations", CSV_ROW * rows, {"Content-Type": "text/csv", **headers})


# --- start-up: a model the server cannot serve is refused with one line -------------------------


def _copy(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir, target)
    return target


def _two_column_output(directory: Path) -> None:
    """The graph's `risk` output becomes [batch, 2] (the risk twice, side by side)."""
    model = onnx.load(directory / "model.onnx")
    (output,) = model.graph.output
    for node in model.graph.node:
        node.output[:] = ["risk_one" if name == output.name else name for name in node.output]
    model.graph.node.append(onnx.helper.make_node("Concat", ["risk_one", "risk_one"], [output.name], axis=1))
    output.type.tensor_type.shape.dim[1].dim_value = 2
    onnx.save(model, directory / "model.onnx")


def _flattened_two_column_output(directory: Path) -> None:
    """As above, flattened to one axis of 2 x batch: the shape is symbolic, only running it tells."""
    _two_column_output(directory)
    model = onnx.load(directory / "model.onnx")
    (output,) = model.graph.output
    model.graph.node[-1].output[:] = ["risk_two"]
    flat = onnx.helper.make_tensor("flat", onnx.TensorProto.INT64, [1], [-1])
    model.graph.initializer.append(flat)
    model.graph.node.append(onnx.helper.make_node("Reshape", ["risk_two", "flat"], [output.name]))
    output.type.tensor_type.shape.ClearField("dim")
    output.type.tensor_type.shape.dim.add().dim_param = "rows"
    onnx.save(model, directory / "model.onnx")


def _metadata(**changes: object) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        path = directory / "metadata.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    return apply


REFUSALS = {
    "output_name not in the graph": (_metadata(output_name="score"), "model.onnx has no output 'score'"),
    "output [batch, 2]": (_two_column_output, "has shape ['batch', 2]"),
    "output flattened to [2 x batch]": (_flattened_two_column_output, "gives shape [4] for 2 rows"),
    "corrupt ONNX": (lambda d: (d / "model.onnx").write_bytes(b"\x08\x07not a protobuf" * 50), "is not a model ONNX"),
    "metadata not UTF-8": (lambda d: (d / "metadata.json").write_bytes(b'{"format": "\xff\xfe"}'), "is not UTF-8"),
    "metadata not an object": (lambda d: (d / "metadata.json").write_text("[1, 2]"), "must hold a JSON object, not list"),
}


def test_a_model_the_server_cannot_serve_is_refused_at_start_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    """Before: a wrong output name started and failed every request; [batch, 2] was served
    with other rows' values; corrupt files gave tracebacks. All start-ups run at once."""
    processes = {}
    for index, (name, (break_it, _)) in enumerate(REFUSALS.items()):
        directory = _copy(model_dir, tmp_path / f"model{index}")
        break_it(directory)
        env = process_env(directory, PORT=str(free_port()), STATS_INTERVAL_S="0")
        processes[name] = subprocess.Popen(
            [str(INFERENCE_DIR / "serve")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    failures = []
    for name, proc in processes.items():
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{name}: still running (it started)")
            continue
        lines = err.decode().strip().splitlines()
        expected = REFUSALS[name][1]
        if proc.returncode != 1 or len(lines) != 1 or not lines[0].startswith("serve: ") or expected not in lines[0]:
            failures.append(f"{name}: exit {proc.returncode}, stderr {lines[-3:]!r}")
    assert not failures, "\n".join(failures)


# --- low load: no batching delay when nothing else is waiting -----------------------------------


def test_a_lone_request_does_not_wait_for_a_batch_to_fill(model_dir: Path) -> None:
    """Before: every request waited MAX_BATCH_DELAY_MS for company, even at one connection."""
    with (
        server_process(model_dir, MAX_BATCH_DELAY_MS="1000") as (port, _),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        buffer = bytearray()
        took = []
        for _ in range(3):
            started = time.perf_counter()
            sock.sendall(_csv(1))
            response = read_response(sock, buffer)
            took.append(time.perf_counter() - started)
            assert getattr(response, "status", None) == 200
    assert max(took) < 0.5, f"requests took {took} s with a 1 s batch delay"  # half the delay: it did not wait


# --- memory: flat per request with metrics off -------------------------------------------------


def _pings(port: int, count: int) -> None:
    request = http_request("GET", "/ping")
    expected = len(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}") * count
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received = 0

        def read() -> None:
            nonlocal received
            while received < expected:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    return
                received += len(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sock.sendall(request * count)
        reader.join(30)
    assert received == expected


def test_memory_does_not_grow_per_request_with_metrics_off(model_dir: Path) -> None:
    """Before: with STATS_INTERVAL_S=0 every request left its latency behind (~40 bytes a ping)."""
    with server_process(model_dir, STATS_INTERVAL_S="0") as (port, proc):
        _pings(port, 5_000)  # warm up: buffers, allocator arenas
        before = rss_kib(proc.pid)
        _pings(port, 40_000)  # before: ~1.6 MiB more
        grown = rss_kib(proc.pid) - before
    assert grown < 1024, f"RSS grew {grown} KiB over 40,000 requests"


# --- metrics: EndpointName from MLOPS_ENDPOINT (issue 8) ---------------------------------------


def test_metrics_carry_the_endpoint_name_and_variant(model_dir: Path) -> None:
    env = {MLOPS_ENDPOINT: "caller-risk-eu", MLOPS_VARIANT: "blue", "STATS_INTERVAL_S": "60"}
    with server_process(model_dir, **env) as (port, proc), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_csv(3))
        assert getattr(read_response(sock, bytearray()), "status", None) == 200
        proc.send_signal(signal.SIGTERM)  # the last interval is reported on the way out
        out, _ = proc.communicate(timeout=30)
    (line,) = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["EndpointName", "Variant", "Model"]]
    assert (line["EndpointName"], line["Variant"], line["Rows"]) == ("caller-risk-eu", "blue", 3)


def test_every_platform_variable_is_read_by_the_server() -> None:
    assert set(PLATFORM_ENV) == {"MLOPS_ENDPOINT", "MLOPS_VARIANT", "MAX_BATCH_SIZE", "MAX_BATCH_DELAY_MS"}
    assert set(PLATFORM_ENV) <= set(SERVER_ENV)
    settings = Settings.from_env({MLOPS_ENDPOINT: "e", MLOPS_VARIANT: "v", "MAX_BATCH_SIZE": "7", "MAX_BATCH_DELAY_MS": "9"})
    assert (settings.endpoint, settings.variant, settings.max_batch_size, settings.max_batch_delay_ms) == ("e", "v", 7, 9)
    others = [p for p in (INFERENCE_DIR / "mlops_inference").glob("*.py") if p.name != "settings.py"]
    assert not [p.name for p in others if "os.environ" in p.read_text()]  # every name is read in settings.py


def test_the_image_runs_as_root_as_sagemaker_hosting_expects() -> None:
    lines = (INFERENCE_DIR / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.strip().upper().startswith("USER ")]
    assert users in ([], ["root"]), users


# --- a model failure in a shared batch fails only the faulty request ----------------------------


def test_a_batch_that_fails_in_the_model_is_retried_per_request(model_dir: Path) -> None:
    class FailingOnNegative(Model):
        def predict(self, rows: np.ndarray) -> np.ndarray:
            if (rows[:, 0] < 0).any():
                raise RuntimeError("model blew up")
            return super().predict(rows)

    settings = Settings(model_dir=str(model_dir), port=free_port(), max_batch_size=16, stats_interval_s=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    model = FailingOnNegative(model_dir, threads=1)
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(settings, ready=lambda _: ready.set(), stop=stop, model=model),)
    )
    thread.start()
    try:
        assert ready.wait(10)
        bad = http_request("POST", "/invocations", b"-1" + CSV_ROW[CSV_ROW.index(b",") :], {"Content-Type": "text/csv"})
        with socket.create_connection(("127.0.0.1", settings.port), timeout=10) as sock:
            sock.sendall(_csv(2) + bad + _csv(3))  # one write: one batch
            buffer = bytearray()
            statuses = [getattr(read_response(sock, buffer), "status", None) for _ in range(3)]
        assert statuses == [200, 500, 200]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


# --- SIGTERM: answer everything received, then close ---------------------------------------------


def test_sigterm_answers_every_received_request_then_closes(model_dir: Path) -> None:
    """Before: the batcher got 5 s and keep-alive connections were closed without an answer
    (50 of 80 large in-flight requests were lost)."""
    clients = 16
    with server_process(model_dir, MAX_QUEUED_ROWS="100000") as (port, proc):
        socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(clients + 2)]
        try:
            buffers = [bytearray() for _ in socks]
            for sock, buffer in zip(socks, buffers, strict=True):  # every connection is a used keep-alive one
                sock.sendall(http_request("GET", "/ping"))
                assert getattr(read_response(sock, buffer), "status", None) == 200
            busy, idle, partial = socks[:clients], socks[clients], socks[clients + 1]
            request = _csv(3000, Accept="text/csv")
            head, rest = request[:2000], request[2000:]
            partial.sendall(head)  # half-received when SIGTERM comes: the server waits for the rest
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(lambda s: s.sendall(request), busy))
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            partial.sendall(rest)
            answers: list[tuple[int | None, str | None]] = []
            for sock, buffer in zip([*busy, partial], [*buffers[:clients], buffers[clients + 1]], strict=True):
                response = read_response(sock, buffer)
                answers.append((response.status, response.headers.get("connection")) if response else (None, None))
                assert response is None or len(response.body.splitlines()) == 3000
                assert closed_by_server(sock)
            assert closed_by_server(idle)  # an idle connection is closed, not kept until the deadline
        finally:
            for sock in socks:
                sock.close()
        assert proc.wait(timeout=30) == 0
        log = proc.stderr.read().decode() if proc.stderr else ""
    assert [status for status, _ in answers] == [200] * (clients + 1), answers
    # The half-received one was certainly in flight, and told the connection closes. (Those
    # answered before SIGTERM arrived carry no header; their connections were then idle, and
    # closed. test_draining_* below hold requests in the model to see those told too.)
    assert answers[-1] == (200, "close")
    assert "drained: every received request was answered" in log


@pytest.mark.parametrize("name", sorted(set(SERVER_ENV) - {"MODEL_DIR", "SM_MODEL_DIR", MLOPS_ENDPOINT, MLOPS_VARIANT}))
def test_every_numeric_setting_is_validated(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: "-5" if name != "DEVICE" else "tpu"})


class SlowModel(Model):
    """Holds each model call for `delay` seconds: requests stay in flight long enough to see."""

    delay = 0.2

    def predict(self, rows: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return super().predict(rows)


def _serve_in_thread(settings: Settings, model: Model) -> tuple[Callable[[], None], threading.Thread]:
    """The server on a thread; the returned function does what SIGTERM does (sets `stop`)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(settings, ready=lambda _: ready.set(), stop=stop, model=model),)
    )
    thread.start()
    assert ready.wait(10)

    def terminate() -> None:
        loop.call_soon_threadsafe(stop.set)

    return terminate, thread


def _drain_scenario(model_dir: Path, drain_timeout_s: float) -> list[tuple[int | None, str | None]]:
    settings = Settings(model_dir=str(model_dir), port=free_port(), stats_interval_s=0, drain_timeout_s=drain_timeout_s)
    terminate, thread = _serve_in_thread(settings, SlowModel(model_dir, threads=1))
    socks = [socket.create_connection(("127.0.0.1", settings.port), timeout=10) for _ in range(6)]
    try:
        for sock in socks:  # accepted and in use before anything else
            sock.sendall(http_request("GET", "/ping"))
            assert getattr(read_response(sock, bytearray()), "status", None) == 200
        for sock in socks:
            sock.sendall(_csv(2))
        time.sleep(0.05)  # received; the first model call (0.2 s) is running, the rest wait
        terminate()
        answers: list[tuple[int | None, str | None]] = []
        for sock in socks:
            try:
                response = read_response(sock, bytearray())
            except ConnectionError:
                response = None
            answers.append((response.status, response.headers.get("connection")) if response else (None, None))
        return answers
    finally:
        for sock in socks:
            sock.close()
        thread.join(10)


def test_draining_answers_requests_waiting_for_the_model_with_connection_close(model_dir: Path) -> None:
    assert _drain_scenario(model_dir, drain_timeout_s=10) == [(200, "close")] * 6


def test_draining_logs_what_it_could_not_answer_in_time(model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="mlops_inference"):
        answers = _drain_scenario(model_dir, drain_timeout_s=0.1)
    assert (None, None) in answers  # some were dropped, on purpose: the deadline is 0.1 s
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("drain: dropped")]
    assert dropped, caplog.text
    assert f"drain: dropped {answers.count((None, None))} request(s) awaiting the model" in dropped[0]
