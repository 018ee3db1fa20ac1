"""`mlops qa ...`: offline QA of model versions around `serve stdin` (logic in mlops_cli.qa)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import click

from mlops_cli import qa
from mlops_cli.console import err, examples, out, print_json, report_table

CSV_EXAMPLE = "mlops qa csv-to-jsonl calls.csv | MODEL_DIR=/tmp/m/model containers/inference/serve stdin > v2.jsonl"
ANALYZE_EXAMPLE = "mlops qa analyze v2.jsonl --truth calls.csv"
COMPARE_EXAMPLE = "mlops qa compare v1.jsonl v2.jsonl --max-flip-rate 0.02"


@click.group(
    name="qa",
    short_help="Offline QA of model versions.",
    help="Offline QA of model versions, as pipeline steps around `serve stdin`.",
    epilog=examples(CSV_EXAMPLE, ANALYZE_EXAMPLE, COMPARE_EXAMPLE),
)
def group() -> None:
    pass


def _open(path: str) -> TextIO:
    return sys.stdin if path == "-" else Path(path).open(newline="")


def _show(report: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print_json(report)
    else:
        out.print(report_table(report, title=title))


@group.command(
    name="csv-to-jsonl",
    epilog=examples(CSV_EXAMPLE),
)
@click.argument("csv_path", metavar="CSV")
@click.option("--id-column", default="id", show_default=True, help="Column copied to each record's id.")
@click.option(
    "--exclude", multiple=True, default=("label",), show_default=True, help="Column that is not a feature (repeatable)."
)
def csv_to_jsonl(csv_path: str, id_column: str, exclude: tuple[str, ...]) -> int:
    """CSV with a header (or - for standard input) -> JSON Lines records for `serve stdin`."""
    with _open(csv_path) as source:
        count = qa.csv_to_jsonl(source, sys.stdout, id_column=id_column, exclude=exclude)
    err.print(f"converted {count} row(s)")
    return 0


@group.command(
    name="analyze",
    epilog=examples(ANALYZE_EXAMPLE, "... | serve stdin | mlops qa analyze --json"),
)
@click.argument("predictions", default="-")
@click.option("--truth", help="CSV with the true labels, joined on --id-column.")
@click.option("--id-column", default="id", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--fail-on-errors", is_flag=True, help="Exit 1 if any input line failed.")
def analyze(predictions: str, truth: str | None, id_column: str, label_column: str, as_json: bool, fail_on_errors: bool) -> int:
    """Summarise `serve stdin` output (PREDICTIONS file, default standard input): score distribution, AUC, precision, recall."""
    with _open(predictions) as source:
        scored, errors = qa.read_predictions(source, predictions)
    labels = None
    if truth:
        with _open(truth) as source:
            labels = qa.read_truth(source, id_column=id_column, label_column=label_column)
    _show(qa.analyze(scored, errors, labels), as_json, f"predictions: {predictions}")
    return 1 if errors and fail_on_errors else 0


@group.command(
    name="compare",
    epilog=examples(COMPARE_EXAMPLE),
)
@click.argument("first")
@click.argument("second")
@click.option("--max-flip-rate", type=click.FloatRange(0, 1), help="Exit 1 if more labels than this fraction flip.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def compare(first: str, second: str, max_flip_rate: float | None, as_json: bool) -> int:
    """Compare two model versions' predictions on the same inputs (joined by id)."""
    with _open(first) as one, _open(second) as two:
        report = qa.compare(qa.read_predictions(one, first)[0], qa.read_predictions(two, second)[0])
    _show(report, as_json, f"{first} -> {second}")
    if max_flip_rate is not None and float(report["flip_rate"]) > max_flip_rate:
        err.print(f"flip rate {report['flip_rate']} is above --max-flip-rate {max_flip_rate}")
        return 1
    return 0
