"""The gates every synth must pass: cdk-nag, cfn-lint, resource limits, determinism."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint_file

from stacks.mlops_app import create_app
from tests.conftest import SHIPPED_ENVS, Synthesized, normalise

ALLOWED: list[dict[str, str]] = yaml.safe_load((Path(__file__).parent / "cfn_lint_allowed.yaml").read_text())["allowed"] or []


def _allowed(rule: str, message: str) -> bool:
    return any(entry["rule"] == rule and re.search(entry["message"], message) for entry in ALLOWED)


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
    region = result.stacks.foundation.region
    findings = []
    for template in sorted(result.outdir.glob("*.template.json")):
        for match in lint_file(template, config=ManualArgs(regions=[region])):
            findings.append((template.name, match.rule.id, match.message))
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
