"""Hyperparameters as SageMaker delivers them: a JSON object whose values are strings.

CreateTrainingJob's HyperParameters is a map of string to string (botocore's
`HyperParameterValue`, at most 2500 characters), so "8", "1e-3" and "64,32" arrive as text.
`parse` turns them into typed values and reports every problem at once; the entrypoint writes
that message to /opt/ml/output/failure, which SageMaker shows as the job's FailureReason.
Keys starting with `sagemaker_` (set by the SageMaker SDK's estimators) are ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class HyperparameterError(ValueError):
    """One or more hyperparameters are unusable; the message lists each."""


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = (64, 32)
    seed: int = 7
    validation_fraction: float = 0.2  # used when there is no `validation` channel
    threshold: float = 0.5
    model_name: str = "caller-risk"
    model_version: str = "1"
    amp: bool = False  # mixed precision (CUDA only; ignored on CPU)
    processes_per_host: int = 0  # 0: one per GPU, or 1 without GPUs

    def as_strings(self) -> dict[str, str]:
        """The form CreateTrainingJob takes (and `parse` reads back)."""
        out: dict[str, str] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, tuple):
                out[item.name] = ",".join(map(str, value))
            elif isinstance(value, bool):
                out[item.name] = "true" if value else "false"
            else:
                out[item.name] = str(value)
        return out


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _float(low: float, high: float, *, open_low: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
            raise ValueError(f"must be in {'(' if open_low else '['}{low}, {high}]")
        return value

    return parse


def _hidden(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(","))
    if not sizes or min(sizes) < 1 or max(sizes) > 65536 or len(sizes) > 16:
        raise ValueError("must be 1 to 16 comma-separated layer sizes between 1 and 65536, e.g. 64,32")
    return sizes


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("must be true or false")


def _name(text: str) -> str:
    if not text or len(text) > 63:
        raise ValueError("must be 1 to 63 characters")
    return text


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "epochs": (_int(1, 10_000), "an integer"),
    "batch_size": (_int(1, 1_048_576), "an integer"),
    "learning_rate": (_float(0.0, 10.0, open_low=True), "a number"),
    "hidden": (_hidden, "layer sizes"),
    "seed": (_int(0, 2**32 - 1), "an integer"),
    "validation_fraction": (_float(0.0, 0.9, open_low=True), "a number"),
    "threshold": (_float(0.0, 1.0), "a number"),
    "model_name": (_name, "a name"),
    "model_version": (_name, "a version"),
    "amp": (_bool, "true or false"),
    "processes_per_host": (_int(0, 64), "an integer"),
}


def parse(raw: Mapping[str, Any]) -> Hyperparameters:
    """Typed hyperparameters from SageMaker's string map (JSON numbers and booleans accepted too)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        if key.startswith("sagemaker_"):
            continue
        if key not in _PARSERS:
            problems.append(f"{key}: unknown hyperparameter (known: {', '.join(sorted(_PARSERS))})")
            continue
        parser, kind = _PARSERS[key]
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        try:
            values[key] = parser(text)
        except ValueError as error:
            detail = str(error) if not str(error).startswith(("invalid literal", "could not convert")) else f"must be {kind}"
            problems.append(f"{key}={value!r}: {detail}")
    if problems:
        raise HyperparameterError("invalid hyperparameters: " + "; ".join(problems))
    return Hyperparameters(**values)


def load(path: Any) -> Hyperparameters:
    """Read /opt/ml/input/config/hyperparameters.json (absent: every default)."""
    from pathlib import Path

    file = Path(path)
    if not file.exists():
        return Hyperparameters()
    try:
        raw = json.loads(file.read_text() or "{}")
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"{file.name} is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise HyperparameterError(f"{file.name} must hold a JSON object of name: string")
    return parse(raw)
