"""`training:` config: what CreateTrainingJob would reject fails at synth, naming the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, parse_config
from config.training import TrainingSettings

BASE: dict[str, Any] = {
    "account": "123456789012",
    "region": "eu-west-1",
    "training": {
        "instance_type": "ml.g5.xlarge",
        "max_runtime_minutes": 120,
        "spot": {"enabled": True, "max_wait_minutes": 240},
        "hyperparameters": {"epochs": 20, "learning_rate": 0.001, "hidden": "64,32", "amp": True},
        "dataset": "s3://calls-data/caller-risk/2026-11/",
    },
}


def _load(**changes: Any) -> TrainingSettings:
    data = copy.deepcopy(BASE)
    data["training"].update(changes)
    config = parse_config(yaml.safe_dump(data, sort_keys=False), source="test.yaml")
    assert config.training is not None
    return config.training


def _problems(**changes: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        _load(**changes)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_valid_section_loads_with_hyperparameters_as_strings() -> None:
    training = _load()
    assert training.hyperparameters == {"epochs": "20", "learning_rate": "0.001", "hidden": "64,32", "amp": "true"}
    assert (training.checkpoints, training.distributed, training.volume_encryptable) == (True, False, False)


def test_no_section_no_training() -> None:
    config = parse_config(yaml.safe_dump({"account": "123456789012", "region": "eu-west-1"}), source="t.yaml")
    assert config.training is None


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [
        # botocore TrainingInstanceType enum (generated list)
        ({"instance_type": "ml.c6g.large"}, "training.instance_type", "'ml.c6g.large' is not a SageMaker training instance type"),
        ({"instance_type": "ml.g5.xlarg"}, "training.instance_type", "did you mean ml.g5.xlarge"),
        (
            {"instance_type": "ml.p6e-gb200.36xlarge"},
            "training.instance_type",
            "'ml.p6e-gb200.36xlarge' is an arm64 instance type; the training image is built for amd64 only",
        ),
        # StoppingCondition.MaxWaitTimeInSeconds >= MaxRuntimeInSeconds
        (
            {"spot": {"enabled": True, "max_wait_minutes": 60}},
            "training.spot.max_wait_minutes",
            "60 is less than max_runtime_minutes 120; SageMaker requires MaxWaitTimeInSeconds >= MaxRuntimeInSeconds",
        ),
        ({"spot": {"enabled": True}}, "training.spot.max_wait_minutes", "required with spot"),
        ({"spot": {"enabled": False, "max_wait_minutes": 200}}, "training.spot.max_wait_minutes", "only with spot.enabled: true"),
        ({"spot": {"enabled": True, "max_wait_minutes": 50000}}, "training.spot.max_wait_minutes", "exceeds 40320 (28 days)"),
        # managed spot training resumes only from checkpoints
        ({"checkpoints": False}, "training.checkpoints", "spot training needs checkpoints"),
        # MaxRuntimeInSeconds: at most 28 days
        ({"max_runtime_minutes": 40321}, "training.max_runtime_minutes", "less than or equal to 40320"),
        ({"max_runtime_minutes": 0}, "training.max_runtime_minutes", "greater than or equal to 1"),
        ({"instance_count": 0}, "training.instance_count", "greater than or equal to 1"),
        ({"volume_size_gb": 0}, "training.volume_size_gb", "greater than or equal to 1"),
        # EnableNetworkIsolation: no outbound calls, so no PutEvents
        ({"network_isolation": True}, "training.epoch_events", "a network-isolated job cannot call EventBridge"),
        # HyperParameters: values <= 2500 characters, at most 100 entries
        ({"hyperparameters": {"hidden": "8," * 1300}}, "training.hyperparameters", "'hidden' is longer than 2500 characters"),
        (
            {"hyperparameters": {f"k{i}": "1" for i in range(101)}},
            "training.hyperparameters",
            "101 entries; at most 100",
        ),
        ({"dataset": "ftp://host/data"}, "training.dataset", "dataset is s3://..., artifacts://... or a local .csv file"),
        ({"dataset": "artifacts://"}, "training.dataset", "needs a key prefix after artifacts://"),
        ({"dataset": "data/calls.parquet"}, "training.dataset", "must be a .csv file"),
        ({"output_prefix": "/training"}, "training.output_prefix", "must be a relative key prefix ending in '/'"),
        # TrainingJobName: 63 characters, the stack appends 15
        ({"name": "x" * 49}, "training.name", "at most 48 so job names fit 63"),
        ({"name": "bad_name"}, "training.name", "is not a valid SageMaker name"),
        ({"image": "no-such-folder"}, "training.image", "is neither an images key nor a folder under containers/"),
        ({"spot_enabled": True}, "training.spot_enabled", "unknown key"),
    ],
)
def test_rejected(changes: dict[str, Any], path: str, fragment: str) -> None:
    problems = _problems(**changes)
    assert path in problems, problems
    assert fragment in problems[path]


def test_local_dataset_must_exist(tmp_path: Any) -> None:
    from config.loader import REPO_ROOT

    data = copy.deepcopy(BASE)
    data["training"]["dataset"] = "datasets/missing.csv"
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), source="t.yaml", root=REPO_ROOT)
    assert "local dataset 'datasets/missing.csv' does not exist" in str(caught.value)


def test_volume_key_only_without_local_storage() -> None:
    """CreateTrainingJob rejects VolumeKmsKeyId on instance types with local NVMe storage."""
    assert _load(instance_type="ml.c5.xlarge").volume_encryptable
    assert not _load(instance_type="ml.g5.xlarge").volume_encryptable
    assert not _load(instance_type="ml.p4d.24xlarge").volume_encryptable


def test_training_is_a_reserved_endpoint_name() -> None:
    data = copy.deepcopy(BASE)
    data["endpoints"] = [{"name": "training", "variants": []}]
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), source="t.yaml")
    assert "'training' is reserved" in str(caught.value)


def test_artifacts_scheme_is_the_schemas() -> None:
    from config import schema, training

    assert training.ARTIFACTS_SCHEME == schema.ARTIFACTS_SCHEME


def test_shipped_hyperparameters_are_ones_the_image_accepts() -> None:
    """config/prod.yaml's strings parse with the image's own parser (what the job will do)."""
    from mlops_training.hyperparameters import parse

    from config.loader import load_config

    training = load_config("prod").training
    assert training is not None
    parse(training.hyperparameters)
