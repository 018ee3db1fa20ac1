"""Named-entity annotations: what the template submits, and how workers' answers become one label.

One module for the pre-annotation Lambda, the consolidation Lambda and the CLI, so the
answer format has a single definition.

Offsets are Unicode code points, not UTF-16 code units (what JavaScript's string indices
count) nor UTF-8 bytes: the template converts the browser's selection to code points
before it submits, so `text[start:end]` in Python is the marked span even when the text
holds emoji (two UTF-16 units each) or combining marks (their own code points).

The template's crowd-form submits one hidden field, `ANSWER_FIELD`, holding a JSON
document (crowd-form sends form fields as strings):

    {"entities": [{"start": 0, "end": 5, "label": "PERSON"}, ...],
     "relations": [{"head": 0, "tail": 1, "type": "works_for"}, ...],   # indices into entities
     "document_class": "complaint" | null}

Consolidation is a strict-majority vote per data object: an entity span (start, end,
label) or a relation is kept when more than half of the workers whose answers could be
read marked it; the document class is the plurality choice, or null on a tie. Answers
that cannot be read (bad JSON, an unknown label, a span outside the text) are never
dropped silently: they are listed under `rejected` with the worker and the reason, and
do not vote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = "mlops-ner/v1"
ANSWER_FIELD = "annotation"


class AnswerError(ValueError):
    """One worker's answer cannot be read; the message says why."""


@dataclass(frozen=True, order=True)
class Span:
    start: int  # code point offset, inclusive
    end: int  # code point offset, exclusive
    label: str


@dataclass(frozen=True, order=True)
class Relation:
    head: Span
    tail: Span
    type: str


@dataclass(frozen=True)
class Answer:
    """One worker's readable answer for one data object."""

    worker_id: str
    entities: frozenset[Span]
    relations: frozenset[Relation]
    document_class: str | None


@dataclass(frozen=True)
class Vocabulary:
    """What a job lets workers choose; an empty set means 'anything' (labels not known to the caller)."""

    labels: frozenset[str] = frozenset()
    relation_types: frozenset[str] = frozenset()
    document_classes: frozenset[str] = frozenset()


