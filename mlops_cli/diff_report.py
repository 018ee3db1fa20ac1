"""What a merge would change, from the CDK diff engine's verdicts, in words a release manager reads.

The engine (mlops_cli/diff_engine.cjs) decides, per resource, whether a change adds,
updates, replaces or removes it and which property forces a replacement; this module only
groups its verdicts, reads endpoint weights and models out of both templates, applies the
blocking rules of mlops_cli.diff_rules and renders text, markdown or JSON.

JSON output (`--format json`), schema "mlops-diff/1":

    {
      "schema": "mlops-diff/1",
      "verdict": "ok" | "blocked",           # blocked: at least one blocking change not allowed
      "exit_code": 0 | 1,
      "base": {"ref": str, "commit": str},
      "head": {"ref": str | null, "commit": str | null},   # null: the working tree
      "engine": "aws-cdk <version>",
      "envs": [str],
      "notes": [str],                         # e.g. which dependencies each side used
      "blocking": [Blocking], "allowed": [Blocking],
      "stacks": [{
        "env": str, "stack": str,
        "status": "added" | "removed" | "changed" | "unchanged",
        "resources": [{
          "logical_id": str, "type": str,
          "change": "added" | "removed" | "orphaned" | "modified" | "replaced" | "may be replaced",
          "properties": [str],                # changed properties
          "replaced_by": [str],               # properties that force the replacement
          "through": [str],                   # replaced resources whose new name/ARN causes the change
          "assets": [str],                    # code/image folders, when only asset hashes changed
          "asset_only": bool
        }],
        "weights": [{"endpoint", "variant", "weight_before", "weight_after", "share_before", "share_after",
                     "model_before", "model_after", "instance_type_before", "instance_type_after"}],
        "guardrails": [Setting], "autoscaling": [Setting],
        "iam": [{"change": "+" | "-", "effect", "principal", "action", "resource", "condition"}],
        "engine_text": str                    # what `cdk diff --template` prints for the stack
      }],
      "timings": {"base_synth_s", "head_synth_s", "engine_s", "total_s"}
    }
    Blocking = {"env", "stack", "logical_id", "type", "change", "property" | null, "reason"}
    Setting  = {"resource": str, "what": str, "before": str | null, "after": str | null}

A value that is null on one side did not exist there (a share is null when a side's weights sum to 0).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.diff_rules import AUTOSCALED_INSTANCE_TYPE_REASON, stateful_rule

SCHEMA = "mlops-diff/1"
ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# ${Resource.Attr} or ${other-stack:OutputName}, as diff_engine.cjs marks values that a replacement renews
_THROUGH = re.compile(r"\$\{([A-Za-z0-9-]+(?::[A-Za-z0-9]+)?)(?:\.[A-Za-z0-9.]+)?\} \(new after replacement\)")
_OUTPUT_NAME = re.compile(r"^PublishOutput(?:Ref|FnGetAtt)?(?P<name>.+?)(?:[0-9A-F]{8}){1,2}$")
_REPLACING = {"WILL_REPLACE", "MAY_REPLACE"}
_S3_TOKEN_BUCKET = re.compile(r"^s3://\$\{[^}]+\}/")


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str
    type: str
    change: str
    properties: list[str]
    replaced_by: list[str]
    through: list[str]
    assets: list[str]
    asset_only: bool


@dataclass(frozen=True)
class WeightRow:
    endpoint: str
    variant: str
    weight_before: float | None
    weight_after: float | None
    share_before: float | None
    share_after: float | None
    model_before: str | None
    model_after: str | None
    instance_type_before: str | None
    instance_type_after: str | None


@dataclass(frozen=True)
class Setting:
    resource: str
    what: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class IamStatement:
    change: str
    effect: str
    principal: str
    action: str
    resource: str
    condition: str


@dataclass(frozen=True)
class Blocking:
    env: str
    stack: str
    logical_id: str
    type: str
    change: str
    property: str | None
    reason: str


@dataclass
class StackReport:
    env: str
    stack: str
    status: str
    resources: list[ResourceChange] = field(default_factory=list)
    weights: list[WeightRow] = field(default_factory=list)
    guardrails: list[Setting] = field(default_factory=list)
    autoscaling: list[Setting] = field(default_factory=list)
    iam: list[IamStatement] = field(default_factory=list)
    engine_text: str = ""

    def count(self, *changes: str) -> int:
        return sum(1 for r in self.resources if r.change in changes)


@dataclass
class Report:
    base: dict[str, str | None]
    head: dict[str, str | None]
    engine: str
    envs: list[str]
    stacks: list[StackReport]
    blocking: list[Blocking]
    allowed: list[Blocking]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    @property
    def verdict(self) -> str:
        return "blocked" if self.blocking else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "base": self.base,
            "head": self.head,
            "engine": self.engine,
            "envs": self.envs,
            "notes": self.notes,
            "blocking": [asdict(b) for b in self.blocking],
            "allowed": [asdict(b) for b in self.allowed],
            "stacks": [asdict(s) for s in self.stacks],
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


# --- reading templates -----------------------------------------------------------------------


def render(value: Any) -> str:
    """A CloudFormation value as one readable line (intrinsics as ${...})."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return ", ".join(render(v) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return f"${{{'.'.join(str(p) for p in parts)}}}"
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
            return str(arg[0]).join(render(p) for p in arg[1])
        if key == "Fn::Sub":
            return str(arg[0] if isinstance(arg, list) else arg)
        if key == "Fn::GetStackOutput" and isinstance(arg, dict):
            name = str(arg.get("OutputName", "?"))
            match = _OUTPUT_NAME.match(name)
            return f"${{{match.group('name') if match else name}}}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short_hashes(text: str, sources: Mapping[str, str]) -> str:
    def name(match: re.Match[str]) -> str:
        digest = match.group(0)
        folder = sources.get(digest)
        return f"<asset {digest[:8]}{' ' + folder if folder else ''}>"

    text = ASSET_HASH.sub(name, text)
    # an asset marker left short above (<asset 1a2b3c4d>) gains its folder too
    for digest, folder in sources.items():
        text = text.replace(f"<asset {digest[:8]}>", f"<asset {digest[:8]} {folder}>")
    return text


