"""A fixed-size latency histogram: memory does not grow with the number of samples.

Samples used to go into lists that only the stats reporter emptied; with STATS_INTERVAL_S=0
(no reporter) every request left ~82 bytes behind for the life of the process. Buckets are
log-spaced, each ~2 % wide, from 1 µs to ~10 minutes (about 1,000 counters, always);
percentiles are read back to within that 2 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

_MIN_MS = 0.001
_PER_E = 50.0  # buckets per factor e: each bucket is e^(1/50) ≈ 2 % wide
_BUCKETS = int(math.log(600_000 / _MIN_MS) * _PER_E) + 2


class LatencyHistogram:
    __slots__ = ("_counts", "count")

    def __init__(self, values: Iterable[float] = ()) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        for value in values:
            self.add(value)

    def add(self, ms: float) -> None:
        index = int(math.log(ms / _MIN_MS) * _PER_E) + 1 if ms > _MIN_MS else 0
        self._counts[index if index < _BUCKETS else _BUCKETS - 1] += 1
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100), as the middle of its bucket; 0.0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return 0.0 if index == 0 else _MIN_MS * math.exp((index - 0.5) / _PER_E)
        return _MIN_MS * math.exp((_BUCKETS - 1.5) / _PER_E)  # pragma: no cover - rank <= count
