"""Numeric rules AWS enforces at deploy or run time, as plain data (no CDK import).

The config schema and the constructs both check these; keeping them free of aws-cdk
keeps `config/` importable without the jsii runtime.
"""

from __future__ import annotations

# CreateTransformJob API reference, MaxPayloadInMB: "the value of (MaxConcurrentTransforms *
# MaxPayloadInMB) must also not exceed 100 MB".
MAX_CONCURRENT_PAYLOAD_MB = 100

# PutRetentionPolicy: retentionInDays takes only these values (CloudWatch Logs API reference).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def retention_problem(days: int) -> str | None:
    """Why `days` is not a retention CloudWatch Logs accepts, or None."""
    if days in RETENTION_DAYS:
        return None
    return f"log retention {days} days: CloudWatch Logs accepts {', '.join(map(str, RETENTION_DAYS))}"