def _target(value: Any) -> str | None:
    """The logical ID a Ref/GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            arg = value["Fn::GetAtt"]
            return str(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
    return None


@dataclass(frozen=True)
class Variant:
    weight: float | None
    instance_type: str | None
    model: str | None


def _model_text(template: Mapping[str, Any], model_id: str | None, sources: Mapping[str, str]) -> str | None:
    """`caller-risk/v12/model.tar.gz @ <asset 1a2b3c4d containers/inference>`: the key and the image, short."""
    if model_id is None:
        return None
    model = template.get("Resources", {}).get(model_id)
    if not model:
        return model_id
    props = model.get("Properties", {})
    container = props.get("PrimaryContainer") or (props.get("Containers") or [{}])[0]
    data = container.get("ModelDataUrl") or container.get("ModelDataSource")
    image = container.get("Image")
    # s3://${Bucket}/key -> key: the bucket is the platform's artifacts bucket on both sides.
    parts = [_S3_TOKEN_BUCKET.sub("", render(data)) if data is not None else "no model data"]
    if image is not None:
        image_text = render(image)
        digest = ASSET_HASH.search(image_text)
        parts.append(f"<asset {digest.group(0)[:8]}>" if digest else image_text.rsplit("/", 1)[-1])
    return _short_hashes(" @ ".join(parts), sources)


def endpoints(template: Mapping[str, Any], sources: Mapping[str, str]) -> dict[str, tuple[str, dict[str, Variant]]]:
    """Endpoint logical ID -> (endpoint name, variant name -> Variant) as a template deploys them."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    found: dict[str, tuple[str, dict[str, Variant]]] = {}
    for logical_id, body in resources.items():
        if body.get("Type") != "AWS::SageMaker::Endpoint":
            continue
        props = body.get("Properties", {})
        name = props.get("EndpointName")
        name = name if isinstance(name, str) else logical_id
        config = resources.get(_target(props.get("EndpointConfigName")) or "", {})
        live = _live_weights(resources, logical_id, name)
        variants: dict[str, Variant] = {}
        for spec in config.get("Properties", {}).get("ProductionVariants", []):
            variant = str(spec.get("VariantName"))
            weight = live.get(variant, spec.get("InitialVariantWeight")) if live else spec.get("InitialVariantWeight")
            variants[variant] = Variant(
                weight=float(weight) if isinstance(weight, int | float) else None,
                instance_type=spec.get("InstanceType"),
                model=_model_text(template, _target(spec.get("ModelName")), sources),
            )
        found[logical_id] = (name, variants)
    return found


