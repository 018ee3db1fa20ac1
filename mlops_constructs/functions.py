"""The platform's Lambda functions: one way to make them, so every one gets the same defaults.

Each function has a fixed name (so its log group can be created first, encrypted and with a
retention, rather than left for Lambda to create unencrypted and never expiring), runs on the
Python runtime the handlers are tested on, and ships only its own folder of `lambda_src/`.

Powertools for AWS Lambda (Python) comes from AWS's public Lambda layer rather than being
bundled: bundling would need pip (network) or Docker at synth, and synth is offline. The
layer version is pinned here; tests run the handlers against the same release from PyPI
(requirements-dev.txt), so bump both together (layer versions are listed on the Powertools
"Installation" page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from mlops_constructs.log_groups import LogGroupSettings

RUNTIME_NAME = "python3.13"
# Powertools for AWS Lambda (Python) V3 public layer, account 017000801446 in every commercial region.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 27


def runtime() -> lambda_.Runtime:
    return lambda_.Runtime.PYTHON_3_13


def handler_code(lambda_src: str, folder: str) -> lambda_.Code:
    """The asset for one handler folder of `lambda_src/`: its `*.py` files and nothing else."""
    return lambda_.Code.from_asset(lambda_src, exclude=["*", f"!{folder}", f"!{folder}/*.py"], ignore_mode=cdk.IgnoreMode.GLOB)


def powertools_layer(scope: Construct, id: str) -> lambda_.ILayerVersion:
    """AWS's Powertools layer for this stack's region (x86_64, the runtime above)."""
    stack = cdk.Stack.of(scope)
    python = RUNTIME_NAME.replace(".", "")
    arn = stack.format_arn(
        service="lambda",
        account=POWERTOOLS_LAYER_ACCOUNT,
        resource="layer",
        resource_name=f"AWSLambdaPowertoolsPythonV3-{python}-x86_64:{POWERTOOLS_LAYER_VERSION}",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, id, arn)


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the platform's functions; everything else is a platform default."""

    name: str  # the full function name; its log group is /aws/lambda/<name>
    description: str
    handler: str  # "<folder>.<module>.<function>"
    code: lambda_.Code
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(30))
    memory_size: int = 256
    environment: Mapping[str, str] = field(default_factory=dict)
    powertools: bool = False  # add the Powertools layer and its service name
    tracing: bool = False  # X-Ray active tracing


def platform_function(scope: Construct, id: str, spec: FunctionSpec, *, logs: LogGroupSettings) -> lambda_.Function:
    """A function with its own encrypted, expiring log group created before it."""
    environment = dict(spec.environment)
    layers: list[lambda_.ILayerVersion] = []
    if spec.powertools:
        layers.append(powertools_layer(scope, f"{id}Powertools"))
        environment.setdefault("POWERTOOLS_SERVICE_NAME", spec.name)
    return lambda_.Function(
        scope,
        id,
        function_name=spec.name,
        description=spec.description,
        runtime=runtime(),
        handler=spec.handler,
        code=spec.code,
        timeout=spec.timeout,
        memory_size=spec.memory_size,
        environment=environment or None,
        layers=layers or None,
        tracing=lambda_.Tracing.ACTIVE if spec.tracing else None,
        log_group=logs.log_group(scope, f"{id}Logs", f"/aws/lambda/{spec.name}"),
    )
