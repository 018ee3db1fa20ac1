"""Customer-managed KMS keys with the platform's defaults, in one place."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct


def customer_key(scope: Construct, id: str, *, description: str, removal_policy: cdk.RemovalPolicy) -> kms.Key:
    """A rotating key; a disposable environment gets KMS's shortest deletion window (7 days)."""
    return kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=cdk.Duration.days(7 if removal_policy == cdk.RemovalPolicy.DESTROY else 30),
    )
