"""Apply config weights to a live endpoint, and read what is live: one implementation.

Used by the deploy-time custom resource (handler.py) and by `mlops weights apply/show/drift`,
so the CLI and `cdk deploy` move traffic the same way. Only weights are sent
(UpdateEndpointWeightsAndCapacities with DesiredWeight and no DesiredInstanceCount):
instance counts belong to Application Auto Scaling.

Plain Python with boto3 clients passed in, so tests drive it against a real HTTP emulation
of the API and the Lambda runtime's boto3 is enough.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# DescribeEndpoint.EndpointStatus values (SageMaker API reference).
IN_SERVICE = "InService"
FAILED = "Failed"
# Two traffic shares this close are the same split (0.5 percentage points): weights are floats on the wire.
SHARE_TOLERANCE = 0.005


class WeightsError(Exception):
    """A weights operation that cannot (or did not) succeed; the message says why and what to do."""


class SageMakerClient(Protocol):
    def describe_endpoint(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LiveVariant:
    name: str
    current_weight: float | None
    desired_weight: float | None
    current_instance_count: int | None
    desired_instance_count: int | None


@dataclass(frozen=True)
class LiveEndpoint:
    name: str
    status: str
    config_name: str
    variants: tuple[LiveVariant, ...]
    failure_reason: str | None = None

    def variant_names(self) -> set[str]:
        return {v.name for v in self.variants}

    def weights(self) -> dict[str, float]:
        """The weights SageMaker is routing by (current, else desired)."""
        out = {}
        for v in self.variants:
            weight = v.current_weight if v.current_weight is not None else v.desired_weight
            out[v.name] = float(weight or 0.0)
        return out


def shares(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights as traffic shares (0-1): weight / sum of weights."""
    total = sum(weights.values())
    return {name: (weight / total if total > 0 else 0.0) for name, weight in weights.items()}


def differing(live: Mapping[str, float], desired: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """Variants whose live traffic share differs from the desired share: name -> (live, desired) shares."""
    live_shares, desired_shares = shares(live), shares(desired)
    names = sorted(set(live_shares) | set(desired_shares))
    return {
        n: (live_shares.get(n, 0.0), desired_shares.get(n, 0.0))
        for n in names
        if not math.isclose(live_shares.get(n, 0.0), desired_shares.get(n, 0.0), abs_tol=SHARE_TOLERANCE)
    }


def describe(client: SageMakerClient, endpoint_name: str) -> LiveEndpoint | None:
    """The live endpoint, or None when it does not exist."""
    try:
        response = client.describe_endpoint(EndpointName=endpoint_name)
    except Exception as error:  # botocore's ClientError, without importing botocore here
        if "Could not find endpoint" in str(error):
            return None
        raise
    return LiveEndpoint(
        name=response["EndpointName"],
        status=response["EndpointStatus"],
        config_name=response.get("EndpointConfigName", ""),
        failure_reason=response.get("FailureReason"),
        variants=tuple(
            LiveVariant(
                name=v["VariantName"],
                current_weight=v.get("CurrentWeight"),
                desired_weight=v.get("DesiredWeight"),
                current_instance_count=v.get("CurrentInstanceCount"),
                desired_instance_count=v.get("DesiredInstanceCount"),
            )
            for v in response.get("ProductionVariants", [])
        ),
    )


def validate_weights(desired: Mapping[str, float]) -> None:
    """What CreateEndpointConfig/UpdateEndpointWeightsAndCapacities accept, and what routes traffic."""
    if not desired:
        raise WeightsError("no variants given")
    bad = sorted(name for name, weight in desired.items() if not math.isfinite(weight) or weight < 0)
    if bad:
        raise WeightsError(f"weights must be numbers >= 0 (variants {', '.join(bad)})")
    if not any(weight > 0 for weight in desired.values()):
        raise WeightsError("at least one weight must be above 0, or the endpoint routes no traffic")


def request(endpoint_name: str, desired: Mapping[str, float]) -> dict[str, Any]:
    """The UpdateEndpointWeightsAndCapacities request: weights only, never instance counts."""
    return {
        "EndpointName": endpoint_name,
        "DesiredWeightsAndCapacities": [{"VariantName": name, "DesiredWeight": float(w)} for name, w in sorted(desired.items())],
    }


@dataclass(frozen=True)
class Polling:
    """How to wait for an endpoint: a deadline, a poll interval, and hooks for tests and progress."""

    timeout_s: float = 1800
    poll_s: float = 15
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[LiveEndpoint], None] | None = None


def wait_in_service(client: SageMakerClient, endpoint_name: str, polling: Polling | None = None) -> LiveEndpoint:
    """Poll until the endpoint is InService; raise WeightsError on Failed, absence or timeout."""
    polling = polling or Polling()
    deadline = polling.clock() + polling.timeout_s
    while True:
        live = describe(client, endpoint_name)
        if live is None:
            raise WeightsError(f"endpoint '{endpoint_name}' does not exist (deploy the endpoint stack first)")
        if polling.progress is not None:
            polling.progress(live)
        if live.status == IN_SERVICE:
            return live
        if live.status == FAILED:
            raise WeightsError(f"endpoint '{endpoint_name}' is Failed: {live.failure_reason or 'no reason given'}")
        if polling.clock() >= deadline:
            raise WeightsError(f"endpoint '{endpoint_name}' still {live.status} after {polling.timeout_s:.0f} s")
        polling.sleep(polling.poll_s)


