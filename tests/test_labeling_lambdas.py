"""Ground Truth pre-annotation and consolidation Lambdas (lambda_src/labeling) as real code.

Event shapes follow the SageMaker Developer Guide, "Using pre-annotation and
post-annotation Lambda functions": the pre-annotation request carries one manifest line
as `dataObject`; the consolidation request names a JSON payload in S3 (`payload.s3Uri`)
with every worker's `annotationData.content` per data object. S3 is moto in server mode;
objects are written SSE-KMS with a customer key, as the platform's data bucket holds them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from lambda_src.labeling import ner, post_annotation, pre_annotation
from lambda_src.labeling.s3io import S3ReadError
from tests.aws_emulator import Emulator

JOB_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:labeling-job/annotate-entities-7f3a"
ATTRIBUTE = "annotate-entities"
CATEGORIES = ner.label_categories(["PERSON", "PLACE", "ORG"], ["works_for", "lives_in"], ["complaint", "praise"])
BUCKET = "mlops-data"


@dataclass
class Context:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    function_name: str = "mlops-test-labeling"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:111111111111:function:mlops-test-labeling"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def s3(aws: Emulator) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key = aws.client("kms").create_key(Description="data")["KeyMetadata"]["Arn"]
    original = client.put_object

    def put_encrypted(**kwargs: Any) -> Any:
        return original(ServerSideEncryption="aws:kms", SSEKMSKeyId=key, **kwargs)

    client.put = put_encrypted
    return client


@pytest.fixture
def handlers(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers' module-level clients, pointed at the emulator."""
    monkeypatch.setitem(pre_annotation._CLIENTS, "s3", s3)
    monkeypatch.setitem(post_annotation._CLIENTS, "s3", s3)


def answer(entities: list[tuple[int, int, str]], relations: list[tuple[int, int, str]] = (), doc: str | None = None) -> str:  # type: ignore[assignment]
    """`annotationData.content` as the template's crowd-form submits it (the answer is a JSON string field)."""
    body = {
        "entities": [{"start": s, "end": e, "label": label} for s, e, label in entities],
        "relations": [{"head": h, "tail": t, "type": kind} for h, t, kind in relations],
        "document_class": doc,
    }
    return json.dumps({ner.ANSWER_FIELD: json.dumps(body)})


def consolidation_event(
    s3: Any, objects: list[dict[str, Any]], key: str = "consolidation-request/iteration-1/0.json"
) -> dict[str, Any]:
    s3.put(Bucket=BUCKET, Key=f"labeling/output/{key}", Body=json.dumps(objects).encode())
    return {
        "version": "2018-10-16",
        "labelingJobArn": JOB_ARN,
        "labelCategories": CATEGORIES,
        "labelAttributeName": ATTRIBUTE,
        "roleArn": "arn:aws:iam::111111111111:role/labeling",
        "payload": {"s3Uri": f"s3://{BUCKET}/labeling/output/{key}"},
    }


def data_object(object_id: str, text: str, answers: dict[str, str]) -> dict[str, Any]:
    return {
        "datasetObjectId": object_id,
        "dataObject": {"content": text},
        "annotations": [{"workerId": w, "annotationData": {"content": c}} for w, c in answers.items()],
    }


def label_of(response: list[dict[str, Any]], index: int = 0) -> dict[str, Any]:
    content: dict[str, Any] = response[index]["consolidatedAnnotation"]["content"]
    assert list(content) == [ATTRIBUTE]
    return content[ATTRIBUTE]  # type: ignore[no-any-return]


def task_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["taskInput"]["task_json"])  # type: ignore[no-any-return]


# --- pre-annotation --------------------------------------------------------------------------


def test_pre_annotation_passes_inline_source_text_to_the_template(handlers: None) -> None:
    event = {"version": "2018-10-16", "labelingJobArn": JOB_ARN, "dataObject": {"source": "Ada met Grace in Paris."}}
    response = pre_annotation.handler(event, Context())
    assert task_of(response) == {"text": "Ada met Grace in Paris.", "source_ref": None, "previous": {}}
    assert response["taskInput"]["source_ref"] == ""


