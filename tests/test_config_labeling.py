"""The `labeling` config section: a valid section loads; each rule fails with its key path and reason.

Sources per rule: the CreateLabelingJob / CreateWorkteam service model in botocore (names,
patterns, ranges), the API reference's prose where the model has no field for it (custom
task time limit, public availability, price), or the platform's own choice (said so).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
import yaml

from config import labeling as rules
from config.loader import ConfigError, parse_config

ANNOTATE: dict[str, Any] = {
    "name": "annotate",
    "input_manifest": "labeling/tickets/input.manifest",
    "label_attribute": "ticket-entities",
    "entity_labels": ["PERSON", "ORG", "PRODUCT"],
    "relation_types": ["works_for"],
    "document_classes": ["complaint", "question"],
    "task": {"title": "Mark people, organisations and products", "description": "Select each span, then its label."},
    "workers_per_object": 2,
}
REVIEW: dict[str, Any] = {
    "name": "review",
    "from_job": "annotate",
    "label_attribute": "ticket-entities-reviewed",
    "entity_labels": ["PERSON", "ORG", "PRODUCT"],
    "task": {"title": "Review entity labels", "description": "Correct the marked spans."},
}
BASE: dict[str, Any] = {
    "account": "123456789012",
    "region": "eu-west-1",
    "labeling": {
        "workforce": {"type": "private", "members": ["ana@example.com", "bo@example.com"]},
        "jobs": [ANNOTATE, REVIEW],
    },
}
JOB = "labeling.jobs[0]"


def _problems(mutate: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data, sort_keys=False), source="test.yaml")
    return {issue.path: issue.message for issue in caught.value.issues}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data["labeling"]
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data["labeling"]
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _then(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


def _public(data: dict[str, Any]) -> None:
    data["labeling"]["workforce"] = {"type": "public"}
    for job in data["labeling"]["jobs"]:
        job["price"] = {"cents": 3, "tenth_fractions_of_a_cent": 6}
        job["data_free_of_pii"] = True


def test_the_base_section_loads_with_a_chain() -> None:
    config = parse_config(yaml.safe_dump(BASE))
    assert config.labeling is not None
    review = config.labeling.jobs[1]
    source = config.labeling.source_of(review)
    assert source is not None
    assert source.name == "annotate"
    assert config.labeling.source_of(config.labeling.jobs[0]) is None
    assert review.task.time_limit_seconds == 900


def test_a_public_and_a_vendor_workforce_load() -> None:
    data = copy.deepcopy(BASE)
    _public(data)
    assert parse_config(yaml.safe_dump(data)).labeling is not None
    data = copy.deepcopy(BASE)
    data["labeling"]["workforce"] = {
        "type": "vendor",
        "workteam_arn": "arn:aws:sagemaker:eu-west-1:123456789012:workteam/vendor-crowd/acme",
    }
    assert parse_config(yaml.safe_dump(data)).labeling is not None


def test_the_service_model_still_has_the_bounds_the_rules_copy() -> None:
    """The rules copy numbers from botocore's CreateLabelingJob model; fail when the model moves."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    task = model.shape_for("HumanTaskConfig").members
    assert model.shape_for("LabelingJobName").metadata["max"] == rules.MAX_JOB_NAME
    assert model.shape_for("LabelAttributeName").metadata["max"] == rules.MAX_LABEL_ATTRIBUTE
    assert task["TaskTitle"].metadata["max"] == rules.MAX_TITLE
    assert task["TaskDescription"].metadata["max"] == rules.MAX_DESCRIPTION
    assert task["TaskKeywords"].metadata["max"] == rules.MAX_KEYWORDS
    assert model.shape_for("TaskKeyword").metadata == {
        "min": 1,
        "max": rules.MAX_KEYWORD,
        "pattern": rules._KEYWORD.pattern[1:-1],
    }
    assert task["NumberOfHumanWorkersPerDataObject"].metadata["max"] == rules.MAX_WORKERS_PER_OBJECT
    assert task["TaskTimeLimitInSeconds"].metadata["min"] == rules.MIN_TASK_TIME
    assert task["TaskAvailabilityLifetimeInSeconds"].metadata["min"] == rules.MIN_AVAILABILITY
    assert task["MaxConcurrentTaskCount"].metadata["max"] == rules.MAX_CONCURRENT_TASKS


