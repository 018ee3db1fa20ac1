"""Dynamic batching: gather concurrent requests into one model call, answer each one.

The event loop only enqueues rows and resolves futures; the model runs on a dedicated
thread (ONNX Runtime releases the GIL), so parsing and I/O continue while a batch runs.

Batching is adaptive, so that low load pays no batching delay:
- Requests submitted in one event-loop iteration (everything parsed from the sockets that
  were ready together) reach the batch thread as one group.
- When the model is idle, a group runs at once: one request alone at one connection
  waits for nothing (a fixed wait of MAX_BATCH_DELAY_MS made every request at low load
  pay it: 2.4 ms at one connection, slower than Flask).
- While the model runs, new groups queue up; the next batch takes all of them (up to
  `max_batch_size` rows). Only when that work arrived while the model was busy *and* the
  previous batch was at least half full (the queue is deep: high load) does the batch
  wait for more, until min(`max_delay`, the last model call's duration) after its first
  request arrived (so a request that already waited out a model call waits no longer).
Rows are copied into one preallocated buffer: no per-batch concatenation. If a batch fails,
its requests are retried one by one, so only the faulty one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mlops_inference.histogram import LatencyHistogram

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class BatchStats:
    """Counters the stats reporter reads and resets (written by the batch thread only).

    Latencies go into fixed-size histograms: memory stays flat with or without a reporter.
    """

    batches: int = 0
    rows: int = 0
    failures: int = 0  # requests that failed in the model
    inference_ms: LatencyHistogram | list[float] = field(default_factory=LatencyHistogram)
    queue_ms: LatencyHistogram | list[float] = field(default_factory=LatencyHistogram)

    def __post_init__(self) -> None:
        if not isinstance(self.inference_ms, LatencyHistogram):
            self.inference_ms = LatencyHistogram(self.inference_ms)
        if not isinstance(self.queue_ms, LatencyHistogram):
            self.queue_ms = LatencyHistogram(self.queue_ms)

    def take(self) -> BatchStats:
        snapshot = BatchStats(self.batches, self.rows, self.failures, self.inference_ms, self.queue_ms)
        self.batches = self.rows = self.failures = 0
        self.inference_ms, self.queue_ms = LatencyHistogram(), LatencyHistogram()
        return snapshot


_Item = tuple[np.ndarray, "asyncio.Future[np.ndarray]", float]
_Outcome = np.ndarray | BaseException


class DynamicBatcher:
    def __init__(
        self,
        predict: Predict,
        *,
        n_features: int,
        max_batch_size: int,
        max_delay_s: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._predict = predict
        self._n_features = n_features
        self._max = max_batch_size
        self._delay = max_delay_s
        self._loop = loop
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._pending: list[_Item] = []  # submitted this loop iteration (event-loop thread)
        self._buffer = np.empty((max_batch_size, n_features), dtype=np.float32)
        self._last_end = 0.0  # when the previous model call ended (batch thread)
        self._last_call_s = 0.0  # how long it took
        self._last_full = False  # whether it was at least half full
        #: Rows submitted and not yet answered (event-loop thread): the server's queue bound.
        self.queued_rows = 0
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, rows: np.ndarray) -> asyncio.Future[np.ndarray]:
        """Queue `rows` (float32, (n, n_features)); the future gets their n risk scores."""
        future: asyncio.Future[np.ndarray] = self._loop.create_future()
        if rows.ndim != 2 or rows.shape[1] != self._n_features or not len(rows):
            # The codec checks shapes; this keeps one bad request out of a shared batch regardless.
            future.set_exception(ValueError(f"rows must have shape (n, {self._n_features}), got {rows.shape}"))
            return future
        self.queued_rows += len(rows)
        if not self._pending:
            self._loop.call_soon(self._hand_over)
        self._pending.append((rows, future, time.perf_counter()))
        return future

    def _hand_over(self) -> None:
        group, self._pending = self._pending, []
        self._queue.put(group)

    def close(self, timeout: float = 5.0) -> bool:
        """Finish the queued work, then stop the thread; False if it did not stop in time."""
        if self._pending:
            self._hand_over()
        self._queue.put(None)
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        waiting: deque[_Item] = deque()
        stopping = False
        while True:
            if not waiting:
                if stopping:
                    return
                group = self._queue.get()
                if group is None:
                    return
                waiting.extend(group)
            stopping = self._take_ready(waiting) or stopping
            busy = waiting[0][2] < self._last_end  # it arrived while the model was running
            batch, size = self._next_batch(waiting)
            if size < self._max and busy and self._last_full and self._delay > 0 and not stopping:
                # Measured from the first request's arrival: one that already waited out a model
                # call (high load) waits no longer; the wait is never longer than a model call.
                deadline = batch[0][2] + min(self._delay, self._last_call_s)
                while size < self._max and not waiting:
                    remaining = deadline - time.perf_counter()
                    try:
                        group = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if group is None:
                        stopping = True
                        break
                    waiting.extend(group)
                    more, added = self._next_batch(waiting, self._max - size)
                    batch += more
                    size += added
            self._execute(batch, size)

    def _take_ready(self, waiting: deque[_Item]) -> bool:
        """Move every group already handed over into `waiting`; True if close() was called."""
        while True:
            try:
                group = self._queue.get_nowait()
            except queue.Empty:
                return False
            if group is None:
                return True
            waiting.extend(group)

    def _next_batch(self, waiting: deque[_Item], room: int | None = None) -> tuple[list[_Item], int]:
        """Requests from the front of `waiting` that fit in `room` rows (a larger first one runs alone)."""
        room = self._max if room is None else room
        batch: list[_Item] = []
        size = 0
        while waiting and size + len(waiting[0][0]) <= room:
            item = waiting.popleft()
            batch.append(item)
            size += len(item[0])
        if not batch and room == self._max and waiting:
            item = waiting.popleft()
            batch, size = [item], len(item[0])
        return batch, size

    def _call(self, rows: np.ndarray) -> np.ndarray:
        scores = np.asarray(self._predict(rows)).reshape(-1)
        if len(scores) != len(rows):
            raise ValueError(f"model returned {len(scores)} scores for {len(rows)} rows")
        return scores

    def _execute(self, batch: list[_Item], size: int) -> None:
        if not batch:
            return
        started = time.perf_counter()
        stats = self.stats
        for _, _, queued in batch:
            stats.queue_ms.add((started - queued) * 1000)  # type: ignore[union-attr]
        results: list[_Outcome]
        try:
            if size <= self._max and len(batch) > 1:
                offset = 0
                for rows, _, _ in batch:
                    self._buffer[offset : offset + len(rows)] = rows
                    offset += len(rows)
                scores = self._call(self._buffer[:size])
            else:  # one request: run it as it came
                scores = self._call(batch[0][0])
            results = []
            offset = 0
            for rows, _, _ in batch:
                results.append(scores[offset : offset + len(rows)].copy())
                offset += len(rows)
        except Exception as error:  # one faulty request must not fail the others: retry each alone
            results = [error] if len(batch) == 1 else [self._alone(rows) for rows, _, _ in batch]
            stats.failures += sum(isinstance(r, BaseException) for r in results)
        ended = time.perf_counter()
        self._last_end, self._last_call_s, self._last_full = ended, ended - started, size * 2 >= self._max
        stats.batches += 1
        stats.rows += size
        stats.inference_ms.add((ended - started) * 1000)  # type: ignore[union-attr]
        # RuntimeError: the loop is closed, so nobody is waiting for these answers any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._resolve, [(f, len(rows)) for rows, f, _ in batch], results)

    def _alone(self, rows: np.ndarray) -> _Outcome:
        try:
            return self._call(rows)
        except Exception as error:
            return error

    def _resolve(self, futures: list[tuple[asyncio.Future[np.ndarray], int]], results: list[_Outcome]) -> None:
        for (future, n_rows), result in zip(futures, results, strict=True):
            self.queued_rows -= n_rows
            if future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
