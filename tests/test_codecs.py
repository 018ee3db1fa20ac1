"""Request decoding and response encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops_inference.codecs import CSV, JSON, JSONL, Codec, RequestError, encode, media_type, negotiate

from mlops_cli.model_artifact import FEATURE_NAMES
from tests.serving_fixtures import ROW

CODEC = Codec(FEATURE_NAMES)


def test_single_record_by_position() -> None:
    decoded = CODEC.decode(json.dumps({"features": ROW, "id": "c1"}).encode(), JSON)
    assert decoded.rows.shape == (1, 12)
    assert decoded.rows.dtype == np.float32
    assert decoded.ids == ["c1"]
    assert decoded.single


def test_single_record_by_name() -> None:
    by_name = dict(zip(FEATURE_NAMES, ROW, strict=True))
    decoded = CODEC.decode(json.dumps({"features": by_name}).encode(), JSON)
    assert decoded.rows.tolist() == [pytest.approx(ROW)]


def test_instances_and_bare_lists() -> None:
    for body in ({"instances": [ROW, ROW]}, [ROW, ROW], [{"features": ROW, "id": 1}, {"features": ROW, "id": 2}]):
        decoded = CODEC.decode(json.dumps(body).encode(), JSON)
        assert decoded.rows.shape == (2, 12)
        assert not decoded.single


def test_json_lines_and_csv() -> None:
    lines = b"\n".join(json.dumps({"id": i, "features": ROW}).encode() for i in range(3)) + b"\n\n"
    assert CODEC.decode(lines, JSONL).ids == [0, 1, 2]
    csv_body = ("\n".join(",".join(map(str, ROW)) for _ in range(4)) + "\n").encode()
    assert CODEC.decode(csv_body, CSV).rows.shape == (4, 12)


@pytest.mark.parametrize(
    ("body", "content_type", "message", "status"),
    [
        (b"", JSON, "empty request body", 400),
        (b"{nope", JSON, "request body is not valid JSON", 400),
        (b'{"features": [1, 2]}', JSON, r"request\[0\]: expected 12 features, got 2", 400),
        (b'{"features": {"roaming": 1}}', JSON, "missing feature\\(s\\) call_duration_s, calls_last_24h", 400),
        (
            json.dumps({"features": {**dict(zip(FEATURE_NAMES, ROW, strict=True)), "colour": 1}}).encode(),
            JSON,
            "unknown feature 'colour'",
            400,
        ),
        (json.dumps({"features": ["x"] * 12}).encode(), JSON, "every feature value must be a number", 400),
        (b'{"features": [1e999, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}', JSON, "not valid JSON: number is infinity", 400),
        ((",".join(["inf"] + ["1"] * 11) + "\n").encode(), CSV, r"CSV\[0\]: values must be finite numbers", 400),
        (b'{"other": 1}', JSON, 'JSON body must be {"features"', 400),
        (b'{"features": [1]}\n{oops\n', JSONL, "line 2 is not valid JSON", 400),
        (b"1,2,3\n", CSV, "CSV line 1: expected 12 values, got 3", 400),
        ((",".join(["a"] * 12) + "\n").encode(), CSV, "not a number", 400),
        (b"x", "image/png", "unsupported Content-Type 'image/png'", 415),
    ],
)
def test_bad_input_is_a_client_error(body: bytes, content_type: str, message: str, status: int) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        CODEC.decode(body, content_type)
    assert caught.value.status == status


def test_encode_follows_accept() -> None:
    decoded = CODEC.decode(json.dumps([{"features": ROW, "id": "a"}, {"features": ROW}]).encode(), JSON)
    risk = np.array([0.25, 0.75], dtype=np.float32)
    assert json.loads(encode(risk, 0.5, decoded, JSON)) == {
        "predictions": [{"id": "a", "risk": 0.25, "label": 0}, {"risk": 0.75, "label": 1}]
    }
    assert encode(risk, 0.5, decoded, JSONL).splitlines() == [b'{"id":"a","risk":0.25,"label":0}', b'{"risk":0.75,"label":1}']
    assert encode(risk, 0.5, decoded, CSV) == b"0.25,0\n0.75,1\n"
    with pytest.raises(RequestError, match="unsupported Accept") as caught:
        encode(risk, 0.5, decoded, "text/html")
    assert caught.value.status == 406


def test_media_types() -> None:
    assert media_type("application/json; charset=utf-8", CSV) == JSON
    assert media_type("application/x-ndjson", JSON) == JSONL
    assert media_type(None, CSV) == CSV
    assert negotiate("*/*", CSV) == CSV
    assert negotiate(None, JSONL) == JSONL
    assert negotiate("text/csv", JSON) == CSV