def check_variants(live: LiveEndpoint, desired: Mapping[str, float]) -> None:
    """Weights can move only between the variants that are live; anything else needs a deploy."""
    missing = sorted(set(desired) - live.variant_names())
    extra = sorted(live.variant_names() - set(desired))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"not live: {', '.join(missing)}")
        if extra:
            parts.append(f"live but not in config: {', '.join(extra)}")
        raise WeightsError(
            f"endpoint '{live.name}' variants differ from config ({'; '.join(parts)}); "
            "a change of variants needs `cdk deploy`, not a weight shift"
        )


def start_apply(client: SageMakerClient, endpoint_name: str, desired: Mapping[str, float]) -> bool:
    """Send the weights if they differ from what is live. Returns whether a request was sent.

    The endpoint must be InService (SageMaker rejects updates to an endpoint that is updating).
    """
    validate_weights(desired)
    live = describe(client, endpoint_name)
    if live is None:
        raise WeightsError(f"endpoint '{endpoint_name}' does not exist (deploy the endpoint stack first)")
    check_variants(live, desired)
    if live.status != IN_SERVICE:
        raise WeightsError(f"endpoint '{endpoint_name}' is {live.status}; weights can change only when it is InService")
    if not differing(live.weights(), desired):
        return False
    client.update_endpoint_weights_and_capacities(**request(endpoint_name, desired))
    return True


def is_applied(client: SageMakerClient, endpoint_name: str, desired: Mapping[str, float]) -> bool:
    """True once the endpoint is InService with the desired shares; raises if it failed."""
    live = describe(client, endpoint_name)
    if live is None:
        raise WeightsError(f"endpoint '{endpoint_name}' disappeared while its weights were being set")
    if live.status == FAILED:
        raise WeightsError(f"endpoint '{endpoint_name}' is Failed: {live.failure_reason or 'no reason given'}")
    return live.status == IN_SERVICE and not differing(live.weights(), desired)


def apply(
    client: SageMakerClient, endpoint_name: str, desired: Mapping[str, float], polling: Polling | None = None
) -> LiveEndpoint:
    """Wait for InService, send the weights (if they differ), wait for InService again."""
    wait_in_service(client, endpoint_name, polling)
    start_apply(client, endpoint_name, desired)
    live = wait_in_service(client, endpoint_name, polling)
    if differing(live.weights(), desired):
        raise WeightsError(f"endpoint '{endpoint_name}' is InService but its weights are {live.weights()}, not {dict(desired)}")
    return live


# --- release preflight: refuse, at the start of a deploy, what would fail twenty minutes in ---------


class AutoScalingClient(Protocol):
    def describe_scalable_targets(self, **kwargs: Any) -> dict[str, Any]: ...


class EndpointConfigClient(SageMakerClient, Protocol):
    def describe_endpoint_config(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DesiredVariant:
    name: str
    instance_type: str


def _autoscaled(client: AutoScalingClient, endpoint_name: str, variants: list[str]) -> set[str]:
    ids = {f"endpoint/{endpoint_name}/variant/{v}": v for v in variants}
    if not ids:
        return set()
    response = client.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=sorted(ids))
    return {ids[t["ResourceId"]] for t in response.get("ScalableTargets", []) if t["ResourceId"] in ids}


def preflight_problems(
    sagemaker: EndpointConfigClient,
    autoscaling: AutoScalingClient,
    endpoint_name: str,
    desired: list[DesiredVariant],
    *,
    guarded: bool,
) -> list[str]:
    """What the coming UpdateEndpoint would be refused for, judged against the live endpoint.

    - An autoscaled variant's instance type cannot change in place: SageMaker rejects the
      update until Application Auto Scaling deregisters the variant (SageMaker Developer
      Guide, "Update or delete endpoints that use automatic scaling").
    - A guarded release (any DeploymentConfig: all-at-once, canary, linear or rolling) needs
      the new endpoint config to keep the live variant names (SageMaker Developer Guide,
      "Deployment guardrails: Exclusions"); only strategy `none` may change them.
    """
    live = describe(sagemaker, endpoint_name)
    if live is None:
        return []  # first creation: nothing to compare with
    config = sagemaker.describe_endpoint_config(EndpointConfigName=live.config_name)
    live_types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants", [])}
    problems = []
    changed = [v for v in desired if v.name in live_types and live_types[v.name] != v.instance_type]
    scaled = _autoscaled(autoscaling, endpoint_name, [v.name for v in changed])
    for variant in changed:
        if variant.name in scaled:
            problems.append(
                f"variant '{variant.name}' is autoscaled, so its instance type cannot change in place "
                f"({live_types[variant.name]} -> {variant.instance_type}): add a variant with a new name on "
                f"{variant.instance_type}, shift weight to it, then remove '{variant.name}' in a later deploy"
            )
    names = {v.name for v in desired}
    if guarded and names != set(live_types):
        problems.append(
            f"a guarded release (deployment.strategy other than none) needs the same variants as the live endpoint "
            f"(live: {', '.join(sorted(live_types))}; config: {', '.join(sorted(names))}): deploy the variant change "
            "with deployment.strategy: none, then restore the strategy"
        )
    return problems