def _live_weights(resources: Mapping[str, Any], endpoint_id: str, endpoint_name: str) -> dict[str, float]:
    """Weights a `Custom::EndpointWeights` resource sets on the endpoint after deployment, if any."""
    for body in resources.values():
        if body.get("Type") != "Custom::EndpointWeights":
            continue
        props = body.get("Properties", {})
        target = props.get("EndpointName")
        if _target(target) == endpoint_id or target == endpoint_name:
            weights = props.get("Weights")
            try:
                parsed = json.loads(weights) if isinstance(weights, str) else weights
            except ValueError:
                return {}
            return {str(k): float(v) for k, v in (parsed or {}).items()}
    return {}


def weight_rows(
    base: Mapping[str, Any], head: Mapping[str, Any], base_sources: Mapping[str, str], head_sources: Mapping[str, str]
) -> list[WeightRow]:
    """Before -> after per variant, for every endpoint where a weight, model or instance type changes."""
    before, after = endpoints(base, base_sources), endpoints(head, head_sources)
    rows: list[WeightRow] = []
    for logical_id in [*after, *(k for k in before if k not in after)]:
        name = (after.get(logical_id) or before[logical_id])[0]
        old = before.get(logical_id, (name, {}))[1]
        new = after.get(logical_id, (name, {}))[1]
        if old == new:
            continue
        old_total = sum(v.weight or 0 for v in old.values())
        new_total = sum(v.weight or 0 for v in new.values())
        for variant in [*new, *(v for v in old if v not in new)]:
            was, now = old.get(variant), new.get(variant)
            rows.append(
                WeightRow(
                    endpoint=name,
                    variant=variant,
                    weight_before=was.weight if was else None,
                    weight_after=now.weight if now else None,
                    share_before=_share(was, old_total),
                    share_after=_share(now, new_total),
                    model_before=was.model if was else None,
                    model_after=now.model if now else None,
                    instance_type_before=was.instance_type if was else None,
                    instance_type_after=now.instance_type if now else None,
                )
            )
    return rows


def _share(variant: Variant | None, total: float) -> float | None:
    if variant is None or variant.weight is None or total <= 0:
        return None
    return round(variant.weight / total * 100, 1)


def autoscaled_variants(template: Mapping[str, Any], endpoint_id: str, endpoint_name: str) -> set[str]:
    found: set[str] = set()
    for body in template.get("Resources", {}).values():
        if body.get("Type") != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        props = body.get("Properties", {})
        if props.get("ServiceNamespace") != "sagemaker":
            continue
        resource_id = render(props.get("ResourceId"))
        if f"${{{endpoint_id}." in resource_id or f"endpoint/{endpoint_name}/" in resource_id:
            found.add(resource_id.rsplit("/variant/", 1)[-1])
    return found


def deployment_config_text(value: Any) -> str | None:
    """DeploymentConfig (deployment guardrails) in a few words."""
    if not isinstance(value, dict):
        return None if value is None else render(value)
    words: list[str] = []
    blue_green = value.get("BlueGreenUpdatePolicy")
    if isinstance(blue_green, dict):
        routing = blue_green.get("TrafficRoutingConfiguration", {})
        kind = str(routing.get("Type", "?")).lower().replace("_", " ")
        step = routing.get("CanarySize") or routing.get("LinearStepSize")
        step_text = f" {step.get('Value')}{'%' if step.get('Type') == 'CAPACITY_PERCENT' else ' instances'}" if step else ""
        wait = routing.get("WaitIntervalInSeconds")
        words.append(f"blue/green {kind}{step_text}" + (f", wait {wait}s" if wait is not None else ""))
    rolling = value.get("RollingUpdatePolicy")
    if isinstance(rolling, dict):
        batch = rolling.get("MaximumBatchSize", {})
        words.append(f"rolling batches of {batch.get('Value')}{'%' if batch.get('Type') == 'CAPACITY_PERCENT' else ''}")
    alarms = value.get("AutoRollbackConfiguration", {}).get("Alarms", [])
    words.append(f"rollback on {len(alarms)} alarm(s)" if alarms else "no automatic rollback")
    return "; ".join(words)


