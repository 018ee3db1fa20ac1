"""Dynamic batching: gather concurrent requests into one model call, answer each one.

The event loop only enqueues rows and resolves futures; the model runs on a dedicated
thread (ONNX Runtime releases the GIL), so parsing and I/O continue while a batch runs.
A batch closes when it holds `max_batch_size` rows or `max_delay` has passed since its
first request arrived. Rows are copied into one preallocated buffer: no per-batch
concatenation. A failed batch fails only its own requests.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class BatchStats:
    """Counters the stats reporter reads and resets (written by the batch thread only)."""

    batches: int = 0
    rows: int = 0
    failures: int = 0
    inference_ms: list[float] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)

    def take(self) -> BatchStats:
        snapshot = BatchStats(self.batches, self.rows, self.failures, self.inference_ms, self.queue_ms)
        self.batches = self.rows = self.failures = 0
        self.inference_ms, self.queue_ms = [], []
        return snapshot


_Item = tuple[np.ndarray, "asyncio.Future[np.ndarray]", float]


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
        self._max = max_batch_size
        self._delay = max_delay_s
        self._loop = loop
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._buffer = np.empty((max_batch_size, n_features), dtype=np.float32)
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, rows: np.ndarray) -> asyncio.Future[np.ndarray]:
        """Queue `rows` (float32, (n, n_features)); the future gets their n risk scores."""
        future: asyncio.Future[np.ndarray] = self._loop.create_future()
        self._queue.put((rows, future, time.perf_counter()))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            deadline = first[2] + self._delay
            stop = False
            while size < self._max:
                remaining = deadline - time.perf_counter()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                if size + len(item[0]) > self._max:
                    self._execute(batch, size)
                    batch, size, deadline = [], 0, item[2] + self._delay
                batch.append(item)
                size += len(item[0])
            self._execute(batch, size)
            if stop:
                return

    def _execute(self, batch: list[_Item], size: int) -> None:
        started = time.perf_counter()
        stats = self.stats
        for _, _, queued in batch:
            stats.queue_ms.append((started - queued) * 1000)
        try:
            if size <= self._max:
                offset = 0
                for rows, _, _ in batch:
                    self._buffer[offset : offset + len(rows)] = rows
                    offset += len(rows)
                scores = self._predict(self._buffer[:size])
            else:  # one request larger than a batch: run it as it came
                scores = self._predict(batch[0][0])
            parts: list[np.ndarray] = []
            offset = 0
            for rows, _, _ in batch:
                parts.append(scores[offset : offset + len(rows)].copy())
                offset += len(rows)
            results: list[np.ndarray] | BaseException = parts
        except Exception as error:  # a model failure fails this batch only
            results = error
            stats.failures += 1
        stats.batches += 1
        stats.rows += size
        stats.inference_ms.append((time.perf_counter() - started) * 1000)
        self._loop.call_soon_threadsafe(_resolve, [f for _, f, _ in batch], results)


def _resolve(futures: list[asyncio.Future[np.ndarray]], results: list[np.ndarray] | BaseException) -> None:
    for index, future in enumerate(futures):
        if future.done():  # the client went away
            continue
        if isinstance(results, BaseException):
            future.set_exception(results)
        else:
            future.set_result(results[index])
