"""The SageMaker hosting contract on port 8080: GET /ping, POST /invocations.

A single asyncio event loop (uvloop when installed) parses HTTP with httptools and
decodes bodies; the dynamic batcher runs the model on its own thread. No framework,
no worker processes: one model copy, one batch queue, so concurrent requests from
all connections share batches. Responses on a connection keep request order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import numpy as np

from mlops_inference.batching import DynamicBatcher
from mlops_inference.codecs import CSV, JSON, JSONL, Codec, Decoded, RequestError, dumps, encode, media_type, negotiate
from mlops_inference.model import Model
from mlops_inference.settings import Settings
from mlops_inference.stats import RequestStats, emf_line, emf_record

log = logging.getLogger("mlops_inference")
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_SUPPORTED = {JSON, JSONL, CSV}


def _response(status: int, body: bytes, content_type: str = JSON, *, keep_alive: bool = True) -> bytes:
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Unknown"),
        content_type.encode(),
        len(body),
    )
    return head + (b"\r\n" if keep_alive else b"Connection: close\r\n\r\n") + body


def _error(status: int, message: str, *, keep_alive: bool = True) -> bytes:
    return _response(status, dumps({"error": message}), keep_alive=keep_alive)


@dataclass
class _Slot:
    """One response in a connection's queue: ready bytes, or waiting for its batch."""

    data: bytes | None
    keep_alive: bool
    started: float


class InferenceApp:
    """Routes requests; owns the model, codec, batcher and request stats."""

    def __init__(self, model: Model, batcher: DynamicBatcher, settings: Settings) -> None:
        self.model = model
        self.batcher = batcher
        self.settings = settings
        self.codec = Codec(model.metadata.feature_names)
        self.stats = RequestStats()
        self._execution_parameters = dumps(
            {
                "MaxConcurrentTransforms": 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": settings.max_payload_bytes // (1024 * 1024),
            }
        )

    def handle(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes, too_large: bool
    ) -> bytes | tuple[Any, Callable[[Any], bytes]]:
        """Either a full response, or (future, finish) where finish(result) builds it."""
        if path == b"/ping":
            return _response(200, b"{}") if method == b"GET" else _error(405, "use GET /ping")
        if path == b"/execution-parameters" and method == b"GET":
            return _response(200, self._execution_parameters)
        if path != b"/invocations":
            return _error(404, f"no route {path.decode(errors='replace')}; use POST /invocations or GET /ping")
        if method != b"POST":
            return _error(405, "use POST /invocations")
        if too_large:
            self.stats.client_errors += 1
            return _error(413, f"payload larger than {self.settings.max_payload_bytes} bytes; split the request")
        try:
            content_type = media_type(headers.get(b"content-type", b"").decode("latin-1"), JSON)
            if content_type not in _SUPPORTED:
                raise RequestError(f"unsupported Content-Type {content_type!r}; use {JSON}, {JSONL} or {CSV}", status=415)
            accept = negotiate(headers.get(b"accept", b"").decode("latin-1") or None, content_type)
            if accept not in _SUPPORTED:
                raise RequestError(f"unsupported Accept {accept!r}; use {JSON}, {JSONL} or {CSV}", status=406)
            decoded = self.codec.decode(body, content_type)
        except RequestError as error:
            self.stats.client_errors += 1
            return _error(error.status, str(error))
        threshold = self.model.metadata.threshold

        def finish(risk: np.ndarray, decoded: Decoded = decoded, accept: str = accept) -> bytes:
            return _response(200, encode(risk, threshold, decoded, accept), accept)

        return self.batcher.submit(decoded.rows), finish