def code_points(text: str) -> int:
    """The text's length as the template counts it (Python's len counts code points)."""
    return len(text)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnswerError(f"{what} must be an integer, got {json.dumps(value)}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise AnswerError(f"{what} must be a non-empty string, got {json.dumps(value)}")
    return value


def parse_answer(worker_id: str, content: str | None, *, text: str, vocabulary: Vocabulary = Vocabulary()) -> Answer:
    """Read one worker's `annotationData.content`; an empty submission is an answer with nothing marked."""
    if content is None or not content.strip():
        return Answer(worker_id, frozenset(), frozenset(), None)
    try:
        form = json.loads(content)
    except json.JSONDecodeError as error:
        raise AnswerError(f"annotationData.content is not JSON ({error.msg} at {error.pos})") from None
    if not isinstance(form, dict):
        raise AnswerError("annotationData.content must be a JSON object of the form's fields")
    raw = form.get(ANSWER_FIELD)
    if raw is None or raw == "":
        return Answer(worker_id, frozenset(), frozenset(), None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise AnswerError(f"field '{ANSWER_FIELD}' is not JSON ({error.msg} at {error.pos})") from None
    if not isinstance(raw, dict):
        raise AnswerError(f"field '{ANSWER_FIELD}' must be a JSON object")
    length = code_points(text)
    entities: list[Span] = []
    raw_entities = raw.get("entities", [])
    if not isinstance(raw_entities, list):
        raise AnswerError("entities must be a list")
    for index, item in enumerate(raw_entities):
        if not isinstance(item, dict):
            raise AnswerError(f"entities[{index}] must be an object")
        start = _int(item.get("start"), f"entities[{index}].start")
        end = _int(item.get("end"), f"entities[{index}].end")
        label = _text(item.get("label"), f"entities[{index}].label")
        if not 0 <= start < end <= length:
            raise AnswerError(f"entities[{index}] [{start}, {end}) is outside the text (0-{length} code points)")
        if vocabulary.labels and label not in vocabulary.labels:
            raise AnswerError(f"entities[{index}].label '{label}' is not one of {sorted(vocabulary.labels)}")
        entities.append(Span(start, end, label))
    relations: set[Relation] = set()
    raw_relations = raw.get("relations", [])
    if not isinstance(raw_relations, list):
        raise AnswerError("relations must be a list")
    for index, item in enumerate(raw_relations):
        if not isinstance(item, dict):
            raise AnswerError(f"relations[{index}] must be an object")
        head = _int(item.get("head"), f"relations[{index}].head")
        tail = _int(item.get("tail"), f"relations[{index}].tail")
        kind = _text(item.get("type"), f"relations[{index}].type")
        if not (0 <= head < len(entities) and 0 <= tail < len(entities)) or head == tail:
            raise AnswerError(f"relations[{index}] must join two different entities (0-{len(entities) - 1})")
        if vocabulary.relation_types and kind not in vocabulary.relation_types:
            raise AnswerError(f"relations[{index}].type '{kind}' is not one of {sorted(vocabulary.relation_types)}")
        relations.add(Relation(entities[head], entities[tail], kind))
    document_class = raw.get("document_class")
    if document_class is not None:
        document_class = _text(document_class, "document_class")
        if vocabulary.document_classes and document_class not in vocabulary.document_classes:
            raise AnswerError(f"document_class '{document_class}' is not one of {sorted(vocabulary.document_classes)}")
    return Answer(worker_id, frozenset(entities), frozenset(relations), document_class)


def _span_json(span: Span, text: str, votes: int, workers: int) -> dict[str, Any]:
    return {
        "start": span.start,
        "end": span.end,
        "label": span.label,
        "text": text[span.start : span.end],
        "votes": votes,
        "confidence": round(votes / workers, 4),
    }


def consolidate(
    text: str, answers: Sequence[Answer], rejected: Sequence[Mapping[str, str]] = (), *, job_name: str = ""
) -> dict[str, Any]:
    """The label for one data object: majority-voted entities and relations, plurality class."""
    workers = len(answers)
    span_votes: Counter[Span] = Counter(span for answer in answers for span in answer.entities)
    kept = sorted(span for span, votes in span_votes.items() if votes * 2 > workers)
    kept_set = set(kept)
    relation_votes: Counter[Relation] = Counter(r for answer in answers for r in answer.relations)
    relations = sorted(
        r for r, votes in relation_votes.items() if votes * 2 > workers and r.head in kept_set and r.tail in kept_set
    )
    index = {span: i for i, span in enumerate(kept)}
    class_votes: Counter[str] = Counter(a.document_class for a in answers if a.document_class is not None)
    ranked = class_votes.most_common()
    document_class = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
    agreed = sum(1 for a in answers if a.entities == kept_set) if answers else 0
    return {
        "schema": SCHEMA,
        "job": job_name,
        "workers": workers,
        "entities": [_span_json(span, text, span_votes[span], workers) for span in kept],
        "relations": [
            {"head": index[r.head], "tail": index[r.tail], "type": r.type, "votes": relation_votes[r]} for r in relations
        ],
        "document_class": {"label": document_class, "votes": dict(sorted(class_votes.items()))},
        # Share of workers whose entity set equals the consolidated one: low values call for review.
        "agreement": round(agreed / workers, 4) if workers else 0.0,
        "disputed": [
            _span_json(span, text, votes, workers) for span, votes in sorted(span_votes.items()) if span not in kept_set
        ],
        "rejected": [dict(r) for r in rejected],
    }


def previous_labels(data_object: Mapping[str, Any]) -> dict[str, Any]:
    """Labels an earlier job of ours wrote into this manifest line, by label attribute name."""
    return {
        key: {k: value[k] for k in ("entities", "relations", "document_class") if k in value}
        for key, value in data_object.items()
        if isinstance(value, dict) and value.get("schema") == SCHEMA
    }


# Label category config entries carry their kind as a prefix, so one list (the job's
# LabelCategoryConfigS3Uri, passed back to consolidation as `labelCategories`) holds the
# entity labels, relation types and document classes.
KIND_PREFIXES = {"entity": "entity:", "relation": "relation:", "class": "class:"}


def label_categories(entity_labels: Iterable[str], relation_types: Iterable[str], document_classes: Iterable[str]) -> list[str]:
    """The job's label category list, each entry prefixed with its kind."""
    return [
        *(KIND_PREFIXES["entity"] + x for x in entity_labels),
        *(KIND_PREFIXES["relation"] + x for x in relation_types),
        *(KIND_PREFIXES["class"] + x for x in document_classes),
    ]


def vocabulary(categories: Iterable[str] | None) -> Vocabulary:
    """What workers may choose, from the event's `labelCategories` (None: the job has no label config)."""
    items = list(categories or ())
    unknown = [c for c in items if not any(c.startswith(p) for p in KIND_PREFIXES.values())]
    if unknown:
        raise ValueError(f"labelCategories entries must start with one of {sorted(KIND_PREFIXES.values())}: {unknown}")

    def kind(name: str) -> frozenset[str]:
        prefix = KIND_PREFIXES[name]
        return frozenset(c[len(prefix) :] for c in items if c.startswith(prefix))

    return Vocabulary(labels=kind("entity"), relation_types=kind("relation"), document_classes=kind("class"))
