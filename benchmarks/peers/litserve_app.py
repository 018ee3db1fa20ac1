"""LitServe: uvicorn front end plus one inference worker process, dynamic batching at our
server's defaults (32 rows, 2 ms). POST /predict; GET /health. Run:
  MODEL_DIR=... python -m benchmarks.peers.litserve_app 8093
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from benchmarks.peers.common import load_model, optional

ls = optional("litserve")
LitAPI: Any = ls.LitAPI


class Score(LitAPI):  # type: ignore[misc]
    def setup(self, device: str) -> None:
        self.model = load_model()
        self.threshold = self.model.metadata.threshold

    def decode_request(self, request: Any) -> Any:
        return request["features"]

    def batch(self, inputs: list[Any]) -> np.ndarray:
        return np.asarray(inputs, dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x if x.ndim == 2 else x.reshape(1, -1))

    def unbatch(self, output: np.ndarray) -> list[float]:
        scores: list[float] = output.tolist()
        return scores

    def encode_response(self, output: Any) -> dict[str, Any]:
        risk = float(output if np.ndim(output) == 0 else np.asarray(output).reshape(-1)[0])
        return {"risk": round(risk, 6), "label": int(risk >= self.threshold)}


# LitServe reads the request's type from this annotation; none means "the parsed JSON body".
del Score.decode_request.__annotations__["request"]

if __name__ == "__main__":
    server = ls.LitServer(Score(max_batch_size=32, batch_timeout=0.002), accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False, log_level="warning")
