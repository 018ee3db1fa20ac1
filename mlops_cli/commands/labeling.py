"""`mlops labeling ...`: Ground Truth input manifests and job status (logic in mlops_cli.labeling)."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_cli.console import err, examples, out, print_json

MANIFEST_EXAMPLES = (
    "mlops labeling manifest --from transcripts/ --to s3://<data bucket>/labeling/transcripts/2026-11/input.manifest",
    "mlops labeling manifest --from calls.csv --text-column transcript --to s3://<data bucket>/labeling/calls/input.manifest",
)
STATUS_EXAMPLE = "mlops labeling status --env prod   # needs AWS credentials"


@click.group(
    name="labeling",
    help="Ground Truth labelling: input manifests and job status.",
    epilog=examples(*MANIFEST_EXAMPLES, STATUS_EXAMPLE),
)
def group() -> None:
    pass


@group.command(name="manifest", epilog=examples(*MANIFEST_EXAMPLES))
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A folder of *.txt files, or a CSV file.",
)
@click.option("--to", "to", required=True, help="s3://<bucket>/labeling/.../input.manifest (or a local path).")
@click.option("--text-column", help="CSV: the column holding the text (default: text); written as `source` lines.")
@click.option("--ref-column", help="CSV: a column of s3:// URIs instead; written as `source-ref` lines.")
def manifest(source: Path, to: str, text_column: str | None, ref_column: str | None) -> int:
    """Write a Ground Truth input manifest; a folder's texts are uploaded beside it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from mlops_cli import labeling
    from mlops_cli.weights import aws_call

    s3 = labeling.client("s3") if to.startswith("s3://") else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(count: int, what: str) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=None)
            bar.update(tasks[what], completed=count)

        result = aws_call(
            "write the manifest",
            lambda: labeling.write_manifest(source, to, text_column=text_column, ref_column=ref_column, s3=s3, progress=progress),
        )
    out.print(
        f"wrote {result.lines} lines to {result.uri}" + (f" ({result.uploaded} text objects uploaded)" if result.uploaded else "")
    )
    return 0


@group.command(name="status", epilog=examples(STATUS_EXAMPLE))
@click.option("--env", default="dev", show_default=True, help="Environment: config/<env>.yaml.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(env: str, config_dir: Path | None, as_json: bool) -> int:
    """The environment's labelling jobs: status and label counts."""
    import dataclasses

    # Here, not at the top: config.loader imports the CDK (about 1 s), which every other `mlops` command would pay.
    from config.loader import CONFIG_DIR
    from mlops_cli import labeling
    from mlops_cli.weights import aws_call

    config, region = labeling.configured(env, config_dir or CONFIG_DIR)
    client = labeling.client("sagemaker", region)
    rows = aws_call("list labelling jobs", lambda: labeling.status(config, client))
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
        return 0
    # One line per job (no table: job names are long, and lines stay readable in CI logs and pipes).
    width = max(len(r.config_name) for r in rows)
    for row in rows:
        c = row.counters
        counts = (
            f"labeled {c['TotalLabeled']} (human {c['HumanLabeled']}, machine {c['MachineLabeled']}), "
            f"failed {c['FailedNonRetryableError']}, unlabeled {c['Unlabeled']}"
            if c
            else ""
        )
        line = f"{row.config_name:<{width}}  {row.job_name or '-'}  {row.status}  {counts}".rstrip()
        out.print(line + (f"  ({row.failure})" if row.failure else ""), markup=False)
    return 0
