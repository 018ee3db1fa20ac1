"""Release managers' weight commands: config is the source of truth for variant weights.

`set` edits `config/<env>.yaml` in place (ruamel.yaml round trip: comments, key order and
layout kept), validates the result with the same schema as synth before writing, and
writes atomically, so a bad edit never leaves a half-written file. `show --live`, `apply`
and `drift` read and move the live endpoint through the same code as the deploy-time
custom resource (lambda_src/endpoint_weights/core.py).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from config.loader import CONFIG_DIR, REPO_ROOT, ConfigError, load_config, parse_config
from config.schema import Endpoint, MlopsConfig
from lambda_src.endpoint_weights import core
from mlops_cli.errors import CliError


def config_for(env: str, config_dir: Path | None = None, root: Path = REPO_ROOT) -> MlopsConfig:
    try:
        return load_config(env, config_dir=config_dir or CONFIG_DIR, root=root)
    except ConfigError as error:
        raise CliError(str(error)) from None


def endpoint_of(config: MlopsConfig, env: str, name: str) -> Endpoint:
    for endpoint in config.endpoints:
        if endpoint.name == name:
            return endpoint
    names = ", ".join(e.name for e in config.endpoints) or "none"
    raise CliError(f"no endpoint '{name}' in config/{env}.yaml (endpoints: {names})")


def parse_assignments(assignments: Sequence[str], endpoint: Endpoint) -> dict[str, float]:
    """`champion=80 challenger=20` -> {"champion": 80.0, "challenger": 20.0}, checked against the endpoint."""
    if not assignments:
        raise CliError("give at least one VARIANT=WEIGHT, e.g. champion=80 challenger=20")
    known = [v.name for v in endpoint.variants]
    weights: dict[str, float] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CliError(f"'{item}' is not VARIANT=WEIGHT (e.g. champion=80)")
        if name not in known:
            raise CliError(f"endpoint '{endpoint.name}' has no variant '{name}' (variants: {', '.join(known)})")
        if name in weights:
            raise CliError(f"variant '{name}' is given twice")
        try:
            weight = float(raw)
        except ValueError:
            raise CliError(f"weight '{raw}' for '{name}' is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise CliError(f"weight {raw} for '{name}' must be a number >= 0")
        weights[name] = weight
    return weights


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments, order, flow style and quotes preserved
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of config/*.yaml: lists indented under their key
    return yaml


@dataclass(frozen=True)
class WeightChange:
    path: Path
    before: dict[str, float]  # shares, percent
    after: dict[str, float]
    before_weights: dict[str, float]
    after_weights: dict[str, float]


def set_weights(
    env: str, endpoint_name: str, assignments: Sequence[str], *, config_dir: Path | None = None, root: Path = REPO_ROOT
) -> WeightChange:
    """Write new weights into config/<env>.yaml; nothing is written unless the result is valid."""
    config_dir = config_dir or CONFIG_DIR
    config = config_for(env, config_dir, root)
    endpoint = endpoint_of(config, env, endpoint_name)
    weights = parse_assignments(assignments, endpoint)
    path = config_dir / f"{env}.yaml"
    yaml = _yaml()
    document = yaml.load(path.read_text())
    (node,) = [e for e in document["endpoints"] if e["name"] == endpoint_name]
    for variant in node["variants"]:
        if variant["name"] in weights:
            value = weights[variant["name"]]
            variant["weight"] = int(value) if value.is_integer() else value
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    try:
        updated = parse_config(text, source=str(path), root=root)
    except ConfigError as error:
        raise CliError(f"not written, the result would be invalid:\n{error}") from None
    _atomic_write(path, text)
    after = endpoint_of(updated, env, endpoint_name)
    return WeightChange(
        path=path,
        before=endpoint.traffic_percent(),
        after=after.traffic_percent(),
        before_weights={v.name: v.weight for v in endpoint.variants},
        after_weights={v.name: v.weight for v in after.variants},
    )


def _atomic_write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the live endpoint ---------------------------------------------------------------------


def sagemaker_client(config: MlopsConfig) -> Any:
    """A SageMaker client in the environment's region (AWS_ENDPOINT_URL etc. are honoured by boto3)."""
    import boto3

    return boto3.session.Session().client("sagemaker", region_name=config.region)


def aws_call(action: str, call: Callable[[], Any]) -> Any:
    """Run an AWS call; turn credential, network and API errors into one line."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return call()
    except NoCredentialsError:
        raise CliError(f"{action}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CliError(f"{action}: {details.get('Code', 'error')}: {details.get('Message', error)}") from None
    except BotoCoreError as error:
        raise CliError(f"{action}: {error}") from None
    except core.WeightsError as error:
        raise CliError(f"{action}: {error}") from None


@dataclass(frozen=True)
class Row:
    endpoint: str
    variant: str
    config_weight: float | None
    config_percent: float | None
    live_weight: float | None = None
    live_percent: float | None = None
    instances: str = ""
    status: str = ""

    @property
    def drifted(self) -> bool:
        if self.live_percent is None and self.config_percent is None:
            return False
        if self.live_percent is None or self.config_percent is None:
            return True
        return not math.isclose(self.live_percent, self.config_percent, abs_tol=100 * core.SHARE_TOLERANCE)


def config_rows(config: MlopsConfig, endpoints: Sequence[Endpoint]) -> list[Row]:
    return [Row(e.name, v.name, v.weight, e.traffic_percent()[v.name]) for e in endpoints for v in e.variants]


def live_rows(client: Any, endpoints: Sequence[Endpoint]) -> list[Row]:
    rows = []
    for endpoint in endpoints:
        live: core.LiveEndpoint | None = aws_call(f"describe {endpoint.name}", partial(core.describe, client, endpoint.name))
        configured = {v.name: v.weight for v in endpoint.variants}
        percents = endpoint.traffic_percent()
        if live is None:
            rows += [Row(endpoint.name, n, w, percents[n], status="not deployed") for n, w in configured.items()]
            continue
        live_weights = live.weights()
        live_shares = core.shares(live_weights)
        counts = {v.name: v for v in live.variants}
        for name in sorted(set(configured) | set(live_weights), key=lambda n: (n not in configured, n)):
            variant = counts.get(name)
            rows.append(
                Row(
                    endpoint=endpoint.name,
                    variant=name,
                    config_weight=configured.get(name),
                    config_percent=percents.get(name),
                    live_weight=live_weights.get(name),
                    live_percent=round(100 * live_shares[name], 2) if name in live_shares else None,
                    instances=(
                        f"{variant.current_instance_count}/{variant.desired_instance_count}" if variant is not None else ""
                    ),
                    status=live.status,
                )
            )
    return rows


def apply(
    config: MlopsConfig,
    env: str,
    endpoint_name: str,
    client: Any,
    *,
    progress: Callable[[core.LiveEndpoint], None],
    poll_s: float = 15,
) -> core.LiveEndpoint:
    endpoint = endpoint_of(config, env, endpoint_name)
    desired = {v.name: v.weight for v in endpoint.variants}
    result: core.LiveEndpoint = aws_call(
        f"apply weights to {endpoint_name}",
        lambda: core.apply(client, endpoint_name, desired, core.Polling(poll_s=poll_s, progress=progress)),
    )
    return result
