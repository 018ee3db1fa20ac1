"""A private Ground Truth workforce: Cognito user pool, app client, domain, and a SageMaker workteam.

- The user pool admits only people the stack invites (no self sign-up), with a strong
  password policy, required TOTP MFA and Cognito's threat protection in full-function mode
  (the Plus feature plan; "advanced security" in older documents), and account recovery by
  email only. It is stateful: its ID is in every worker's identity, so it is retained,
  deletion-protected where the environment retains resources, and its logical ID is pinned
  (tests/test_stateful_ids.py).
- The private workforce (AWS::SageMaker::Workforce) is made from this pool and app client,
  and the workteam binds one user group of the pool (SageMaker API reference,
  CognitoMemberDefinition). An account has one private workforce per region
  (CreateWorkforce: "This operation will return an error if a workforce already exists in
  the Region"), so an account that already has one (say, made in the console) must delete
  it, or the deploy fails.
- "New work" notifications go to an SNS topic encrypted with its own key; SageMaker
  publishes to it, so the topic policy and the key allow sagemaker.amazonaws.com for this
  account's workteams only (SNS Developer Guide, "Enable compatibility between event sources
  from AWS services and encrypted topics").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_constructs.keys import customer_key
from mlops_constructs.validation import Problems

ANNOTATORS_GROUP = "annotators"
MIN_PASSWORD_LENGTH = 14


def member_id(email: str) -> str:
    """A member's construct ID, from the lower-cased address (never its list position).

    Every property of AWS::Cognito::UserPoolUser and UserPoolUserToGroupAttachment requires
    replacement, so an ID by position would move the next member onto a removed member's ID:
    CloudFormation would create that user while it still exists, and the deploy would fail.
    """
    return "Member" + hashlib.sha256(email.lower().encode()).hexdigest()[:10]


class PrivateWorkforce(Construct):
    """The team that labels: invited members in a Cognito pool, bound to a SageMaker workteam."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workforce_name: str,
        workteam_name: str,
        domain_prefix: str,
        members: Sequence[str],
        removal_policy: cdk.RemovalPolicy,
        description: str = "Annotators of the ML platform's labelling jobs",
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(bool(members), "members: invite at least one annotator")
        problems.check(
            domain_prefix.islower() and not any(w in domain_prefix for w in ("aws", "amazon", "cognito")),
            f"domain_prefix: '{domain_prefix}' must be lower-case and not contain aws, amazon or cognito (Cognito domain rules)",
        )
        problems.raise_if_any()
        retain = removal_policy == cdk.RemovalPolicy.RETAIN
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            # Email is the user name (UsernameAttributes), so members are created with their address;
            # as an alias instead, Cognito would refuse user names in email format.
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(email=cognito.StandardAttribute(required=True, mutable=True)),
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(7),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=retain,
            removal_policy=removal_policy,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="You are invited to label data",
                email_body="Your labelling portal user name is {username} and your temporary password is {####}.",
            ),
        )
        self.client = self.user_pool.add_client(
            "Client",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
        )
        self.domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )
        group = cognito.CfnUserPoolGroup(
            self, "Annotators", user_pool_id=self.user_pool.user_pool_id, group_name=ANNOTATORS_GROUP, description=description
        )
        for address in members:
            # Every property follows the lower-cased address: a change (even of case) would replace
            # the user under the same ID, and CloudFormation creates the replacement first.
            email = address.lower()
            member = member_id(email)
            user = cognito.CfnUserPoolUser(
                self,
                member,
                user_pool_id=self.user_pool.user_pool_id,
                username=email,
                desired_delivery_mediums=["EMAIL"],
                user_attributes=[
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email", value=email),
                    # Account recovery is by verified email only (EMAIL_ONLY above): an unverified
                    # address could not reset a forgotten password. AdminCreateUser accepts
                    # email_verified=true when the email is given (API reference).
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email_verified", value="true"),
                ],
            )
            attachment = cognito.CfnUserPoolUserToGroupAttachment(
                self,
                f"{member}InGroup",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=ANNOTATORS_GROUP,
                username=email,
            )
            attachment.node.add_dependency(user)
            attachment.node.add_dependency(group)

        self.topic_key = customer_key(
            self,
            "NotificationKey",
            description="Encrypts the labelling workteam's notification topic",
            removal_policy=removal_policy,
        )
        self.topic = sns.Topic(self, "Notifications", master_key=self.topic_key, enforce_ssl=True)
        stack = cdk.Stack.of(self)
        workteams = stack.format_arn(service="sagemaker", resource="workteam", resource_name="*")
        conditions = {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": workteams}}
        sagemaker_principal = iam.ServicePrincipal("sagemaker.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSageMakerWorkteamsToPublish",
                principals=[sagemaker_principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSageMakerWorkteamsToUseTheTopicKey",
                principals=[sagemaker_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )
        self.workforce = sagemaker.CfnWorkforce(
            self,
            "Workforce",
            workforce_name=workforce_name,
            cognito_config=sagemaker.CfnWorkforce.CognitoConfigProperty(
                user_pool=self.user_pool.user_pool_id, client_id=self.client.user_pool_client_id
            ),
        )
        self.workforce.node.add_dependency(self.domain)  # the worker portal signs in through the domain
        self.workteam: sagemaker.CfnWorkteam = sagemaker.CfnWorkteam(
            self,
            "Workteam",
            workteam_name=workteam_name,
            workforce_name=workforce_name,
            description=description,
            member_definitions=[
                sagemaker.CfnWorkteam.MemberDefinitionProperty(
                    cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                        cognito_user_pool=self.user_pool.user_pool_id,
                        cognito_client_id=self.client.user_pool_client_id,
                        cognito_user_group=group.ref,
                    )
                )
            ],
            notification_configuration=sagemaker.CfnWorkteam.NotificationConfigurationProperty(
                notification_topic_arn=self.topic.topic_arn
            ),
        )
        self.workteam.node.add_dependency(self.workforce)

    @property
    def workteam_arn(self) -> str:
        return self.workteam.attr_workteam_arn