# One rule per case: (mutation, key path, message fragment). The comment names the source.
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # Platform: a private team is invited by email; without members nobody could label.
    ("private-needs-members", _set(("workforce", "members"), []), "labeling.workforce.members", "at least one member"),
    ("member-email", _set(("workforce", "members"), ["not-an-email"]), "labeling.workforce.members", "not email addresses"),
    # Cognito user names are the addresses (case-insensitive pool).
    ("member-repeat", _set(("workforce", "members"), ["a@x.org", "A@x.org"]), "labeling.workforce.members", "members repeat"),
    ("workforce-type", _set(("workforce", "type"), "crowd"), "labeling.workforce.type", "'private', 'public' or 'vendor'"),
    # CreateLabelingJob WorkteamArn pattern; a vendor team comes from a Marketplace subscription.
    ("vendor-arn", _set(("workforce",), {"type": "vendor"}), "labeling.workforce.workteam_arn", "vendor-crowd"),
    (
        "public-no-members",
        _set(("workforce",), {"type": "public", "members": ["a@x.org"]}),
        "labeling.workforce.members",
        "brings its own",
    ),
    # LabelingJobName pattern (service model).
    ("job-name-pattern", _set(("jobs", 0, "name"), "annotate_v1"), f"{JOB}.name", "not a valid labelling job name"),
    # LabelingJobName max 63 less the platform's 9-character suffix.
    ("job-name-length", _set(("jobs", 0, "name"), "a" * 55), f"{JOB}.name", "at most 54"),
    ("job-name-repeat", _set(("jobs", 1, "name"), "Annotate"), "labeling.jobs[1].name", "repeats job 'annotate'"),
    # LabelAttributeName pattern and length (service model).
    (
        "attribute-pattern",
        _set(("jobs", 0, "label_attribute"), "-entities"),
        f"{JOB}.label_attribute",
        "not a valid LabelAttributeName",
    ),
    ("attribute-length", _set(("jobs", 0, "label_attribute"), "a" * 128), f"{JOB}.label_attribute", "1-127"),
    # API reference, LabelAttributeName: "The name can't end with '-metadata'".
    (
        "attribute-metadata",
        _set(("jobs", 0, "label_attribute"), "entities-metadata"),
        f"{JOB}.label_attribute",
        "ends with '-metadata'",
    ),
    # Platform: the manifest keeps the data under source/source-ref.
    ("attribute-source", _set(("jobs", 0, "label_attribute"), "source-ref"), f"{JOB}.label_attribute", "overwrite the data"),
    (
        "attribute-repeat",
        _set(("jobs", 1, "label_attribute"), "ticket-entities"),
        "labeling.jobs[1].label_attribute",
        "overwrite the labels",
    ),
    # Input: exactly one of a manifest key and a previous job.
    (
        "input-both",
        _set(("jobs", 1, "input_manifest"), "labeling/x.manifest"),
        "labeling.jobs[1].input_manifest",
        "exactly one of",
    ),
    ("input-none", _drop(("jobs", 0, "input_manifest")), f"{JOB}.input_manifest", "exactly one of"),
    (
        "input-s3-uri",
        _set(("jobs", 0, "input_manifest"), "s3://elsewhere/in.manifest"),
        f"{JOB}.input_manifest",
        "key in the environment's data bucket",
    ),
    (
        "from-unknown",
        _set(("jobs", 1, "from_job"), "nope"),
        "labeling.jobs[1].from_job",
        "'nope' is not a job here (earlier jobs: annotate)",
    ),
    ("from-later", lambda d: d["labeling"]["jobs"].reverse(), f"{JOB}.from_job", "is not an earlier job"),
    # Platform: labels are rendered into HTML and Liquid; no markup or Liquid syntax.
    (
        "label-charset",
        _set(("jobs", 0, "entity_labels"), ["PERSON", "{{ x }}"]),
        f"{JOB}.entity_labels",
        "not valid entity labels",
    ),
    ("label-empty", _set(("jobs", 0, "entity_labels"), []), f"{JOB}.entity_labels", "0 entity labels; give 1-30"),
    ("label-repeat", _set(("jobs", 0, "entity_labels"), ["ORG", "org"]), f"{JOB}.entity_labels", "repeat"),
    ("relation-charset", _set(("jobs", 0, "relation_types"), ["<b>"]), f"{JOB}.relation_types", "not valid relation types"),
    (
        "class-count",
        _set(("jobs", 0, "document_classes"), [f"c{i}" for i in range(31)]),
        f"{JOB}.document_classes",
        "31 document classes",
    ),
    # TaskTitle 1-128 and its character pattern; TaskDescription 1-255 (service model).
    ("title-length", _set(("jobs", 0, "task", "title"), "t" * 129), f"{JOB}.task.title", "at most 128"),
    ("title-chars", _set(("jobs", 0, "task", "title"), "Mark \U0001f600"), f"{JOB}.task.title", "beyond U+FFFD"),
    ("description-length", _set(("jobs", 0, "task", "description"), "d" * 256), f"{JOB}.task.description", "at most 255"),
    # Platform: title and description are written into the Liquid template at synth, and Ground Truth
    # renders the template with Liquid (Developer Guide, "Creating a custom worker task template"), so
    # `{{ ... }}` or `{% ... %}` there would be evaluated as Liquid (or break the page) for every worker.
    ("title-liquid", _set(("jobs", 0, "task", "title"), "Mark {{ task.input }}"), f"{JOB}.task.title", "Liquid"),
    ("title-liquid-tag", _set(("jobs", 0, "task", "title"), "Mark {% raw %}"), f"{JOB}.task.title", "Liquid"),
    (
        "description-liquid",
        _set(("jobs", 0, "task", "description"), "See {%- include x -%}"),
        f"{JOB}.task.description",
        "Liquid",
    ),
    # TaskKeywords 1-5 items of TaskKeyword (service model).
    ("keywords-count", _set(("jobs", 0, "task", "keywords"), ["a", "b", "c", "d", "e", "f"]), f"{JOB}.task.keywords", "1-5"),
    ("keyword-pattern", _set(("jobs", 0, "task", "keywords"), ["named-entities"]), f"{JOB}.task.keywords", "letters or digits"),
    # TaskTimeLimitInSeconds: min 30 (model); custom jobs at most 28,800 (API reference).
    (
        "time-min",
        _set(("jobs", 0, "task", "time_limit_seconds"), 29),
        f"{JOB}.task.time_limit_seconds",
        "greater than or equal to 30",
    ),
    (
        "time-max",
        _set(("jobs", 0, "task", "time_limit_seconds"), 28_801),
        f"{JOB}.task.time_limit_seconds",
        "less than or equal to 28800",
    ),
    # TaskAvailabilityLifetimeInSeconds: min 60 (model); 30 days for private/vendor (API reference).
    (
        "availability-min",
        _set(("jobs", 0, "task", "availability_seconds"), 59),
        f"{JOB}.task.availability_seconds",
        "greater than or equal to 60",
    ),
    (
        "availability-max",
        _set(("jobs", 0, "task", "availability_seconds"), 2_592_001),
        f"{JOB}.task.availability_seconds",
        "less than or equal to 2592000",
    ),
    # MaxConcurrentTaskCount 1-5000 (model).
    (
        "concurrency",
        _set(("jobs", 0, "task", "max_concurrent_tasks"), 5001),
        f"{JOB}.task.max_concurrent_tasks",
        "less than or equal to 5000",
    ),
    # NumberOfHumanWorkersPerDataObject 1-9 (model).
    ("workers-max", _set(("jobs", 0, "workers_per_object"), 10), f"{JOB}.workers_per_object", "less than or equal to 9"),
    # Platform: more workers per object than a private team has members never finishes an object.
    ("workers-vs-members", _set(("jobs", 0, "workers_per_object"), 3), f"{JOB}.workers_per_object", "has 2 member(s)"),
    # API reference, PublicWorkforceTaskPrice: the public workforce only.
    ("price-private", _set(("jobs", 0, "price"), {"cents": 1}), f"{JOB}.price", "public workforce only"),
    # USD: Dollars 0-2, Cents 0-99 (model).
    (
        "price-cents",
        _then(_public, _set(("jobs", 0, "price"), {"cents": 100})),
        f"{JOB}.price.cents",
        "less than or equal to 99",
    ),
    ("price-public", _then(_public, _drop(("jobs", 0, "price"))), f"{JOB}.price", "paid per task"),
    # ContentClassifiers: Mechanical Turk workers see only data declared free of personal information.
    (
        "pii-public",
        _then(_public, _set(("jobs", 0, "data_free_of_pii"), False)),
        f"{JOB}.data_free_of_pii",
        "free of personal",
    ),
    # API reference, TaskAvailabilityLifetimeInSeconds: Mechanical Turk at most 12 hours.
    (
        "availability-public",
        _then(_public, _set(("jobs", 0, "task", "availability_seconds"), 43_201)),
        f"{JOB}.task.availability_seconds",
        "at most 43200",
    ),
    ("unknown-key", _set(("jobs", 0, "labels"), ["x"]), f"{JOB}.labels", "unknown key"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_labeling_rule_names_its_key_and_reason(mutate: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    problems = _problems(mutate)
    assert path in problems, f"no problem at {path}; got {problems}"
    assert fragment in problems[path], f"{path}: '{fragment}' not in '{problems[path]}'"


def test_labeling_is_a_reserved_endpoint_name() -> None:
    data = copy.deepcopy(BASE)
    data["endpoints"] = [
        {
            "name": "labeling",
            "variants": [{"name": "a", "model_data": "s3://b/m.tar.gz", "image": "inference", "instance_type": "ml.c6i.large"}],
        }
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), source="test.yaml")
    messages = {issue.path: issue.message for issue in caught.value.issues}
    assert "mlops-<env>-labeling" in messages["endpoints[0].name"]
