"""What `mlops diff` blocks, and why: the one list of stateful resource types.

A merge that would replace or remove one of these loses data, history or a name that people
and other systems address, and CloudFormation does it without asking. `mlops diff` exits 1
when a change would, unless `--allow-replace <logical-id>` names the resource;
tests/test_stateful_ids.py pins the logical IDs of every resource of these types, so a
refactor that renames one fails the suite as well.

The rules look at the resource as it is deployed now (the base template).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _always(_resource: Mapping[str, Any]) -> bool:
    return True


def _has_retention(resource: Mapping[str, Any]) -> bool:
    return "RetentionInDays" in (resource.get("Properties") or {})


@dataclass(frozen=True)
class StatefulRule:
    """One stateful resource type: replacing or removing it blocks a merge."""

    resource_type: str
    reason: str
    applies: Callable[[Mapping[str, Any]], bool] = _always


STATEFUL_RULES: tuple[StatefulRule, ...] = (
    StatefulRule(
        "AWS::S3::Bucket",
        "a new bucket starts empty; the old one's objects are deleted with it or orphaned (retain)",
    ),
    StatefulRule(
        "AWS::KMS::Key",
        "data encrypted under the old key cannot be decrypted by the new one; a removed key is scheduled for deletion",
    ),
    StatefulRule("AWS::DynamoDB::Table", "the table's items are deleted with it or orphaned (retain)"),
    StatefulRule("AWS::Cognito::UserPool", "users, their passwords and MFA devices cannot be moved to a new pool"),
    StatefulRule(
        "AWS::Cognito::UserPoolUser",
        "the annotator's password and MFA device are lost and the invitation is sent again",
    ),
    StatefulRule(
        "AWS::Logs::LogGroup",
        "logs kept for the retention period go with the old group; a fixed name collides with itself",
        _has_retention,
    ),
    StatefulRule(
        "AWS::SageMaker::Endpoint",
        "the endpoint serving traffic is deleted (outage); its fixed name collides with itself on replacement",
    ),
    StatefulRule("AWS::SNS::Topic", "subscriptions that people confirmed are lost and must be confirmed again"),
    StatefulRule(
        "AWS::SageMaker::Workforce",
        "the worker portal and its sign-in go with it; an account has one private workforce per region",
    ),
    StatefulRule(
        "AWS::SageMaker::Workteam",
        "the labelling team and its worker-portal sign-in go with it; its fixed name collides with itself on replacement",
    ),
    StatefulRule(
        "Custom::LabelingJob",
        "the running labelling job is stopped; a new one starts over on every object and annotators' work in progress is lost",
    ),
    StatefulRule(
        "AWS::SageMaker::MonitoringSchedule",
        "its fixed name collides with itself on replacement, and its execution history goes with the old schedule",
    ),
    StatefulRule(
        "AWS::StepFunctions::StateMachine",
        "execution history is lost and the fixed name collides with itself on replacement",
    ),
)

STATEFUL_TYPES: frozenset[str] = frozenset(rule.resource_type for rule in STATEFUL_RULES)

# SageMaker Developer Guide, "Update endpoints that use automatic scaling": an update that
# changes the instance type of a variant registered as a scalable target fails, and
# CloudFormation rolls the stack back; deregister the scalable target first.
AUTOSCALED_INSTANCE_TYPE_REASON = (
    "the variant is an Application Auto Scaling target: SageMaker refuses to change its instance type in place "
    "(deregister the scalable target first, or add a new variant and move the weight)"
)


def stateful_rule(resource: Mapping[str, Any]) -> StatefulRule | None:
    """The rule that makes `resource` (a template resource body) stateful, if any."""
    for rule in STATEFUL_RULES:
        if rule.resource_type == resource.get("Type") and rule.applies(resource):
            return rule
    return None
