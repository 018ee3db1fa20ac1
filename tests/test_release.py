"""Release by config, judged on templates: what each kind of config change does to the stacks.

Two synths cover every case: a base config with one endpoint per scenario, and a head
config that changes each endpoint in its own way. Each endpoint stack is then compared
resource by resource, as CloudFormation would (same logical ID and type: updated in place;
a SageMaker Model or EndpointConfig whose properties change is replaced, since every
property of those resources requires replacement).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config.loader import load_config
from config.schema import Endpoint, MlopsConfig
from stacks.mlops_app import create_app

REPLACED_ON_ANY_CHANGE = {"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig"}
STATEFUL = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SageMaker::Endpoint", "AWS::SNS::Topic"}
SCENARIOS = ("weights", "model", "added", "removed", "instance")


def _base_endpoint(config: MlopsConfig, name: str) -> Endpoint:
    return config.endpoints[0].model_copy(update={"name": name})


def _changed(endpoint: Endpoint, scenario: str) -> Endpoint:
    champion, challenger = endpoint.variants
    if scenario == "weights":
        variants = [champion.model_copy(update={"weight": 40}), challenger.model_copy(update={"weight": 60})]
    elif scenario == "model":
        variants = [champion, challenger.model_copy(update={"model_data": "artifacts://caller-risk/v14/model.tar.gz"})]
    elif scenario == "added":
        variants = [champion, challenger, challenger.model_copy(update={"name": "shadow", "weight": 0})]
    elif scenario == "removed":
        variants = [champion]
    else:  # instance type, on a variant that is not autoscaled
        variants = [champion, challenger.model_copy(update={"instance_type": "ml.c6i.2xlarge"})]
    return endpoint.model_copy(update={"variants": variants})


@dataclass(frozen=True)
class Change:
    added: dict[str, str]
    removed: dict[str, str]
    modified: dict[str, str]
    before: dict[str, Any]
    after: dict[str, Any]

    def types(self, which: dict[str, str]) -> set[str]:
        return set(which.values())


def _resources(outdir: Path, stack: str) -> dict[str, Any]:
    resources: dict[str, Any] = json.loads((outdir / f"{stack}.template.json").read_text())["Resources"]
    return resources


@pytest.fixture(scope="module")
def changes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Change]:
    dev = load_config("dev")
    base = dev.model_copy(update={"endpoints": [_base_endpoint(dev, f"ep-{s}") for s in SCENARIOS], "batch_transforms": []})
    head = base.model_copy(update={"endpoints": [_changed(e, s) for e, s in zip(base.endpoints, SCENARIOS, strict=True)]})
    out = {}
    dirs = {}
    for label, config in (("base", base), ("head", head)):
        dirs[label] = tmp_path_factory.mktemp(f"release-{label}")
        create_app("dev", outdir=str(dirs[label]), config=config).app.synth()
    for scenario in SCENARIOS:
        stack = f"mlops-dev-ep-{scenario}"
        before, after = _resources(dirs["base"], stack), _resources(dirs["head"], stack)
        out[scenario] = Change(
            added={k: after[k]["Type"] for k in after.keys() - before.keys()},
            removed={k: before[k]["Type"] for k in before.keys() - after.keys()},
            modified={k: after[k]["Type"] for k in after.keys() & before.keys() if after[k] != before[k]},
            before=before,
            after=after,
        )
    for stack in ("mlops-dev-foundation", "mlops-dev-release"):
        assert (dirs["base"] / f"{stack}.template.json").read_text() == (dirs["head"] / f"{stack}.template.json").read_text()
    return out


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == resource_type}


def test_weight_shift_changes_only_the_live_weights(changes: dict[str, Change]) -> None:
    change = changes["weights"]
    assert change.added == change.removed == {}
    assert change.types(change.modified) == {"Custom::EndpointWeights"}
    (weights,) = _of_type(change.after, "Custom::EndpointWeights").values()
    assert json.loads(weights["Properties"]["Weights"]) == {"champion": 40.0, "challenger": 60.0}


def test_new_model_replaces_model_and_config_and_updates_the_endpoint_in_place(changes: dict[str, Change]) -> None:
    change = changes["model"]
    # In the template only the Model (its ModelDataUrl) and the role's read grant change.
    # At deploy time the replaced Model gets a new generated name, so the EndpointConfig that
    # names it by GetAtt is replaced, the Endpoint is updated in place (same EndpointName)
    # to the new config, and the weights resource, which names the config, runs again.
    assert change.types(change.modified) == {"AWS::SageMaker::Model", "AWS::IAM::Policy"}
    (model_id,) = [k for k, t in change.modified.items() if t == "AWS::SageMaker::Model"]
    (config_id, config), *_ = _of_type(change.after, "AWS::SageMaker::EndpointConfig").items()
    assert {"Fn::GetAtt": [model_id, "ModelName"]} in [v["ModelName"] for v in config["Properties"]["ProductionVariants"]]
    (endpoint,) = _of_type(change.after, "AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True
    (weights,) = _of_type(change.after, "Custom::EndpointWeights").values()
    assert weights["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}


def test_added_variant_starts_at_weight_zero_then_gets_its_share(changes: dict[str, Change]) -> None:
    change = changes["added"]
    assert change.types(change.added) == {"AWS::SageMaker::Model", "AWS::CloudWatch::Alarm"}  # its model and alarms
    (config,) = _of_type(change.after, "AWS::SageMaker::EndpointConfig").values()
    assert {v["VariantName"]: v["InitialVariantWeight"] for v in config["Properties"]["ProductionVariants"]} == {
        "champion": 0,
        "challenger": 0,
        "shadow": 0,
    }
    (weights,) = _of_type(change.after, "Custom::EndpointWeights").values()
    assert json.loads(weights["Properties"]["Weights"])["shadow"] == 0


def test_removed_variant_removes_only_its_model(changes: dict[str, Change]) -> None:
    change = changes["removed"]
    assert change.types(change.removed) == {"AWS::SageMaker::Model", "AWS::CloudWatch::Alarm"}
    assert not change.added


def test_instance_type_change_runs_the_preflight(changes: dict[str, Change]) -> None:
    change = changes["instance"]
    assert "Custom::ReleasePreflight" in change.types(change.modified)
    (preflight,) = _of_type(change.after, "Custom::ReleasePreflight").values()
    assert {"name": "challenger", "instance_type": "ml.c6i.2xlarge"} in json.loads(preflight["Properties"]["Variants"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_stateful_resource_is_removed_or_renamed(scenario: str, changes: dict[str, Change]) -> None:
    change = changes[scenario]
    assert not change.types(change.removed) & STATEFUL
    for logical_id, resource_type in change.modified.items():
        if resource_type in STATEFUL:
            for name_property in ("EndpointName", "LogGroupName", "BucketName"):
                assert change.before[logical_id]["Properties"].get(name_property) == change.after[logical_id]["Properties"].get(
                    name_property
                )


def test_guarded_by_default_and_strategy_none_drops_the_deployment_config(tmp_path: Path) -> None:
    dev = load_config("dev")
    endpoint = dev.endpoints[0]
    unguarded = endpoint.model_copy(update={"deployment": endpoint.deployment.model_copy(update={"strategy": "none"})})
    config = dev.model_copy(update={"endpoints": [unguarded], "batch_transforms": []})
    stacks = create_app("dev", outdir=str(tmp_path), config=config)
    template = Template.from_stack(stacks.endpoints["caller-risk"])
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"DeploymentConfig": Match.absent()})
    template.has_resource_properties("Custom::ReleasePreflight", {"Guarded": "false"})


def test_default_release_is_guarded(changes: dict[str, Change]) -> None:
    (preflight,) = _of_type(changes["weights"].after, "Custom::ReleasePreflight").values()
    assert preflight["Properties"]["Guarded"] == "true"
    (endpoint,) = _of_type(changes["weights"].after, "AWS::SageMaker::Endpoint").values()
    assert (
        endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "ALL_AT_ONCE"
    )
