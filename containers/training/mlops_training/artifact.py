"""The `mlops-tabular-classifier` v1 artifact (containers/inference/MODEL_FORMAT.md).

`model_files` is what a training job leaves in /opt/ml/model (SageMaker tars that folder into
model.tar.gz); `write_archive` is the same two files as a reproducible archive for the CLI.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mlops_training.data import FEATURE_NAMES

FORMAT_NAME = "mlops-tabular-classifier"
FORMAT_VERSION = 1
INPUT_NAME = "features"
OUTPUT_NAME = "risk"
MEMBERS = ("metadata.json", "model.onnx")


def metadata(*, model_name: str, model_version: str, threshold: float, training: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "model_version": model_version,
        "feature_names": list(FEATURE_NAMES),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "threshold": threshold,
        "training": training,
    }


def model_files(model: Any, example: Any, meta: dict[str, Any]) -> dict[str, bytes]:
    """The artifact's members: model.onnx (exported from `model`) and metadata.json."""
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, example, onnx_path)
        onnx_bytes = onnx_path.read_bytes()
    return {"model.onnx": onnx_bytes, "metadata.json": (json.dumps(meta, indent=2) + "\n").encode()}


def export_onnx(model: Any, example: Any, path: Path) -> None:
    """ONNX opset 17 with a dynamic batch axis, via the TorchScript-based exporter
    (torch 2.13's dynamo exporter would need onnxscript, which nothing else needs)."""
    import torch

    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def write_directory(directory: Path, members: dict[str, bytes]) -> None:
    """The members as plain files (a training job's /opt/ml/model)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in members.items():
        (directory / name).write_bytes(content)


def write_archive(output: Path, members: dict[str, bytes]) -> None:
    """A byte-for-byte reproducible .tar.gz of `members`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def extract(archive: Path, directory: Path) -> Path:
    """Unpack a model.tar.gz as SageMaker does into /opt/ml/model."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(directory, filter="data")
    return directory
