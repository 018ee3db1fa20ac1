"""cdk-nag acknowledgements as data: each names the rule (and finding) and says why.

cdk-nag 3 is a policy-validation plugin; a finding is acknowledged through CDK's
`Validations.of(construct).acknowledge(...)` at the narrowest construct that owns it.
Keeping the records here (not as ad-hoc strings at call sites) lets tests assert that
every acknowledgement has a specific reason.
"""

from __future__ import annotations

import json
import weakref
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


def _is_plain(value: str) -> bool:
    """True when `value` holds no CDK token: it is already what CloudFormation will see."""
    return "${Token[" not in value and "#{Token[" not in value


@jsii.implements(IValidation)
class _StackResourceAcks:
    """A stack's IAM5 wildcard-resource acknowledgements, made once references are resolved.

    The finding id embeds the resource as CloudFormation will see it, including
    cross-stack references, which exist only after CDK's prepare phase; node
    validations run after it and before the policy-validation plugins. One validation
    per stack resolves all of its resources in one call: each call crosses from Python
    to Node and back, and a validation per resource cost ~8 of them (see benchmarks/synth.py).
    """

    def __init__(self, stack: cdk.Stack) -> None:
        self._stack = stack
        self._pending: list[tuple[IConstruct, str, str]] = []

    def add(self, scope: IConstruct, resource: str, reason: str) -> None:
        self._pending.append((scope, resource, reason))

    def validate(self) -> list[str]:
        resolved = self._stack.resolve([resource for _, resource, _ in self._pending])
        by_scope: dict[int, tuple[IConstruct, list[NagAck]]] = {}
        for (scope, _, reason), value in zip(self._pending, resolved, strict=True):
            ack = NagAck(f"AwsSolutions-IAM5[Resource::{_render(value)}]", reason)
            by_scope.setdefault(id(scope), (scope, []))[1].append(ack)
        for scope, acks in by_scope.values():
            acknowledge(scope, *acks)
        return []


_STACK_ACKS: weakref.WeakKeyDictionary[cdk.Stack, _StackResourceAcks] = weakref.WeakKeyDictionary()


def acknowledge_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge the IAM5 finding for exactly `resource` (as written in the grant) on `scope`."""
    ack = NagAck(f"AwsSolutions-IAM5[Resource::{resource}]", reason)  # validates the reason now, not at synth
    if _is_plain(resource):  # nothing to resolve: acknowledge now
        acknowledge(scope, ack)
        return
    stack = cdk.Stack.of(scope)
    pending = _STACK_ACKS.get(stack)
    if pending is None:
        pending = _STACK_ACKS[stack] = _StackResourceAcks(stack)
        stack.node.add_validation(pending)
    pending.add(scope, resource, reason)
