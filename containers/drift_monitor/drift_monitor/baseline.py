"""The baseline: embeddings of the training texts, stored as Model Monitor baseline files.

`statistics.json` carries the embeddings (float16, base64) because a network-isolated job
cannot fetch anything: Model Monitor hands the schedule's BaselineConfig files to the
container (`baseline_statistics`, `baseline_constraints` environment variables).
`constraints.json` records how similar the baseline is to itself (each text against its
nearest other text), as a guide for choosing THRESHOLD.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from drift_monitor.capture import ReadReport, _dig
from drift_monitor.embed import DIMENSION, MODEL_NAME, Embedder
from drift_monitor.similarity import nearest_similarity, summarise

FORMAT = "mlops-text-drift-baseline"
VERSION = 1
MAX_BASELINE_TEXTS = 5000  # 5000 x 384 float16 = 3.7 MB: small enough for one baseline file


def read_dataset(path: Path, text_field: str, report: ReadReport) -> Iterator[str]:
    """Texts of a baseline dataset: .txt (a text per line) or .jsonl (the text_field of each object)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    keys = text_field.split(".")
    for file in files:
        report.files += 1
        with file.open(encoding="utf-8", errors="replace") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                report.records += 1
                if file.suffix == ".txt":
                    report.texts += 1
                    yield line.strip()
                    continue
                try:
                    value = _dig(json.loads(line), keys)
                except json.JSONDecodeError:
                    report.problem("not_json", f"{file.name}:{number}")
                    continue
                if not isinstance(value, str):
                    report.problem("no_text_field", f"{file.name}:{number}")
                    continue
                report.texts += 1
                yield value


def build(texts: list[str], embedder: Embedder, batch_size: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics, constraints) for `texts`, sampled down to MAX_BASELINE_TEXTS deterministically."""
    if len(texts) > MAX_BASELINE_TEXTS:
        texts = random.Random(seed).sample(texts, MAX_BASELINE_TEXTS)  # noqa: S311 - a sample, not a secret
    vectors = embedder.embed(texts, batch_size)
    half = vectors.astype(np.float16)
    statistics = {
        "format": FORMAT,
        "version": VERSION,
        "model": MODEL_NAME,
        "dimension": DIMENSION,
        "count": len(texts),
        "embeddings": base64.b64encode(half.tobytes()).decode("ascii"),
    }
    self_similarity = summarise(nearest_similarity(vectors, vectors, exclude_self=True)) if len(texts) > 1 else {}
    constraints = {"format": FORMAT, "version": VERSION, "baseline_self_similarity": self_similarity}
    return statistics, constraints


def load_embeddings(statistics_file: Path) -> np.ndarray:
    data = json.loads(statistics_file.read_text())
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{statistics_file} is not a {FORMAT} v{VERSION} baseline (make one with the baseline command)")
    vectors = np.frombuffer(base64.b64decode(data["embeddings"]), dtype=np.float16).astype(np.float32)
    return vectors.reshape(int(data["count"]), int(data["dimension"]))
