"""A small offline model of what a set of synthesised templates will be in one account.

The deploy-rules tests ask questions that span resources and stacks ("can the role that
runs this job use that key?", "may CloudWatch publish to the topic this alarm names?").
This module resolves intrinsic functions across stacks (Ref, Fn::GetAtt, Fn::Join,
Fn::Sub, Fn::GetStackOutput, pseudo parameters) into comparable strings, and evaluates
IAM-style statements (identity policies, key policies, topic policies) with wildcard
matching. It is deliberately small: Allow statements only (the templates' Deny
statements are the TLS guards, checked elsewhere) and string conditions.

A resource reference resolves to `{{stack/LogicalId}}` (Ref) or `{{stack/LogicalId.Attr}}`
(Fn::GetAtt), so the same resource compares equal wherever it is referenced from.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_REF = re.compile(r"^\{\{([^/]+)/([^.}]+)(?:\.([^}]+))?\}\}$")


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: dict[str, Any]
    raw: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{{{{{self.stack}/{self.logical_id}}}}}"

    def att(self, name: str) -> str:
        return f"{{{{{self.stack}/{self.logical_id}.{name}}}}}"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: dict[str, tuple[str, ...]]
    conditions: dict[str, dict[str, tuple[str, ...]]]

    def allows(self, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        """An Allow for `action` on `resource` whose conditions hold in `context` (request keys)."""
        return (
            self.effect == "Allow"
            and any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)
            and any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)
            and self.conditions_hold(context or {})
        )

    def conditions_hold(self, context: dict[str, str]) -> bool:
        """IAM semantics for the operators the templates use; a key missing from the request fails."""
        request = {k.lower(): v for k, v in context.items()}
        for operator, body in self.conditions.items():
            for key, expected in body.items():
                actual = request.get(key.lower())
                if actual is None or not _operator(operator)(actual, expected):
                    return False
        return True

    def names_principal(self, kind: str, value: str) -> bool:
        return any(fnmatch.fnmatchcase(value, p) for p in self.principals.get(kind, ()))


def _operator(name: str) -> Any:
    def equals(actual: str, expected: tuple[str, ...]) -> bool:
        return actual in expected

    def like(actual: str, expected: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in expected)

    def boolean(actual: str, expected: tuple[str, ...]) -> bool:
        return actual.lower() in {e.lower() for e in expected}

    operators = {"StringEquals": equals, "ArnEquals": equals, "StringLike": like, "ArnLike": like, "Bool": boolean}
    if name not in operators:
        raise NotImplementedError(f"condition operator {name}: teach tests/cloud_model.py how IAM evaluates it")
    return operators[name]


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


class CloudModel:
    """Every template of one environment, resolved against one account and region."""

    def __init__(self, templates: dict[str, dict[str, Any]], *, account: str, region: str, partition: str = "aws") -> None:
        self.templates = templates
        self.account = account
        self.region = region
        self.partition = partition
        self.resources: dict[tuple[str, str], Resource] = {
            (stack, logical_id): Resource(stack, logical_id, body["Type"], body.get("Properties", {}), body)
            for stack, template in templates.items()
            for logical_id, body in template.get("Resources", {}).items()
        }

    @staticmethod
    def from_dir(outdir: Path, *, account: str, region: str) -> CloudModel:
        templates = {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in outdir.glob("*.template.json")}
        return CloudModel(templates, account=account, region=region)

    # -- resources ---------------------------------------------------------------------

    def of_type(self, resource_type: str) -> Iterator[Resource]:
        return (r for r in self.resources.values() if r.type == resource_type)

    def target(self, reference: str) -> Resource | None:
        """The resource a resolved `{{stack/Id}}` or `{{stack/Id.Attr}}` string points at."""
        match = _REF.match(reference)
        return self.resources.get((match[1], match[2])) if match else None

    # -- intrinsic functions -----------------------------------------------------------

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), *_ = value.items()
            if fn == "Ref":
                return self._ref(stack, arg)
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"{{{{{stack}/{logical_id}.{attribute}}}}}"
            if fn == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(stack, p)) for p in self.resolve(stack, parts))
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return _SUB.sub(lambda m: str(self.resolve(stack, variables.get(m[1], {"Ref": m[1]}))), text)
            if fn == "Fn::GetStackOutput":
                other = arg["StackName"]
                return self.resolve(other, self.templates[other]["Outputs"][arg["OutputName"]]["Value"])
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(stack, items)[int(index)]
            if fn == "Fn::Split":
                separator, text = arg
                return str(self.resolve(stack, text)).split(separator)
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def _ref(self, stack: str, name: str) -> str:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }
        if name in pseudo:
            return pseudo[name]
        if "." in name:  # Fn::Sub's ${Resource.Attribute}
            logical_id, attribute = name.split(".", 1)
            return f"{{{{{stack}/{logical_id}.{attribute}}}}}"
        return f"{{{{{stack}/{name}}}}}"

    # -- policies ------------------------------------------------------------------------

    def statements(self, stack: str, document: dict[str, Any]) -> list[Statement]:
        out = []
        for raw in self.resolve(stack, document).get("Statement", []):
            principal = raw.get("Principal", {})
            principals: dict[str, tuple[str, ...]] = (
                {"AWS": ("*",)} if principal == "*" else {str(k): _strings(v) for k, v in principal.items()}
            )
            conditions = {op: {k: _strings(v) for k, v in body.items()} for op, body in raw.get("Condition", {}).items()}
            out.append(
                Statement(
                    effect=raw["Effect"],
                    actions=_strings(raw.get("Action")),
                    resources=_strings(raw.get("Resource", "*")),
                    principals=principals,
                    conditions=conditions,
                )
            )
        return out

    def role_statements(self, role: Resource) -> list[Statement]:
        """Identity-policy statements of a role: inline policies and AWS::IAM::Policy resources attached to it."""
        found: list[Statement] = []
        for policy in role.properties.get("Policies", []):
            found += self.statements(role.stack, policy["PolicyDocument"])
        for policy in self.of_type("AWS::IAM::Policy"):
            attached = self.resolve(policy.stack, policy.properties.get("Roles", []))
            if role.ref in attached:
                found += self.statements(policy.stack, policy.properties["PolicyDocument"])
        return found

    def role_allows(self, role: Resource, action: str, resource: str, context: dict[str, str] | None = None) -> list[Statement]:
        return [s for s in self.role_statements(role) if s.allows(action, resource, context)]

    def key_policy(self, key: Resource) -> list[Statement]:
        return self.statements(key.stack, key.properties["KeyPolicy"])

    def key_delegates_to_iam(self, key: Resource) -> bool:
        """The key policy lets this account's IAM policies grant its use (the account root may kms:*)."""
        root = f"arn:{self.partition}:iam::{self.account}:root"
        return any(s.allows("kms:Decrypt", "*") and s.names_principal("AWS", root) for s in self.key_policy(key))

    def role_can_use_key(self, role: Resource, key: Resource, action: str, context: dict[str, str] | None = None) -> bool:
        return self.key_delegates_to_iam(key) and bool(self.role_allows(role, action, key.att("Arn"), context))

    def service_can_use_key(self, service: str, key: Resource, action: str, context: dict[str, str]) -> bool:
        return any(s.allows(action, "*", context) and s.names_principal("Service", service) for s in self.key_policy(key))

    def role_for_arn(self, arn: str) -> Resource | None:
        target = self.target(arn)
        return target if target is not None and target.type == "AWS::IAM::Role" else None

    def trusted_services(self, role: Resource) -> set[str]:
        document = role.properties.get("AssumeRolePolicyDocument", {})
        return {service for s in self.statements(role.stack, document) for service in s.principals.get("Service", ())}

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"


def state_machine_definition(model: CloudModel, machine: Resource) -> dict[str, Any]:
    """The state machine's ASL with references resolved to `{{...}}` strings."""
    text = model.resolve(machine.stack, machine.properties["DefinitionString"])
    definition: dict[str, Any] = json.loads(text)
    return definition


def task_states(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition.get("States", {}).values():
        if state.get("Type") == "Task":
            yield state
        for branch in state.get("Branches", []):
            yield from task_states(branch)
        if "Iterator" in state:
            yield from task_states(state["Iterator"])
        if "ItemProcessor" in state:
            yield from task_states(state["ItemProcessor"])