def test_pre_annotation_reads_a_kms_encrypted_source_ref_object(s3: Any) -> None:
    s3.put(Bucket=BUCKET, Key="labeling/input/a.txt", Body="東京で田中さんに会った 🙂".encode())
    head = s3.head_object(Bucket=BUCKET, Key="labeling/input/a.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    event = {
        "version": "2018-10-16",
        "labelingJobArn": JOB_ARN,
        "dataObject": {"source-ref": f"s3://{BUCKET}/labeling/input/a.txt"},
    }
    task = task_of(pre_annotation.task_input(event, s3))
    assert task["text"] == "東京で田中さんに会った 🙂"
    assert task["source_ref"] == f"s3://{BUCKET}/labeling/input/a.txt"


def test_pre_annotation_escapes_text_so_it_cannot_close_the_script_element(s3: Any) -> None:
    text = 'x</script><script>alert("&")</script>'
    raw = pre_annotation.task_input({"dataObject": {"source": text}}, s3)["taskInput"]["task_json"]
    assert "<" not in raw
    assert ">" not in raw
    assert "&" not in raw
    assert json.loads(raw)["text"] == text


def test_pre_annotation_hands_a_review_job_the_labels_an_earlier_job_wrote(s3: Any) -> None:
    earlier = {
        "schema": ner.SCHEMA,
        "entities": [{"start": 0, "end": 3, "label": "PERSON"}],
        "relations": [],
        "document_class": {"label": None},
    }
    line = {"source": "Ada", ATTRIBUTE: earlier, f"{ATTRIBUTE}-metadata": {"job-name": "x"}, "other": {"a": 1}}
    task = task_of(pre_annotation.task_input({"dataObject": line}, s3))
    assert task["previous"] == {ATTRIBUTE: {k: earlier[k] for k in ("entities", "relations", "document_class")}}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"version": "2018-10-16"}, "dataObject is missing"),
        ({"dataObject": {}}, "exactly one of 'source'"),
        ({"dataObject": {"source": "a", "source-ref": "s3://b/k"}}, "exactly one of 'source'"),
        ({"dataObject": {"source": 7}}, "dataObject.source must be a string"),
        ({"dataObject": {"source-ref": "https://example.com/a.txt"}}, "expected an s3://bucket/key URI"),
        ({"dataObject": {"source-ref": f"s3://{BUCKET}/missing.txt"}}, f"cannot read s3://{BUCKET}/missing.txt"),
    ],
)
def test_pre_annotation_refuses_malformed_requests_with_a_reason(s3: Any, event: dict[str, Any], message: str) -> None:
    with pytest.raises((pre_annotation.PreAnnotationError, S3ReadError), match=message):
        pre_annotation.task_input(event, s3)


def test_pre_annotation_refuses_an_object_that_is_not_utf8(s3: Any) -> None:
    s3.put(Bucket=BUCKET, Key="labeling/input/latin1.txt", Body="Zoë".encode("latin-1"))
    with pytest.raises(S3ReadError, match="is not UTF-8 text"):
        pre_annotation.task_input({"dataObject": {"source-ref": f"s3://{BUCKET}/labeling/input/latin1.txt"}}, s3)


# --- consolidation ---------------------------------------------------------------------------


def test_majority_keeps_a_span_two_of_three_workers_marked_and_reports_the_dispute(s3: Any, handlers: None) -> None:
    text = "Ada Lovelace worked with Charles Babbage in London."
    ada, charles, london = text.index("Ada"), text.index("Charles"), text.index("London")
    objects = [
        data_object(
            "0",
            text,
            {
                "w1": answer(
                    [(ada, ada + 12, "PERSON"), (charles, charles + 15, "PERSON"), (london, london + 6, "PLACE")],
                    [(0, 1, "works_for")],
                    "praise",
                ),
                "w2": answer(
                    [(ada, ada + 12, "PERSON"), (charles, charles + 15, "PERSON"), (london, london + 6, "ORG")],
                    [(0, 1, "works_for")],
                    "praise",
                ),
                "w3": answer([(ada, ada + 3, "PERSON"), (london, london + 6, "PLACE")], [], "complaint"),
            },
        )
    ]
    label = label_of(post_annotation.handler(consolidation_event(s3, objects), Context()))
    assert [(e["text"], e["label"], e["votes"]) for e in label["entities"]] == [
        ("Ada Lovelace", "PERSON", 2),
        ("Charles Babbage", "PERSON", 2),
        ("London", "PLACE", 2),
    ]
    assert label["entities"][0]["confidence"] == pytest.approx(0.6667)
    assert label["relations"] == [{"head": 0, "tail": 1, "type": "works_for", "votes": 2}]
    assert label["document_class"] == {"label": "praise", "votes": {"complaint": 1, "praise": 2}}
    assert sorted((d["text"], d["label"], d["votes"]) for d in label["disputed"]) == [("Ada", "PERSON", 1), ("London", "ORG", 1)]
    assert label["workers"] == 3
    assert label["rejected"] == []
    assert label["agreement"] == pytest.approx(0.3333)
    assert label["schema"] == ner.SCHEMA
    assert label["job"] == "annotate-entities-7f3a"


