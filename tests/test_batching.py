"""The dynamic batcher: concurrent requests share model calls; failures stay contained."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from mlops_inference.batching import DynamicBatcher


class CountingModel:
    """Scores = first feature; records each call's batch size (a real function, not a mock)."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on = fail_on
        self.thread_names: set[str] = set()

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(rows))
        self.thread_names.add(threading.current_thread().name)
        if self.fail_on is not None and (rows[:, 0] == self.fail_on).any():
            raise RuntimeError("poisoned row")
        return rows[:, 0].copy()


def _rows(value: float, count: int = 1) -> np.ndarray:
    return np.full((count, 3), value, dtype=np.float32)


Outcome = np.ndarray | BaseException


def _ok(outcome: Outcome) -> list[float]:
    assert isinstance(outcome, np.ndarray), outcome
    values: list[float] = outcome.tolist()
    return values


async def _run(model: CountingModel, requests: list[np.ndarray], *, max_batch: int, delay: float) -> list[Outcome]:
    loop = asyncio.get_running_loop()
    batcher = DynamicBatcher(model.predict, n_features=3, max_batch_size=max_batch, max_delay_s=delay, loop=loop)
    try:
        return list(await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True))
    finally:
        batcher.close()


def test_concurrent_requests_share_batches_and_get_their_own_answers() -> None:
    model = CountingModel()
    requests = [_rows(float(i)) for i in range(64)]
    results = asyncio.run(_run(model, requests, max_batch=16, delay=0.05))
    assert [_ok(r)[0] for r in results] == [float(i) for i in range(64)]
    assert max(model.calls) <= 16
    assert len(model.calls) < 64 / 2  # batched, not one call per request


def test_multi_row_requests_are_split_back() -> None:
    model = CountingModel()
    results = asyncio.run(_run(model, [_rows(1, 3), _rows(2, 5), _rows(3, 1)], max_batch=32, delay=0.05))
    assert [_ok(r) for r in results] == [[1, 1, 1], [2] * 5, [3]]
    assert model.calls == [9]


def test_request_larger_than_a_batch_runs_alone() -> None:
    model = CountingModel()
    results = asyncio.run(_run(model, [_rows(7, 40)], max_batch=8, delay=0.001))
    assert _ok(results[0]) == [7] * 40
    assert model.calls == [40]


def test_batch_closes_at_max_size_without_waiting_for_the_delay() -> None:
    model = CountingModel()
    asyncio.run(_run(model, [_rows(1) for _ in range(8)], max_batch=4, delay=10.0))
    assert model.calls == [4, 4]  # a 10 s delay never elapsed


def test_a_failing_batch_is_retried_per_request_so_only_the_faulty_one_fails() -> None:
    model = CountingModel(fail_on=-1.0)

    async def scenario() -> tuple[list[Outcome], list[Outcome]]:
        loop = asyncio.get_running_loop()
        batcher = DynamicBatcher(model.predict, n_features=3, max_batch_size=4, max_delay_s=0.01, loop=loop)
        try:
            failed = list(await asyncio.gather(batcher.submit(_rows(-1)), batcher.submit(_rows(2)), return_exceptions=True))
            later = list(await asyncio.gather(batcher.submit(_rows(3)), return_exceptions=True))
        finally:
            batcher.close()
        return failed, later

    failed, later = asyncio.run(scenario())
    assert isinstance(failed[0], RuntimeError)
    assert _ok(failed[1]) == [2]  # shared the failed batch, answered by its retry
    assert model.calls[:3] == [2, 1, 1]
    assert _ok(later[0]) == [3]


def test_model_runs_off_the_event_loop_thread() -> None:
    model = CountingModel()
    asyncio.run(_run(model, [_rows(1)], max_batch=4, delay=0.001))
    assert model.thread_names == {"batcher"}


def test_stats_count_batches_and_rows() -> None:
    async def scenario() -> DynamicBatcher:
        loop = asyncio.get_running_loop()
        batcher = DynamicBatcher(CountingModel().predict, n_features=3, max_batch_size=4, max_delay_s=0.01, loop=loop)
        await asyncio.gather(*(batcher.submit(_rows(1)) for _ in range(8)))
        batcher.close()
        return batcher

    stats = asyncio.run(scenario()).stats.take()
    assert stats.rows == 8
    assert stats.batches == 2
    assert len(stats.queue_ms) == 8


def test_max_batch_size_must_be_positive() -> None:
    async def scenario() -> None:
        DynamicBatcher(CountingModel().predict, n_features=3, max_batch_size=0, max_delay_s=0.0, loop=asyncio.get_running_loop())

    with pytest.raises(ValueError, match="max_batch_size must be at least 1"):
        asyncio.run(scenario())
