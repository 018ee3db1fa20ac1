"""`mlops labeling manifest` and `mlops labeling status`.

manifest: writes a Ground Truth input manifest, one JSON object per line (Developer Guide,
"Input data": a line holds the text itself as `source`, or an S3 object's URI as
`source-ref`; a line may be at most 100 KB). From a folder, every `*.txt` file becomes an
object next to the manifest and a `source-ref` line (or, for a local --to, a `source` line
with the text); from a CSV, each row's text column
becomes a `source` line (or a column of s3:// URIs becomes `source-ref` lines). Rows are
checked as they stream through; a problem names the file or row and nothing is written
to S3 until every line is good.

status: the configured jobs of an environment as SageMaker reports them
(ListLabelingJobs, then the counters per job); a chained job that has not started yet
shows as waiting for the job it reads.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.labeling import Labeling
from config.loader import CONFIG_DIR, load_config
from mlops_cli.errors import CliError

MAX_LINE_BYTES = 100 * 1024  # Ground Truth: a manifest line is at most 100 KB
LABELING_PREFIX = "labeling/"  # the labelling role reads only here (mlops_constructs/labeling/jobs.py)
OBJECTS_FOLDER = "objects"


@dataclass(frozen=True)
class Destination:
    bucket: str | None  # None: a local file
    key: str  # the manifest's key, or its local path

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key

    def object_key(self, relative: str) -> str:
        """Where a folder's text file goes: beside the manifest, under objects/."""
        base = self.key.rsplit("/", 1)[0] if "/" in self.key else ""
        return f"{base}/{OBJECTS_FOLDER}/{relative}".lstrip("/")


