"""The `mlops` command line as a whole: one framework, help with examples, exit codes, entry points."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from config.loader import REPO_ROOT
from mlops_cli.app import cli, main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(cli)


def test_all_groups_are_registered() -> None:
    assert {"model", "qa", "batch"} <= set(cli.commands)
    assert ("qa", "compare") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "mlops")
def test_every_help_shows_an_example(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Example" in text
    assert "mlops " in text.split("Example", 1)[1]


def test_usage_errors_are_one_message_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qa", "compare", "a.jsonl", "b.jsonl", "--max-flip-rate", "2"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--max-flip-rate'" in err
    assert "Traceback" not in err


def test_model_build_rejects_bad_layer_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "build", "--out", "/tmp/never.tar.gz", "--hidden", "64,x"]) == 2
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "qa", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "compare" in result.stdout


def test_console_script_is_declared_and_installed() -> None:
    import tomllib

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"mlops": "mlops_cli.app:run"}
    script = Path(sys.executable).parent / "mlops"
    if not script.exists():  # a venv made without the Makefile's install step
        pytest.skip(f"{script} not installed (make's venv installs it with pip install -e .)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False, cwd="/")
    assert result.returncode == 0, result.stderr
    assert "Usage: mlops" in result.stdout
    assert shutil.which("mlops", path=str(script.parent)) == str(script)
