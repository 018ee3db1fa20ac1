"""The SageMaker hosting contract, against the server running as a real process."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from mlops_inference import server
from mlops_inference.model import Model
from mlops_inference.settings import Settings, SettingsError

from tests.serving_fixtures import RISKY, ROW, free_port, server_process


@pytest.fixture(scope="module")
def port(model_dir: Path) -> Iterator[int]:
    with server_process(model_dir, MAX_BATCH_SIZE="16", MAX_BATCH_DELAY_MS="3") as (port, _):
        yield port


def _request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _post(
    port: int, body: object | bytes, content_type: str = "application/json", accept: str | None = None
) -> tuple[int, str, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    return _request(port, "POST", "/invocations", data, headers)


def test_ping_is_healthy(port: int) -> None:
    assert _request(port, "GET", "/ping")[0] == 200


def test_json_single_record(port: int, model_dir: Path) -> None:
    status, content_type, body = _post(port, {"features": RISKY, "id": "call-1"})
    assert (status, content_type) == (200, "application/json")
    answer = json.loads(body)
    expected = float(Model(model_dir, threads=1).predict(np.array([RISKY], dtype=np.float32))[0])
    assert answer["id"] == "call-1"
    assert answer["risk"] == pytest.approx(expected, abs=1e-5)
    assert answer["label"] == int(expected >= 0.5)


def test_json_many_records(port: int) -> None:
    status, _, body = _post(port, {"instances": [ROW, RISKY, ROW]})
    assert status == 200
    assert len(json.loads(body)["predictions"]) == 3


def test_csv_in_csv_out(port: int) -> None:
    csv_body = f"{','.join(map(str, ROW))}\n{','.join(map(str, RISKY))}\n".encode()
    status, content_type, body = _post(port, csv_body, "text/csv")
    assert (status, content_type) == (200, "text/csv")
    assert len(body.decode().splitlines()) == 2


def test_json_lines_in_json_lines_out(port: int) -> None:
    lines = b"".join(json.dumps({"id": i, "features": ROW}).encode() + b"\n" for i in range(5))
    status, content_type, body = _post(port, lines, "application/jsonlines")
    assert (status, content_type) == (200, "application/jsonlines")
    assert [json.loads(line)["id"] for line in body.splitlines()] == [0, 1, 2, 3, 4]


def test_accept_header_chooses_the_response_format(port: int) -> None:
    status, content_type, body = _post(port, {"features": ROW}, accept="text/csv")
    assert (status, content_type) == (200, "text/csv")
    assert body.decode().count(",") == 1


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (b'{"features": [1, 2]}', "application/json", None, 400, "expected 12 features, got 2"),
        (b"{broken", "application/json", None, 400, "not valid JSON"),
        (b"x", "image/png", None, 415, "unsupported Content-Type"),
        (b'{"features": []}', "application/json", "text/html", 406, "unsupported Accept"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(
    port: int, body: bytes, content_type: str, accept: str | None, status: int, message: str
) -> None:
    got, _, answer = _post(port, body, content_type, accept)
    assert got == status
    assert message in json.loads(answer)["error"]
    assert _request(port, "GET", "/ping")[0] == 200  # and keeps serving


def test_expect_100_continue_is_answered_before_the_body(port: int) -> None:
    import socket

    body = json.dumps({"instances": [ROW] * 50}).encode()
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")  # before any body was sent
        sock.sendall(body)
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            response += sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 200 OK")
    assert response.count(b'"risk"') == 50


def test_unknown_route_and_wrong_method(port: int) -> None:
    assert _request(port, "GET", "/predict")[0] == 404
    assert _request(port, "GET", "/invocations")[0] == 405


def test_oversized_payload_is_413(model_dir: Path) -> None:
    with server_process(model_dir, MAX_PAYLOAD_BYTES="2048") as (port, _):
        status, _, body = _post(port, {"instances": [ROW] * 100})
    assert status == 413
    assert "split the request" in json.loads(body)["error"]


def test_batch_transform_execution_parameters(port: int) -> None:
    status, _, body = _request(port, "GET", "/execution-parameters")
    assert status == 200
    assert json.loads(body)["BatchStrategy"] == "MULTI_RECORD"


def test_concurrent_clients_each_get_their_own_answer(port: int) -> None:
    def call(index: int) -> tuple[int, int]:
        row = [float(index), *ROW[1:]]
        status, _, body = _post(port, {"features": row, "id": index})
        return status, json.loads(body)["id"]

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(call, range(120)))
    assert results == [(200, i) for i in range(120)]


def test_keep_alive_connection_serves_many_requests(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for index in range(20):
            connection.request(
                "POST",
                "/invocations",
                body=json.dumps({"features": ROW, "id": index}),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            assert json.loads(response.read())["id"] == index
    finally:
        connection.close()


def test_sigterm_stops_gracefully(model_dir: Path) -> None:
    with server_process(model_dir) as (_, proc):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_model_error_is_a_5xx_and_the_server_keeps_serving(model_dir: Path) -> None:
    class FailingOnNegative(Model):
        def predict(self, rows: np.ndarray) -> np.ndarray:
            if (rows[:, 0] < 0).any():
                raise RuntimeError("model blew up")
            return super().predict(rows)

    settings = Settings(model_dir=str(model_dir), port=free_port(), max_batch_size=1, max_batch_delay_ms=0, stats_interval_s=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(server.serve(settings, ready=lambda _: ready.set(), stop=stop, model=FailingOnNegative(model_dir, threads=1)),),
    )
    thread.start()
    try:
        assert ready.wait(10)
        status, _, body = _post(settings.port, {"features": [-1.0, *ROW[1:]]})
        assert status == 500
        assert "model failed: RuntimeError: model blew up" in json.loads(body)["error"]
        assert _post(settings.port, {"features": ROW})[0] == 200
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE=0 is outside 1-4096"),
        ({"MAX_BATCH_DELAY_MS": "soon"}, "MAX_BATCH_DELAY_MS='soon' is not an integer"),
        ({"DEVICE": "tpu"}, "DEVICE='tpu': use auto, cpu or cuda"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_defaults_match_the_hosting_contract() -> None:
    settings = Settings.from_env({})
    assert (settings.model_dir, settings.port, settings.max_payload_bytes) == ("/opt/ml/model", 8080, 6 * 1024 * 1024)
