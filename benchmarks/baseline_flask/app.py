"""Baseline: the same model behind Flask + gunicorn sync workers, one request per model call.

This is how many teams start. It loads the model with the same loader as our server
(ONNX Runtime, one intra-op thread per worker so that workers do not oversubscribe
the cores) and serves JSON only. Run:
  MODEL_DIR=... gunicorn -w 2 -b 127.0.0.1:8090 benchmarks.baseline_flask.app:app
"""

from __future__ import annotations

import os

import numpy as np
from flask import Flask, Response, jsonify, request
from mlops_inference.model import Model

app = Flask(__name__)
model = Model(os.environ["MODEL_DIR"], device="cpu", threads=int(os.environ.get("INFERENCE_THREADS", "1")))


@app.get("/ping")
def ping() -> Response:
    return jsonify({})


@app.post("/invocations")
def invocations() -> tuple[Response, int] | Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("features"), list):
        return jsonify({"error": 'expected {"features": [...]}'}), 400
    row = np.array([body["features"]], dtype=np.float32)
    if row.shape != (1, model.n_features):
        return jsonify({"error": f"expected {model.n_features} features"}), 400
    risk = float(model.predict(row)[0])
    return jsonify({"risk": round(risk, 6), "label": int(risk >= model.metadata.threshold)})
