"""Live weights and release preflights (lambda_src/endpoint_weights) against an HTTP emulation of SageMaker.

The custom resource's handler and `mlops weights` share core.py; both are exercised here
as real code through boto3 clients pointed at moto's server. Where moto cannot show a
property (it overwrites instance counts when only weights are sent), botocore's Stubber
checks the request against the real service model instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.endpoint_weights import core, handler
from tests.aws_emulator import Emulator, create_endpoint

ENDPOINT = "caller-risk"


@pytest.fixture
def sagemaker(aws: Emulator) -> Any:
    client = aws.client("sagemaker")
    create_endpoint(client, ENDPOINT, {"champion": ("ml.c5.xlarge", 1.0), "challenger": ("ml.c5.xlarge", 1.0)})
    return client


def _no_sleep(_: float) -> None:
    return None


def test_apply_moves_traffic_to_the_config_weights(sagemaker: Any) -> None:
    seen: list[str] = []
    live = core.apply(
        sagemaker,
        ENDPOINT,
        {"champion": 80, "challenger": 20},
        core.Polling(sleep=_no_sleep, progress=lambda e: seen.append(e.status)),
    )
    assert live.weights() == {"champion": 80.0, "challenger": 20.0}
    assert core.describe(sagemaker, ENDPOINT) is not None
    assert seen[-1] == "InService"


def test_apply_sends_nothing_when_the_shares_already_match(sagemaker: Any) -> None:
    # 50/50 live; 3/3 is the same split.
    assert core.start_apply(sagemaker, ENDPOINT, {"champion": 3, "challenger": 3}) is False
    assert core.start_apply(sagemaker, ENDPOINT, {"champion": 3, "challenger": 1}) is True


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"champion": 1, "blue": 1}, "not live: blue; live but not in config: challenger"),
        ({"champion": 0, "challenger": 0}, "at least one weight must be above 0"),
        ({"champion": -1, "challenger": 2}, "weights must be numbers >= 0 \\(variants champion\\)"),
        ({}, "no variants given"),
    ],
)
def test_apply_refuses_what_cannot_be_a_weight_shift(sagemaker: Any, weights: dict[str, float], message: str) -> None:
    with pytest.raises(core.WeightsError, match=message):
        core.start_apply(sagemaker, ENDPOINT, weights)


def test_a_missing_endpoint_is_named(aws: Emulator) -> None:
    with pytest.raises(core.WeightsError, match="endpoint 'nowhere' does not exist"):
        core.apply(aws.client("sagemaker"), "nowhere", {"a": 1}, core.Polling(sleep=_no_sleep))


def test_the_request_carries_weights_only_and_matches_the_service_model() -> None:
    # Instance counts belong to the autoscaler: DesiredInstanceCount is never sent.
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    live = {
        "EndpointName": ENDPOINT,
        "EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/caller-risk",
        "EndpointConfigName": "c",
        "EndpointStatus": "InService",
        "CreationTime": "2026-11-25T00:00:00Z",
        "LastModifiedTime": "2026-11-25T00:00:00Z",
        "ProductionVariants": [
            {"VariantName": "champion", "CurrentWeight": 1.0, "CurrentInstanceCount": 7},
            {"VariantName": "challenger", "CurrentWeight": 1.0, "CurrentInstanceCount": 3},
        ],
    }
    with Stubber(client) as stub:
        stub.add_response("describe_endpoint", live, {"EndpointName": ENDPOINT})
        stub.add_response(
            "update_endpoint_weights_and_capacities",
            {"EndpointArn": live["EndpointArn"]},
            {
                "EndpointName": ENDPOINT,
                "DesiredWeightsAndCapacities": [
                    {"VariantName": "challenger", "DesiredWeight": 20.0},
                    {"VariantName": "champion", "DesiredWeight": 80.0},
                ],
            },
        )
        assert core.start_apply(client, ENDPOINT, {"champion": 80, "challenger": 20}) is True
        stub.assert_no_pending_responses()


def _stubbed_statuses(statuses: list[str], reason: str | None = None) -> Any:
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for status in statuses:
        response = {
            "EndpointName": ENDPOINT,
            "EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/caller-risk",
            "EndpointStatus": status,
            "CreationTime": "2026-11-25T00:00:00Z",
            "LastModifiedTime": "2026-11-25T00:00:00Z",
        }
        if reason:
            response["FailureReason"] = reason
        stub.add_response("describe_endpoint", response, {"EndpointName": ENDPOINT})
    stub.activate()
    return client


def test_waiting_reports_progress_until_in_service() -> None:
    seen: list[str] = []
    client = _stubbed_statuses(["Updating", "Updating", "InService"])
    core.wait_in_service(client, ENDPOINT, core.Polling(sleep=_no_sleep, progress=lambda e: seen.append(e.status)))
    assert seen == ["Updating", "Updating", "InService"]


def test_waiting_fails_with_the_endpoints_reason() -> None:
    client = _stubbed_statuses(["Updating", "Failed"], reason="Image pull failed")
    with pytest.raises(core.WeightsError, match="is Failed: Image pull failed"):
        core.wait_in_service(client, ENDPOINT, core.Polling(sleep=_no_sleep))


def test_waiting_gives_up_after_the_timeout() -> None:
    ticks: Iterator[float] = iter([0.0, 10.0, 20.0, 40.0])
    client = _stubbed_statuses(["Updating", "Updating", "Updating"])
    with pytest.raises(core.WeightsError, match="still Updating after 30 s"):
        core.wait_in_service(client, ENDPOINT, core.Polling(timeout_s=30, sleep=_no_sleep, clock=lambda: next(ticks)))


# --- the custom resource handler (Provider framework events) ---------------------------------


@pytest.fixture
def clients(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    made = {"sagemaker": aws.client("sagemaker"), "application-autoscaling": aws.client("application-autoscaling")}
    monkeypatch.setattr(handler, "_CLIENTS", made)
    return made


def _event(request: str, kind: str, **properties: str) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResourceType": kind,
        "ResourceProperties": {"ServiceToken": "arn", "EndpointName": ENDPOINT, **properties},
        "PhysicalResourceId": f"{ENDPOINT}-x",
    }


def test_weights_resource_sets_weights_and_completes(clients: dict[str, Any]) -> None:
    sagemaker = clients["sagemaker"]
    create_endpoint(sagemaker, ENDPOINT, {"champion": ("ml.c5.xlarge", 0.0), "challenger": ("ml.c5.xlarge", 0.0)})
    event = _event("Create", "Custom::EndpointWeights", Weights=json.dumps({"champion": 90, "challenger": 10}))
    assert handler.on_event(event)["PhysicalResourceId"] == f"{ENDPOINT}-endpointweights"
    assert handler.is_complete(event) == {"IsComplete": True}
    assert core.describe(sagemaker, ENDPOINT).weights() == {"champion": 90.0, "challenger": 10.0}  # type: ignore[union-attr]


def test_weights_resource_fails_the_deploy_on_a_variant_mismatch(clients: dict[str, Any]) -> None:
    create_endpoint(clients["sagemaker"], ENDPOINT, {"champion": ("ml.c5.xlarge", 1.0)})
    event = _event("Update", "Custom::EndpointWeights", Weights=json.dumps({"champion": 90, "challenger": 10}))
    with pytest.raises(core.WeightsError, match="not live: challenger"):
        handler.on_event(event)


def test_delete_is_a_no_op(clients: dict[str, Any]) -> None:
    event = _event("Delete", "Custom::EndpointWeights", Weights="{}")
    assert handler.on_event(event) == {"PhysicalResourceId": f"{ENDPOINT}-x"}
    assert handler.is_complete(event) == {"IsComplete": True}


def _preflight(variants: dict[str, str], guarded: bool) -> dict[str, Any]:
    payload = json.dumps([{"name": n, "instance_type": t} for n, t in variants.items()])
    return _event("Update", "Custom::ReleasePreflight", Variants=payload, Guarded="true" if guarded else "false")


def test_preflight_passes_a_first_creation(clients: dict[str, Any]) -> None:
    assert handler.on_event(_preflight({"champion": "ml.g4dn.xlarge"}, guarded=True))["PhysicalResourceId"]


def test_preflight_refuses_an_instance_type_change_of_an_autoscaled_variant(clients: dict[str, Any]) -> None:
    create_endpoint(clients["sagemaker"], ENDPOINT, {"champion": ("ml.c5.xlarge", 1.0), "challenger": ("ml.c5.xlarge", 1.0)})
    clients["application-autoscaling"].register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/champion",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    # moto rejects current instance types (stale enum); ml.c5 stands in. The challenger is not autoscaled.
    with pytest.raises(core.WeightsError) as caught:
        handler.on_event(_preflight({"champion": "ml.c5.2xlarge", "challenger": "ml.c5.2xlarge"}, guarded=False))
    message = str(caught.value)
    assert "variant 'champion' is autoscaled" in message
    assert "ml.c5.xlarge -> ml.c5.2xlarge" in message
    assert "add a variant with a new name" in message
    assert "challenger" not in message.split("autoscaled")[0]


def test_preflight_refuses_new_variant_names_under_a_guarded_release(clients: dict[str, Any]) -> None:
    create_endpoint(clients["sagemaker"], ENDPOINT, {"champion": ("ml.c5.xlarge", 1.0)})
    with pytest.raises(
        core.WeightsError, match="needs the same variants as the live endpoint \\(live: champion; config: champion, shadow\\)"
    ):
        handler.on_event(_preflight({"champion": "ml.c5.xlarge", "shadow": "ml.c5.xlarge"}, guarded=True))
    # Strategy none (no DeploymentConfig) may change variants.
    assert handler.on_event(_preflight({"champion": "ml.c5.xlarge", "shadow": "ml.c5.xlarge"}, guarded=False))


def test_the_lambda_asset_holds_the_package_and_imports_as_lambda_does(dev: Any) -> None:
    """Lambda puts the asset's root on sys.path and imports `endpoint_weights.handler`."""
    import subprocess
    import sys

    template = dev.template_json("mlops-dev-release")
    handlers = {
        f["Properties"]["Handler"]: f["Properties"]["Code"]["S3Key"].removesuffix(".zip")
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function" and f["Properties"].get("Runtime", "").startswith("python")
    }
    assert set(handlers) == {"endpoint_weights.handler.on_event", "endpoint_weights.handler.is_complete"}
    asset = dev.outdir / f"asset.{next(iter(handlers.values()))}"
    assert sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()) == [
        "endpoint_weights/__init__.py",
        "endpoint_weights/core.py",
        "endpoint_weights/handler.py",
    ]
    probe = (
        f"import sys; sys.path.insert(0, {str(asset)!r}); import endpoint_weights.handler as h; "
        "print(callable(h.on_event) and callable(h.is_complete))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=asset,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(asset)},
    )
    assert result.stdout.strip() == "True", result.stderr
