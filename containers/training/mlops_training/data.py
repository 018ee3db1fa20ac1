"""Tabular data: the caller-risk feature set, the synthetic generator and channel CSV files.

A channel (`/opt/ml/input/data/<channel>/`) holds one or more `.csv` files with a header row
naming every feature in FEATURE_NAMES (any order) and `label` (0 or 1). numpy only, so the
CLI and tests can read and write data without torch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURE_NAMES = (
    "call_duration_s",
    "calls_last_24h",
    "distinct_callees_24h",
    "international_ratio",
    "night_call_ratio",
    "account_age_days",
    "failed_call_ratio",
    "mean_call_gap_s",
    "sms_ratio",
    "device_changes_30d",
    "roaming",
    "prior_reports",
)
LABEL = "label"


class DataError(ValueError):
    """A channel that cannot be trained on; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # float32 (n, len(FEATURE_NAMES))
    labels: np.ndarray  # float32 (n,)

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, at: int) -> tuple[Dataset, Dataset]:
        return Dataset(self.features[:at], self.labels[:at]), Dataset(self.features[at:], self.labels[at:])


def synthetic_calls(rows: int, *, seed: int = 7) -> Dataset:
    """Call-level features with a risk label from a known, mildly non-linear rule."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.gamma(2.0, 60.0, rows),  # call_duration_s
            rng.poisson(8, rows),  # calls_last_24h
            rng.poisson(5, rows),  # distinct_callees_24h
            rng.beta(1, 8, rows),  # international_ratio
            rng.beta(1, 5, rows),  # night_call_ratio
            rng.gamma(2.0, 400.0, rows),  # account_age_days
            rng.beta(1, 10, rows),  # failed_call_ratio
            rng.gamma(2.0, 900.0, rows),  # mean_call_gap_s
            rng.beta(2, 5, rows),  # sms_ratio
            rng.poisson(0.3, rows),  # device_changes_30d
            rng.integers(0, 2, rows),  # roaming
            rng.poisson(0.1, rows),  # prior_reports
        ]
    ).astype(np.float32)
    logit = (
        -3.0
        + 0.08 * x[:, 2]
        + 4.0 * x[:, 3]
        + 2.5 * x[:, 4]
        - 0.002 * x[:, 5]
        + 6.0 * x[:, 6]
        + 0.9 * x[:, 9]
        + 1.5 * x[:, 11]
        + 2.0 * x[:, 3] * x[:, 4] * 4
    )
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return Dataset(x, labels)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula."""
    order = scores.argsort()
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels > 0.5
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def write_csv(dataset: Dataset, path: Path) -> None:
    """A channel file: header, then one row per example. `%.9g` round-trips float32 exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([dataset.features, dataset.labels]).astype(np.float32)
    header = ",".join((*FEATURE_NAMES, LABEL))
    np.savetxt(path, table, delimiter=",", fmt="%.9g", header=header, comments="")


def read_channel(directory: Path) -> Dataset:
    """Every `.csv` under a channel directory, in name order, as one data set."""
    if not directory.is_dir():
        raise DataError(f"channel directory {directory} does not exist")
    files = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(f"channel directory {directory} holds no .csv files")
    parts = [_read_csv(path) for path in files]
    return Dataset(np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]))


def _read_csv(path: Path) -> Dataset:
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        raise DataError(f"{path} is empty (expected a header row)")
    columns = [name.strip() for name in header]
    missing = [name for name in (*FEATURE_NAMES, LABEL) if name not in columns]
    if missing:
        raise DataError(f"{path}: header lacks {', '.join(missing)}")
    order = [columns.index(name) for name in (*FEATURE_NAMES, LABEL)]
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2, usecols=order)
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
    if len(table) == 0:
        raise DataError(f"{path} has a header but no rows")
    if not np.isfinite(table).all():
        raise DataError(f"{path} holds NaN or infinite values")
    labels = table[:, -1]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(f"{path}: {LABEL} must be 0 or 1")
    return Dataset(np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(labels))
