"""The SageMaker hosting contract on port 8080: GET /ping, POST /invocations.

A single asyncio event loop (uvloop when installed) parses HTTP with httptools and
decodes bodies; the dynamic batcher runs the model on its own thread. No framework,
no worker processes: one model copy, one batch queue, so concurrent requests from
all connections share batches. Responses on a connection keep request order.

Callers are not trusted (a fraud-scoring service lives behind untrusted callers), so each
connection has limits: request line and head sizes (414, 431), a request timeout from first
byte to last (408) and an idle keep-alive timeout, no reading while its responses are not
being read (write-buffer backpressure) or while it has many answers pending (pipelining),
and a bound on queued rows across all connections (503 + Retry-After). On SIGTERM the
server stops accepting, answers what it has received (the last answer on each connection
with `Connection: close`), and logs anything it could not answer within DRAIN_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus

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

# Per-request limits on what precedes the body. SageMaker's own headers are small (custom
# attributes are at most 1,024 characters); nginx's defaults are 8 KiB per line, 32 KiB in all.
MAX_URL_BYTES = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024
# A connection with this many answers pending stops being read until half are written.
MAX_PIPELINED = 16
RETRY_AFTER_S = 1
# After its last answer, a closing connection reads and discards input for at most this long
# (or this many bytes) so that the answer is not lost to a TCP reset.
LINGER_S = 2.0
LINGER_BYTES = 4 * 1024 * 1024


class Reply:
    """A response before it is framed: the connection adds Connection headers when writing it."""

    __slots__ = ("body", "content_type", "extra", "framed", "status")

    def __init__(self, status: int, body: bytes, content_type: str = JSON, extra: bytes = b"") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra  # further header lines, each ending in CRLF
        self.framed: bytes | None = None  # the plain keep-alive framing, for replies reused as constants


def _error(status: int, message: str, extra: bytes = b"") -> Reply:
    return Reply(status, dumps({"error": message}), JSON, extra)


class _Slot:
    """One response in a connection's queue: a reply, or None while waiting for its batch."""

    __slots__ = ("head", "http10", "keep_alive", "reply", "started")

    def __init__(self, reply: Reply | None, keep_alive: bool, started: float, head: bool = False, http10: bool = False) -> None:
        self.reply = reply
        self.keep_alive = keep_alive
        self.started = started
        self.head = head  # a HEAD request: headers only
        self.http10 = http10  # HTTP/1.0 keep-alive must be acknowledged in the response


def _frame(slot: _Slot, reply: Reply, close: bool) -> bytes:
    plain = not (close or slot.http10 or slot.head)
    if plain and reply.framed is not None:
        return reply.framed
    connection = b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n" if slot.http10 else b""
    return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n%s" % (
        reply.status,
        _REASONS.get(reply.status, b"Unknown"),
        reply.content_type.encode(),
        len(reply.body),
        reply.extra,
        connection,
        b"" if slot.head else reply.body,
    )


def _constant(reply: Reply) -> Reply:
    reply.framed = _frame(_Slot(None, True, 0.0), reply, False)
    return reply


_PONG = _constant(Reply(200, b"{}"))


