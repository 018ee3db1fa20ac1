"""One snapshot per stack per shipped config; asset hashes normalised.

When one changes, read the diff (tests/__snapshots__/test_snapshots/*.json) and say why
in the commit message. Update with `.venv/bin/pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from config.loader import load_config
from tests.conftest import SHIPPED_ENVS, Synthesized, normalise


def _stacks_per_env() -> list[tuple[str, str]]:
    cases = []
    for env in SHIPPED_ENVS:
        config = load_config(env)
        cases.append((env, "foundation"))
        if config.endpoints:
            cases.append((env, "release"))
        cases += [(env, e.name) for e in config.endpoints]
        if config.batch_transforms:
            cases.append((env, "batch"))
        cases += [(env, f"api-{a.name}") for a in config.apis]
        if config.labeling:
            cases.append((env, "labeling"))
        if any(e.monitoring for e in config.endpoints):
            cases.append((env, "monitoring"))
        if config.training:
            cases.append((env, "training"))
    return cases


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize(("env", "part"), _stacks_per_env())
def test_stack_snapshot(env: str, part: str, synth: Callable[[str], Synthesized], snapshot_json: SnapshotAssertion) -> None:
    result = synth(env)
    assert normalise(result.template_json(f"mlops-{env}-{part}")) == snapshot_json
