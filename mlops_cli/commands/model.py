"""`mlops model ...`: model artifacts."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_cli.console import err, examples, out

BUILD_EXAMPLE = "mlops model build --out /tmp/m/model.tar.gz --hidden 64,32 --epochs 8"


@click.group(
    name="model",
    short_help="Model artifacts.",
    help="Model artifacts in the platform's format (containers/inference/MODEL_FORMAT.md).",
    epilog=examples(BUILD_EXAMPLE),
)
def group() -> None:
    pass


def _hidden_sizes(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(size) for size in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, e.g. 64,32 (got {value!r})") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"layer sizes must be positive (got {value!r})")
    return sizes


@group.command(
    name="build",
    epilog=examples(BUILD_EXAMPLE),
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .tar.gz path.")
@click.option("--hidden", default="64,32", show_default=True, callback=_hidden_sizes, help="Hidden layer sizes, comma-separated.")
@click.option("--rows", type=click.IntRange(min=100), default=20_000, show_default=True, help="Synthetic training rows.")
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--version", "model_version", default="synthetic-1", show_default=True, help="model_version in metadata.json.")
def build(out_path: Path, hidden: tuple[int, ...], rows: int, epochs: int, seed: int, model_version: str) -> int:
    """Train a caller-risk model on synthetic data and write model.tar.gz."""
    from mlops_cli.model_artifact import build as build_archive

    with err.status(f"training {'x'.join(map(str, hidden))} MLP on {rows} synthetic rows"):
        metadata = build_archive(out_path, hidden=hidden, rows=rows, epochs=epochs, seed=seed, model_version=model_version)
    out.print(
        f"wrote {out_path}: {metadata['model_name']} {metadata['model_version']}, "
        f"holdout AUC {metadata['training']['holdout_auc']}"
    )
    return 0
