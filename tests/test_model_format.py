"""The model artifact format: what the builder writes is what the server loads."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from mlops_inference.model import FORMAT_NAME, Model, ModelFormatError

from mlops_cli.model_artifact import FEATURE_NAMES, auc, build, synthetic_calls


def test_archive_holds_onnx_and_metadata(model_archive: Path) -> None:
    with tarfile.open(model_archive) as tar:
        assert sorted(tar.getnames()) == ["metadata.json", "model.onnx"]
        metadata = json.load(tar.extractfile("metadata.json"))  # type: ignore[arg-type]
    assert metadata["format"] == FORMAT_NAME
    assert metadata["format_version"] == 1
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert metadata["training"]["holdout_auc"] > 0.7  # it learned the synthetic rule


def test_build_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    digests = set()
    for name in ("a", "b"):
        path = tmp_path / name / "model.tar.gz"
        build(path, hidden=(8,), rows=500, epochs=1)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_model_outputs_probabilities_for_raw_features(model_dir: Path) -> None:
    model = Model(model_dir, device="cpu", threads=1)
    data = synthetic_calls(500, seed=3)
    risk = model.predict(data.features)
    assert risk.shape == (500,)
    assert ((risk >= 0) & (risk <= 1)).all()
    assert auc(risk, data.labels) > 0.7  # normalisation is inside the graph
    assert model.device == "cpu"


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def _rewrite_metadata(directory: Path, **changes: object) -> None:
    path = directory / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "pytorch-state-dict"}, "this server loads 'mlops-tabular-classifier'"),
        ({"format_version": 2}, "format_version 2 is not supported"),
        ({"feature_names": ["a", "a"]}, "feature_names must be a non-empty list of unique strings"),
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"feature_names": ["only", "three", "names"]}, "takes 12 features but metadata.json names 3"),
        ({"input_name": "x"}, "model.onnx has no input 'x'"),
    ],
)
def test_bad_metadata_is_rejected_with_reason(model_dir: Path, tmp_path: Path, changes: dict[str, object], message: str) -> None:
    directory = _copy(model_dir, tmp_path)
    _rewrite_metadata(directory, **changes)
    with pytest.raises(ModelFormatError, match=message):
        Model(directory)


def test_missing_file_is_named(model_dir: Path, tmp_path: Path) -> None:
    directory = _copy(model_dir, tmp_path)
    (directory / "model.onnx").unlink()
    with pytest.raises(ModelFormatError, match=r"model.onnx is missing"):
        Model(directory)


def test_cuda_requested_without_cuda_runtime(model_dir: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelFormatError, match="DEVICE=cuda but ONNX Runtime offers only"):
        Model(model_dir, device="cuda")


def test_prediction_is_float32_per_row(model_dir: Path) -> None:
    model = Model(model_dir, threads=1)
    assert model.predict(np.zeros((3, 12), dtype=np.float32)).dtype == np.float32
