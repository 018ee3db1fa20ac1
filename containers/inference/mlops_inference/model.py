"""Load a model directory in the documented format and run it with ONNX Runtime.

Format (MODEL_FORMAT.md): `model.onnx` (input `features` float32 [batch, n], output
`risk` float32 [batch, 1], normalisation and sigmoid inside the graph) and
`metadata.json` (format name and version, ordered feature names, threshold).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

FORMAT_NAME = "mlops-tabular-classifier"
SUPPORTED_VERSIONS = frozenset({1})


class ModelFormatError(ValueError):
    """The model directory does not hold a model this server can load."""


@dataclass(frozen=True)
class ModelMetadata:
    feature_names: tuple[str, ...]
    threshold: float
    input_name: str
    output_name: str
    model_name: str
    model_version: str

    @classmethod
    def parse(cls, data: Any) -> ModelMetadata:
        if not isinstance(data, dict):
            raise ModelFormatError(f"metadata.json must hold a JSON object, not {type(data).__name__}")
        if data.get("format") != FORMAT_NAME:
            raise ModelFormatError(f"metadata.json format is {data.get('format')!r}; this server loads {FORMAT_NAME!r}")
        if data.get("format_version") not in SUPPORTED_VERSIONS:
            raise ModelFormatError(
                f"format_version {data.get('format_version')!r} is not supported (supported: {sorted(SUPPORTED_VERSIONS)})"
            )
        names = data.get("feature_names")
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names)
        ):
            raise ModelFormatError("metadata.json feature_names must be a non-empty list of unique strings")
        threshold = data.get("threshold", 0.5)
        if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise ModelFormatError("metadata.json threshold must be a number in [0, 1]")
        return cls(
            feature_names=tuple(names),
            threshold=float(threshold),
            input_name=str(data.get("input_name", "features")),
            output_name=str(data.get("output_name", "risk")),
            model_name=str(data.get("model_name", "model")),
            model_version=str(data.get("model_version", "unknown")),
        )


class Model:
    """An ONNX Runtime session plus the metadata that gives its inputs meaning."""

    def __init__(self, model_dir: str | Path, *, device: str = "auto", threads: int = 0) -> None:
        directory = Path(model_dir)
        metadata_path, onnx_path = directory / "metadata.json", directory / "model.onnx"
        for path in (metadata_path, onnx_path):
            if not path.is_file():
                raise ModelFormatError(f"{path} is missing; expected model.onnx and metadata.json in {directory}")
        try:
            self.metadata = ModelMetadata.parse(json.loads(metadata_path.read_bytes().decode("utf-8")))
        except UnicodeDecodeError as error:
            raise ModelFormatError(f"{metadata_path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
        except json.JSONDecodeError as error:
            raise ModelFormatError(f"{metadata_path} is not valid JSON: {error}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors reach the caller as one ModelFormatError line
        self.providers = _providers(device)
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=self.providers)
        except Exception as error:  # ORT raises its own types (InvalidProtobuf, Fail, ...)
            raise ModelFormatError(f"{onnx_path} is not a model ONNX Runtime can load: {_first_line(error)}") from None
        self.n_features = len(self.metadata.feature_names)
        self._check_graph()

    def _check_graph(self) -> None:
        """Inputs and outputs as the format promises, checked once at load, not on every request.

        A wrong `output_name` used to start fine and fail every request; an output of
        [batch, 2] was served with 200 and other rows' values.
        """
        meta = self.metadata
        inputs = {i.name: i for i in self.session.get_inputs()}
        if meta.input_name not in inputs:
            raise ModelFormatError(f"model.onnx has no input {meta.input_name!r} (inputs: {', '.join(inputs)})")
        width = inputs[meta.input_name].shape[-1]
        if isinstance(width, int) and width != len(meta.feature_names):
            raise ModelFormatError(f"model.onnx takes {width} features but metadata.json names {len(meta.feature_names)}")
        outputs = {o.name: o for o in self.session.get_outputs()}
        if meta.output_name not in outputs:
            raise ModelFormatError(f"model.onnx has no output {meta.output_name!r} (outputs: {', '.join(outputs)})")
        shape = list(outputs[meta.output_name].shape or [])
        if len(shape) > 2 or (len(shape) == 2 and isinstance(shape[1], int) and shape[1] != 1):
            raise ModelFormatError(
                f"model.onnx output {meta.output_name!r} has shape {shape}; the format wants [batch, 1], one risk per row"
            )
        self._output = [meta.output_name]
        # Symbolic shapes say little: run two rows and count what comes back.
        try:
            (probe,) = self.session.run(self._output, {meta.input_name: np.zeros((2, self.n_features), np.float32)})
        except Exception as error:
            raise ModelFormatError(f"model.onnx fails on two rows of zeros: {_first_line(error)}") from None
        if np.asarray(probe).size != 2:
            raise ModelFormatError(
                f"model.onnx output {meta.output_name!r} gives shape {list(np.shape(probe))} for 2 rows; "
                "the format wants [batch, 1], one risk per row"
            )

    @property
    def device(self) -> str:
        return "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Risk probabilities, shape (n,), for float32 rows of shape (n, n_features)."""
        (risk,) = self.session.run(self._output, {self.metadata.input_name: rows})
        scores = np.asarray(risk, dtype=np.float32).reshape(-1)
        if len(scores) != len(rows):
            raise ValueError(f"model returned {len(scores)} values for {len(rows)} rows")
        return scores


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def default_threads() -> int:
    """One core fewer than the machine has: the event loop keeps a core to itself.

    Measured on 2 cores (benchmarks/serving.py, heavy MLP, 32 connections): 1 thread gave
    5.0k req/s at P99/P50 1.38; 2 threads 8.1k req/s but P99/P50 2.20, and the tiny
    model lost throughput, as the batch thread and the event loop fought for the cores.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def _providers(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelFormatError(f"DEVICE=cuda but ONNX Runtime offers only {', '.join(available)}")
    if device in {"auto", "cuda"} and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