def _compact(value: Any, limit: int = 160) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = ASSET_HASH.sub(lambda m: f"<asset {m.group(0)[:8]}>", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- from the engine's verdicts ----------------------------------------------------------------


def _through_name(found: str) -> str:
    """`mlops-dev-foundation:PublishOutputRefStorageDataBucket82AF5CCF5A2AAC1B` -> `mlops-dev-foundation:StorageDataBucket`."""
    stack, _, output = found.partition(":")
    if not output:
        return found
    match = _OUTPUT_NAME.match(output)
    return f"{stack}:{match.group('name') if match else output}"


def classify(entry: Mapping[str, Any]) -> str | None:
    impact = entry.get("impact")
    if entry.get("addition"):
        return "added"
    if entry.get("removal"):
        return "orphaned" if impact == "WILL_ORPHAN" else "removed"
    if entry.get("old_type") and entry.get("new_type") and entry["old_type"] != entry["new_type"]:
        return "replaced"
    if impact == "WILL_REPLACE":
        return "replaced"
    if impact == "MAY_REPLACE":
        return "may be replaced"
    if entry.get("properties") or entry.get("other") or impact == "WILL_UPDATE":
        return "modified"
    return None


def resource_change(entry: Mapping[str, Any], asset_labels: Mapping[str, str], base_hashes: set[str]) -> ResourceChange | None:
    change = classify(entry)
    if change is None:
        return None
    properties: Mapping[str, Any] = entry.get("properties", {})
    replaced_by = sorted(name for name, p in properties.items() if p.get("impact") in _REPLACING)
    through: set[str] = set()
    for p in properties.values():
        through.update(_through_name(found) for found in _THROUGH.findall(json.dumps(p.get("new"))))
    old_text = json.dumps([properties[n].get("old") for n in sorted(properties)], sort_keys=True)
    new_text = json.dumps([properties[n].get("new") for n in sorted(properties)], sort_keys=True)
    new_hashes = set(ASSET_HASH.findall(new_text)) - set(ASSET_HASH.findall(old_text))
    asset_only = (
        change in ("modified", "replaced", "may be replaced")
        and bool(properties)
        and not entry.get("other")
        and bool(new_hashes)
        and ASSET_HASH.sub("#", old_text) == ASSET_HASH.sub("#", new_text)
    )
    return ResourceChange(
        logical_id=str(entry["logical_id"]),
        type=str(entry.get("new_type") or entry.get("old_type")),
        change=change,
        properties=sorted([*properties, *entry.get("other", {})]),
        replaced_by=replaced_by,
        through=sorted(through),
        assets=sorted({asset_labels.get(h, f"asset {h[:8]}") for h in new_hashes if h not in base_hashes}),
        asset_only=asset_only,
    )


def build_stack_report(
    *,
    env: str,
    stack: str,
    base: Mapping[str, Any] | None,
    head: Mapping[str, Any] | None,
    engine_stack: Mapping[str, Any],
    base_sources: Mapping[str, str],
    head_sources: Mapping[str, str],
    asset_labels: Mapping[str, str],
) -> StackReport:
    status = "added" if base is None else "removed" if head is None else "changed" if not engine_stack["empty"] else "unchanged"
    report = StackReport(env=env, stack=stack, status=status, engine_text=str(engine_stack.get("text", "")))
    base_t: Mapping[str, Any] = base or {}
    head_t: Mapping[str, Any] = head or {}
    base_hashes = set(ASSET_HASH.findall(json.dumps(base_t)))
    entries = {str(e["logical_id"]): e for e in engine_stack["resources"]}
    for entry in engine_stack["resources"]:
        change = resource_change(entry, asset_labels, base_hashes)
        if change is not None:
            report.resources.append(change)
    if status == "unchanged" and not report.resources:
        return report
    if report.resources and status == "unchanged":
        report.status = "changed"
    report.weights = weight_rows(base_t, head_t, base_sources, head_sources)
    for change in report.resources:
        entry = entries[change.logical_id]
        properties: Mapping[str, Any] = entry.get("properties", {})
        if change.type == "AWS::SageMaker::Endpoint" and "DeploymentConfig" in properties:
            p = properties["DeploymentConfig"]
            report.guardrails.append(
                Setting(
                    change.logical_id,
                    "DeploymentConfig",
                    deployment_config_text(p.get("old")),
                    deployment_config_text(p.get("new")),
                )
            )
        elif change.type == "AWS::SageMaker::Endpoint" and change.change in ("added", "removed"):
            body = (head_t if change.change == "added" else base_t).get("Resources", {}).get(change.logical_id, {})
            config = deployment_config_text(body.get("Properties", {}).get("DeploymentConfig"))
            if config:
                old, new = (None, config) if change.change == "added" else (config, None)
                report.guardrails.append(Setting(change.logical_id, "DeploymentConfig", old, new))
        if change.type.startswith("AWS::ApplicationAutoScaling::"):
            label = _scaling_label(base_t, head_t, change.logical_id)
            if change.change in ("added", "removed", "orphaned"):
                side = head_t if change.change == "added" else base_t
                body = side.get("Resources", {}).get(change.logical_id, {}).get("Properties", {})
                summary = _scaling_summary(change.type, body)
                old, new = (None, summary) if change.change == "added" else (summary, None)
                report.autoscaling.append(Setting(label, change.change, old, new))
            else:
                for name, p in sorted(properties.items()):
                    report.autoscaling.append(Setting(label, name, _compact(p.get("old")), _compact(p.get("new"))))
    report.iam = [IamStatement(**s) for s in engine_stack["iam"]["statements"]]
    for policy in engine_stack["iam"].get("managed_policies", []):
        report.iam.append(
            IamStatement(
                change=str(policy.get("change")),
                effect="Allow",
                principal=str(policy.get("identityArn", "?")),
                action="(managed policy)",
                resource=str(policy.get("managedPolicyArn", "?")),
                condition="",
            )
        )
    return report


def _scaling_label(base: Mapping[str, Any], head: Mapping[str, Any], logical_id: str) -> str:
    for template in (head, base):
        body = template.get("Resources", {}).get(logical_id)
        if not body:
            continue
        props = body.get("Properties", {})
        resource_id = props.get("ResourceId")
        if resource_id is None and (target := _target(props.get("ScalingTargetId"))):
            resource_id = template.get("Resources", {}).get(target, {}).get("Properties", {}).get("ResourceId")
        if resource_id is not None:
            variant = render(resource_id).rsplit("/variant/", 1)[-1]
            kind = body.get("Type", "").rsplit("::", 1)[-1]
            return f"{variant} {kind} ({logical_id})"
    return logical_id


def _scaling_summary(resource_type: str, props: Mapping[str, Any]) -> str:
    if resource_type.endswith("ScalableTarget"):
        scheduled = len(props.get("ScheduledActions", []))
        return f"{props.get('MinCapacity')}..{props.get('MaxCapacity')} instances, {scheduled} scheduled action(s)"
    config = props.get("TargetTrackingScalingPolicyConfiguration", {})
    if config:
        return f"target {config.get('TargetValue')} per instance"
    return _compact(props) or ""


def blocking_changes(report: StackReport, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> list[Blocking]:
    """Every change the rules in mlops_cli.diff_rules block, allowed or not."""
    found: list[Blocking] = []
    base_resources: Mapping[str, Any] = (base or {}).get("Resources", {})
    for change in report.resources:
        if change.change not in ("replaced", "may be replaced", "removed", "orphaned"):
            continue
        body = base_resources.get(change.logical_id)
        rule = stateful_rule(body) if body else None
        if rule is None:
            continue
        prop = ", ".join(change.replaced_by) or (None if change.change in ("removed", "orphaned") else "Type")
        found.append(Blocking(report.env, report.stack, change.logical_id, rule.resource_type, change.change, prop, rule.reason))
    before = endpoints(base or {}, {})
    after = endpoints(head or {}, {})
    for endpoint_id, (name, old_variants) in before.items():
        if endpoint_id not in after:
            continue
        scaled = autoscaled_variants(base or {}, endpoint_id, name)
        new_variants = after[endpoint_id][1]
        config_id = _target(
            (head or {}).get("Resources", {}).get(endpoint_id, {}).get("Properties", {}).get("EndpointConfigName")
        )
        for variant in sorted(scaled):
            was, now = old_variants.get(variant), new_variants.get(variant)
            if was and now and was.instance_type != now.instance_type:
                found.append(
                    Blocking(
                        report.env,
                        report.stack,
                        config_id or endpoint_id,
                        "AWS::SageMaker::EndpointConfig",
                        f"instance type {was.instance_type} -> {now.instance_type}",
                        f"ProductionVariants[{variant}].InstanceType",
                        AUTOSCALED_INSTANCE_TYPE_REASON,
                    )
                )
    return found


def split_allowed(found: Iterable[Blocking], allow: Iterable[str]) -> tuple[list[Blocking], list[Blocking]]:
    """(blocking, allowed): `allow` names logical IDs, optionally as <stack>/<logical-id>."""
    names = set(allow)
    blocking: list[Blocking] = []
    allowed: list[Blocking] = []
    for item in found:
        hit = item.logical_id in names or f"{item.stack}/{item.logical_id}" in names
        (allowed if hit else blocking).append(item)
    return blocking, allowed
