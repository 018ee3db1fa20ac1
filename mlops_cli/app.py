"""The `mlops` command: one click group, one module per command group.

Why click (with rich for tables and progress): it is already a pinned dependency of the
toolchain, its options are typed (`type=int`, `click.Path`, `click.Choice`, ranges) and
checked before a command runs, help comes from the declarations, and
`standalone_mode=False` lets `main(argv)` return an exit code to tests instead of
calling `sys.exit`. (typer 0.29 vendors its own fork of click and pulls more in, for the
same result.)

Adding a command group is one module and one line here:

    # mlops_cli/commands/weights.py
    @click.group(name="weights", help="...")
    def group() -> None: ...

    @group.command(name="set", epilog="\\b\\nExample:\\n  mlops weights set ...")
    @click.option(...)
    def set_weights(...) -> int: ...

    # below
    cli.add_command(weights.group)
cli.add_command(train.group)

Commands return their exit code (0 ok, 1 a gate failed); `CliError` and a missing file
are reported as one line on stderr with exit 2, as is a usage error. Every command's
`--help` shows an example (its `epilog`); tests/test_cli.py checks that.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from mlops_cli.commands import batch, diff, labeling, model, monitor, qa, train, weights
from mlops_cli.console import err, examples
from mlops_cli.errors import CliError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(
    name="mlops",
    context_settings=CONTEXT,
    epilog=examples(
        "mlops model build --out /tmp/m/model.tar.gz",
        "mlops qa compare v1.jsonl v2.jsonl --max-flip-rate 0.02",
        "mlops diff --base origin/main --env all --format markdown",
        "mlops weights set --env prod caller-risk champion=80 challenger=20",
        "mlops labeling status --env prod",
        "mlops monitor baseline --env prod caller-risk --wait",
        "mlops train start --env prod --wait",
    ),
)
def cli() -> None:
    """SageMaker MLOps helpers: models, training, offline QA, batch transforms, CI diffs, labelling, monitoring."""


cli.add_command(model.group)
cli.add_command(qa.group)
cli.add_command(batch.group)
cli.add_command(diff.diff)
cli.add_command(weights.group)
cli.add_command(labeling.group)
cli.add_command(monitor.group)
cli.add_command(train.group)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mlops` with `argv` (default: sys.argv[1:]) and return the exit code."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="mlops", standalone_mode=False)
    except click.ClickException as error:  # usage errors, bad option values
        error.show()
        return error.exit_code
    except click.Abort:  # Ctrl-C or EOF at a prompt; cleanup already ran in `finally` blocks
        err.print("mlops: interrupted")
        return 130
    except CliError as error:
        err.print(f"mlops: {error}", markup=False)
        return 2
    except FileNotFoundError as error:
        err.print(f"mlops: {error.filename}: no such file", markup=False)
        return 2
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point (`mlops`, from pyproject's [project.scripts])."""
    sys.exit(main())
