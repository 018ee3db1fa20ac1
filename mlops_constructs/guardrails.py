"""Deployment guardrails for SageMaker endpoint updates: the settings and every rule SageMaker
enforces on them, as plain data (no CDK import), so config validation and the constructs
apply one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strategy = Literal["all_at_once", "canary", "linear", "rolling", "none"]
STRATEGIES: tuple[Strategy, ...] = ("all_at_once", "canary", "linear", "rolling", "none")
# DeploymentConfig limits (SageMaker API reference: TrafficRoutingConfig, CapacitySize,
# RollingUpdatePolicy, BlueGreenUpdatePolicy, AutoRollbackConfig).
CANARY_PERCENT = (1, 50)  # CanarySize: at most 50% of the variant's instances
LINEAR_STEP_PERCENT = (10, 50)  # LinearStepSize: 10-50%
ROLLING_BATCH_PERCENT = (5, 50)  # MaximumBatchSize: 5-50%
WAIT_SECONDS = (0, 3600)  # WaitIntervalInSeconds, TerminationWaitInSeconds
EXECUTION_TIMEOUT_SECONDS = (600, 28800)  # MaximumExecutionTimeoutInSeconds
MAX_ROLLBACK_ALARMS = 10  # AutoRollbackConfig.Alarms: 1-10


def platform_rollback_alarms(variant_count: int, named_count: int) -> tuple[bool, int]:
    """Which of the endpoint's own alarms roll a release back: (include latency, how many).

    Each variant's 5xx-rate metric alarm always; its p99-latency alarm too while the total
    stays within SageMaker's 10 (metric alarms, not the composites: AutoRollbackConfig
    names alarms that monitor endpoint metrics).
    """
    with_latency = 2 * variant_count + named_count <= MAX_ROLLBACK_ALARMS
    return with_latency, (2 if with_latency else 1) * variant_count


@dataclass(frozen=True)
class DeploymentGuardrails:
    """How a new EndpointConfig reaches traffic, and when SageMaker rolls it back.

    `all_at_once`: blue/green, all traffic moves after the new fleet is healthy (default).
    `canary`: `canary_percent` of capacity first, the rest after `wait_minutes`.
    `linear`: `linear_step_percent` at a time, `wait_minutes` apart.
    `rolling`: replace `rolling_batch_percent` of instances at a time (single-variant
    endpoints only). Any of the rollback alarms going to ALARM rolls the release back.
    `none`: no DeploymentConfig: SageMaker's plain blue/green update, without baking or
    auto-rollback. Needed for a release that adds, removes or renames variants: with
    deployment guardrails the new endpoint config must keep the live variant names
    (SageMaker Developer Guide, "Deployment guardrails: Exclusions").
    """

    strategy: Strategy = "all_at_once"
    canary_percent: int = 10
    linear_step_percent: int = 20
    rolling_batch_percent: int = 25
    wait_minutes: int = 5
    termination_wait_minutes: int = 0
    max_execution_timeout_minutes: int = 60

    def steps(self) -> int:
        """How many waits the deployment takes: one baking wait after each traffic shift."""
        if self.strategy == "canary":
            return 2
        if self.strategy == "linear":
            return -(-100 // self.linear_step_percent)
        if self.strategy == "rolling":
            return -(-100 // self.rolling_batch_percent)
        return 0 if self.strategy == "none" else 1

    @property
    def guarded(self) -> bool:
        """Whether the endpoint gets a DeploymentConfig (and so must keep its variant names)."""
        return self.strategy != "none"

    def problems(self, *, variant_count: int, rollback_alarm_count: int) -> list[str]:
        """Every rule SageMaker enforces on this DeploymentConfig, as messages (empty: valid)."""
        out = []

        def within(value: int, bounds: tuple[int, int], what: str) -> None:
            if not bounds[0] <= value <= bounds[1]:
                out.append(f"{what} {value} is outside {bounds[0]}-{bounds[1]}")

        if self.strategy not in STRATEGIES:
            out.append(f"strategy '{self.strategy}' is not one of {', '.join(STRATEGIES)}")
        if self.strategy == "canary":
            within(self.canary_percent, CANARY_PERCENT, "canary_percent")
        if self.strategy == "linear":
            within(self.linear_step_percent, LINEAR_STEP_PERCENT, "linear_step_percent")
        if self.strategy == "rolling":
            within(self.rolling_batch_percent, ROLLING_BATCH_PERCENT, "rolling_batch_percent")
            if variant_count > 1:
                out.append(f"strategy 'rolling' needs a single-variant endpoint ({variant_count} variants); use canary or linear")
        within(self.wait_minutes * 60, WAIT_SECONDS, "wait_minutes x 60 (seconds)")
        within(self.termination_wait_minutes * 60, WAIT_SECONDS, "termination_wait_minutes x 60 (seconds)")
        within(self.max_execution_timeout_minutes * 60, EXECUTION_TIMEOUT_SECONDS, "max_execution_timeout_minutes x 60 (seconds)")
        waiting = self.wait_minutes * self.steps() + self.termination_wait_minutes
        if self.max_execution_timeout_minutes <= waiting:
            out.append(
                f"max_execution_timeout_minutes {self.max_execution_timeout_minutes} must exceed the time the deployment "
                f"waits ({waiting} minutes: {self.steps()} step(s) x wait_minutes + termination_wait_minutes)"
            )
        if self.guarded and not 1 <= rollback_alarm_count <= MAX_ROLLBACK_ALARMS:
            out.append(f"{rollback_alarm_count} rollback alarms; SageMaker accepts 1-{MAX_ROLLBACK_ALARMS}")
        return out
