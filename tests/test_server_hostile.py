"""Hostile and careless clients, against the server running as a process (issue 15).

Each case broke the server before: one client's malformed rows failed everyone's requests;
URL and header sizes were unbounded; half-sent requests and idle keep-alives were held
forever; a client that pipelined without reading grew the server without bound; queued
work had no bound; HEAD got a body; HTTP/1.0 keep-alive was not acknowledged; an Accept
list with */* got 406.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving_fixtures import ROW, RawResponse, closed_by_server, http_request, read_response, server_process

TIMEOUT_S = 0.4  # REQUEST_TIMEOUT_S and KEEP_ALIVE_TIMEOUT_S of the server under test
QUEUE_ROWS = 64


@pytest.fixture(scope="module")
def port(model_dir: Path) -> Iterator[int]:
    settings = {
        "MAX_BATCH_SIZE": "16",
        "REQUEST_TIMEOUT_S": str(TIMEOUT_S),
        "KEEP_ALIVE_TIMEOUT_S": str(TIMEOUT_S),
        "MAX_QUEUED_ROWS": str(QUEUE_ROWS),
    }
    with server_process(model_dir, **settings) as (port, _):
        yield port


def _connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _json(rows: object, **headers: str) -> bytes:
    return http_request("POST", "/invocations", json.dumps(rows).encode(), {"Content-Type": "application/json", **headers})


@dataclass(frozen=True)
class Case:
    """Send `parts` (a pause of `pause_s` before each after the first), then read one response."""

    parts: tuple[bytes, ...]
    status: int | None  # None: the server closes without an answer (an idle connection)
    closes: bool  # the server closes the connection after answering
    check: Callable[[RawResponse], bool] = lambda _: True
    pause_s: float = 0.0
    head: bool = False


NESTED = {"instances": [[[value, value] for value in ROW]]}  # each feature value is a list: 3-D
HUGE_HEADER = http_request("GET", "/ping", headers={"X-Filler": "a" * 40_000})
MANY_HEADERS = http_request("GET", "/ping", headers={f"X-H{i}": "b" * 100 for i in range(400)})
STREAMED_HEADER = (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Huge: ", *([b"c" * 65536] * 16))  # 1 MiB, never ended

CASES = {
    "rows nested one level too deep: 400, not a failed batch": Case(
        (_json(NESTED),), 400, False, lambda r: b"not a list" in r.body
    ),
    "URL over 8 KiB: 414": Case((http_request("GET", "/ping?q=" + "u" * 10_000),), 414, True),
    "one header over 32 KiB: 431": Case((HUGE_HEADER,), 431, True),
    "many headers, over 32 KiB in all: 431": Case((MANY_HEADERS,), 431, True),
    "a header streamed without end: 431 before it is all sent": Case(STREAMED_HEADER, 431, True),
    "half-sent request: 408 after REQUEST_TIMEOUT_S": Case(
        (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",), 408, True
    ),
    "idle keep-alive connection: closed after KEEP_ALIVE_TIMEOUT_S": Case((), None, True),
    "HEAD /ping: headers only": Case(
        (http_request("HEAD", "/ping"),), 200, False, lambda r: r.headers["content-length"] == "2", head=True
    ),
    "HTTP/1.0 keep-alive is acknowledged": Case(
        (http_request("GET", "/ping", headers={"Connection": "keep-alive"}, version="1.0"),),
        200,
        False,
        lambda r: r.headers.get("connection", "").lower() == "keep-alive",
    ),
    "HTTP/1.0 without keep-alive is closed": Case((http_request("GET", "/ping", version="1.0"),), 200, True),
    "Accept list with */*: answered in the request's type": Case(
        (_json({"features": ROW}, Accept="text/html, */*;q=0.8"),),
        200,
        False,
        lambda r: r.headers["content-type"] == "application/json" and "risk" in json.loads(r.body),
    ),
    "Accept list by quality: CSV preferred": Case(
        (_json({"features": ROW}, Accept="application/json;q=0.5, text/csv"),),
        200,
        False,
        lambda r: r.headers["content-type"] == "text/csv",
    ),
    "protocol upgrade: ignored, answered, closed": Case(
        (http_request("GET", "/ping", headers={"Connection": "Upgrade", "Upgrade": "websocket"}),), 200, True
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_client(port: int, case: Case) -> None:
    with _connect(port) as sock:
        for index, part in enumerate(case.parts):
            if index and case.pause_s:
                time.sleep(case.pause_s)
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before all was sent
        buffer = bytearray()
        response = read_response(sock, buffer, head=case.head)
        if case.status is None:
            assert response is None
        else:
            assert response is not None, "no answer"
            assert response.status == case.status, response
            assert case.check(response), response
        if case.closes:
            assert not buffer
            assert closed_by_server(sock)
        else:  # the connection still serves
            sock.sendall(http_request("GET", "/ping"))
            again = read_response(sock, buffer)
            assert getattr(again, "status", None) == 200
    with _connect(port) as sock:  # and the server serves others
        sock.sendall(http_request("GET", "/ping"))
        answer = read_response(sock, bytearray())
        assert getattr(answer, "status", None) == 200


def test_one_clients_bad_rows_do_not_fail_the_requests_batched_with_them(port: int) -> None:
    # Pipelined in one write: parsed in one loop iteration, so they would share a batch.
    good = _json({"features": ROW})
    with _connect(port) as sock:
        sock.sendall(good + _json(NESTED) + good + good)
        buffer = bytearray()
        statuses = [getattr(read_response(sock, buffer), "status", None) for _ in range(4)]
    assert statuses == [200, 400, 200, 200]


def test_queued_work_is_bounded_with_503_and_retry_after(port: int) -> None:
    request = _json({"instances": [ROW] * 20})
    with _connect(port) as sock:
        sock.sendall(request * 12)  # 240 rows at once; the bound is 64
        buffer = bytearray()
        responses = [read_response(sock, buffer) for _ in range(12)]
    statuses = [r.status if r else None for r in responses]
    assert statuses[0] == 200  # an empty queue always admits
    assert set(statuses) == {200, 503}, statuses
    busy = next(r for r in responses if r and r.status == 503)
    assert busy.headers["retry-after"] == "1"
    assert "server busy" in json.loads(busy.body)["error"]
    assert json.loads(busy.body)["retry_after"] == 1  # SageMaker passes the body on, not the header


def test_a_client_that_does_not_read_its_answers_is_not_read_either(port: int) -> None:
    """Backpressure: before, the server read on and buffered answers (2 GB for one client)."""
    # Answers as large as the requests, and no model involved: a 404 names the 7 KB path it got.
    request = http_request("GET", "/" + "p" * 7000)
    limit = 40 * 1024 * 1024
    sent = 0
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        view = memoryview(request)
        offset = 0
        while sent < limit:  # bounded: stops when the server stops reading, or at `limit`
            _, writable, _ = select.select([], [sock], [], 0.5)
            if not writable:
                break  # the server has not read for half a second
            try:
                count = sock.send(view[offset:])
            except OSError:
                break  # the server gave up on us (it does, once we have not read for REQUEST_TIMEOUT_S)
            sent += count
            offset = (offset + count) % len(request)
    # The kernel's socket buffers hold a few MiB; the server itself holds one read's worth.
    assert sent < limit // 4, f"the server read {sent / 2**20:.0f} MiB from a client that read nothing"


def test_bad_rows_and_empty_instances_are_client_errors(port: int) -> None:
    for body in ({"instances": [[ROW]]}, {"features": [ROW]}, {"instances": [["a"] * 12]}):
        with _connect(port) as sock:
            sock.sendall(_json(body))
            response = read_response(sock, bytearray())
        assert getattr(response, "status", None) == 400, (body, response)
