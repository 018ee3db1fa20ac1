"""cdk-nag acknowledgements as data: each names the rule (and finding) and says why.

cdk-nag 3 is a policy-validation plugin; a finding is acknowledged through CDK's
`Validations.of(construct).acknowledge(...)` at the narrowest construct that owns it.
Keeping the records here (not as ad-hoc strings at call sites) lets tests assert that
every acknowledgement has a specific reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from constructs import IConstruct, IValidation

MIN_REASON_LENGTH = 40


@dataclass(frozen=True)
class NagAck:
    """One acknowledged finding: `rule` as cdk-nag prints it, e.g. `AwsSolutions-IAM5[Resource::*]`."""

    rule: str
    reason: str

    def __post_init__(self) -> None:
        if len(self.reason) < MIN_REASON_LENGTH:
            raise ValueError(f"nag acknowledgement {self.rule}: give a specific reason (at least {MIN_REASON_LENGTH} characters)")


def acknowledge(scope: IConstruct, *acks: NagAck) -> None:
    """Acknowledge findings on `scope` (and only what lies below it)."""
    cdk.Validations.of(scope).acknowledge(*(cdk.Acknowledgment(id=ack.rule, reason=ack.reason) for ack in acks))


def _render(value: object) -> str:
    """Render a resolved value the way cdk-nag prints it in a finding id."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == "":
        return "".join(_render(part) for part in value["Fn::Join"][1])
    return json.dumps(value, separators=(",", ":"))


@jsii.implements(IValidation)
class _ResourceAck:
    """Acknowledges an IAM5 wildcard-resource finding once references are resolved.

    The finding id embeds the resource as CloudFormation will see it, including
    cross-stack references, which exist only after CDK's prepare phase; node
    validations run after it and before the policy-validation plugins.
    """

    def __init__(self, scope: IConstruct, resource: str, reason: str) -> None:
        self._scope = scope
        self._resource = resource
        self._reason = reason

    def validate(self) -> list[str]:
        rendered = _render(cdk.Stack.of(self._scope).resolve(self._resource))
        acknowledge(self._scope, NagAck(f"AwsSolutions-IAM5[Resource::{rendered}]", self._reason))
        return []


def acknowledge_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge the IAM5 finding for exactly `resource` (as written in the grant) on `scope`."""
    NagAck("AwsSolutions-IAM5", reason)  # validates the reason now, not at synth
    scope.node.add_validation(_ResourceAck(scope, resource, reason))