def test_a_two_two_split_keeps_nothing_and_leaves_the_class_open(s3: Any) -> None:
    text = "Paris"
    objects = [
        data_object(
            "0",
            text,
            {
                "w1": answer([(0, 5, "PLACE")], doc="praise"),
                "w2": answer([(0, 5, "PLACE")], doc="praise"),
                "w3": answer([(0, 5, "PERSON")], doc="complaint"),
                "w4": answer([(0, 5, "PERSON")], doc="complaint"),
            },
        )
    ]
    label = label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))
    assert label["entities"] == []
    assert len(label["disputed"]) == 2
    assert label["document_class"]["label"] is None


@pytest.mark.parametrize("empty", ["", "{}", json.dumps({ner.ANSWER_FIELD: ""}), answer([])])
def test_an_empty_answer_is_a_vote_for_no_entities(s3: Any, empty: str) -> None:
    objects = [data_object("0", "Ada", {"w1": answer([(0, 3, "PERSON")]), "w2": empty})]
    label = label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))
    assert label["workers"] == 2
    assert label["entities"] == []  # one of two is not a majority
    assert [d["text"] for d in label["disputed"]] == ["Ada"]


def test_emoji_and_combining_marks_do_not_shift_spans(s3: Any) -> None:
    # 👩‍💻 is 3 code points (5 UTF-16 units); 🇫🇷 is 2 code points; "é" here is e + U+0301.
    text = "👩‍💻 Zoe\u0301 moved to 🇫🇷 Paris"
    zoe = text.index("Zoe\u0301")
    paris = text.index("Paris")
    assert (zoe, paris) == (4, 21)  # code points; JavaScript's UTF-16 indices would be (6, 25)
    assert (len(text[:zoe].encode("utf-16-le")) // 2, len(text[:paris].encode("utf-16-le")) // 2) == (6, 25)
    objects = [data_object("0", text, {w: answer([(zoe, zoe + 4, "PERSON"), (paris, paris + 5, "PLACE")]) for w in ("w1", "w2")})]
    label = label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))
    assert [e["text"] for e in label["entities"]] == ["Zoe\u0301", "Paris"]


def test_non_latin_text_read_from_a_source_ref_object(s3: Any) -> None:
    text = "ذهب أحمد إلى القاهرة. 東京で田中さんに会った。"
    s3.put(Bucket=BUCKET, Key="labeling/input/0.txt", Body=text.encode())
    ahmad, cairo, tanaka = text.index("أحمد"), text.index("القاهرة"), text.index("田中")
    content = answer([(ahmad, ahmad + 4, "PERSON"), (cairo, cairo + 7, "PLACE"), (tanaka, tanaka + 2, "PERSON")])
    objects = [
        {
            "datasetObjectId": "0",
            "dataObject": {"s3Uri": f"s3://{BUCKET}/labeling/input/0.txt"},
            "annotations": [{"workerId": "w1", "annotationData": {"content": content}}],
        }
    ]
    label = label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))
    assert [e["text"] for e in label["entities"]] == ["أحمد", "القاهرة", "田中"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "annotationData.content is not JSON"),
        (json.dumps({ner.ANSWER_FIELD: "{oops"}), "field 'annotation' is not JSON"),
        (answer([(0, 99, "PERSON")]), r"entities\[0\] \[0, 99\) is outside the text \(0-3 code points\)"),
        (answer([(2, 1, "PERSON")]), "is outside the text"),
        (answer([(0, 3, "ANIMAL")]), "entities\\[0\\].label 'ANIMAL' is not one of"),
        (answer([(0, 3, "PERSON")], [(0, 0, "works_for")]), "must join two different entities"),
        (answer([(0, 1, "PERSON"), (1, 3, "PERSON")], [(0, 1, "married_to")]), "relations\\[0\\].type 'married_to'"),
        (answer([], doc="spam"), "document_class 'spam' is not one of"),
        (
            json.dumps({ner.ANSWER_FIELD: json.dumps({"entities": [{"start": "0", "end": 3, "label": "PERSON"}]})}),
            "start must be an integer",
        ),
    ],
)
def test_an_unreadable_answer_is_rejected_with_its_reason_and_the_others_still_vote(s3: Any, content: str, reason: str) -> None:
    objects = [data_object("0", "Ada", {"good": answer([(0, 3, "PERSON")]), "bad": content})]
    label = label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))
    assert label["workers"] == 1
    assert [e["text"] for e in label["entities"]] == ["Ada"]
    assert [r["workerId"] for r in label["rejected"]] == ["bad"]
    assert re.search(reason, label["rejected"][0]["reason"])


