"""VPC placement: models' VpcConfig, the execution roles' EC2 permissions, the VPC endpoints.

The app is built from tests/configs/vpc.yaml (made-up IDs), not a shipped config, so dev
and prod stay deployable without a real VPC. Each test names one promise.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.models import container_model
from mlops_constructs.network import SageMakerVpcEndpoints, VpcPlacement
from mlops_constructs.validation import PropsError
from tests.conftest import Synthesized, resources_of_type
from tests.test_gates import _allowed, cfn_lint

CONFIGS = Path(__file__).parent / "configs"
PREFIX = "arn:aws:ec2:eu-west-1:111111111111"
SUBNETS = ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60712"]
SECURITY_GROUP = "sg-0a1b2c3d4e5f60719"
BATCH_SUBNETS = ["subnet-12345678"]
BATCH_SECURITY_GROUPS = ["sg-12345678", SECURITY_GROUP]
DESCRIBE_ACTIONS = [
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]
MANAGE_ACTIONS = ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"]


def _network(synth: Synthesized) -> Template:
    assert synth.stacks.network is not None
    return synth.template(synth.stacks.network.stack_name)


def _batch(synth: Synthesized) -> Template:
    assert synth.stacks.batch is not None
    return synth.template(synth.stacks.batch.stack_name)


def _arns(kind: str, ids: list[str]) -> list[str]:
    return [f"{PREFIX}:{kind}/{i}" for i in ids]


def _acknowledged(synth: Synthesized, stack_name: str) -> dict[str, list[str]]:
    """Acknowledged rule -> construct paths, from the stack's cloud-assembly metadata."""
    metadata = json.loads((synth.outdir / f"{stack_name}.metadata.json").read_text())
    rules: dict[str, list[str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule in entry["data"]:
                    rules.setdefault(rule.removeprefix("Annotation::"), []).append(path)
    return rules


# --- models ---------------------------------------------------------------------------


def test_endpoint_models_run_in_the_environments_vpc_still_isolated(vpc: Synthesized) -> None:
    models = vpc.endpoint("caller-risk").find_resources("AWS::SageMaker::Model")
    assert len(models) == 2
    for model in models.values():
        assert model["Properties"]["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]}
        assert model["Properties"]["EnableNetworkIsolation"] is True


def test_batch_model_runs_in_its_own_vpc_override(vpc: Synthesized) -> None:
    # Transform jobs run in their model's VpcConfig; CreateTransformJob has none of its own.
    _batch(vpc).has_resource_properties(
        "AWS::SageMaker::Model",
        {"VpcConfig": {"Subnets": BATCH_SUBNETS, "SecurityGroupIds": BATCH_SECURITY_GROUPS}, "EnableNetworkIsolation": True},
    )


def test_model_vpc_config_is_a_valid_create_model_request(vpc: Synthesized) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModel").input_shape
    for model in vpc.endpoint("caller-risk").find_resources("AWS::SageMaker::Model").values():
        request = {
            "ModelName": "m",
            "ExecutionRoleArn": "arn:aws:iam::111111111111:role/r",
            "VpcConfig": model["Properties"]["VpcConfig"],
        }
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()


def test_shipped_configs_place_no_model_in_a_vpc(dev: Synthesized, prod: Synthesized) -> None:
    for synth in (dev, prod):
        assert synth.stacks.network is None
        for stack in synth.stacks.all:
            for model in resources_of_type(synth.template_json(stack.stack_name), "AWS::SageMaker::Model").values():
                assert "VpcConfig" not in model["Properties"]


# --- execution roles --------------------------------------------------------------------


def test_role_creates_interfaces_only_in_the_configured_subnets_and_security_groups(vpc: Synthesized) -> None:
    vpc.endpoint("caller-risk").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "ec2:CreateNetworkInterface",
                            "Effect": "Allow",
                            "Resource": [
                                f"{PREFIX}:network-interface/*",
                                *_arns("security-group", [SECURITY_GROUP]),
                                *_arns("subnet", SUBNETS),
                            ],
                        }
                    ]
                )
            }
        },
    )


def test_role_manages_only_interfaces_in_its_subnets(vpc: Synthesized) -> None:
    vpc.endpoint("caller-risk").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": MANAGE_ACTIONS,
                            "Effect": "Allow",
                            "Resource": f"{PREFIX}:network-interface/*",
                            "Condition": {"ArnEquals": {"ec2:Subnet": _arns("subnet", SUBNETS)}},
                        }
                    ]
                )
            }
        },
    )


