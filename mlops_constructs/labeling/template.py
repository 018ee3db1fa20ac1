"""The custom NER labelling template, filled with one job's labels at synth.

The HTML (ner_template.html) is a Ground Truth custom template: Liquid that Ground Truth
renders per task with `task.input` from the pre-annotation Lambda, using
crowd-html-elements for the form, buttons and radio group. Here only the job's own facts
go in (title, labels, relation types, document classes, which earlier job's labels to show
for review); each is HTML-escaped, and the config allows no character in a label that
Liquid or HTML would read as syntax, so the file stays one Liquid template with two
Liquid expressions.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

CROWD_ELEMENTS_SCRIPT = "https://assets.crowd.aws/crowd-html-elements.js"


@dataclass(frozen=True)
class NerTemplate:
    """One job's template settings."""

    title: str
    description: str
    entity_labels: Sequence[str]
    relation_types: Sequence[str] = field(default_factory=tuple)
    document_classes: Sequence[str] = field(default_factory=tuple)
    prefill_from: str | None = None  # label attribute of the job whose labels a review starts from

    def problems(self) -> list[str]:
        found = []
        if not self.entity_labels:
            found.append("entity_labels: give at least one")
        for name, values in (
            ("entity_labels", self.entity_labels),
            ("relation_types", self.relation_types),
            ("document_classes", self.document_classes),
        ):
            bad = [v for v in values if "{" in v or "}" in v or "%" in v]
            if bad:
                found.append(f"{name}: {bad} would be read as Liquid")
        return found

    def render(self) -> str:
        """The template file's text, ready to upload."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        source = resources.files(__package__).joinpath("ner_template.html").read_text(encoding="utf-8")
        e = html.escape
        config = {
            "labels": list(self.entity_labels),
            "relationTypes": list(self.relation_types),
            "documentClasses": list(self.document_classes),
            "prefillFrom": self.prefill_from,
        }
        config_json = (
            json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        )
        values = {
            "@@TITLE@@": e(self.title),
            "@@DESCRIPTION@@": e(self.description),
            "@@ENTITY_BUTTONS@@": "".join(
                f'<crowd-button class="entity-label" data-label="{e(label)}">{e(label)}</crowd-button>'
                for label in self.entity_labels
            ),
            "@@RELATION_OPTIONS@@": "".join(f'<option value="{e(kind)}">{e(kind)}</option>' for kind in self.relation_types),
            "@@RELATIONS_HIDDEN@@": "" if self.relation_types else "hidden",
            "@@CLASS_BUTTONS@@": "".join(
                f'<crowd-radio-button name="document-class-{i}" value="{e(name)}">{e(name)}</crowd-radio-button>'
                for i, name in enumerate(self.document_classes)
            ),
            "@@CLASSES_HIDDEN@@": "" if self.document_classes else "hidden",
            "@@CONFIG_JSON@@": config_json,
        }
        for placeholder, value in values.items():
            source = source.replace(placeholder, value)
        if "@@" in source:
            raise ValueError("ner_template.html has a placeholder this renderer does not fill")
        return source
