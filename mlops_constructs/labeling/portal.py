"""The worker portal's sign-in: the workforce's app client pointed at the portal's address.

The private workforce is made from the Cognito app client, and the portal's address
(DescribeWorkforce `SubDomain`) exists only once the workforce does; the AWS Machine Learning
Blog's CDK solution for private workforces ("Create a private workforce on Amazon SageMaker
Ground Truth with the AWS CDK") meets the same mutual dependency with a custom resource. So
the client is created with CDK's placeholder callback, and `Custom::WorkerPortalSignIn`
(Provider framework; handler `lambda_src/labeling/portal.py`), after the workforce, sets its
callback URL to `https://<SubDomain>/oauth2/idpresponse` and its sign-out URL to
`https://<SubDomain>/logout`, keeping every other setting of the client.

The resource's properties carry a digest of the client's settings in the template: when a
deploy changes the client, CloudFormation's update puts the placeholder back, and this
resource, updated after it, sets the portal's URLs again. Drift detection reports the two
URL lists as drifted; that is expected.
"""

from __future__ import annotations

import hashlib
import json

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from mlops_constructs.functions import FunctionSpec, handler_code, platform_function
from mlops_constructs.labeling.workforce import PrivateWorkforce
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.nag import NagAck, acknowledge

RESOURCE_TYPE = "Custom::WorkerPortalSignIn"
# The client settings whose change makes CloudFormation rewrite the client (and its URLs).
_CLIENT_SETTINGS = (
    "allowed_o_auth_flows",
    "allowed_o_auth_flows_user_pool_client",
    "allowed_o_auth_scopes",
    "callback_ur_ls",
    "logout_ur_ls",
    "default_redirect_uri",
    "explicit_auth_flows",
    "supported_identity_providers",
    "prevent_user_existence_errors",
    "enable_token_revocation",
    "access_token_validity",
    "id_token_validity",
    "refresh_token_validity",
    "token_validity_units",
    "read_attributes",
    "write_attributes",
    "client_name",
)


class WorkerPortalSignIn(Construct):
    """Sets the workforce app client's callback and sign-out URLs to the worker portal's."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workforce: PrivateWorkforce,
        workforce_name: str,
        logs: LogGroupSettings,
        lambda_src: str,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        handler = platform_function(
            self,
            "Handler",
            FunctionSpec(
                name=f"{stack.stack_name}-portal-sign-in",
                description="Points the labelling workforce's Cognito app client at the worker portal",
                handler="labeling.portal.on_event",
                code=handler_code(lambda_src, "labeling"),
                powertools=True,
                timeout=cdk.Duration.minutes(1),
            ),
            logs=logs,
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeWorkforce"],
                resources=[stack.format_arn(service="sagemaker", resource="workforce", resource_name=workforce_name)],
            )
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cognito-idp:DescribeUserPoolClient", "cognito-idp:UpdateUserPoolClient"],
                resources=[workforce.user_pool.user_pool_arn],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=handler,
            log_group=logs.log_group(self, "FrameworkLogs", f"/aws/lambda/{stack.stack_name}-portal-framework"),
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                "UserPoolId": workforce.user_pool.user_pool_id,
                "ClientId": workforce.client.user_pool_client_id,
                "WorkforceName": workforce_name,
                "ClientSettings": _client_digest(stack, workforce.client),
            },
        )
        self.resource.node.add_dependency(workforce.workforce)
        acknowledge(
            self,
            NagAck(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "The Lambda basic execution policy lets these functions write their own logs; the groups are "
                "created here, encrypted and with a retention.",
            ),
            NagAck(
                "AwsSolutions-L1",
                "The provider framework's own function uses the runtime aws-cdk-lib pins; ours uses Python 3.13.",
            ),
            NagAck(
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(handler.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
                "The provider framework invokes its handler by ARN with any version qualifier; the grant names one function.",
            ),
        )

    @property
    def portal_url(self) -> str:
        return self.resource.get_att_string("PortalUrl")


def _client_digest(stack: cdk.Stack, client: cognito.UserPoolClient) -> str:
    cfn = client.node.default_child
    settings = {name: stack.resolve(getattr(cfn, name, None)) for name in _CLIENT_SETTINGS}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
