"""CloudFormation custom resources (CDK Provider framework) for releases by config.

- `Custom::EndpointWeights`: after the endpoint is created or updated, set the config's
  weights live with UpdateEndpointWeightsAndCapacities (weights only) and wait until the
  endpoint is InService with them; a failure fails the deploy, and CloudFormation rolls back.
- `Custom::ReleasePreflight`: before a new endpoint config is created, refuse changes that
  SageMaker would reject twenty minutes into the update (see core.preflight_problems).

Thin on purpose: parsing here, logic in core.py (shared with `mlops weights`), clients
created once per container and replaceable in tests.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .core import DesiredVariant, WeightsError, is_applied, preflight_problems, start_apply

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)
_CLIENTS: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


def _weights(properties: dict[str, Any]) -> dict[str, float]:
    raw = json.loads(properties["Weights"])
    return {str(name): float(weight) for name, weight in raw.items()}


def on_event(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Provider framework onEvent: start the work; is_complete finishes it."""
    kind = event["ResourceType"]
    properties = event["ResourceProperties"]
    endpoint = properties["EndpointName"]
    physical_id = f"{endpoint}-{kind.removeprefix('Custom::').lower()}"
    LOG.info(json.dumps({"request": event["RequestType"], "resource": kind, "endpoint": endpoint}))
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    if kind == "Custom::ReleasePreflight":
        desired = [DesiredVariant(v["name"], v["instance_type"]) for v in json.loads(properties["Variants"])]
        problems = preflight_problems(
            _client("sagemaker"), _client("application-autoscaling"), endpoint, desired, guarded=properties["Guarded"] == "true"
        )
        if problems:
            raise WeightsError(f"endpoint '{endpoint}': " + "; ".join(problems))
        return {"PhysicalResourceId": physical_id}
    if kind == "Custom::EndpointWeights":
        weights = _weights(properties)
        sent = start_apply(_client("sagemaker"), endpoint, weights)
        LOG.info(json.dumps({"endpoint": endpoint, "weights": weights, "sent": sent}))
        return {"PhysicalResourceId": physical_id}
    raise WeightsError(f"unknown resource type {kind}")


def is_complete(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Provider framework isComplete: polled until True, or the provider's total timeout."""
    if event["RequestType"] == "Delete" or event["ResourceType"] != "Custom::EndpointWeights":
        return {"IsComplete": True}
    properties = event["ResourceProperties"]
    return {"IsComplete": is_applied(_client("sagemaker"), properties["EndpointName"], _weights(properties))}
