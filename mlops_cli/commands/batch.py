"""`mlops batch ...`: batch transforms (logic in mlops_cli.batch)."""

from __future__ import annotations

import click

from mlops_cli.console import examples, out

START_EXAMPLE = "mlops batch start caller-risk-nightly --env dev --input 2026-11-21/   # needs AWS credentials"


@click.group(name="batch", help="Batch transforms configured in config/<env>.yaml.", epilog=examples(START_EXAMPLE))
def group() -> None:
    pass


@group.command(
    name="start",
    epilog=examples(START_EXAMPLE),
)
@click.argument("name")
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--input", "prefix", required=True, help="Input prefix: key under batch/<name>/input/ in the data bucket.")
@click.option("--job-name", help="Transform job name (default: <name>-<UTC timestamp>).")
def start(name: str, env: str, prefix: str, job_name: str | None) -> int:
    """Start the configured batch transform NAME (batch_transforms[].name) now."""
    from mlops_cli import batch

    execution = batch.start(env=env, name=name, prefix=prefix, job_name=job_name)
    out.print(f"started {execution.job_name}: {execution.execution_arn}")
    out.print(f"reads   data bucket {execution.input_key_prefix}")
    out.print(f"writes  data bucket {execution.output_key_prefix}")
    return 0
