"""`mlops monitor ...`: Model Monitor baselines (logic in mlops_cli.monitor)."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_cli.console import err, examples, out

BASELINE = "mlops monitor baseline --env prod caller-risk --wait   # needs AWS credentials"
DRIFT = "mlops monitor baseline --env prod call-transcript-intent --kind text-drift"


@click.group(
    name="monitor", help="Model Monitor: baselines for the schedules in config/<env>.yaml.", epilog=examples(BASELINE, DRIFT)
)
def group() -> None:
    pass


@group.command(name="baseline", epilog=examples(BASELINE, DRIFT))
@click.argument("endpoint")
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option(
    "--kind",
    type=click.Choice(["data-quality", "text-drift"]),
    default="data-quality",
    show_default=True,
    help="Which monitor's baseline.",
)
@click.option("--wait", "wait_for_it", is_flag=True, help="Wait for the job; exit 1 with its failure reason if it fails.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), help="Where <env>.yaml lives (default: config/).")
def baseline(endpoint: str, env: str, kind: str, wait_for_it: bool, config_dir: Path | None) -> int:
    """Run the baseline job for ENDPOINT's monitor: statistics.json and constraints.json where its schedule reads them."""
    from config.loader import CONFIG_DIR
    from mlops_cli import monitor

    result = monitor.baseline(
        env=env,
        endpoint=endpoint,
        kind=kind,
        wait_for_it=wait_for_it,
        report=lambda line: err.print(line, markup=False),
        config_dir=config_dir or CONFIG_DIR,
    )
    if result.status in ("Failed", "Stopped"):
        err.print(
            f"{result.job_name} {result.status.lower()}: {result.failure_reason or result.exit_message or 'no reason given'}",
            markup=False,
        )
        return 1
    out.print(f"{result.job_name}: {result.status}", markup=False)
    return 0
