"""Generated corpora and data-capture files for the drift monitor's tests and benchmark.

Call-centre transcripts (billing, roaming, cancellations, devices) for the baseline and the
"same distribution"; a shifted corpus with other vocabulary and topics (cooking, football,
gardening). Capture lines follow SageMaker's data-capture format.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from pathlib import Path

_CALL = [
    "I was charged {amount} twice on my {month} bill and want a refund",
    "my {device} stopped getting signal after the last update",
    "please cancel my {plan} contract, I am moving to another provider",
    "roaming in {country} cost me {amount}, nobody told me about the fees",
    "can you explain why my {plan} plan price went up in {month}",
    "the {device} I ordered has not arrived and the tracking number is wrong",
    "I want to upgrade to the {plan} plan with more data",
    "my internet keeps dropping every evening since {month}",
    "I need a new SIM card, my {device} says no SIM detected",
    "why did you block my account, I paid the {month} invoice",
]
_SHIFTED = [
    "how long should I roast a {food} at {degrees} degrees",
    "the {team} striker scored twice in the second half",
    "when is the best time to plant {plant} bulbs in the garden",
    "add a pinch of {spice} before the sauce starts to simmer",
    "the referee gave {team} a penalty in extra time",
    "my {plant} leaves are turning yellow, too much water maybe",
    "whisk the eggs with {spice} and fold in the flour slowly",
    "{team} signed a new goalkeeper for the next season",
]
_SLOTS = {
    "amount": ["12 euros", "40 pounds", "99 dollars", "7.50"],
    "month": ["January", "March", "June", "October", "December"],
    "device": ["phone", "router", "tablet", "smartwatch"],
    "plan": ["unlimited", "family", "prepaid", "business"],
    "country": ["Spain", "Canada", "Japan", "Morocco"],
    "food": ["chicken", "pork shoulder", "leg of lamb", "pumpkin"],
    "degrees": ["180", "200", "220"],
    "team": ["Arsenal", "Bayern", "Boca Juniors", "Ajax"],
    "plant": ["tulip", "tomato", "rose", "basil"],
    "spice": ["nutmeg", "paprika", "cumin", "saffron"],
}


def texts(kind: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    templates = _CALL if kind == "calls" else _SHIFTED
    out = []
    for _ in range(count):
        template = rng.choice(templates)
        out.append(template.format(**{k: rng.choice(v) for k, v in _SLOTS.items()}))
    return out


def capture_line(
    text: str,
    index: int,
    *,
    encoding: str = "JSON",
    field: str = "transcript",
    inference_time: str = "2026-11-25T10:00:00Z",
) -> str:
    if encoding == "CSV":
        buffer = io.StringIO()
        csv.writer(buffer).writerow([text, "web"])
        data, content_type = buffer.getvalue().strip(), "text/csv"
    else:
        data, content_type = json.dumps({field: text, "channel": "voice"}), "application/json"
        if encoding == "BASE64":
            data = base64.b64encode(data.encode()).decode()
    record = {
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"intent": 3}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": f"event-{index}",
            "inferenceId": f"inference-{index}",
            "inferenceTime": inference_time,
        },
        "eventVersion": "0",
    }
    return json.dumps(record)


MALFORMED_LINES = {
    "not_json": "{this is not json",
    "bad_base64": json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "application/json", "data": "%%%not base64%%%", "encoding": "BASE64"}
            }
        }
    ),
    "missing_endpoint_input": json.dumps({"captureData": {}, "eventMetadata": {"eventId": "x"}}),
    "no_text_field": json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "application/json", "data": '{"other": 1}', "encoding": "JSON"}
            }
        }
    ),
}


def write_capture(root: Path, endpoint: str, lines: list[str], *, hour: str = "10") -> Path:
    """Lay lines out as SageMaker does: <endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl."""
    folder = root / endpoint / "gpu-a" / "2026" / "11" / "25" / hour
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "00-00-000-0a1b2c3d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def mixed_encodings(sample: list[str]) -> list[str]:
    encodings = ["JSON", "BASE64", "CSV"]
    return [capture_line(text, i, encoding=encodings[i % 3]) for i, text in enumerate(sample)]