def destination(to: str) -> Destination:
    if not to.startswith("s3://"):
        return Destination(None, to)
    bucket, _, key = to[len("s3://") :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise CliError(f"--to must name the manifest object, e.g. s3://<data bucket>/labeling/tickets/input.manifest (got {to})")
    if not key.startswith(LABELING_PREFIX):
        raise CliError(f"--to key must start with {LABELING_PREFIX}: the labelling role reads only there (got {key})")
    return Destination(bucket, key)


@dataclass(frozen=True)
class Item:
    """One manifest line and, for a folder, the text file to upload for it."""

    line: dict[str, str]
    upload: tuple[Path, str] | None = None  # (local file, object key)


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise CliError(f"{path}: not UTF-8 text (byte {error.start})") from None


def folder_items(folder: Path, target: Destination) -> Iterator[Item]:
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        raise CliError(f"{folder}: no *.txt files")
    for path in files:
        text = _text_of(path)
        if not text.strip():
            raise CliError(f"{path}: empty text (nothing to label)")
        relative = path.relative_to(folder).as_posix()
        if target.bucket is None:  # a local manifest (to look at, or upload by hand): the texts inline
            yield Item({"source": text})
        else:
            key = target.object_key(relative)
            yield Item({"source-ref": f"s3://{target.bucket}/{key}"}, (path, key))


def csv_items(path: Path, *, text_column: str | None, ref_column: str | None, bucket: str | None = None) -> Iterator[Item]:
    """Manifest lines from a CSV column; `bucket`: the --to bucket that `source-ref` URIs must lie in."""
    column = ref_column or text_column or "text"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            yield from _csv_rows(path, csv.DictReader(handle), column, ref_column is not None, bucket)
        except csv.Error as error:
            raise CliError(f"{path}: not a readable CSV ({error})") from None
        except UnicodeDecodeError as error:
            raise CliError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _csv_rows(path: Path, reader: csv.DictReader[str], column: str, refs: bool, bucket: str | None) -> Iterator[Item]:
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise CliError(f"{path}: no column '{column}' (columns: {', '.join(reader.fieldnames or []) or 'none'})")
    for number, row in enumerate(reader, start=2):  # line 1 is the header
        value = (row.get(column) or "").strip() if refs else row.get(column) or ""
        if not value.strip():
            raise CliError(f"{path}:{number}: column '{column}' is empty")
        if refs:
            if not re.match(r"^s3://[^/]+/.+", value):
                raise CliError(f"{path}:{number}: '{value}' is not an s3://bucket/key URI")
            # The labelling role reads only labeling/ in the data bucket: anything else fails at run time.
            ref_bucket, _, ref_key = value[len("s3://") :].partition("/")
            if bucket is not None and ref_bucket != bucket:
                raise CliError(f"{path}:{number}: {value} is not in the --to bucket {bucket} (the role reads only there)")
            if not ref_key.startswith(LABELING_PREFIX):
                raise CliError(f"{path}:{number}: {value}: key must start with {LABELING_PREFIX} (the role reads only there)")
            yield Item({"source-ref": value})
        else:
            yield Item({"source": value})


def _line(item: Item, where: str) -> str:
    text = json.dumps(item.line, ensure_ascii=False)
    if len(text.encode()) > MAX_LINE_BYTES:
        raise CliError(f"{where}: manifest line is {len(text.encode())} bytes; Ground Truth reads at most {MAX_LINE_BYTES}")
    return text


@dataclass(frozen=True)
class ManifestResult:
    uri: str
    lines: int
    uploaded: int


def write_manifest(
    source: Path,
    to: str,
    *,
    text_column: str | None = None,
    ref_column: str | None = None,
    s3: Any = None,
    progress: Callable[[int, str], None] = lambda count, what: None,
) -> ManifestResult:
    """Write the manifest (and upload a folder's texts); `progress(n, what)` after each item."""
    target = destination(to)
    if source.is_dir():
        if text_column or ref_column:
            raise CliError("--text-column/--ref-column are for a CSV source, not a folder")
        items = folder_items(source, target)
    elif source.is_file():
        items = csv_items(source, text_column=text_column, ref_column=ref_column, bucket=target.bucket)
    else:
        raise CliError(f"{source}: no such folder or CSV file")
    uploads: list[tuple[Path, str]] = []
    count = 0
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".manifest", delete=False) as staged:
        for count, item in enumerate(items, start=1):
            staged.write(_line(item, f"{source} item {count}") + "\n")
            if item.upload:
                uploads.append(item.upload)
            progress(count, "checked")
    staged_path = Path(staged.name)
    try:
        if target.bucket is None:
            Path(target.key).parent.mkdir(parents=True, exist_ok=True)
            staged_path.replace(target.key)
            return ManifestResult(target.uri, count, 0)
        for done, (path, key) in enumerate(uploads, start=1):
            s3.upload_file(str(path), target.bucket, key, ExtraArgs={"ContentType": "text/plain; charset=utf-8"})
            progress(done, "uploaded")
        s3.upload_file(str(staged_path), target.bucket, target.key, ExtraArgs={"ContentType": "application/jsonlines"})
        return ManifestResult(target.uri, count, len(uploads))
    finally:
        staged_path.unlink(missing_ok=True)


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client (AWS_ENDPOINT_URL, AWS_PROFILE etc. are honoured by boto3)."""
    import boto3

    return boto3.session.Session().client(service, region_name=region)


# --- status ---------------------------------------------------------------------------------------

_COUNTERS = ("TotalLabeled", "HumanLabeled", "MachineLabeled", "FailedNonRetryableError", "Unlabeled")


@dataclass(frozen=True)
class JobStatus:
    config_name: str
    job_name: str | None
    status: str
    counters: dict[str, int]
    created: str = ""
    failure: str = ""


def configured(env: str, config_dir: Path = CONFIG_DIR) -> tuple[Labeling, str]:
    config = load_config(env, config_dir=config_dir)
    if config.labeling is None:
        raise CliError(f"config/{env}.yaml has no labeling section")
    return config.labeling, config.region


def status(labeling: Labeling, sagemaker: Any) -> list[JobStatus]:
    """Every configured job, newest SageMaker job first per config name."""
    rows: list[JobStatus] = []
    for job in labeling.jobs:
        pattern = re.compile(rf"^{re.escape(job.name)}-[0-9a-f]{{8}}$", re.IGNORECASE)
        found = []
        for page in sagemaker.get_paginator("list_labeling_jobs").paginate(
            NameContains=job.name, SortBy="CreationTime", SortOrder="Descending"
        ):
            found += [s for s in page["LabelingJobSummaryList"] if pattern.match(s["LabelingJobName"])]
        if not found:
            waiting = f"waiting for {job.from_job}" if job.from_job else "not created"
            rows.append(JobStatus(job.name, None, waiting, {}))
            continue
        for summary in found:
            counters = summary.get("LabelCounters", {})
            rows.append(
                JobStatus(
                    job.name,
                    summary["LabelingJobName"],
                    summary["LabelingJobStatus"],
                    {k: int(counters.get(k, 0)) for k in _COUNTERS},
                    created=str(summary.get("CreationTime", "")),
                    failure=summary.get("FailureReason", ""),
                )
            )
    return rows
