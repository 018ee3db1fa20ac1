"""Shared fixtures: each shipped config is synthesised once per test session.

Templates are read back from the cloud assembly (`assertions.Template.from_json`),
which costs one jsii call instead of a re-synthesis per test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import assertions

from config.loader import CONFIG_DIR, available_envs
from stacks.mlops_app import MlopsStacks, create_app
from tests.aws_emulator import aws, aws_emulator  # noqa: F401 - fixtures for tests that call AWS APIs

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called under `-n`
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist load` (`-n auto` alone, as pyproject's addopts): tests/scheduling.py."""
    if config.getvalue("dist") != "load":
        return None
    from tests.scheduling import make_scheduler

    return make_scheduler(config, log)


@dataclass
class Synthesized:
    """One environment's synthesised app: its stacks, output folder and templates."""

    env: str
    stacks: MlopsStacks
    outdir: Path
    _templates: dict[str, assertions.Template] = field(default_factory=dict)

    def template_json(self, stack_name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.outdir / f"{stack_name}.template.json").read_text())
        return data

    def template(self, stack_name: str) -> assertions.Template:
        if stack_name not in self._templates:
            self._templates[stack_name] = assertions.Template.from_json(self.template_json(stack_name))
        return self._templates[stack_name]

    @property
    def stack_names(self) -> list[str]:
        return [s.stack_name for s in self.stacks.all]

    def foundation(self) -> assertions.Template:
        return self.template(self.stacks.foundation.stack_name)

    def endpoint(self, name: str) -> assertions.Template:
        return self.template(self.stacks.endpoints[name].stack_name)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    """`synth(env)` synthesises config/<env>.yaml once per session and caches it."""
    cache: dict[str, Synthesized] = {}

    def get(env: str) -> Synthesized:
        if env not in cache:
            outdir = tmp_path_factory.mktemp(f"cdk-{env}")
            stacks = create_app(env, outdir=str(outdir))
            stacks.app.synth()
            cache[env] = Synthesized(env=env, stacks=stacks, outdir=outdir)
        return cache[env]

    return get


@pytest.fixture(scope="session")
def model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small caller-risk model.tar.gz, built by the real builder (torch -> ONNX)."""
    from mlops_cli.model_artifact import build

    archive = tmp_path_factory.mktemp("model") / "model.tar.gz"
    build(archive, hidden=(32, 16), rows=8000, epochs=10)
    return archive


@pytest.fixture(scope="session")
def model_dir(model_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive unpacked as SageMaker unpacks it into /opt/ml/model."""
    from mlops_cli.model_artifact import extract

    return extract(model_archive, tmp_path_factory.mktemp("opt-ml") / "model")


@pytest.fixture(scope="session")
def vpc(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """tests/configs/vpc.yaml (made-up subnet and security-group IDs): models placed in a VPC."""
    from config.loader import REPO_ROOT, load_config

    outdir = tmp_path_factory.mktemp("cdk-vpc")
    configs = Path(__file__).parent / "configs"
    stacks = create_app("vpc", outdir=str(outdir), config=load_config("vpc", config_dir=configs, root=REPO_ROOT))
    stacks.app.synth()
    return Synthesized(env="vpc", stacks=stacks, outdir=outdir)


@pytest.fixture(scope="session")
def dev(synth: Callable[[str], Synthesized]) -> Synthesized:
    return synth("dev")


@pytest.fixture(scope="session")
def prod(synth: Callable[[str], Synthesized]) -> Synthesized:
    return synth("prod")


SHIPPED_ENVS = available_envs(CONFIG_DIR)


def normalise(value: Any) -> Any:
    """Replace asset hashes so editing a container does not churn snapshots."""
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(value)))


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}
