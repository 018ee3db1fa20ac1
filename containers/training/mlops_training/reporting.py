"""Per-epoch reporting: one metric line on stdout and one EventBridge event.

The metric line is what the training job's MetricDefinitions match (SageMaker reads the
algorithm's stdout/stderr from CloudWatch Logs and publishes each regex's first group as the
metric). The event goes to the bus named by MLOPS_EVENT_BUS (name or ARN; set by the stack
as job environment) with source SOURCE and detail-type DETAIL_TYPE; the platform's rule sends
it to the Lambda that writes the metrics table. No bus configured (a local run), no events.

A failed PutEvents is reported on stderr and training goes on: metrics are for people
watching, the model is the job's product.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from mlops_training.trainer import EpochMetrics

SOURCE = "mlops.training"
DETAIL_TYPE = "Training Epoch Completed"
EVENT_BUS_ENV = "MLOPS_EVENT_BUS"
JOB_NAME_ENV = "TRAINING_JOB_NAME"  # set by SageMaker in every training container
STACK_JOB_NAME_ENV = "MLOPS_JOB_NAME"  # the same name, passed by the stack's state machine as well
METRIC_FIELDS = ("train_loss", "validation_loss", "validation_accuracy", "validation_auc", "samples_per_second")


def metric_line(metrics: EpochMetrics) -> str:
    """e.g. `epoch=3/8 train_loss=0.412345 validation_loss=... samples_per_second=51234.5`."""
    values = " ".join(f"{name}={getattr(metrics, name):.6g}" for name in METRIC_FIELDS)
    return f"epoch={metrics.epoch}/{metrics.epochs} {values}"


def event_detail(job_name: str, metrics: EpochMetrics) -> dict[str, Any]:
    """The event's Detail; NaN/inf become null (JSON has neither, and PutEvents wants valid JSON).

    validation_auc is NaN when validation holds one class; samples/s is inf for an epoch too
    fast to time. The metrics Lambda reads null as "unknown this epoch".
    """
    detail = {"job_name": job_name, **metrics.as_dict()}
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in detail.items()}


def event_detail_json(job_name: str, metrics: EpochMetrics) -> str:
    """Strict JSON (allow_nan=False): a non-finite float left in would raise here, not vanish at AWS."""
    return json.dumps(event_detail(job_name, metrics), allow_nan=False)


class EpochReporter:
    """Prints each epoch's metric line and sends its event (if a bus is configured)."""

    def __init__(self, *, env: Mapping[str, str] | None = None, client: Any = None) -> None:
        env = os.environ if env is None else env
        # The table is keyed by job name: take SageMaker's, else the one the stack passes, never guess.
        self.job_name = env.get(JOB_NAME_ENV) or env.get(STACK_JOB_NAME_ENV) or "local"
        self.bus = env.get(EVENT_BUS_ENV, "")
        self._client = client
        self.sent = 0

    def __call__(self, metrics: EpochMetrics) -> None:
        print(metric_line(metrics), flush=True)
        if self.bus:
            self._send(metrics)

    def _send(self, metrics: EpochMetrics) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": event_detail_json(self.job_name, metrics),
            "EventBusName": self.bus,
            "Resources": [os.environ["TRAINING_JOB_ARN"]] if "TRAINING_JOB_ARN" in os.environ else [],
        }
        try:
            response = self.client.put_events(Entries=[entry])
        except Exception as error:  # network, throttling, permissions: keep training
            print(f"epoch event not sent: {error}", file=sys.stderr, flush=True)
            return
        if response.get("FailedEntryCount"):
            print(f"epoch event not sent: {response['Entries'][0].get('ErrorMessage')}", file=sys.stderr, flush=True)
            return
        self.sent += 1

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            # The stack passes the bus ARN, which names its region (SageMaker sets AWS_REGION,
            # which boto3 does not read); a bare name uses the default region.
            parts = self.bus.split(":")
            region = parts[3] if self.bus.startswith("arn:") and len(parts) > 3 else None
            self._client = boto3.client("events", region_name=region)
        return self._client
