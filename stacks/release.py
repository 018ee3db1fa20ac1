"""The release machinery of one environment: the provider that sets live weights.

One stack, shared by every endpoint stack, so an endpoint stack holds only its two small
custom resources (preflight and weights) rather than a Lambda, a waiter state machine and
their roles each. It changes when its code does, not when a weight does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.release import ReleaseProvider


class ReleaseStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_names: Sequence[str],
        logs: LogGroupSettings,
        repo_root: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id,
            description="Release by config: sets live SageMaker variant weights and runs release preflights",
            **kwargs,  # type: ignore[arg-type]
        )
        self.provider = ReleaseProvider(
            self,
            "Release",
            endpoint_names=endpoint_names,
            logs=logs,
            lambda_src=str(repo_root / "lambda_src"),
        )