def test_role_describes_network_only_in_its_region(vpc: Synthesized) -> None:
    vpc.endpoint("caller-risk").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": DESCRIBE_ACTIONS,
                            "Effect": "Allow",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"ec2:Region": "eu-west-1"}},
                        }
                    ]
                )
            }
        },
    )


def test_ec2_grant_appears_once_per_role_however_many_models(vpc: Synthesized) -> None:
    (policy,) = vpc.endpoint("caller-risk").find_resources("AWS::IAM::Policy").values()
    ec2 = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ec2:" in json.dumps(s["Action"])]
    assert len(ec2) == 3


def test_batch_role_is_scoped_to_the_override_not_the_environment(vpc: Synthesized) -> None:
    _batch(vpc).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": MANAGE_ACTIONS,
                            "Effect": "Allow",
                            "Resource": f"{PREFIX}:network-interface/*",
                            "Condition": {"ArnEquals": {"ec2:Subnet": _arns("subnet", BATCH_SUBNETS)}},
                        }
                    ]
                )
            }
        },
    )


def test_no_ec2_permissions_without_vpc(dev: Synthesized) -> None:
    for stack in dev.stacks.all:
        for policy in resources_of_type(dev.template_json(stack.stack_name), "AWS::IAM::Policy").values():
            assert '"ec2:' not in json.dumps(policy["Properties"]["PolicyDocument"]), stack.stack_name


# --- nag acknowledgements ---------------------------------------------------------------


def test_sm1_acknowledged_only_where_no_vpc_is_given(vpc: Synthesized, dev: Synthesized) -> None:
    assert "AwsSolutions-SM1" not in _acknowledged(vpc, vpc.stacks.endpoints["caller-risk"].stack_name)
    assert _acknowledged(dev, dev.stacks.endpoints["caller-risk"].stack_name)["AwsSolutions-SM1"] == [
        "/mlops-dev-caller-risk/Endpoint"
    ]


def test_network_interface_wildcard_acknowledged_on_the_role_only(vpc: Synthesized) -> None:
    rules = _acknowledged(vpc, vpc.stacks.endpoints["caller-risk"].stack_name)
    paths = rules[f"AwsSolutions-IAM5[Resource::{PREFIX}:network-interface/*]"]
    assert set(paths) == {"/mlops-vpc-caller-risk/Endpoint/ServingRole/Role"}


# --- VPC endpoints ----------------------------------------------------------------------


def test_s3_gateway_endpoint_on_the_configured_route_tables(vpc: Synthesized) -> None:
    _network(vpc).has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "VpcId": "vpc-0a1b2c3d4e5f60718",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]},
            "RouteTableIds": ["rtb-0a1b2c3d4e5f6071a", "rtb-0a1b2c3d4e5f6071b"],
        },
    )


def test_interface_endpoints_with_private_dns_in_the_subnets(vpc: Synthesized) -> None:
    template = _network(vpc)
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    names = sorted(e["Properties"]["ServiceName"] for e in endpoints.values())
    assert names == [f"com.amazonaws.eu-west-1.{s}" for s in sorted(["ecr.api", "ecr.dkr", "logs", "sagemaker.runtime", "sts"])]
    (group_id,) = template.find_resources("AWS::EC2::SecurityGroup")
    for endpoint in endpoints.values():
        properties = endpoint["Properties"]
        assert properties["PrivateDnsEnabled"] is True
        assert properties["SubnetIds"] == SUBNETS
        assert properties["VpcId"] == "vpc-0a1b2c3d4e5f60718"
        assert properties["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]


def test_endpoint_security_group_admits_https_from_sagemaker_groups_only(vpc: Synthesized) -> None:
    _network(vpc).has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "VpcId": "vpc-0a1b2c3d4e5f60718",
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "SourceSecurityGroupId": SECURITY_GROUP,
                    "Description": Match.any_value(),
                }
            ],
            # CDK's "no egress" rule: matches no packet, so EC2 adds no allow-all default.
            "SecurityGroupEgress": [
                {
                    "IpProtocol": "icmp",
                    "CidrIp": "255.255.255.255/32",
                    "FromPort": 252,
                    "ToPort": 86,
                    "Description": Match.any_value(),
                }
            ],
        },
    )


def test_models_deploy_after_the_endpoints(vpc: Synthesized) -> None:
    network = vpc.stacks.network
    assert network is not None
    for stack in [*vpc.stacks.endpoints.values(), vpc.stacks.batch]:
        assert stack is not None
        assert network in stack.dependencies


