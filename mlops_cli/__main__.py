"""`python -m mlops_cli`: model, qa and batch commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mlops_cli import qa
from mlops_cli.errors import CliError


def _open(path: str) -> TextIO:
    return sys.stdin if path == "-" else Path(path).open(newline="")


def _print(report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for line in qa.render(report):
            print(line)


def _model_build(args: argparse.Namespace) -> int:
    from mlops_cli.model_artifact import build

    hidden = tuple(int(size) for size in args.hidden.split(","))
    metadata = build(
        Path(args.out), hidden=hidden, rows=args.rows, epochs=args.epochs, seed=args.seed, model_version=args.version
    )
    print(
        f"wrote {args.out}: {metadata['model_name']} {metadata['model_version']}, "
        f"holdout AUC {metadata['training']['holdout_auc']}"
    )
    return 0


def _csv_to_jsonl(args: argparse.Namespace) -> int:
    with _open(args.csv) as source:
        count = qa.csv_to_jsonl(source, sys.stdout, id_column=args.id_column, exclude=args.exclude)
    print(f"converted {count} row(s)", file=sys.stderr)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    with _open(args.predictions) as source:
        predictions, errors = qa.read_predictions(source, args.predictions)
    truth = None
    if args.truth:
        with _open(args.truth) as source:
            truth = qa.read_truth(source, id_column=args.id_column, label_column=args.label_column)
    _print(qa.analyze(predictions, errors, truth), args.json)
    return 1 if errors and args.fail_on_errors else 0


def _compare(args: argparse.Namespace) -> int:
    with _open(args.first) as first, _open(args.second) as second:
        report = qa.compare(qa.read_predictions(first, args.first)[0], qa.read_predictions(second, args.second)[0])
    _print(report, args.json)
    if args.max_flip_rate is not None and float(str(report["flip_rate"])) > args.max_flip_rate:
        print(f"flip rate {report['flip_rate']} is above --max-flip-rate {args.max_flip_rate}", file=sys.stderr)
        return 1
    return 0


def _batch_start(args: argparse.Namespace) -> int:
    from mlops_cli import batch

    execution = batch.start(env=args.env, name=args.name, prefix=args.input, job_name=args.job_name)
    print(f"started {execution.job_name}: {execution.execution_arn}")
    print(f"reads   data bucket {execution.input_key_prefix}")
    print(f"writes  data bucket {execution.output_key_prefix}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mlops", description="SageMaker MLOps helpers")
    groups = root.add_subparsers(dest="group", required=True)

    model = groups.add_parser("model", help="model artifacts").add_subparsers(dest="command", required=True)
    build = model.add_parser("build", help="train a caller-risk model on synthetic data and write model.tar.gz")
    build.add_argument("--out", required=True, help="output .tar.gz path")
    build.add_argument("--hidden", default="64,32", help="hidden layer sizes, comma-separated (default 64,32)")
    build.add_argument("--rows", type=int, default=20_000)
    build.add_argument("--epochs", type=int, default=8)
    build.add_argument("--seed", type=int, default=7)
    build.add_argument("--version", default="synthetic-1")
    build.set_defaults(func=_model_build)

    qa_group = groups.add_parser("qa", help="offline QA around `serve stdin`").add_subparsers(dest="command", required=True)
    convert = qa_group.add_parser("csv-to-jsonl", help="CSV with a header -> JSON Lines records for `serve stdin`")
    convert.add_argument("csv", help="CSV file, or - for standard input")
    convert.add_argument("--id-column", default="id")
    convert.add_argument("--exclude", nargs="*", default=["label"], help="columns that are not features (default: label)")
    convert.set_defaults(func=_csv_to_jsonl)

    analyze = qa_group.add_parser("analyze", help="summarise `serve stdin` output")
    analyze.add_argument("predictions", nargs="?", default="-", help="JSON Lines file (default: standard input)")
    analyze.add_argument("--truth", help="CSV with the true labels, joined on --id-column")
    analyze.add_argument("--id-column", default="id")
    analyze.add_argument("--label-column", default="label")
    analyze.add_argument("--json", action="store_true", help="print JSON instead of text")
    analyze.add_argument("--fail-on-errors", action="store_true", help="exit 1 if any input line failed")
    analyze.set_defaults(func=_analyze)

    comp = qa_group.add_parser("compare", help="compare two model versions' predictions on the same inputs")
    comp.add_argument("first")
    comp.add_argument("second")
    comp.add_argument("--max-flip-rate", type=float, help="exit 1 if more labels than this fraction flip")
    comp.add_argument("--json", action="store_true")
    comp.set_defaults(func=_compare)

    batch = groups.add_parser("batch", help="batch transform").add_subparsers(dest="command", required=True)
    start = batch.add_parser("start", help="start a configured batch transform")
    start.add_argument("name", help="batch_transforms[].name in config/<env>.yaml")
    start.add_argument("--env", default="dev")
    start.add_argument("--input", required=True, help="input prefix (key under the data bucket, or s3://bucket/prefix/)")
    start.add_argument("--job-name", help="transform job name (default: <name>-<UTC timestamp>)")
    start.set_defaults(func=_batch_start)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as error:
        print(f"mlops: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"mlops: {error.filename}: no such file", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