class InferenceApp:
    """Routes requests; owns the model, codec, batcher, request stats and open connections."""

    def __init__(self, model: Model, batcher: DynamicBatcher, settings: Settings) -> None:
        self.model = model
        self.batcher = batcher
        self.settings = settings
        self.codec = Codec(model.metadata.feature_names)
        self.stats = RequestStats()
        self.connections: set[_Connection] = set()
        self.draining = False
        self.queue_limit = settings.queue_limit_rows
        parameters = {
            "MaxConcurrentTransforms": 1,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": settings.max_payload_bytes // (1024 * 1024),
        }
        self._execution_parameters = _constant(Reply(200, dumps(parameters)))

    def handle(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes, too_large: bool
    ) -> Reply | tuple[asyncio.Future[np.ndarray], Callable[[np.ndarray], Reply]]:
        """Either a full reply, or (future, finish) where finish(result) builds it."""
        if method == b"HEAD":
            method = b"GET"  # the connection leaves the body out
        if path == b"/ping":
            return _PONG if method == b"GET" else _error(405, "use GET /ping")
        if path == b"/execution-parameters" and method == b"GET":
            return self._execution_parameters
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
        queued = self.batcher.queued_rows
        if queued and queued + len(decoded.rows) > self.queue_limit:
            # Shed load rather than queue without bound. InvokeEndpoint hands the caller a
            # ModelError with OriginalStatusCode 503 and this body, not the Retry-After header:
            # the body carries it too.
            self.stats.server_errors += 1
            message = f"server busy: {queued} rows queued (limit {self.queue_limit}); retry"
            body = dumps({"error": message, "retry_after": RETRY_AFTER_S})
            return Reply(503, body, JSON, b"Retry-After: %d\r\n" % RETRY_AFTER_S)
        threshold = self.model.metadata.threshold

        def finish(risk: np.ndarray, decoded: Decoded = decoded, accept: str = accept) -> Reply:
            return Reply(200, encode(risk, threshold, decoded, accept), accept)

        return self.batcher.submit(decoded.rows), finish


class _LimitError(Exception):
    """Raised from a parser callback to stop parsing a request that breaks a limit."""


