"""Server settings from the environment (SageMaker passes a variant's `environment` here)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# SageMaker real-time endpoints reject request payloads above 6 MB.
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        device = env.get("DEVICE", "auto").lower()
        if device not in {"auto", "cpu", "cuda"}:
            raise SettingsError(f"DEVICE={device!r}: use auto, cpu or cuda")
        return cls(
            model_dir=env.get("MODEL_DIR", env.get("SM_MODEL_DIR", "/opt/ml/model")),
            port=_int(env, "SAGEMAKER_BIND_TO_PORT", _int(env, "PORT", 8080, 1, 65535), 1, 65535),
            max_batch_size=_int(env, "MAX_BATCH_SIZE", 32, 1, 4096),
            max_batch_delay_ms=_int(env, "MAX_BATCH_DELAY_MS", 2, 0, 1000),
            inference_threads=_int(env, "INFERENCE_THREADS", 0, 0, 256),
            device=device,
            max_payload_bytes=_int(env, "MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES, 1024, 100 * 1024 * 1024),
            stats_interval_s=_int(env, "STATS_INTERVAL_S", 60, 0, 3600),
        )
