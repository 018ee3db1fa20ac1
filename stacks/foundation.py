"""The stateful foundation: keys, buckets and the alert topic.

Kept apart from what changes daily (endpoints), retained in production and protected
from stack deletion. Other stacks read its values through weak references
(Fn::GetStackOutput), so an output can change while they use it.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from config.schema import Alerts, Storage
from mlops_constructs.alarms import AlertTopic
from mlops_constructs.log_groups import logs_key
from mlops_constructs.storage import CaptureLifecycle, MlStorage


class FoundationStack(cdk.Stack):
    """Keys (data, logs, alerts), the buckets, and the alert topic."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        storage: Storage,
        alerts: Alerts,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: object,
    ) -> None:
        retain = removal_policy == cdk.RemovalPolicy.RETAIN
        super().__init__(
            scope,
            id,
            description="ML platform foundation: KMS keys, S3 buckets, alert topic (stateful)",
            termination_protection=retain,
            **kwargs,  # type: ignore[arg-type]
        )
        self.storage = MlStorage(
            self,
            "Storage",
            removal_policy=removal_policy,
            capture_lifecycle=CaptureLifecycle(
                infrequent_access_after_days=storage.capture_infrequent_access_after_days,
                expire_after_days=storage.capture_retention_days,
            ),
            noncurrent_version_expiration=cdk.Duration.days(storage.noncurrent_version_retention_days),
            access_log_retention=cdk.Duration.days(storage.access_log_retention_days),
        )
        self.logs_key = logs_key(self, "LogsKey", removal_policy=removal_policy)
        self.alerts = AlertTopic(self, "Alerts", emails=alerts.emails, removal_policy=removal_policy)
