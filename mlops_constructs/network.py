"""VPC placement for SageMaker models from plain IDs, and the VPC endpoints SageMaker needs there.

Why plain IDs and no `Vpc.from_lookup`: a lookup calls EC2 at synth time, which needs
credentials and caches account state in `cdk.context.json`; synth here stays offline and
deterministic. CreateModel's `VpcConfig` takes nothing but subnet and security-group IDs,
so the IDs are all a model needs; their shape and counts are checked here, their
existence only by CloudFormation at deploy.

With a `VpcConfig`, SageMaker creates network interfaces in the subnets with the model's
execution role, so that role needs EC2 network-interface permissions
(`VpcPlacement.grant_network_interfaces`). Each is scoped as far as the Service
Authorization Reference for Amazon EC2 allows:

- `CreateNetworkInterface` authorises the new interface (`network-interface/*`: its id is
  unknown until created), the subnet and each security group; the grant names exactly the
  configured subnets and security groups, so an interface can be created nowhere else.
- `CreateNetworkInterfacePermission`, `DeleteNetworkInterface` and
  `DeleteNetworkInterfacePermission` authorise the interface and support the `ec2:Subnet`
  condition key (the subnet's ARN): limited to interfaces in the configured subnets.
- `DescribeNetworkInterfaces`, `DescribeVpcs`, `DescribeDhcpOptions`, `DescribeSubnets` and
  `DescribeSecurityGroups` support no resource-level permissions (`*` only) and no
  condition key but `ec2:Region`: limited to the stack's region.

`SageMakerVpcEndpoints` creates the endpoints a VPC without internet access needs (see
the README): an S3 gateway and interface endpoints with private DNS, behind a security
group that admits HTTPS from the SageMaker security groups only. Plain `CfnVPCEndpoint`
and `CfnSecurityGroup` resources: the `ec2.Vpc` L2 would need the VPC's availability
zones and subnets, which only a lookup knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from mlops_constructs.nag import NagAck, acknowledge, acknowledge_resource
from mlops_constructs.validation import Problems, is_token

# EC2 resource IDs: a prefix and 8 (older resources) or 17 lower-case hex digits.
_HEX_ID = r"(?:[0-9a-f]{8}|[0-9a-f]{17})"
SUBNET_ID = re.compile(rf"^subnet-{_HEX_ID}$")
SECURITY_GROUP_ID = re.compile(rf"^sg-{_HEX_ID}$")
VPC_ID = re.compile(rf"^vpc-{_HEX_ID}$")
ROUTE_TABLE_ID = re.compile(rf"^rtb-{_HEX_ID}$")
_ID_FORMS = {
    SUBNET_ID: "subnet-xxxxxxxx",
    SECURITY_GROUP_ID: "sg-xxxxxxxx",
    VPC_ID: "vpc-xxxxxxxx",
    ROUTE_TABLE_ID: "rtb-xxxxxxxx",
}

# SageMaker's VpcConfig (botocore data/sagemaker/2017-07-24/service-2.json, shapes
# `Subnets` and `VpcSecurityGroupIds`): 1-16 subnets, 1-5 security groups.
MIN_SUBNETS, MAX_SUBNETS = 1, 16
MIN_SECURITY_GROUPS, MAX_SECURITY_GROUPS = 1, 5
SUBNETS_LIMIT = "SageMaker's VpcConfig.Subnets"
SECURITY_GROUPS_LIMIT = "SageMaker's VpcConfig.SecurityGroupIds"

# Interface endpoints (service short names, as in com.amazonaws.<region>.<name>) and why
# SageMaker in a VPC without internet access would use each.
INTERFACE_ENDPOINT_SERVICES: dict[str, str] = {
    "ecr.api": "ECR API: image manifests and authorization tokens",
    "ecr.dkr": "ECR Docker registry: image pulls",
    "logs": "CloudWatch Logs: container logs",
    "sts": "STS: credentials for the execution role",
    "monitoring": "CloudWatch metrics (PutMetricData)",
    "sagemaker.api": "SageMaker API: the mlops CLI and CI from inside the VPC",
    "sagemaker.runtime": "SageMaker Runtime: InvokeEndpoint from clients inside the VPC",
}
DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "logs", "sts")
HTTPS_PORT = 443


def id_issues(
    ids: Sequence[str], pattern: re.Pattern[str], *, min_items: int = 0, max_items: int | None = None, limit_by: str = ""
) -> list[tuple[int | None, str]]:
    """Count, shape and duplicate problems of a list of EC2 IDs: (item index or None for the list, message).

    Unresolved tokens (the whole list, or an item) are skipped: they are known only at deploy.
    """
    if is_token(list(ids)):
        return []
    issues: list[tuple[int | None, str]] = []
    if len(ids) < min_items or (max_items is not None and len(ids) > max_items):
        allowed = f"{min_items}-{max_items}" if max_items is not None else f"at least {min_items}"
        issues.append((None, f"{len(ids)} given; {allowed} allowed{f' ({limit_by})' if limit_by else ''}"))
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if is_token(value):
            continue
        if not pattern.match(value):
            issues.append((index, f"'{value}' is not an ID of the form {_ID_FORMS[pattern]} (8 or 17 lower-case hex digits)"))
        elif value in seen:
            issues.append((index, f"'{value}' is listed twice"))
        seen.add(value)
    return issues


def id_problems(
    key: str,
    ids: Sequence[str],
    pattern: re.Pattern[str],
    *,
    min_items: int = 0,
    max_items: int | None = None,
    limit_by: str = "",
) -> list[str]:
    """`id_issues` as messages naming `key` (and the item's index)."""
    return [
        f"{key}{'' if index is None else f'[{index}]'}: {message}"
        for index, message in id_issues(ids, pattern, min_items=min_items, max_items=max_items, limit_by=limit_by)
    ]


def _raise_if(scope: Construct, found: list[str]) -> None:
    problems = Problems(scope)
    for problem in found:
        problems.add(problem)
    problems.raise_if_any()


@dataclass(frozen=True)
class VpcPlacement:
    """Subnets and security groups a SageMaker model (or, later, a training job) runs in.

    Maps to CreateModel's `VpcConfig`: SageMaker attaches network interfaces in these
    subnets, with these security groups, to the instances it runs. Both lists take plain
    IDs (no lookups); SageMaker allows 1-16 subnets and 1-5 security groups, and its
    hosting guide asks for subnets in at least two availability zones.
    """

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]

    def problems(self, key: str = "vpc") -> list[str]:
        """Every problem with these IDs, each naming `key.<field>` (empty if valid)."""
        return id_problems(
            f"{key}.subnet_ids", self.subnet_ids, SUBNET_ID, min_items=MIN_SUBNETS, max_items=MAX_SUBNETS, limit_by=SUBNETS_LIMIT
        ) + id_problems(
            f"{key}.security_group_ids",
            self.security_group_ids,
            SECURITY_GROUP_ID,
            min_items=MIN_SECURITY_GROUPS,
            max_items=MAX_SECURITY_GROUPS,
            limit_by=SECURITY_GROUPS_LIMIT,
        )

    def check(self, scope: Construct, key: str = "vpc") -> None:
        """Raise one error naming `scope`'s path and every problem, if there are any."""
        _raise_if(scope, self.problems(key))

    def model_vpc_config(self) -> sagemaker.CfnModel.VpcConfigProperty:
        """The `VpcConfig` of a `CfnModel` (batch transform jobs run in their model's)."""
        return sagemaker.CfnModel.VpcConfigProperty(
            subnets=list(self.subnet_ids), security_group_ids=list(self.security_group_ids)
        )

    def subnet_arns(self, scope: IConstruct) -> list[str]:
        stack = cdk.Stack.of(scope)
        return [stack.format_arn(service="ec2", resource="subnet", resource_name=s) for s in self.subnet_ids]

    def security_group_arns(self, scope: IConstruct) -> list[str]:
        stack = cdk.Stack.of(scope)
        return [stack.format_arn(service="ec2", resource="security-group", resource_name=g) for g in self.security_group_ids]

    def grant_network_interfaces(self, role: iam.IRole) -> iam.Grant:
        """Let `role` manage SageMaker's network interfaces in these subnets, and nowhere else.

        Scoping per action, from the Service Authorization Reference for Amazon EC2, is in
        the module docstring. Granting twice to one role adds nothing (CDK removes
        duplicate statements).
        """
        stack = cdk.Stack.of(role)
        interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
        subnets = self.subnet_arns(role)
        create = iam.Grant.add_to_principal(
            grantee=role,
            actions=["ec2:CreateNetworkInterface"],
            resource_arns=[interfaces, *subnets, *self.security_group_arns(role)],
        )
        manage = iam.Grant.add_to_principal(
            grantee=role,
            actions=[
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            resource_arns=[interfaces],
            conditions={"ArnEquals": {"ec2:Subnet": subnets}},
        )
        describe = iam.Grant.add_to_principal(
            grantee=role,
            actions=[
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            resource_arns=["*"],
            conditions={"StringEquals": {"ec2:Region": stack.region}},
        )
        acknowledge_resource(
            role,
            interfaces,
            "SageMaker creates its network interfaces at run time, so their ids are unknown; creation is limited "
            "to the configured subnets and security groups, and managing them to interfaces in those subnets "
            "(ec2:Subnet condition).",
        )
        acknowledge(
            role,
            NagAck(
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:PutMetricData, ecr:GetAuthorizationToken and the EC2 Describe* calls SageMaker makes for "
                "VPC placement (network interfaces, VPCs, DHCP options, subnets, security groups) support no "
                "resource-level permissions; PutMetricData is limited to SageMaker namespaces and the Describe* "
                "calls to this region by condition.",
            ),
        )
        return create.combine(manage).combine(describe)


_ENDPOINT_IDS = {
    "ecr.api": "EcrApi",
    "ecr.dkr": "EcrDocker",
    "logs": "Logs",
    "sts": "Sts",
    "monitoring": "Monitoring",
    "sagemaker.api": "SageMakerApi",
    "sagemaker.runtime": "SageMakerRuntime",
}


class SageMakerVpcEndpoints(Construct):
    """The VPC endpoints SageMaker needs in a VPC without internet access (no lookups).

    Creates an S3 gateway endpoint on `route_table_ids` (none if empty: a VPC that already
    has one on those route tables cannot take a second) and an interface endpoint with
    private DNS for each of `services` (default: ECR API and Docker, CloudWatch Logs, STS)
    in `subnet_ids` (at most one subnet per availability zone, an EC2 rule), behind a new
    security group that admits HTTPS (443) from `client_security_group_ids` only and sends
    nothing. Private DNS needs the VPC's `enableDnsSupport` and `enableDnsHostnames`, and
    fails if another endpoint in the VPC already serves the same name.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc_id: str,
        subnet_ids: Sequence[str],
        client_security_group_ids: Sequence[str],
        route_table_ids: Sequence[str] = (),
        services: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS,
    ) -> None:
        super().__init__(scope, id)
        problems = [] if is_token(vpc_id) or VPC_ID.match(vpc_id) else [f"vpc_id: '{vpc_id}' is not of the form vpc-xxxxxxxx"]
        problems += id_problems("subnet_ids", subnet_ids, SUBNET_ID, min_items=1 if services else 0)
        problems += id_problems(
            "client_security_group_ids", client_security_group_ids, SECURITY_GROUP_ID, min_items=1 if services else 0
        )
        problems += id_problems("route_table_ids", route_table_ids, ROUTE_TABLE_ID)
        for index, service in enumerate(services):
            if service not in INTERFACE_ENDPOINT_SERVICES:
                problems.append(f"services[{index}]: '{service}' is not one of {', '.join(INTERFACE_ENDPOINT_SERVICES)}")
            elif service in services[:index]:
                problems.append(f"services[{index}]: '{service}' is listed twice")
        if not services and not route_table_ids:
            problems.append("nothing to create: give route_table_ids (S3 gateway), services (interface endpoints) or both")
        _raise_if(self, problems)

        self.vpc_id = vpc_id
        self.s3_gateway: ec2.CfnVPCEndpoint | None = None
        if route_table_ids:
            self.s3_gateway = ec2.CfnVPCEndpoint(
                self,
                "S3Gateway",
                vpc_id=vpc_id,
                service_name=ec2.GatewayVpcEndpointAwsService.S3.name,
                vpc_endpoint_type="Gateway",
                route_table_ids=list(route_table_ids),
            )

        self.security_group: ec2.CfnSecurityGroup | None = None
        self.interface_endpoints: dict[str, ec2.CfnVPCEndpoint] = {}
        if not services:
            return
        self.security_group = ec2.CfnSecurityGroup(
            self,
            "SecurityGroup",
            vpc_id=vpc_id,
            group_description="HTTPS from SageMaker models to the interface VPC endpoints",
            security_group_ingress=[
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=HTTPS_PORT,
                    to_port=HTTPS_PORT,
                    source_security_group_id=group,
                    description=f"HTTPS from SageMaker security group {group}",
                )
                for group in client_security_group_ids
            ],
            # Without an egress rule EC2 adds "all traffic anywhere"; endpoints never
            # initiate connections, so this rule (CDK's own idiom) matches no traffic.
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="icmp",
                    cidr_ip="255.255.255.255/32",
                    from_port=252,
                    to_port=86,
                    description="Disallow all traffic",
                )
            ],
        )
        for service in services:
            self.interface_endpoints[service] = ec2.CfnVPCEndpoint(
                self,
                _ENDPOINT_IDS[service],
                vpc_id=vpc_id,
                service_name=ec2.InterfaceVpcEndpointAwsService(service).name,
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=list(subnet_ids),
                security_group_ids=[self.security_group.attr_group_id],
            )
