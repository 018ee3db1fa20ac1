"""The gates every synth must pass: cdk-nag, cfn-lint, resource limits, determinism."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint_by_config

from stacks.mlops_app import create_app
from tests.conftest import SHIPPED_ENVS, Synthesized, normalise

ALLOWED: list[dict[str, str]] = yaml.safe_load((Path(__file__).parent / "cfn_lint_allowed.yaml").read_text())["allowed"] or []


def _allowed(rule: str, message: str) -> bool:
    return any(entry["rule"] == rule and re.search(entry["message"], message) for entry in ALLOWED)


def cfn_lint(outdir: Path, region: str) -> list[tuple[str, str, str]]:
    """(template, rule, message) for every finding in every template of a cloud assembly.

    One cfn-lint run over all the templates, as `cfn-lint a.json b.json` does: the rules load
    once (about 0.5 s a run) instead of once per template; each template is linted alone.
    """
    templates = sorted(outdir.glob("*.template.json"))
    assert templates, f"no templates in {outdir}"
    matches = lint_by_config(ManualArgs(templates=[str(t) for t in templates], regions=[region]))
    return sorted((Path(m.filename).name if m.filename else "", m.rule.id, m.message) for m in matches)


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_config_synthesises_with_zero_nag_findings(env: str, synth: Callable[[str], Synthesized]) -> None:
    result = synth(env)
    report = json.loads((result.outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert failures == []
    assert {p.name for p in result.outdir.glob("*.template.json")} == {f"{n}.template.json" for n in result.stack_names}


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_cfn_lint_clean(env: str, synth: Callable[[str], Synthesized]) -> None:
    result = synth(env)
    findings = cfn_lint(result.outdir, result.stacks.foundation.region)
    errors = [f for f in findings if f[1].startswith("E")]
    unexplained = [f for f in findings if not f[1].startswith("E") and not _allowed(f[1], f[2])]
    assert errors == [], "\n".join(map(str, errors))
    assert unexplained == [], "\n".join(map(str, unexplained))


def test_allowed_cfn_lint_warnings_have_reasons() -> None:
    for entry in ALLOWED:
        assert entry["rule"].startswith(("W", "I")), f"{entry['rule']}: errors cannot be allowed"
        assert len(entry["reason"]) > 30, f"{entry['rule']}: give a real reason"
        re.compile(entry["message"])


def test_allow_list_is_specific() -> None:
    # The W3005 fixed at the source for SageMaker models must still fail.
    message = (
        "'EndpointServingRoleA4D2875C' dependency already enforced by a 'GetAtt' at "
        "'Resources/EndpointModelchampion/Properties/ExecutionRoleArn'"
    )
    assert not _allowed("W3005", message)


def test_nag_gate_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    stacks = create_app("dev", outdir=str(tmp_path))
    s3.Bucket(stacks.foundation, "CarelessBucket")  # no TLS policy, no logs, no KMS
    with pytest.raises(RuntimeError, match="ValidationFailed: ERROR The S3 Bucket has server access logs disabled"):
        stacks.app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_synth_is_deterministic(dev: Synthesized, tmp_path: Path) -> None:
    again = create_app("dev", outdir=str(tmp_path))
    again.app.synth()
    for name in dev.stack_names:
        first = (dev.outdir / f"{name}.template.json").read_text()
        second = (tmp_path / f"{name}.template.json").read_text()
        assert first == second, f"{name} differs between two synths of the same config"


def test_snapshot_normalisation_hides_asset_hashes(dev: Synthesized) -> None:
    template = normalise(dev.template_json(dev.stacks.endpoints["caller-risk"].stack_name))
    assert "<asset-hash>" in json.dumps(template)


def test_cfn_lint_judges_every_template_of_the_assembly(tmp_path: Path) -> None:
    """The one-run lint still reads each file: a defect in the second template is found and named."""
    clean = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": "soon"}}}}
    (tmp_path / "a.template.json").write_text(json.dumps(clean))
    (tmp_path / "b.template.json").write_text(json.dumps(broken))
    findings = cfn_lint(tmp_path, "eu-west-1")
    assert [(name, rule[0]) for name, rule, _ in findings] == [("b.template.json", "E")], findings
