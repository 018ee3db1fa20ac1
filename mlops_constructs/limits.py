"""Fail synth, with a message that says what to do, before CloudFormation's limits do at deploy."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from constructs import Construct, IConstruct, IValidation

CLOUDFORMATION_MAX_RESOURCES = 500


def _is_cfn_resource(node: IConstruct) -> bool:
    # One call returns every node; asking Node.js about each of them (`CfnResource.is_cfn_resource`)
    # cost a round trip per construct, ~45 per endpoint stack. jsii hands back each node as an
    # instance of its own class, so its Python class answers; only an object jsii could not
    # type (not a Construct) is asked. The MRO is read directly: `isinstance` against the
    # abstract CfnResource walks all of its hundreds of subclasses for each new class (~0.1 s).
    mro = type(node).__mro__
    if cdk.CfnResource in mro:
        return True
    return Construct not in mro and cdk.CfnResource.is_cfn_resource(node)


@jsii.implements(IValidation)
class _ResourceBudget:
    def __init__(self, stack: cdk.Stack, limit: int) -> None:
        self._stack = stack
        self._limit = limit

    def validate(self) -> list[str]:
        count = sum(1 for node in self._stack.node.find_all() if _is_cfn_resource(node))
        if count <= self._limit:
            return []
        return [
            f"stack {self._stack.stack_name} has {count} resources; CloudFormation allows {self._limit} per stack. "
            "Split it: give the extra endpoints or variants their own config entries (each endpoint is its own stack)."
        ]


def enforce_resource_limit(stack: cdk.Stack, limit: int = CLOUDFORMATION_MAX_RESOURCES) -> None:
    """Make synth fail if `stack` would exceed `limit` CloudFormation resources."""
    stack.node.add_validation(_ResourceBudget(stack, limit))
