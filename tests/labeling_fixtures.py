"""The prod labelling stack's custom-resource properties as CloudFormation would send them.

References are resolved across stacks (tests/cloud_model.py), then each remaining
`{{stack/Id.Attr}}` marker is replaced with a value of the shape AWS gives that attribute,
so the handler and botocore's validation see realistic ARNs, names and URIs.
"""

from __future__ import annotations

import re
from typing import Any

from tests.cloud_model import CloudModel
from tests.conftest import Synthesized

ACCOUNT = "222222222222"
REGION = "eu-west-1"
_MARKER = re.compile(r"\{\{([A-Za-z0-9-]+)/([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}\}")  # not Liquid's {{ task... }}


def model_of(result: Synthesized) -> CloudModel:
    templates = {name: result.template_json(name) for name in result.stack_names}
    foundation = result.stacks.foundation
    return CloudModel(templates, account=foundation.account, region=foundation.region)


def _concrete(model: CloudModel, match: re.Match[str]) -> str:
    stack, logical_id, attribute = match[1], match[2], match[3]
    resource = model.resources[(stack, logical_id)]
    name = logical_id.lower()[:40]
    kind = resource.type
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{name}" if attribute == "Arn" else name
    if kind == "AWS::KMS::Key":
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f5e6d2c-1111-2222-3333-444455556666"
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
    if kind == "AWS::Lambda::Function":
        function = resource.properties.get("FunctionName", logical_id)
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    if kind == "AWS::SageMaker::Workteam":
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/{resource.properties['WorkteamName']}"
    if kind == "Custom::LabelingJob" and attribute == "JobName":
        return f"{resource.properties['JobName']}-0a1b2c3d"
    raise AssertionError(f"no concrete value for {match[0]} ({kind})")


def concrete(model: CloudModel, stack: str, value: Any) -> Any:
    """`value` resolved, with every reference made concrete."""
    resolved = model.resolve(stack, value)
    if isinstance(resolved, str):
        return _MARKER.sub(lambda m: _concrete(model, m), resolved)
    if isinstance(resolved, list):
        return [concrete(model, stack, v) for v in resolved]
    if isinstance(resolved, dict):
        return {k: concrete(model, stack, v) for k, v in resolved.items()}
    return resolved


def job_properties(result: Synthesized, job: str) -> dict[str, str]:
    """The `Custom::LabelingJob` properties of config job `job`, concrete."""
    model = model_of(result)
    stack = f"mlops-{result.env}-labeling"
    (resource,) = [r for r in model.of_type("Custom::LabelingJob") if r.properties["JobName"] == job]
    properties: dict[str, str] = concrete(model, stack, resource.properties)
    return properties
