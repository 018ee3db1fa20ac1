"""mosec: its Rust HTTP front end plus one Python worker process, dynamic batching at our
server's defaults (32 rows, 2 ms). POST /inference; GET / answers once up. Run:
  MODEL_DIR=... python -m benchmarks.peers.mosec_app --port 8092
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers.common import answers, load_model, optional

mosec = optional("mosec")
Worker: Any = mosec.Worker


class Score(Worker):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.model = load_model()

    def forward(self, data: list[Any]) -> list[Any]:  # a batch: one decoded JSON body per request
        return answers(self.model, [item["features"] for item in data])


if __name__ == "__main__":
    server = mosec.Server()
    server.append_worker(Score, num=1, max_batch_size=32, max_wait_time=2)
    server.run()
