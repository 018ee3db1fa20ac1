"""`mlops weights ...`: traffic between variants, with config as the source of truth (logic in mlops_cli.weights)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from rich.table import Table

from mlops_cli.console import err, examples, out, print_json

SHOW = "mlops weights show --env prod --live"
SET = "mlops weights set --env prod caller-risk champion=80 challenger=20"
APPLY = "mlops weights apply --env prod caller-risk --yes"
DRIFT = "mlops weights drift --env prod    # exit 1 when live weights differ from config"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def _weight(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@click.group(
    name="weights",
    help="Traffic shares of an endpoint's variants: config first, live on request.",
    epilog=examples(SHOW, SET, APPLY, DRIFT),
)
def group() -> None:
    pass


@group.command(name="show", epilog=examples("mlops weights show --env prod", SHOW))
@click.argument("endpoint", required=False)
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), help="Where <env>.yaml lives (default: config/).")
@click.option("--live", is_flag=True, help="Also read the live endpoint (needs AWS credentials).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show(endpoint: str | None, env: str, config_dir: Path | None, live: bool, as_json: bool) -> int:
    """Config weights of ENDPOINT (default: all), as shares of traffic; with --live, beside the endpoint's."""
    from mlops_cli import weights

    config = weights.config_for(env, config_dir)
    endpoints = [weights.endpoint_of(config, env, endpoint)] if endpoint else list(config.endpoints)
    rows = weights.live_rows(weights.sagemaker_client(config), endpoints) if live else weights.config_rows(config, endpoints)
    if as_json:
        print_json([{**row.__dict__, "drifted": row.drifted if live else None} for row in rows])
        return 0
    table = Table(title=f"variant weights, config/{env}.yaml" + (" vs live" if live else ""))
    for column in ("endpoint", "variant", "weight", "share"):
        table.add_column(column)
    if live:
        for column in ("live weight", "live share", "instances (now/desired)", "status", "drift"):
            table.add_column(column)
    for row in rows:
        cells = [row.endpoint, row.variant, _weight(row.config_weight), _percent(row.config_percent)]
        if live:
            cells += [
                _weight(row.live_weight),
                _percent(row.live_percent),
                row.instances,
                row.status,
                "DRIFT" if row.drifted else "",
            ]
        table.add_row(*cells)
    out.print(table)
    return 0


@group.command(
    name="set", epilog=examples(SET, "mlops weights set --env dev caller-risk challenger=0   # stop the challenger's traffic")
)
@click.argument("endpoint")
@click.argument("assignments", nargs=-1, metavar="VARIANT=WEIGHT...")
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), help="Where <env>.yaml lives (default: config/).")
def set_weights(endpoint: str, assignments: Sequence[str], env: str, config_dir: Path | None) -> int:
    """Write new weights for ENDPOINT's variants into config/<env>.yaml (validated; comments and layout kept)."""
    from mlops_cli import weights

    change = weights.set_weights(env, endpoint, assignments, config_dir=config_dir)
    table = Table(title=f"{endpoint} in {change.path.name}")
    for column in ("variant", "weight before", "share before", "weight after", "share after"):
        table.add_column(column)
    for name in change.after:
        table.add_row(
            name,
            _weight(change.before_weights[name]),
            _percent(change.before[name]),
            _weight(change.after_weights[name]),
            _percent(change.after[name]),
        )
    out.print(table)
    err.print("written; commit it, then `cdk deploy` (or `mlops weights apply`) makes it live")
    return 0


@group.command(name="apply", epilog=examples(APPLY))
@click.argument("endpoint")
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), help="Where <env>.yaml lives (default: config/).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--poll-seconds", default=15.0, show_default=True, type=click.FloatRange(min=0), help="How often to check the endpoint."
)
def apply(endpoint: str, env: str, config_dir: Path | None, yes: bool, poll_seconds: float) -> int:
    """Make ENDPOINT's live weights those in config/<env>.yaml now (the same call `cdk deploy` makes)."""
    from lambda_src.endpoint_weights import core
    from mlops_cli import weights

    config = weights.config_for(env, config_dir)
    configured = weights.endpoint_of(config, env, endpoint)
    shares = ", ".join(f"{name} {_percent(p)}" for name, p in configured.traffic_percent().items())
    if not yes and not click.confirm(f"Set {endpoint} ({config.account}, {config.region}) to {shares}?", err=True):
        err.print("nothing changed")
        return 1
    client = weights.sagemaker_client(config)
    with err.status(f"{endpoint}: applying") as status:
        live = weights.apply(
            config, env, endpoint, client, progress=lambda e: status.update(f"{endpoint}: {e.status}"), poll_s=poll_seconds
        )
    shares_now = core.shares(live.weights())
    out.print(f"{endpoint} is {live.status}: " + ", ".join(f"{n} {_percent(round(100 * s, 2))}" for n, s in shares_now.items()))
    return 0


@group.command(name="drift", epilog=examples(DRIFT))
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), help="Where <env>.yaml lives (default: config/).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def drift(env: str, config_dir: Path | None, as_json: bool) -> int:
    """Exit 1, with a table, when any endpoint's live traffic shares differ from config (for a scheduled job)."""
    from mlops_cli import weights

    config = weights.config_for(env, config_dir)
    rows = weights.live_rows(weights.sagemaker_client(config), list(config.endpoints))
    drifted = [row for row in rows if row.drifted]
    if as_json:
        print_json([row.__dict__ for row in drifted])
    elif drifted:
        table = Table(title=f"live weights differing from config/{env}.yaml")
        for column in ("endpoint", "variant", "config share", "live share", "status"):
            table.add_column(column)
        for row in drifted:
            table.add_row(row.endpoint, row.variant, _percent(row.config_percent), _percent(row.live_percent), row.status)
        out.print(table)
    else:
        out.print(f"no drift: live weights match config/{env}.yaml")
    return 1 if drifted else 0
