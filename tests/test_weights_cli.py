"""`mlops weights show/set/apply/drift`, run as the real command against an HTTP emulation of SageMaker.

The live endpoint is created through boto3 on moto's server (tests/aws_emulator.py); the
command reaches it through AWS_ENDPOINT_URL, as any boto3 program would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from config.loader import CONFIG_DIR
from mlops_cli.app import main
from tests.aws_emulator import Emulator, create_endpoint


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(CONFIG_DIR / "dev.yaml", folder / "dev.yaml")
    return folder


@pytest.fixture
def live(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """dev's caller-risk endpoint, live at 50/50 (moto's stale enum: ml.c5 stands in for ml.c6i)."""
    aws.route_sdk(monkeypatch)
    client = aws.client("sagemaker")
    create_endpoint(client, "caller-risk", {"champion": ("ml.c5.large", 1.0), "challenger": ("ml.c5.large", 1.0)})
    return client


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_set_edits_the_yaml_in_place_keeping_comments_and_layout(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_dir / "dev.yaml"
    before = path.read_text()
    code, out, _ = _run(
        capsys, "weights", "set", "--env", "dev", "--config-dir", str(config_dir), "caller-risk", "champion=75", "challenger=25"
    )
    assert code == 0
    after = path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("        weight: 90", "        weight: 75"), ("        weight: 10", "        weight: 25")]
    assert "90%" in out
    assert "75%" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["caller-risk", "blue=10"], "endpoint 'caller-risk' has no variant 'blue' (variants: champion, challenger)"),
        (["caller-risk", "champion=lots"], "weight 'lots' for 'champion' is not a number"),
        (["caller-risk", "champion"], "'champion' is not VARIANT=WEIGHT"),
        (["caller-risk", "champion=-5"], "weight -5 for 'champion' must be a number >= 0"),
        (["caller-risk", "champion=0", "challenger=0"], "at least one variant needs a weight above 0"),
        (["nowhere", "a=1"], "no endpoint 'nowhere' in config/dev.yaml (endpoints: caller-risk)"),
    ],
)
def test_set_refuses_bad_input_and_writes_nothing(
    argv: list[str], message: str, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_dir / "dev.yaml"
    before = path.read_text()
    code, _, err = _run(capsys, "weights", "set", "--env", "dev", "--config-dir", str(config_dir), *argv)
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert path.read_text() == before
    assert sorted(p.name for p in config_dir.iterdir()) == ["dev.yaml"]  # no temporary file left


def test_unknown_env_is_one_line(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "weights", "show", "--env", "staging", "--config-dir", str(config_dir))
    assert code == 2
    assert "unknown environment 'staging'; environments with a config file: dev" in err


def test_show_lists_config_shares(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "weights", "show", "--env", "dev", "--config-dir", str(config_dir), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["variant"], r["config_percent"]) for r in rows] == [("champion", 90.0), ("challenger", 10.0)]


def test_show_live_marks_drift(live: Any, config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "weights", "show", "--env", "dev", "--config-dir", str(config_dir), "--live", "--json")
    assert code == 0
    rows = {r["variant"]: r for r in json.loads(out)}
    assert rows["champion"]["live_percent"] == 50.0
    assert rows["champion"]["config_percent"] == 90.0
    assert rows["champion"]["drifted"] is True


def test_drift_then_apply_then_no_drift(live: Any, config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--env", "dev", "--config-dir", str(config_dir)]
    code, out, _ = _run(capsys, "weights", "drift", *base)
    assert code == 1
    assert "caller-risk" in out
    code, out, _ = _run(capsys, "weights", "apply", *base, "caller-risk", "--yes", "--poll-seconds", "0")
    assert code == 0
    assert "InService" in out
    assert "champion 90%" in out
    code, out, _ = _run(capsys, "weights", "drift", *base)
    assert code == 0
    assert "no drift" in out


def test_apply_refuses_when_live_variants_differ(
    aws: Emulator, live: Any, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live.delete_endpoint(EndpointName="caller-risk")
    create_endpoint(live, "caller-risk", {"champion": ("ml.c5.large", 1.0)}, config_suffix="v2")
    code, _, err = _run(capsys, "weights", "apply", "--env", "dev", "--config-dir", str(config_dir), "caller-risk", "--yes")
    assert code == 2
    assert "not live: challenger" in err
    assert "needs `cdk deploy`" in " ".join(err.split())


def test_apply_without_credentials_is_one_line(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = _run(capsys, "weights", "apply", "--env", "dev", "--config-dir", str(config_dir), "caller-risk", "--yes")
    assert code == 2
    assert "no AWS credentials" in err
    assert "Traceback" not in err


def test_apply_asks_first(
    live: Any, config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = _run(capsys, "weights", "apply", "--env", "dev", "--config-dir", str(config_dir), "caller-risk")
    assert code == 1
    assert "nothing changed" in err
