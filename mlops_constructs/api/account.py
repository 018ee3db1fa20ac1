"""API Gateway's account-level CloudWatch Logs role: one per account and Region.

API Gateway writes access and execution logs with a role set in its account settings, and
refuses a stage with logging until one is set (API Gateway Developer Guide, "Set up
CloudWatch logging for REST APIs in API Gateway"). The setting is a singleton per account
and Region, so the app creates it once per environment (in the first API's stack; the other
API stacks depend on that one), and retains the role: deleting that stack must not take
logging away from APIs that remain, ours or another team's.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.nag import NagAck, acknowledge

PUSH_TO_CLOUDWATCH = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayAccountLogging(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(
            self,
            "Role",
            # No aws:SourceAccount condition: the guide's trust policy has none, and whether API
            # Gateway sends the key when it assumes this role is not documented.
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway's account-level role for writing API logs to CloudWatch Logs",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH)],
        )
        self.role.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        acknowledge(
            self,
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "The policy API Gateway's guide names for its account-level logging role; only apigateway.amazonaws.com "
                "can assume the role, and it writes logs only.",
            ),
        )
