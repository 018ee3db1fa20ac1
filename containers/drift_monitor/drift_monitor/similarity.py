"""Nearest-neighbour cosine similarity of captured texts to the baseline, and its summary."""

from __future__ import annotations

import numpy as np

CHUNK = 1024  # rows per matrix product: bounded memory for large captures


def nearest_similarity(vectors: np.ndarray, baseline: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
    """For each row of `vectors`, the cosine similarity to its nearest baseline row (unit vectors)."""
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), CHUNK):
        scores = vectors[start : start + CHUNK] @ baseline.T
        if exclude_self:  # vectors is baseline: leave each row's own match out
            rows = np.arange(scores.shape[0])
            scores[rows, rows + start] = -np.inf
        out[start : start + CHUNK] = scores.max(axis=1)
    return out


def summarise(scores: np.ndarray, percentile: int = 10) -> dict[str, float]:
    if len(scores) == 0:
        return {}
    return {
        "mean": round(float(scores.mean()), 6),
        f"p{percentile}": round(float(np.percentile(scores, percentile)), 6),
        "min": round(float(scores.min()), 6),
        "max": round(float(scores.max()), 6),
    }
