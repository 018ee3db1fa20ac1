"""`python -m drift_monitor` (the scheduled job) and `python -m drift_monitor baseline`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Where a SageMaker processing job (`mlops monitor baseline --kind text-drift`) puts things.
BASELINE_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
BASELINE_OUTPUT = "/opt/ml/processing/output"


def _baseline(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="drift_monitor baseline", description="Embed a baseline dataset.")
    # Lower-case names: the processing-job contract's (Model Monitor sets dataset_source/output_path).
    source_default = os.environ.get("dataset_source", BASELINE_INPUT)  # noqa: SIM112
    output_default = os.environ.get("output_path", BASELINE_OUTPUT)  # noqa: SIM112
    parser.add_argument("--input", default=source_default, help=".txt/.jsonl file or folder")
    parser.add_argument("--output", default=output_default)
    parser.add_argument("--text-field", default=os.environ.get("TEXT_FIELD", "text"))
    parser.add_argument("--batch-size", type=int, default=int(os.environ.get("BATCH_SIZE", "32")))
    args = parser.parse_args(argv)
    from drift_monitor.baseline import build, read_dataset
    from drift_monitor.capture import ReadReport
    from drift_monitor.embed import Embedder
    from drift_monitor.monitor import write_message

    report = ReadReport()
    source = Path(args.input)
    if not source.exists():
        print(f"drift_monitor baseline: {source} does not exist", file=sys.stderr)
        return 2
    texts = list(read_dataset(source, args.text_field, report))
    if not texts:
        message = f"Failed: no texts in {source} (field {args.text_field}): {json.dumps(report.as_dict())}"
        print(message, file=sys.stderr)
        write_message(Path(os.environ.get("OPT_ML_OUTPUT", "/opt/ml/output")), message)
        return 1
    statistics, constraints = build(texts, Embedder(), args.batch_size)
    constraints["dataset"] = report.as_dict()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(statistics))
    (output / "constraints.json").write_text(json.dumps(constraints, indent=2))
    print(json.dumps({"baseline_texts": statistics["count"], **constraints}), flush=True)
    return 0


def _monitor() -> int:
    from drift_monitor.monitor import MonitorSettings, SettingsError, run, write_message

    env = dict(os.environ)
    try:
        settings = MonitorSettings.from_env(env)
    except SettingsError as error:
        message = f"Failed: {error}"
        print(f"drift_monitor: {message}", file=sys.stderr)
        write_message(Path(env.get("OPT_ML_OUTPUT", "/opt/ml/output")), message)
        return 2
    from drift_monitor.baseline import load_embeddings
    from drift_monitor.embed import Embedder

    try:
        load_embeddings(settings.baseline_statistics)  # fail fast, before the model's seconds of loading
        outcome = run(settings, Embedder())
    except (OSError, ValueError) as error:  # e.g. a missing or foreign baseline: fail the execution, loudly
        message = f"Failed: {error}"
        print(f"drift_monitor: {message}", file=sys.stderr)
        write_message(settings.opt_ml_output, message)
        return 1
    print(outcome.message, file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "baseline":
        return _baseline(args[1:])
    if args and args[0] not in ("monitor",):
        print("usage: python -m drift_monitor [monitor | baseline --input ... --output ...]", file=sys.stderr)
        return 2
    return _monitor()


if __name__ == "__main__":
    sys.exit(main())
