"""Container-level metrics as CloudWatch Embedded Metric Format (EMF) log lines.

SageMaker ships the container's stdout to the endpoint's log group; CloudWatch turns
EMF lines into metrics (namespace MLOps/Inference) with no PutMetricData call. One line
per interval with requests, errors, batch sizes and latency percentiles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_inference.batching import BatchStats
from mlops_inference.histogram import LatencyHistogram

NAMESPACE = "MLOps/Inference"


@dataclass
class RequestStats:
    """Counters written by the event loop; latencies in a fixed-size histogram."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latency_ms: LatencyHistogram | Sequence[float] = field(default_factory=LatencyHistogram)

    def __post_init__(self) -> None:
        if not isinstance(self.latency_ms, LatencyHistogram):
            self.latency_ms = LatencyHistogram(self.latency_ms)
        self.latency: LatencyHistogram = self.latency_ms

    def take(self) -> RequestStats:
        snapshot = RequestStats(self.requests, self.client_errors, self.server_errors, self.latency)
        self.requests = self.client_errors = self.server_errors = 0
        self.latency = self.latency_ms = LatencyHistogram()
        return snapshot


def _percentiles(values: LatencyHistogram | Sequence[float]) -> tuple[float, float]:
    if not len(values):
        return 0.0, 0.0
    if isinstance(values, LatencyHistogram):
        return round(values.percentile(50), 3), round(values.percentile(99), 3)
    p50, p99 = np.percentile(np.asarray(values), [50, 99])
    return round(float(p50), 3), round(float(p99), 3)


def emf_record(
    requests: RequestStats,
    batches: BatchStats,
    *,
    model: str,
    variant: str,
    endpoint: str = "unknown",
    now_ms: int | None = None,
) -> dict[str, Any]:
    """One EMF record. Dimensions: EndpointName (MLOPS_ENDPOINT), Variant (MLOPS_VARIANT) and
    Model: two endpoints whose variants share a name keep apart."""
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
                    "Dimensions": [["EndpointName", "Variant", "Model"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        "EndpointName": endpoint,
        "Variant": variant,
        "Model": model,
    }
    record.update({name: value for name, (value, _) in values.items()})
    return record


def emf_line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))
