"""Server settings from the environment (SageMaker passes a variant's `environment` here).

Every environment variable the server reads is named once, below, so that the construct
side can check that each variable the platform sets is read by someone (PLATFORM_ENV).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# SageMaker real-time endpoints reject request payloads above 6 MB.
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

# --- the environment variables the server reads --------------------------------------------
# Set by the platform (the endpoint construct) on every SageMaker Model:
MLOPS_ENDPOINT = "MLOPS_ENDPOINT"  # the endpoint's name: an EMF metric dimension (EndpointName)
MLOPS_VARIANT = "MLOPS_VARIANT"  # the production variant's name: an EMF metric dimension (Variant)
MAX_BATCH_SIZE = "MAX_BATCH_SIZE"
MAX_BATCH_DELAY_MS = "MAX_BATCH_DELAY_MS"
# Set by SageMaker itself, or by hand when the server runs as a plain process:
MODEL_DIR = "MODEL_DIR"
SM_MODEL_DIR = "SM_MODEL_DIR"
SAGEMAKER_BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
PORT = "PORT"
# Tuning knobs a variant's `environment` may set:
INFERENCE_THREADS = "INFERENCE_THREADS"
DEVICE = "DEVICE"
MAX_PAYLOAD_BYTES = "MAX_PAYLOAD_BYTES"
STATS_INTERVAL_S = "STATS_INTERVAL_S"
MAX_QUEUED_ROWS = "MAX_QUEUED_ROWS"
KEEP_ALIVE_TIMEOUT_S = "KEEP_ALIVE_TIMEOUT_S"
REQUEST_TIMEOUT_S = "REQUEST_TIMEOUT_S"
DRAIN_TIMEOUT_S = "DRAIN_TIMEOUT_S"

#: What the platform sets on every model and the server must read.
PLATFORM_ENV: tuple[str, ...] = (MLOPS_ENDPOINT, MLOPS_VARIANT, MAX_BATCH_SIZE, MAX_BATCH_DELAY_MS)
#: Every variable the server reads.
SERVER_ENV: tuple[str, ...] = (
    *PLATFORM_ENV,
    MODEL_DIR,
    SM_MODEL_DIR,
    SAGEMAKER_BIND_TO_PORT,
    PORT,
    INFERENCE_THREADS,
    DEVICE,
    MAX_PAYLOAD_BYTES,
    STATS_INTERVAL_S,
    MAX_QUEUED_ROWS,
    KEEP_ALIVE_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    DRAIN_TIMEOUT_S,
)

# SageMaker stops a container with SIGTERM, then SIGKILL 30 s later ("Custom Inference Code
# with Hosting Services"): draining must end well inside that.
SAGEMAKER_STOP_GRACE_S = 30


class SettingsError(ValueError):
    """An environment variable with a value the server cannot use."""


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}-{high}")
    return value


def _float(env: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:  # also rejects NaN
        raise SettingsError(f"{name}={value:g} is outside {low:g}-{high:g}")
    return value


@dataclass(frozen=True)
class Settings:
    model_dir: str = "/opt/ml/model"
    port: int = 8080
    max_batch_size: int = 32
    max_batch_delay_ms: int = 2
    inference_threads: int = 0  # 0: one fewer than the CPU cores (model.default_threads)
    device: str = "auto"  # auto | cpu | cuda
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    stats_interval_s: int = 60
    # Rows admitted but not yet answered; above it new requests get 503 + Retry-After.
    # 0: 256 full batches' worth (8,192 rows at the default batch size: about a second of
    # work for the heavy benchmark model on one core, well inside SageMaker's 60 s).
    max_queued_rows: int = 0
    # An idle keep-alive connection is closed after this; longer than the 60 s idle
    # timeout common to proxies, so the caller, not the server, closes a quiet connection.
    keep_alive_timeout_s: float = 75.0
    # From a request's first byte to its last: SageMaker gives up on an invocation after 60 s.
    request_timeout_s: float = 60.0
    # On SIGTERM, how long in-flight requests may take to finish (under the 30 s grace).
    drain_timeout_s: float = 25.0
    endpoint: str = "unknown"
    variant: str = "unknown"

    @property
    def queue_limit_rows(self) -> int:
        return self.max_queued_rows or self.max_batch_size * 256

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        device = env.get(DEVICE, "auto").lower()
        if device not in {"auto", "cpu", "cuda"}:
            raise SettingsError(f"DEVICE={device!r}: use auto, cpu or cuda")
        return cls(
            model_dir=env.get(MODEL_DIR, env.get(SM_MODEL_DIR, "/opt/ml/model")),
            port=_int(env, SAGEMAKER_BIND_TO_PORT, _int(env, PORT, 8080, 1, 65535), 1, 65535),
            max_batch_size=_int(env, MAX_BATCH_SIZE, 32, 1, 4096),
            max_batch_delay_ms=_int(env, MAX_BATCH_DELAY_MS, 2, 0, 1000),
            inference_threads=_int(env, INFERENCE_THREADS, 0, 0, 256),
            device=device,
            max_payload_bytes=_int(env, MAX_PAYLOAD_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, 1024, 100 * 1024 * 1024),
            stats_interval_s=_int(env, STATS_INTERVAL_S, 60, 0, 3600),
            max_queued_rows=_int(env, MAX_QUEUED_ROWS, 0, 0, 10_000_000),
            keep_alive_timeout_s=_float(env, KEEP_ALIVE_TIMEOUT_S, 75.0, 0.05, 3600),
            request_timeout_s=_float(env, REQUEST_TIMEOUT_S, 60.0, 0.05, 3600),
            drain_timeout_s=_float(env, DRAIN_TIMEOUT_S, 25.0, 0, SAGEMAKER_STOP_GRACE_S - 1),
            endpoint=env.get(MLOPS_ENDPOINT) or "unknown",
            variant=env.get(MLOPS_VARIANT) or "unknown",
        )