def test_every_data_object_gets_a_label_even_when_every_answer_is_rejected(s3: Any) -> None:
    objects = [data_object(str(i), "Ada", {"w1": "{bad" if i % 2 else answer([(0, 3, "PERSON")])}) for i in range(6)]
    response = post_annotation.consolidate_request(consolidation_event(s3, objects), s3)
    assert [r["datasetObjectId"] for r in response] == [str(i) for i in range(6)]
    assert label_of(response, 1)["workers"] == 0
    assert label_of(response, 1)["rejected"][0]["workerId"] == "w1"


def test_without_label_categories_any_label_is_accepted(s3: Any) -> None:
    event = consolidation_event(s3, [data_object("0", "Ada", {"w1": answer([(0, 3, "ANYTHING")])})])
    event["labelCategories"] = None  # a job created without a label category config
    assert label_of(post_annotation.consolidate_request(event, s3))["entities"][0]["label"] == "ANYTHING"


def test_answers_stored_in_s3_are_read(s3: Any) -> None:
    s3.put(Bucket=BUCKET, Key="labeling/output/answers/w1.json", Body=answer([(0, 3, "PERSON")]).encode())
    objects = [
        {
            "datasetObjectId": "0",
            "dataObject": {"content": "Ada"},
            "annotations": [{"workerId": "w1", "annotationData": {"s3Uri": f"s3://{BUCKET}/labeling/output/answers/w1.json"}}],
        }
    ]
    assert label_of(post_annotation.consolidate_request(consolidation_event(s3, objects), s3))["entities"][0]["text"] == "Ada"


def _payload(event: dict[str, Any], s3: Any, body: bytes) -> None:
    s3.put(Bucket=BUCKET, Key="labeling/output/p.json", Body=body)
    event["payload"]["s3Uri"] = f"s3://{BUCKET}/labeling/output/p.json"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e, s3: e.pop("payload"), "event.payload is missing"),
        (lambda e, s3: e["payload"].pop("s3Uri"), "event.payload.s3Uri is missing"),
        (lambda e, s3: e.pop("labelAttributeName"), "event.labelAttributeName is missing"),
        (lambda e, s3: e.update(labelCategories=["PERSON"]), "labelCategories entries must start with one of"),
        (lambda e, s3: e["payload"].update(s3Uri=f"s3://{BUCKET}/nowhere.json"), f"cannot read s3://{BUCKET}/nowhere.json"),
        (lambda e, s3: _payload(e, s3, b"[{"), "is not JSON"),
        (lambda e, s3: _payload(e, s3, b"{}"), "must be a JSON list"),
    ],
)
def test_malformed_requests_fail_with_a_clear_error(s3: Any, mutate: Any, message: str) -> None:
    event = consolidation_event(s3, [data_object("0", "Ada", {"w1": answer([])})])
    mutate(event, s3)
    with pytest.raises((post_annotation.ConsolidationError, S3ReadError), match=message):
        post_annotation.consolidate_request(event, s3)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"dataObject": {"content": "a"}, "annotations": []}, r"payload\[1\].datasetObjectId is missing"),
        ({"datasetObjectId": "1", "annotations": []}, r"payload\[1\].dataObject is missing"),
        ({"datasetObjectId": "1", "dataObject": {}, "annotations": []}, "has neither 'content' nor 's3Uri'"),
        ({"datasetObjectId": "1", "dataObject": {"content": "a"}}, r"payload\[1\].annotations is missing"),
        (
            {"datasetObjectId": "1", "dataObject": {"content": "a"}, "annotations": [{"annotationData": {}}]},
            r"annotations\[0\].workerId",
        ),
    ],
)
def test_a_malformed_data_object_fails_the_request_rather_than_vanish(s3: Any, item: dict[str, Any], message: str) -> None:
    event = consolidation_event(s3, [data_object("0", "Ada", {"w1": answer([])}), item])
    with pytest.raises(post_annotation.ConsolidationError, match=message):
        post_annotation.consolidate_request(event, s3)
