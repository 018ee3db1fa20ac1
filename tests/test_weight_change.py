"""A release manager's weight change: what changes in the templates, and what must not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.loader import load_config
from stacks.mlops_app import create_app
from tests.conftest import Synthesized


def _resources(directory: Path, stack: str) -> dict[str, Any]:
    resources: dict[str, Any] = json.loads((directory / f"{stack}.template.json").read_text())["Resources"]
    return resources


def test_weight_change_touches_only_the_endpoint_config(dev: Synthesized, tmp_path: Path) -> None:
    config = load_config("dev")
    endpoint = config.endpoints[0]
    shifted = [v.model_copy(update={"weight": 50}) for v in endpoint.variants]
    changed = config.model_copy(update={"endpoints": [endpoint.model_copy(update={"variants": shifted})]})
    create_app("dev", outdir=str(tmp_path), config=changed).app.synth()

    for stack in (dev.stacks.foundation.stack_name, dev.stacks.batch.stack_name if dev.stacks.batch else ""):
        if stack:
            assert (dev.outdir / f"{stack}.template.json").read_text() == (tmp_path / f"{stack}.template.json").read_text()

    stack = dev.stacks.endpoints["caller-risk"].stack_name
    before, after = _resources(dev.outdir, stack), _resources(tmp_path, stack)
    assert before.keys() == after.keys()  # nothing added or removed
    differing = {name for name in before if before[name] != after[name]}
    assert {before[name]["Type"] for name in differing} == {"AWS::SageMaker::EndpointConfig"}
    (config_id,) = differing
    weights = [v["InitialVariantWeight"] for v in after[config_id]["Properties"]["ProductionVariants"]]
    assert weights == [50, 50]
    # The Endpoint keeps its name and points at the new config by GetAtt: an in-place update.
    (endpoint_resource,) = [r for r in after.values() if r["Type"] == "AWS::SageMaker::Endpoint"]
    assert endpoint_resource["Properties"]["EndpointName"] == "caller-risk"
    assert endpoint_resource["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
