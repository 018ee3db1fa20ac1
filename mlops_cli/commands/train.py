"""`mlops train ...`: training jobs (logic in mlops_cli.train)."""

from __future__ import annotations

import click

from mlops_cli.console import err, examples, out

START_EXAMPLE = "mlops train start --env prod --wait   # needs AWS credentials"
METRICS = ("train_loss", "validation_loss", "validation_accuracy", "validation_auc", "samples_per_second")


@click.group(name="train", help="Training jobs configured in config/<env>.yaml (training:).", epilog=examples(START_EXAMPLE))
def group() -> None:
    pass


@group.command(name="start", epilog=examples(START_EXAMPLE))
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--job-name", help="Training job name (default: <training.name>-<UTC yyyymmddHHMMss>).")
@click.option("--wait", is_flag=True, help="Follow the job: stream each epoch's metrics until it ends.")
@click.option(
    "--poll", "poll_seconds", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Seconds between polls."
)
def start(env: str, job_name: str | None, wait: bool, poll_seconds: float) -> int:
    """Start the configured training job now (one Step Functions execution)."""
    import boto3
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mlops_cli import train

    execution = train.start(env=env, job_name=job_name)
    out.print(f"started {execution.job_name}: {execution.execution_arn}")
    if not wait:
        return 0
    session = boto3.session.Session(region_name=execution.region)
    table = train.metrics_table(session.client("cloudformation"), env)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(f"training {execution.job_name}", total=None)

        def on_epoch(epoch: train.Epoch) -> None:
            progress.update(task, total=epoch.epochs, completed=epoch.epoch)
            values = " ".join(f"{k}={epoch.metrics[k]:.4g}" for k in METRICS if k in epoch.metrics)
            out.print(f"epoch {epoch.epoch}/{epoch.epochs} {values}", markup=False)

        outcome = train.follow(
            execution,
            stepfunctions=session.client("stepfunctions"),
            dynamodb=session.client("dynamodb"),
            table=table,
            on_epoch=on_epoch,
            poll_seconds=poll_seconds,
        )
    if outcome.status != "SUCCEEDED":
        err.print(f"training {outcome.status.lower()}: {outcome.cause or 'no cause reported'}", markup=False)
        return 1
    out.print(f"trained {execution.job_name}: model_data {outcome.model_data}", markup=False)
    return 0
