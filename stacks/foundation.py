"""The stateful foundation: keys, buckets and the alert topic.

Kept apart from what changes daily (endpoints), retained in production and protected
from stack deletion. Endpoint stacks import its outputs; keep those stable, since an
export in use cannot change.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from config.schema import MlopsConfig
from mlops_constructs.alarms import AlertTopic
from mlops_constructs.storage import CaptureLifecycle, MlStorage


def removal_policy(config: MlopsConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.DESTROY if config.removal_policy == "destroy" else cdk.RemovalPolicy.RETAIN


class FoundationStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, config: MlopsConfig, **kwargs: object) -> None:
        retain = config.removal_policy == "retain"
        super().__init__(
            scope,
            id,
            description="ML platform foundation: KMS keys, S3 buckets, alert topic (stateful)",
            termination_protection=retain,
            **kwargs,  # type: ignore[arg-type]
        )
        policy = removal_policy(config)
        self.storage = MlStorage(
            self,
            "Storage",
            removal_policy=policy,
            capture_lifecycle=CaptureLifecycle(
                infrequent_access_after_days=config.storage.capture_infrequent_access_after_days,
                expire_after_days=config.storage.capture_retention_days,
            ),
            noncurrent_version_expiration=cdk.Duration.days(config.storage.noncurrent_version_retention_days),
            access_log_retention=cdk.Duration.days(config.storage.access_log_retention_days),
        )
        self.alerts = AlertTopic(self, "Alerts", emails=config.alerts.emails, removal_policy=policy)
