"""The NER labelling template as an annotator meets it.

The template is filled with a job's labels (as at synth), rendered with a Liquid engine
the way Ground Truth renders it per task (autoescaping on, `skip_autoescape` for the
script-safe task JSON), with `task.input` produced by the real pre-annotation Lambda,
then opened in headless Debian Chromium. crowd-html-elements comes from an AWS CDN this
machine cannot reach, so a test-only stand-in (tests/labeling_page/) defines the elements;
a test-only driver selects text, presses labels and submits, and the answer the page would
post is consolidated by the real post-annotation code. The screenshot is kept under
tests/artifacts/labeling/ (gitignored).

CI installs Chromium (.ci/run) and sets MLOPS_REQUIRE_CHROMIUM=1, so there the browser
tests fail rather than skip when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from liquid import Environment
from markupsafe import Markup

from lambda_src.labeling import ner, pre_annotation
from mlops_constructs.labeling.template import CROWD_ELEMENTS_SCRIPT, NerTemplate

HERE = Path(__file__).parent
ARTIFACTS = HERE / "artifacts" / "labeling"
LABELS = ["PERSON", "PLACE", "ORG"]
TEXT = "👩‍💻 Zoe\u0301 moved from 東京 to Paris <script>alert(1)</script> & joined ACME."
TEMPLATE = NerTemplate(
    title="Mark people, places & organisations",
    description="Select a span, then press its label.",
    entity_labels=LABELS,
    relation_types=["lives_in", "works_for"],
    document_classes=["relocation", "other"],
    prefill_from="first-pass",
)


def liquid_render(template: str, task_input: dict[str, Any]) -> str:
    """Render as Ground Truth does: autoescaped output, with its `skip_autoescape` filter."""
    env = Environment(autoescape=True)
    env.filters["skip_autoescape"] = lambda value: Markup(str(value))  # the value is script-safe JSON
    return str(env.from_string(template).render(task={"input": task_input}))


def task_input(**line: Any) -> dict[str, Any]:
    response = pre_annotation.task_input({"version": "2018-10-16", "dataObject": {"source": TEXT, **line}}, s3=None)  # type: ignore[arg-type]
    result: dict[str, Any] = response["taskInput"]
    return result


class _Page(HTMLParser):
    """Tags and attributes of a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.elements if t == tag and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


def test_liquid_fills_the_task_and_escapes_what_is_not_marked_safe() -> None:
    page = liquid_render(TEMPLATE.render(), {**task_input(), "source_ref": "s3://b/<b>x</b>.txt"})
    assert '<p class="source">s3://b/&lt;b&gt;x&lt;/b&gt;.txt</p>' in page
    task_json = page.split('<script type="application/json" id="mlops-task">', 1)[1].split("</script>", 1)[0]
    assert json.loads(task_json)["text"] == TEXT  # the text's own "</script>" is escaped, so this split is the real end
    assert "{{" not in page
    assert "{%" not in page


def test_labels_come_from_the_job_config() -> None:
    page = TEMPLATE.render()
    for label in LABELS:
        assert f'<crowd-button class="entity-label" data-label="{label}">{label}</crowd-button>' in page
    assert '<crowd-radio-button name="document-class-0" value="relocation">relocation</crowd-radio-button>' in page
    assert '<option value="works_for">works_for</option>' in page
    assert "Mark people, places &amp; organisations" in page
    plain = NerTemplate(title="t", description="d", entity_labels=["X"]).render()
    assert '<section id="mlops-relations" hidden>' in plain
    assert '<section id="mlops-document-class" hidden>' in plain


def test_a_label_that_liquid_would_read_is_refused() -> None:
    with pytest.raises(ValueError, match="would be read as Liquid"):
        NerTemplate(title="t", description="d", entity_labels=["{{ x }}"]).render()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MLOPS_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (MLOPS_REQUIRE_CHROMIUM is set): apt-get install chromium")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; CI installs it)")
    return found