def test_foundation_is_unchanged_by_vpc_placement(vpc: Synthesized, dev: Synthesized) -> None:
    # The endpoints live in their own stack; the stateful foundation gains and loses nothing
    # (tests/configs/vpc.yaml matches dev's foundation settings).
    ours = vpc.template_json(vpc.stacks.foundation.stack_name)["Resources"]
    theirs = dev.template_json(dev.stacks.foundation.stack_name)["Resources"]
    assert set(ours) == set(theirs)


# --- gates ------------------------------------------------------------------------------


def test_vpc_app_synthesises_with_zero_nag_findings(vpc: Synthesized) -> None:
    report = json.loads((vpc.outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("conclusion") != "success"] == []


def test_vpc_app_cfn_lint_clean(vpc: Synthesized) -> None:
    findings = cfn_lint(vpc.outdir, "eu-west-1")
    assert [f for f in findings if f[1].startswith("E") or not _allowed(f[1], f[2])] == []


# --- construct props --------------------------------------------------------------------


@pytest.fixture
def stack() -> cdk.Stack:
    app = cdk.App()
    return cdk.Stack(app, "Test", env=cdk.Environment(account="111111111111", region="eu-west-1"))


def test_invalid_placement_lists_every_problem_with_the_construct_path(stack: cdk.Stack) -> None:
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    placement = VpcPlacement(
        subnet_ids=[f"subnet-{i:08x}" for i in range(16)] + ["subnet-12345678"],
        security_group_ids=["sg-XYZ", "sg-12345678", "sg-12345678"],
    )
    with pytest.raises(PropsError) as caught:
        container_model(
            stack,
            "Model",
            role=role,
            model=ModelArtifact.from_s3_uri("s3://bucket/model.tar.gz"),
            image=ContainerImage.from_ecr_uri("111111111111.dkr.ecr.eu-west-1.amazonaws.com/repo:1"),
            vpc=placement,
        )
    assert caught.value.path == "Test"
    assert caught.value.problems == [
        "vpc.subnet_ids: 17 given; 1-16 allowed (SageMaker's VpcConfig.Subnets)",
        "vpc.security_group_ids[0]: 'sg-XYZ' is not an ID of the form sg-xxxxxxxx (8 or 17 lower-case hex digits)",
        "vpc.security_group_ids[2]: 'sg-12345678' is listed twice",
    ]


def test_placement_skips_tokens(stack: cdk.Stack) -> None:
    subnets = cdk.Fn.split(",", cdk.Fn.import_value("Subnets"))
    assert VpcPlacement(subnet_ids=subnets, security_group_ids=[cdk.Fn.import_value("Group")]).problems() == []


def test_empty_placement_needs_a_subnet_and_a_security_group() -> None:
    assert VpcPlacement(subnet_ids=[], security_group_ids=[]).problems() == [
        "vpc.subnet_ids: 0 given; 1-16 allowed (SageMaker's VpcConfig.Subnets)",
        "vpc.security_group_ids: 0 given; 1-5 allowed (SageMaker's VpcConfig.SecurityGroupIds)",
    ]


def test_invalid_endpoint_props_list_every_problem(stack: cdk.Stack) -> None:
    with pytest.raises(PropsError) as caught:
        SageMakerVpcEndpoints(
            stack,
            "Endpoints",
            vpc_id="vpc-1",
            subnet_ids=["subnet-12345678"],
            client_security_group_ids=[],
            route_table_ids=["rtb-1"],
            services=["ecr.api", "s3", "ecr.api"],
        )
    assert caught.value.path == "Test/Endpoints"
    assert caught.value.problems == [
        "vpc_id: 'vpc-1' is not of the form vpc-xxxxxxxx",
        "client_security_group_ids: 0 given; at least 1 allowed",
        "route_table_ids[0]: 'rtb-1' is not an ID of the form rtb-xxxxxxxx (8 or 17 lower-case hex digits)",
        "services[1]: 's3' is not one of ecr.api, ecr.dkr, logs, sts, monitoring, sagemaker.api, sagemaker.runtime",
        "services[2]: 'ecr.api' is listed twice",
    ]


def test_gateway_only_endpoints_create_no_security_group(stack: cdk.Stack) -> None:
    SageMakerVpcEndpoints(
        stack,
        "Endpoints",
        vpc_id="vpc-12345678",
        subnet_ids=[],
        client_security_group_ids=[],
        route_table_ids=["rtb-12345678"],
        services=[],
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 1)
    template.resource_count_is("AWS::EC2::SecurityGroup", 0)
