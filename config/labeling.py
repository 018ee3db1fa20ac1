"""Config for Ground Truth labelling: `labeling: {workforce: {...}, jobs: [...]}`.

Each rule says where it comes from: the CreateLabelingJob / CreateWorkteam service model
in botocore (names, patterns, ranges), the API reference's prose (limits the model does
not encode), or the platform (a choice of ours, said so). The stack
`mlops-<env>-labeling` exists only when this section is present.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# CreateLabelingJob.LabelingJobName / LabelAttributeName and CreateWorkteam.WorkteamName: pattern
# `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` (0,126 for label attributes) in the service model.
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
MAX_JOB_NAME = 63  # LabelingJobName: max 63
# Job names get a `-<8 hex>` suffix per configuration (a stopped job's name cannot be reused).
JOB_NAME_SUFFIX = 9
MAX_CONFIG_JOB_NAME = MAX_JOB_NAME - JOB_NAME_SUFFIX
MAX_LABEL_ATTRIBUTE = 127  # LabelAttributeName: max 127
# HumanTaskConfig (service model): TaskTitle 1-128, TaskDescription 1-255, TaskKeywords 1-5 items
# of TaskKeyword (1-30, `[A-Za-z0-9]+( [A-Za-z0-9]+)*`), NumberOfHumanWorkersPerDataObject 1-9,
# TaskTimeLimitInSeconds >= 30, TaskAvailabilityLifetimeInSeconds >= 60, MaxConcurrentTaskCount 1-5000.
MAX_TITLE = 128
LIQUID_MARKUP = ("{{", "{%")  # Liquid output and tag delimiters
MAX_DESCRIPTION = 255
MAX_KEYWORDS = 5
_KEYWORD = re.compile(r"^[A-Za-z0-9]+( [A-Za-z0-9]+)*$")
MAX_KEYWORD = 30
MAX_WORKERS_PER_OBJECT = 9
MIN_TASK_TIME = 30
# API reference, HumanTaskConfig.TaskTimeLimitInSeconds: "If you create a custom labeling job,
# the maximum value for this parameter is 8 hours (28,800 seconds)."
MAX_TASK_TIME_CUSTOM = 28_800
MIN_AVAILABILITY = 60
# API reference, HumanTaskConfig.TaskAvailabilityLifetimeInSeconds: Mechanical Turk (public)
# at most 12 hours; private or vendor workforces 30 days for most users.
MAX_AVAILABILITY_PUBLIC = 43_200
MAX_AVAILABILITY = 2_592_000
MAX_CONCURRENT_TASKS = 5000
# Public workforce: PublicWorkforceTaskPrice.AmountInUsd: Dollars 0-2, Cents 0-99, TenthFractionsOfACent 0-9.
# The public workteam is owned by AWS (Developer Guide, "Amazon Mechanical Turk workforce").
PUBLIC_WORKTEAM = "arn:aws:sagemaker:{region}:394669845002:workteam/public-crowd/default"
# WorkteamArn pattern (service model) for a vendor's team from the AWS Marketplace subscription.
_VENDOR_WORKTEAM = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/vendor-crowd/.+$")
# Platform: labels are rendered into the template's HTML and into a Liquid file; letters (any
# script), digits, space, '_', '.', '-' only, so no label can carry markup or Liquid syntax.
_LABEL = re.compile(r"^\w[\w .-]{0,29}$")
MAX_LABELS = 30  # platform: one toolbar row of buttons per kind
# A key in the data bucket: S3 object keys are at most 1,024 bytes (S3 User Guide, "Naming objects").
_DATA_KEY = re.compile(r"^[^/\s][^\s]*$")
MAX_DATA_KEY_BYTES = 1024
# Manifest keys the platform's input manifests use for the data itself.
RESERVED_ATTRIBUTES = frozenset({"source", "source-ref"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _cross_field_error(issues: list[tuple[tuple[str | int, ...], str]]) -> None:
    if issues:
        from config.schema import CrossFieldError  # schema imports this module: import at use

        raise CrossFieldError(issues)


def _labels(value: list[str], what: str, *, minimum: int) -> list[str]:
    if not minimum <= len(value) <= MAX_LABELS:
        raise ValueError(f"{len(value)} {what}; give {minimum}-{MAX_LABELS}")
    bad = [label for label in value if not _LABEL.match(label)]
    if bad:
        raise ValueError(
            f"{bad} are not valid {what}: 1-30 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit"
        )
    lowered = [label.lower() for label in value]
    repeats = sorted({label for label in value if lowered.count(label.lower()) > 1})
    if repeats:
        raise ValueError(f"{what} repeat (ignoring case): {repeats}")
    return value


class Workforce(_Model):
    """Who labels: a private team (a Cognito user pool made by the stack), Mechanical Turk, or a vendor."""

    type: Literal["private", "public", "vendor"] = "private"
    members: list[str] = Field(default_factory=list, description="private: the annotators' email addresses")
    workteam_arn: str | None = Field(default=None, description="vendor: the workteam ARN from the Marketplace subscription")

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        bad = [m for m in value if not _EMAIL.match(m)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        lowered = [m.lower() for m in value]
        repeats = sorted({m for m in lowered if lowered.count(m) > 1})
        if repeats:
            raise ValueError(f"members repeat: {', '.join(repeats)} (Cognito user names are the addresses, case-insensitively)")
        return value

    @model_validator(mode="after")
    def _by_type(self) -> Workforce:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if self.type == "private" and not self.members:
            issues.append((("members",), "a private workforce needs at least one member email (the stack invites them)"))
        if self.type != "private" and self.members:
            issues.append((("members",), f"members are for a private workforce; a {self.type} workforce brings its own workers"))
        if self.type == "vendor":
            if not self.workteam_arn or not _VENDOR_WORKTEAM.match(self.workteam_arn):
                issues.append(
                    (
                        ("workteam_arn",),
                        "a vendor workforce needs the workteam ARN of its Marketplace subscription "
                        "(arn:aws:sagemaker:<region>:<account>:workteam/vendor-crowd/<name>; CreateLabelingJob WorkteamArn)",
                    )
                )
        elif self.workteam_arn is not None:
            issues.append((("workteam_arn",), f"workteam_arn is for a vendor workforce; a {self.type} workforce has its own"))
        _cross_field_error(issues)
        return self


class TaskPrice(_Model):
    """What a Mechanical Turk worker is paid per task (HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd)."""

    dollars: int = Field(default=0, ge=0, le=2)
    cents: int = Field(default=0, ge=0, le=99)
    tenth_fractions_of_a_cent: int = Field(default=0, ge=0, le=9)


class Task(_Model):
    """What workers see in the worker portal, and how long they have."""

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    keywords: list[str] = Field(default_factory=lambda: ["text", "named entities"])
    time_limit_seconds: int = Field(default=900, ge=MIN_TASK_TIME, le=MAX_TASK_TIME_CUSTOM)
    availability_seconds: int | None = Field(
        default=None, ge=MIN_AVAILABILITY, le=MAX_AVAILABILITY, description="unset: the workforce's default (API reference)"
    )
    max_concurrent_tasks: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_TASKS)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        # TaskTitle pattern `[\t\n\r -\uD7FF\uE000-\uFFFD]*`: no other control characters, no astral-plane characters.
        bad = [c for c in value if not (c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd")]
        if bad:
            raise ValueError(f"TaskTitle allows no control characters or characters beyond U+FFFD (found {bad!r})")
        return value

    @field_validator("title", "description")
    @classmethod
    def _no_liquid(cls, value: str) -> str:
        # Platform: both are written into the template at synth, and Ground Truth renders the template
        # with Liquid (Developer Guide, "Creating a custom worker task template"): `{{` or `{%` would be
        # evaluated for every worker (or break the page).
        found = [m for m in LIQUID_MARKUP if m in value]
        if found:
            raise ValueError(f"{' and '.join(found)} would be read as Liquid markup in the worker's page; leave it out")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= MAX_KEYWORDS:
            raise ValueError(f"{len(value)} keywords; CreateLabelingJob TaskKeywords takes 1-{MAX_KEYWORDS}")
        bad = [k for k in value if len(k) > MAX_KEYWORD or not _KEYWORD.match(k)]
        if bad:
            raise ValueError(f"{bad}: each keyword is 1-{MAX_KEYWORD} letters or digits, words separated by single spaces")
        return value


class LabelingJob(_Model):
    """One labelling job; `from_job` chains it to an earlier job's output manifest (e.g. a review)."""

    name: str
    input_manifest: str | None = Field(default=None, description="key of the input manifest in the data bucket")
    from_job: str | None = Field(default=None, description="an earlier job's name: its output manifest is the input")
    label_attribute: str
    entity_labels: list[str]
    relation_types: list[str] = Field(default_factory=list)
    document_classes: list[str] = Field(default_factory=list)
    task: Task
    workers_per_object: int = Field(default=1, ge=1, le=MAX_WORKERS_PER_OBJECT)
    price: TaskPrice | None = Field(default=None, description="public workforce only")
    data_free_of_pii: bool = Field(default=False, description="public workforce only: declare it (ContentClassifiers)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SAGEMAKER_NAME.match(value):
            raise ValueError(
                f"'{value}' is not a valid labelling job name: letters, digits and '-', not starting or ending with '-'"
            )
        if len(value) > MAX_CONFIG_JOB_NAME:
            raise ValueError(
                f"'{value}' is {len(value)} characters; at most {MAX_CONFIG_JOB_NAME} so that the job name "
                f"with its {JOB_NAME_SUFFIX}-character suffix fits LabelingJobName's {MAX_JOB_NAME}"
            )
        return value

    @field_validator("label_attribute")
    @classmethod
    def _label_attribute(cls, value: str) -> str:
        if not _SAGEMAKER_NAME.match(value) or len(value) > MAX_LABEL_ATTRIBUTE:
            raise ValueError(
                f"'{value}' is not a valid LabelAttributeName: 1-{MAX_LABEL_ATTRIBUTE} letters, digits and '-', "
                "not starting or ending with '-'"
            )
        if value.endswith("-metadata"):
            raise ValueError(f"'{value}' ends with '-metadata', which CreateLabelingJob's LabelAttributeName does not allow")
        if value in RESERVED_ATTRIBUTES:
            raise ValueError(f"'{value}' would overwrite the data itself in the manifest line")
        return value

    @field_validator("input_manifest")
    @classmethod
    def _input_manifest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("s3://") or not _DATA_KEY.match(value) or len(value.encode()) > MAX_DATA_KEY_BYTES:
            raise ValueError(
                f"'{value}' must be a key in the environment's data bucket (e.g. labeling/tickets/input.manifest; "
                f"no s3:// prefix, no leading '/', no spaces, at most {MAX_DATA_KEY_BYTES} bytes)"
            )
        return value

    @field_validator("entity_labels")
    @classmethod
    def _entity_labels(cls, value: list[str]) -> list[str]:
        return _labels(value, "entity labels", minimum=1)

    @field_validator("relation_types")
    @classmethod
    def _relation_types(cls, value: list[str]) -> list[str]:
        return _labels(value, "relation types", minimum=0)

    @field_validator("document_classes")
    @classmethod
    def _document_classes(cls, value: list[str]) -> list[str]:
        return _labels(value, "document classes", minimum=0)

    @model_validator(mode="after")
    def _input(self) -> LabelingJob:
        if (self.input_manifest is None) == (self.from_job is None):
            _cross_field_error([(("input_manifest",), "give exactly one of input_manifest and from_job")])
        return self


class Labeling(_Model):
    """The `labeling` section: one workforce and the jobs it works on."""

    workforce: Workforce
    jobs: list[LabelingJob] = Field(default_factory=list)

    @model_validator(mode="after")
    def _jobs(self) -> Labeling:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        names: dict[str, int] = {}
        attributes: dict[str, str] = {}
        public = self.workforce.type == "public"
        for index, job in enumerate(self.jobs):
            key = job.name.lower()
            if key in names:
                issues.append((("jobs", index, "name"), f"'{job.name}' repeats job '{self.jobs[names[key]].name}'"))
            if job.label_attribute in attributes:
                issues.append(
                    (
                        ("jobs", index, "label_attribute"),
                        f"'{job.label_attribute}' is job '{attributes[job.label_attribute]}''s too; "
                        "a chained job would overwrite the labels it reviews",
                    )
                )
            attributes.setdefault(job.label_attribute, job.name)
            if job.from_job is not None and job.from_job.lower() not in names:
                later = any(j.name.lower() == job.from_job.lower() for j in self.jobs[index:])
                issues.append(
                    (
                        ("jobs", index, "from_job"),
                        f"'{job.from_job}' "
                        + (
                            "is not an earlier job: a job reads the output of one listed before it"
                            if later
                            else "is not a job here"
                        )
                        + f" (earlier jobs: {', '.join(j.name for j in self.jobs[:index]) or 'none'})",
                    )
                )
            names.setdefault(key, index)
            if public and job.price is None:
                issues.append(
                    (("jobs", index, "price"), "a public workforce is paid per task: set price (PublicWorkforceTaskPrice)")
                )
            if not public and job.price is not None:
                issues.append(
                    (("jobs", index, "price"), "price is for the public workforce only (API reference, PublicWorkforceTaskPrice)")
                )
            if public and not job.data_free_of_pii:
                issues.append(
                    (
                        ("jobs", index, "data_free_of_pii"),
                        "Mechanical Turk workers may only see data free of personal information: confirm it with "
                        "data_free_of_pii: true (ContentClassifiers FreeOfPersonallyIdentifiableInformation)",
                    )
                )
            if public and (job.task.availability_seconds or 0) > MAX_AVAILABILITY_PUBLIC:
                issues.append(
                    (
                        ("jobs", index, "task", "availability_seconds"),
                        f"{job.task.availability_seconds} s; a public workforce allows at most {MAX_AVAILABILITY_PUBLIC} "
                        "(12 hours; API reference, TaskAvailabilityLifetimeInSeconds)",
                    )
                )
            members = len(self.workforce.members)
            if self.workforce.type == "private" and job.workers_per_object > members:
                issues.append(
                    (
                        ("jobs", index, "workers_per_object"),
                        f"{job.workers_per_object} workers per object but the private workforce has {members} "
                        "member(s): no object could ever be finished",
                    )
                )
        _cross_field_error(issues)
        return self

    def job(self, name: str) -> LabelingJob:
        return next(j for j in self.jobs if j.name == name)

    def source_of(self, job: LabelingJob) -> LabelingJob | None:
        """The job whose output manifest `job` reads (None for a job with its own input manifest)."""
        return None if job.from_job is None else next(j for j in self.jobs if j.name.lower() == job.from_job.lower())
