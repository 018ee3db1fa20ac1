"""The asynchronous results: a DynamoDB table keyed by tracking id, encrypted, expiring, recoverable."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

KEY_ATTRIBUTE = "tracking_id"  # lambda_src/scoring_api/tracking.py: KEY
TTL_ATTRIBUTE = "expires_at"  # lambda_src/scoring_api/tracking.py: EXPIRES


class ResultsTable(Construct):
    """On-demand, customer-key encrypted, TTL on `expires_at`, point-in-time recovery on.

    TTL deletes expired items lazily (typically within days: DynamoDB Developer Guide,
    "Time to Live"), so the API answers 410 from the expiry the tracking id carries, not
    from the item's absence. Deletion protection follows the removal policy.
    """

    def __init__(self, scope: Construct, id: str, *, encryption_key: kms.IKey, removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.key = encryption_key
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            removal_policy=removal_policy,
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
        )

    def grant_read_item(self, grantee: iam.IGrantable) -> iam.Grant:
        """GetItem on this table only, and decrypting with its key."""
        return self.table.grant(grantee, "dynamodb:GetItem").combine(self.key.grant_decrypt(grantee))

    def grant_write_item(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """`actions` (PutItem/UpdateItem/GetItem) on this table only, and using its key."""
        return self.table.grant(grantee, *actions).combine(self.key.grant_encrypt_decrypt(grantee))
