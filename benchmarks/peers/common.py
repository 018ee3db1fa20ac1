"""What every peer shares: the model (our loader: ONNX Runtime, one intra-op thread, since each
server gets one core) and the answer format of our server's single-record JSON."""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np
from mlops_inference.model import Model


def optional(module: str) -> Any:
    """A peer framework, imported at run time: they are optional extras (requirements-bench.txt),
    so type checking sees them as Any and needs none of them installed."""
    return importlib.import_module(module)


def load_model() -> Model:
    return Model(os.environ["MODEL_DIR"], device="cpu", threads=int(os.environ.get("INFERENCE_THREADS", "1")))


def answers(model: Model, rows: list[list[float]]) -> list[dict[str, Any]]:
    risk = model.predict(np.asarray(rows, dtype=np.float32))
    threshold = model.metadata.threshold
    return [{"risk": round(r, 6), "label": int(r >= threshold)} for r in risk.tolist()]
