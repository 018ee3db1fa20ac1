"""The generated region -> PyTorch training DLC table matches the pinned SDK registry data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from config.loader import REPO_ROOT
from mlops_constructs.training.base_images import pytorch_gpu_training_image
from scripts.gen_training_images import TARGET, render


def test_generated_module_matches_the_sdk_registry_data() -> None:
    assert TARGET.read_text() == render(), "run `make training-images`"


def test_image_uri_has_the_sdk_form() -> None:
    assert pytorch_gpu_training_image("eu-west-1") == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.10.0-gpu-py313"
    )
    assert pytorch_gpu_training_image("cn-north-1").startswith("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_unknown_region_is_named() -> None:
    with pytest.raises(ValueError, match=r"no PyTorch 2\.10\.0 GPU training image is published for region 'xx-east-9'"):
        pytorch_gpu_training_image("xx-east-9")


def test_makefile_regenerates_it() -> None:
    assert "scripts/gen_training_images.py" in (REPO_ROOT / "Makefile").read_text()


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_make_training_base_login_logs_docker_in_to_the_regions_dlc_registry(tmp_path: Path) -> None:
    """`cdk deploy` pulls the DLC base from AWS's registry; the target logs Docker in to it
    (fake aws/docker on PATH record what they were given)."""
    _fake(tmp_path, "aws", f'echo "$@" > {tmp_path}/aws.args; echo secret-password')
    _fake(tmp_path, "docker", f'echo "$@" > {tmp_path}/docker.args; cat > {tmp_path}/docker.stdin')
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["make", "--no-print-directory", "training-base-login", "REGION=eu-west-1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "aws.args").read_text().split() == ["ecr", "get-login-password", "--region", "eu-west-1"]
    assert (tmp_path / "docker.args").read_text().split() == [
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com",
    ]
    assert (tmp_path / "docker.stdin").read_text() == "secret-password\n"
    missing = subprocess.run(["make", "training-base-login"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert "usage: make training-base-login REGION=<region>" in missing.stderr
