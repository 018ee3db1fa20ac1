"""Container-level metrics as CloudWatch Embedded Metric Format (EMF) log lines.

SageMaker ships the container's stdout to the endpoint's log group; CloudWatch turns
EMF lines into metrics (namespace MLOps/Inference) with no PutMetricData call. One line
per interval with requests, errors, batch sizes and latency percentiles.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_inference.batching import BatchStats

NAMESPACE = "MLOps/Inference"


@dataclass
class RequestStats:
    """Counters written by the event loop."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latency_ms: list[float] = field(default_factory=list)

    def take(self) -> RequestStats:
        snapshot = RequestStats(self.requests, self.client_errors, self.server_errors, self.latency_ms)
        self.requests = self.client_errors = self.server_errors = 0
        self.latency_ms = []
        return snapshot


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    p50, p99 = np.percentile(np.asarray(values), [50, 99])
    return round(float(p50), 3), round(float(p99), 3)


def emf_record(
    requests: RequestStats, batches: BatchStats, *, model: str, variant: str, now_ms: int | None = None
) -> dict[str, Any]:
    latency_p50, latency_p99 = _percentiles(requests.latency_ms)
    inference_p50, inference_p99 = _percentiles(batches.inference_ms)
    queue_p50, queue_p99 = _percentiles(batches.queue_ms)
    values: dict[str, tuple[float, str]] = {
        "Requests": (requests.requests, "Count"),
        "ClientErrors": (requests.client_errors, "Count"),
        "ServerErrors": (requests.server_errors, "Count"),
        "Batches": (batches.batches, "Count"),
        "Rows": (batches.rows, "Count"),
        "MeanBatchSize": (round(batches.rows / batches.batches, 2) if batches.batches else 0.0, "None"),
        "RequestLatencyP50": (latency_p50, "Milliseconds"),
        "RequestLatencyP99": (latency_p99, "Milliseconds"),
        "InferenceLatencyP50": (inference_p50, "Milliseconds"),
        "InferenceLatencyP99": (inference_p99, "Milliseconds"),
        "QueueWaitP50": (queue_p50, "Milliseconds"),
        "QueueWaitP99": (queue_p99, "Milliseconds"),
    }
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Model", "Variant"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        "Model": model,
        "Variant": variant,
    }
    record.update({name: value for name, (value, _) in values.items()})
    return record


def emf_line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))