class _Connection(asyncio.Protocol):
    """One client connection: httptools parser callbacks plus an ordered response queue."""

    def __init__(self, app: InferenceApp) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.slots: deque[_Slot] = deque()
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.slots.append(
                _Slot(_error(400, f"malformed HTTP request: {error}", keep_alive=False), False, time.perf_counter())
            )
            self._flush()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size = b"", {}, [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        # curl and others hold back bodies over 1 KB for up to a second awaiting this.
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= self.app.settings.max_payload_bytes:
            self._body.append(body)

    def on_message_complete(self) -> None:
        started = time.perf_counter()
        keep_alive = self.parser.should_keep_alive()
        path = self._url.split(b"?", 1)[0]
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        too_large = self._size > self.app.settings.max_payload_bytes
        result = self.app.handle(self.parser.get_method(), path, self._headers, body, too_large)
        if isinstance(result, bytes):
            self.slots.append(_Slot(result, keep_alive, started))
            self._flush()
            return
        future, finish = result
        slot = _Slot(None, keep_alive, started)
        self.slots.append(slot)
        future.add_done_callback(lambda done: self._complete(slot, done, finish))

    def _complete(self, slot: _Slot, done: asyncio.Future[np.ndarray], finish: Callable[[Any], bytes]) -> None:
        if done.cancelled():
            slot.data = _error(503, "request cancelled: server shutting down", keep_alive=False)
        elif (error := done.exception()) is not None:
            log.error("model failed on a batch: %r", error)
            self.app.stats.server_errors += 1
            slot.data = _error(500, f"model failed: {type(error).__name__}: {error}")
        else:
            try:
                slot.data = finish(done.result())
            except RequestError as bad:
                slot.data = _error(bad.status, str(bad))
        self._flush()

    def _flush(self) -> None:
        stats = self.app.stats
        while self.slots and self.slots[0].data is not None:
            slot = self.slots.popleft()
            stats.requests += 1
            stats.latency_ms.append((time.perf_counter() - slot.started) * 1000)
            if self.transport is None:
                continue
            self.transport.write(slot.data)  # type: ignore[arg-type]
            if not slot.keep_alive:
                self.transport.close()
                self.transport = None


def _install_event_loop_policy() -> str:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    except ImportError:  # pragma: no cover - the image installs uvloop
        return "asyncio"


async def serve(
    settings: Settings,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    model: Model | None = None,
) -> None:
    """Load the model, bind the port and serve until SIGTERM/SIGINT (or `stop` is set).

    `model` and `stop` let an embedding process (or a test) supply its own model and
    shut the server down without signals, which only the main thread can receive.
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    model = model or Model(settings.model_dir, device=settings.device, threads=settings.inference_threads)
    meta = model.metadata
    log.info(
        "loaded %s %s (%d features) on %s in %.2f s; max_batch_size=%d max_batch_delay_ms=%d",
        meta.model_name, meta.model_version, model.n_features, model.device, time.perf_counter() - started,
        settings.max_batch_size, settings.max_batch_delay_ms,
    )  # fmt: skip
    batcher = DynamicBatcher(
        model.predict,
        n_features=model.n_features,
        max_batch_size=settings.max_batch_size,
        max_delay_s=settings.max_batch_delay_ms / 1000,
        loop=loop,
    )
    app = InferenceApp(model, batcher, settings)
    server = await loop.create_server(lambda: _Connection(app), host="0.0.0.0", port=settings.port, backlog=2048)  # noqa: S104
    port = server.sockets[0].getsockname()[1]
    log.info("serving on port %d", port)
    if ready:
        ready(port)
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    reporter = asyncio.create_task(_report(app, settings)) if settings.stats_interval_s else None
    await stop.wait()
    log.info("stopping: no new connections, finishing in-flight batches")
    server.close()
    await server.wait_closed()
    if reporter:
        reporter.cancel()
    batcher.close()


async def _report(app: InferenceApp, settings: Settings) -> None:
    variant = os.environ.get("MLOPS_VARIANT", "unknown")
    while True:
        await asyncio.sleep(settings.stats_interval_s)
        record = emf_record(app.stats.take(), app.batcher.stats.take(), model=app.model.metadata.model_name, variant=variant)
        sys.stdout.write(emf_line(record) + "\n")
        sys.stdout.flush()


def run(settings: Settings) -> None:
    loop_name = _install_event_loop_policy()
    log.info("event loop: %s", loop_name)
    asyncio.run(serve(settings))