class _Connection(asyncio.Protocol):
    """One client connection: httptools parser callbacks plus an ordered response queue."""

    def __init__(self, app: InferenceApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.slots: deque[_Slot] = deque()
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._head_size = 0  # header bytes parsed
        self._head_received = 0  # bytes received while a head was incomplete
        self._begun = 0  # requests begun on this connection
        self.in_head = False  # between a request's first byte and the end of its headers
        self.in_request = False  # between a request's first byte and its last
        self.request_started = 0.0
        self._now = loop.time()  # when the current chunk arrived
        self.activity = 0  # bumped on input and on each answer: the sweeper's idle clock
        self.seen_activity = -1  # the sweeper's last look at `activity`, and when it changed
        self.quiet_since = self._now
        self.write_paused_since: float | None = None
        self._paused: set[str] = set()  # why reading is paused: "write", "pipeline", "closing"
        self.closing = False  # no more requests on this connection: answer what is queued, close
        self._reject: tuple[int, str] | None = None
        self._lingering: asyncio.Transport | None = None  # closed for writing, discarding input
        self._linger_timer: asyncio.TimerHandle | None = None
        self._discarded = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.app.connections.add(self)
        if self.app.draining:
            self.closing = True
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = self._lingering = None
        self.app.connections.discard(self)
        if self._linger_timer is not None:
            self._linger_timer.cancel()

    def eof_received(self) -> bool:
        return False  # the client is done sending: close (a lingering close ends here)

    def pause_writing(self) -> None:  # the client is not reading its answers: stop reading its requests
        self.write_paused_since = self.loop.time()
        self._pause("write")

    def resume_writing(self) -> None:
        self.write_paused_since = None
        self._resume("write")

    def data_received(self, data: bytes) -> None:
        if self.closing:  # requests after a rejected one, or after draining began, are not read
            lingering = self._lingering
            if lingering is not None:
                self._discarded += len(data)
                if self._discarded > LINGER_BYTES:
                    lingering.abort()
            return
        in_head, begun = self.in_head, self._begun
        self._now = self.loop.time()
        self.activity += 1
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # the request was answered as plain HTTP/1.1; the parser stops here
            if self.in_request:
                self._fail(400, "protocol upgrade is not supported")
            else:
                self._stop_reading()
                if not self.slots:
                    self._close()
            return
        except httptools.HttpParserError as error:
            status, message = self._reject or (400, f"malformed HTTP request: {error}")
            self._fail(status, message)
            return
        if in_head and self.in_head and begun == self._begun:  # all of `data` was one head: httptools buffers it
            self._head_received += len(data)
            if self._head_received > MAX_HEAD_BYTES:
                self._fail(431, f"request headers larger than {MAX_HEAD_BYTES} bytes")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size = b"", {}, [], 0
        self._head_size = self._head_received = 0
        self.in_head = self.in_request = True
        self.request_started = self._now
        self._begun += 1

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            self._reject = (414, f"request URL longer than {MAX_URL_BYTES} bytes")
            raise _LimitError

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            self._reject = (431, f"request headers larger than {MAX_HEAD_BYTES} bytes")
            raise _LimitError
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.in_head = False
        # curl and others hold back bodies over 1 KB for up to a second awaiting this.
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= self.app.settings.max_payload_bytes:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self.in_request = False
        if self.closing:
            return
        started = time.perf_counter()
        parser = self.parser
        method = parser.get_method()
        keep_alive = parser.should_keep_alive()
        # HTTP/1.0 keeps a connection only if asked (Connection: keep-alive) and told so.
        http10 = keep_alive and b"connection" in self._headers and parser.get_http_version() == "1.0"
        path = self._url.split(b"?", 1)[0]
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        too_large = self._size > self.app.settings.max_payload_bytes
        self._body = []
        try:
            result = self.app.handle(method, path, self._headers, body, too_large)
        except Exception:  # a bug must cost one request, never the connection
            log.exception("unexpected error handling %s %s", method.decode(), path.decode(errors="replace"))
            result = _error(500, "internal error")
        is_head = method == b"HEAD"
        if self.app.draining or not keep_alive:
            self._stop_reading()
        if isinstance(result, Reply):
            self.slots.append(_Slot(result, keep_alive, started, is_head, http10))
            self._flush()
            return
        future, finish = result
        slot = _Slot(None, keep_alive, started, is_head, http10)
        self.slots.append(slot)
        future.add_done_callback(lambda done: self._complete(slot, done, finish))
        if len(self.slots) >= MAX_PIPELINED:
            self._pause("pipeline")

    def _complete(self, slot: _Slot, done: asyncio.Future[np.ndarray], finish: Callable[[np.ndarray], Reply]) -> None:
        self.activity += 1
        if done.cancelled():
            slot.reply = _error(503, "request cancelled: server shutting down")
        elif (error := done.exception()) is not None:
            log.error("model failed on a request: %r", error)
            self.app.stats.server_errors += 1
            slot.reply = _error(500, f"model failed: {type(error).__name__}: {error}")
        else:
            try:
                slot.reply = finish(done.result())
            except RequestError as bad:
                slot.reply = _error(bad.status, str(bad))
        self._flush()

    def _flush(self) -> None:
        stats = self.app.stats
        slots = self.slots
        while slots and slots[0].reply is not None:
            slot = slots.popleft()
            stats.requests += 1
            stats.latency.add((time.perf_counter() - slot.started) * 1000)
            transport = self.transport
            if transport is None:
                continue
            close = not slot.keep_alive or (self.closing and not slots)
            transport.write(_frame(slot, slot.reply, close))  # type: ignore[arg-type]
            if close:
                self._close()
                return
        if "pipeline" in self._paused and len(slots) <= MAX_PIPELINED // 2:
            self._resume("pipeline")

    # limits, timeouts and draining
    def _pause(self, reason: str) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pause_reading()
        self._paused.add(reason)

    def _resume(self, reason: str) -> None:
        self._paused.discard(reason)
        if not self._paused and self.transport is not None:
            self.transport.resume_reading()

    def _stop_reading(self) -> None:
        self.closing = True
        self._pause("closing")

    def _close(self) -> None:
        """Close after what is buffered has been written, lingering to read (and discard) what
        the client still sends: closing a socket with unread input makes the kernel send a
        reset, which can destroy the answer (a 431, say) before the client reads it."""
        transport = self.transport
        self.transport = None
        self.closing = True
        self.app.connections.discard(self)
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = transport
        self._linger_timer = self.loop.call_later(LINGER_S, transport.close)
        if self._paused:
            self._paused.clear()
            transport.resume_reading()

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that broke a limit (after the answers before it), then close."""
        self._reject = None
        if status >= 500:
            self.app.stats.server_errors += 1
        else:
            self.app.stats.client_errors += 1
        self._stop_reading()
        self.in_head = self.in_request = False
        self.slots.append(_Slot(_error(status, message), False, time.perf_counter()))
        self._flush()

    def drain(self) -> None:
        """SIGTERM: finish the request being received, answer every received one, then close."""
        if not self.in_request:
            self._stop_reading()
        if not self.slots and not self.in_request:
            self._close()

    def check_timeouts(self, now: float) -> None:
        settings = self.app.settings
        if self.transport is None:
            return
        if self.write_paused_since is not None and now - self.write_paused_since > settings.request_timeout_s:
            log.warning("closing a connection whose client has not read its answers for %.0f s", settings.request_timeout_s)
            self.transport.abort()
            return
        if self.in_request and not self.closing and now - self.request_started > settings.request_timeout_s:
            self._fail(408, f"request not received within {settings.request_timeout_s:g} s")
        elif self.activity != self.seen_activity:
            self.seen_activity, self.quiet_since = self.activity, now
        elif not self.in_request and not self.slots and now - self.quiet_since > settings.keep_alive_timeout_s:
            self._close()  # an idle keep-alive connection: closing it needs no answer


def _install_event_loop_policy() -> str:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    except ImportError:  # pragma: no cover - the image installs uvloop
        return "asyncio"


async def _sweep(app: InferenceApp) -> None:
    """Enforce request and keep-alive timeouts, a few times per the shorter timeout."""
    settings = app.settings
    tick = max(0.01, min(1.0, settings.keep_alive_timeout_s / 4, settings.request_timeout_s / 4))
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(tick)
        now = loop.time()
        for connection in list(app.connections):
            connection.check_timeouts(now)


async def serve(
    settings: Settings,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    model: Model | None = None,
) -> None:
    """Load the model, bind the port and serve until SIGTERM/SIGINT (or `stop` is set), then drain.

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
    server = await loop.create_server(lambda: _Connection(app, loop), host="0.0.0.0", port=settings.port, backlog=2048)  # noqa: S104
    port = server.sockets[0].getsockname()[1]
    log.info("serving on port %d (event loop: %s)", port, type(loop).__module__.split(".")[0])
    if ready:
        ready(port)
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    sweeper = asyncio.create_task(_sweep(app))
    reporter = asyncio.create_task(_report(app, settings)) if settings.stats_interval_s else None
    await stop.wait()
    await _drain(app, server, settings)
    sweeper.cancel()
    if reporter:
        reporter.cancel()
        _write_report(app)  # the last interval's figures
    if not batcher.close(timeout=1.0):
        log.warning("drain: the model thread was still busy at exit")


async def _drain(app: InferenceApp, server: asyncio.AbstractServer, settings: Settings) -> None:
    """Stop accepting, answer what was received, close; log what could not be answered in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.drain_timeout_s
    server.close()
    # Two loop turns: requests already in the sockets' buffers are read and count as received.
    for _ in range(2):
        await asyncio.sleep(0)
    app.draining = True
    log.info(
        "stopping: no new connections; answering in-flight requests on %d connection(s), at most %g s",
        len(app.connections), settings.drain_timeout_s,
    )  # fmt: skip
    for connection in list(app.connections):
        connection.drain()
    while app.connections and loop.time() < deadline:  # bounded by the deadline
        await asyncio.sleep(0.005)
    if not app.connections:
        log.info("drained: every received request was answered")
        return
    pending = sum(sum(slot.reply is None for slot in c.slots) for c in app.connections)
    partial = sum(c.in_request for c in app.connections)
    log.warning(
        "drain: dropped %d request(s) awaiting the model and %d partly received, on %d connection(s), after %g s",
        pending, partial, len(app.connections), settings.drain_timeout_s,
    )  # fmt: skip
    for connection in list(app.connections):
        if connection.transport is not None:
            connection.transport.abort()
        app.connections.discard(connection)


def _write_report(app: InferenceApp) -> None:
    settings = app.settings
    record = emf_record(
        app.stats.take(),
        app.batcher.stats.take(),
        model=app.model.metadata.model_name,
        variant=settings.variant,
        endpoint=settings.endpoint,
    )
    sys.stdout.write(emf_line(record) + "\n")
    sys.stdout.flush()


async def _report(app: InferenceApp, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.stats_interval_s)
        _write_report(app)


def run(settings: Settings) -> None:
    _install_event_loop_policy()
    asyncio.run(serve(settings))