def _browser(chromium: str, page: Path, profile: Path, *extra: str) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1100,900",
        "--virtual-time-budget=3000",
    ]
    result = subprocess.run([chromium, *flags, *extra, page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _page_for_browser(steps: dict[str, Any], task: dict[str, Any]) -> str:
    page = liquid_render(TEMPLATE.render(), task)
    cdn_tag = f'<script src="{CROWD_ELEMENTS_SCRIPT}"></script>'
    assert page.count(cdn_tag) == 1
    stand_in = (HERE / "labeling_page" / "crowd_elements_stand_in.js").read_text()
    drive = (HERE / "labeling_page" / "drive.js").read_text()
    page = page.replace(cdn_tag, f"<script>{stand_in}</script>")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"></head><body>{page}'
        f'<script type="application/json" id="drive-steps">{json.dumps(steps)}</script>'
        f"<script>{drive}</script></body></html>"
    )


def test_an_annotator_marks_spans_in_chromium_and_the_answer_consolidates_in_code_points(tmp_path: Path) -> None:
    chromium = _chromium()
    # A review job: the first pass marked "Zoé" as PERSON; the reviewer adds PLACE spans after emoji and CJK text.
    zoe = TEXT.index("Zoe\u0301")
    earlier = {"schema": ner.SCHEMA, "entities": [{"start": zoe, "end": zoe + 4, "label": "PERSON"}], "relations": []}
    steps = {
        "entities": [["東京", "PLACE"], ["Paris", "PLACE"], ["ACME", "ORG"]],
        "relation": [0, 2, "lives_in"],
        "documentClass": "relocation",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    html_file = ARTIFACTS / "ner-template.html"
    html_file.write_text(_page_for_browser(steps, task_input(**{"first-pass": earlier})), encoding="utf-8")

    screenshot = ARTIFACTS / "ner-template.png"
    screenshot.unlink(missing_ok=True)
    _browser(chromium, html_file, tmp_path / "profile-shot", f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    dom = _browser(chromium, html_file, tmp_path / "profile-dom", "--dump-dom")
    page = _Page()
    page.feed(dom)
    assert [a["data-label"] for a in page.find("crowd-button", class_="entity-label")] == LABELS
    assert [a["value"] for a in page.find("crowd-radio-button")] == ["relocation", "other"]
    assert len(page.find("crowd-form")) == 1
    assert page.find("input", name="annotation", type="hidden")
    assert [a["data-label"] for a in page.find("li", class_="entity")] == ["PERSON", "PLACE", "PLACE", "ORG"]
    assert "<script>alert(1)</script>" not in dom  # the text is shown as text, never parsed as markup

    (body,) = page.find("body")
    posted = json.loads(body["data-answer"] or "null")
    assert set(posted) == {ner.ANSWER_FIELD}
    answer = ner.parse_answer(
        "reviewer",
        json.dumps(posted),
        text=TEXT,
        vocabulary=ner.vocabulary(ner.label_categories(LABELS, ["lives_in", "works_for"], ["relocation", "other"])),
    )
    label = ner.consolidate(TEXT, [answer])
    assert [(e["text"], e["label"]) for e in label["entities"]] == [
        ("Zoe\u0301", "PERSON"),
        ("東京", "PLACE"),
        ("Paris", "PLACE"),
        ("ACME", "ORG"),
    ]
    assert label["relations"] == [{"head": 0, "tail": 2, "type": "lives_in", "votes": 1}]
    assert label["document_class"]["label"] == "relocation"


def test_the_shipped_templates_use_only_what_the_pre_annotation_lambda_provides(prod: Any) -> None:
    """Every prod job's uploaded template renders with strict Liquid on real task input."""
    from liquid import StrictUndefined

    from tests.labeling_fixtures import job_properties

    env = Environment(autoescape=True, undefined=StrictUndefined)
    env.filters["skip_autoescape"] = lambda value: Markup(str(value))
    for job in ("transcript-entities", "transcript-entities-review"):
        template = job_properties(prod, job)["Template"]
        page = str(env.from_string(template).render(task={"input": task_input()}))
        assert '<script type="application/json" id="mlops-task">{"text": ' in page
        assert page.count("<crowd-form>") == 1
