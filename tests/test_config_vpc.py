"""The `vpc` sections of the config: each rule fails with its key path and reason.

Limits from SageMaker's VpcConfig shape (botocore data/sagemaker/2017-07-24/service-2.json:
`Subnets` 1-16, `VpcSecurityGroupIds` 1-5); ID forms are EC2's (a prefix and 8 or 17
lower-case hex digits).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, parse_config
from config.schema import MlopsConfig
from tests.test_config_validation import BASE, _assert_problem, _problems

SUBNETS = ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60712"]
GROUPS = ["sg-0a1b2c3d4e5f60719"]
PLACEMENT: dict[str, Any] = {"subnet_ids": SUBNETS, "security_group_ids": GROUPS}
WITH_ENDPOINTS: dict[str, Any] = {
    **PLACEMENT,
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "create_endpoints": True,
    "route_table_ids": ["rtb-0a1b2c3d"],
}
TRANSFORM: dict[str, Any] = {
    "name": "nightly",
    "model_data": "s3://models-bucket/caller-risk/v1/model.tar.gz",
    "image": "inference",
    "instance_type": "ml.c5.xlarge",
}


def _vpc(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """Set the environment's vpc section to WITH_ENDPOINTS (or PLACEMENT) with `changes`."""

    base = WITH_ENDPOINTS if changes.pop("endpoints", True) else PLACEMENT

    def mutate(data: dict[str, Any]) -> None:
        data["vpc"] = {k: v for k, v in {**copy.deepcopy(base), **changes}.items() if v is not ...}

    return mutate


def _load(mutate: Callable[[dict[str, Any]], None]) -> MlopsConfig:
    data = copy.deepcopy(BASE)
    mutate(data)
    return parse_config(yaml.safe_dump(data, sort_keys=False))


# --- valid --------------------------------------------------------------------------------


def test_placement_alone_is_valid_and_applies_everywhere() -> None:
    config = _load(_vpc(endpoints=False))
    assert config.vpc is not None
    assert config.vpc_for(config.endpoints[0].vpc) == config.vpc
    assert config.vpc.endpoint_services() == ("ecr.api", "ecr.dkr", "logs", "sts")


def test_a_workloads_vpc_replaces_the_environments() -> None:
    override = {"subnet_ids": ["subnet-12345678"], "security_group_ids": ["sg-12345678"]}

    def mutate(data: dict[str, Any]) -> None:
        _vpc(endpoints=False)(data)
        data["endpoints"][0]["vpc"] = override
        data["batch_transforms"] = [{**TRANSFORM, "vpc": override}]

    config = _load(mutate)
    for section in (config.endpoints[0].vpc, config.batch_transforms[0].vpc):
        placement = config.vpc_for(section)
        assert placement is not None
        assert placement.subnet_ids == ["subnet-12345678"]


def test_no_vpc_anywhere_means_none() -> None:
    config = _load(lambda d: None)
    assert config.vpc_for(config.endpoints[0].vpc) is None


def test_endpoints_with_an_existing_s3_gateway() -> None:
    assert _load(_vpc(route_table_ids=[])).vpc is not None


# --- negative: one per rule -----------------------------------------------------------------


@pytest.mark.parametrize("subnet", ["subnet-1234567", "subnet-0123456789abcdef", "subnet-ABCDEF12", "sn-12345678"])
def test_subnet_id_form(subnet: str) -> None:
    problems = _problems(_vpc(subnet_ids=[SUBNETS[0], subnet]))
    _assert_problem(problems, "vpc.subnet_ids[1]", f"'{subnet}' is not an ID of the form subnet-xxxxxxxx", "8 or 17")


def test_at_least_one_subnet() -> None:
    _assert_problem(_problems(_vpc(subnet_ids=[])), "vpc.subnet_ids", "0 given; 1-16 allowed", "VpcConfig.Subnets")


def test_at_most_sixteen_subnets() -> None:
    problems = _problems(_vpc(subnet_ids=[f"subnet-{i:08x}" for i in range(17)]))
    _assert_problem(problems, "vpc.subnet_ids", "17 given; 1-16 allowed")


def test_subnet_listed_twice() -> None:
    _assert_problem(_problems(_vpc(subnet_ids=[SUBNETS[0], SUBNETS[0]])), "vpc.subnet_ids[1]", "listed twice")


def test_security_group_id_form() -> None:
    problems = _problems(_vpc(security_group_ids=["sg-xyz"]))
    _assert_problem(problems, "vpc.security_group_ids[0]", "not an ID of the form sg-xxxxxxxx")


def test_at_least_one_security_group() -> None:
    _assert_problem(_problems(_vpc(security_group_ids=[])), "vpc.security_group_ids", "0 given; 1-5 allowed")


def test_at_most_five_security_groups() -> None:
    problems = _problems(_vpc(security_group_ids=[f"sg-{i:08x}" for i in range(6)]))
    _assert_problem(problems, "vpc.security_group_ids", "6 given; 1-5 allowed", "VpcConfig.SecurityGroupIds")


def test_security_group_listed_twice() -> None:
    _assert_problem(_problems(_vpc(security_group_ids=GROUPS * 2)), "vpc.security_group_ids[1]", "listed twice")


def test_placement_keys_are_required() -> None:
    _assert_problem(_problems(_vpc(endpoints=False, subnet_ids=...)), "vpc.subnet_ids", "required key is missing")


def test_vpc_id_form() -> None:
    _assert_problem(_problems(_vpc(vpc_id="vpc-123")), "vpc.vpc_id", "not an ID of the form vpc-xxxxxxxx")


def test_route_table_id_form() -> None:
    _assert_problem(_problems(_vpc(route_table_ids=["rt-12345678"])), "vpc.route_table_ids[0]", "form rtb-xxxxxxxx")


def test_endpoint_subnet_id_form() -> None:
    problems = _problems(_vpc(endpoint_subnet_ids=["subnet-zz"]))
    _assert_problem(problems, "vpc.endpoint_subnet_ids[0]", "form subnet-xxxxxxxx")


def test_endpoint_subnets_not_empty_when_given() -> None:
    _assert_problem(_problems(_vpc(endpoint_subnet_ids=[])), "vpc.endpoint_subnet_ids", "0 given; at least 1 allowed")


def test_interface_endpoint_names_are_known() -> None:
    problems = _problems(_vpc(interface_endpoints=["ecr.api", "s3"]))
    _assert_problem(problems, "vpc.interface_endpoints[1]", "'s3' is not one of ecr.api, ecr.dkr, logs, sts")


def test_interface_endpoint_listed_twice() -> None:
    _assert_problem(_problems(_vpc(interface_endpoints=["logs", "logs"])), "vpc.interface_endpoints[1]", "listed twice")


def test_creating_endpoints_needs_the_vpc_id() -> None:
    _assert_problem(_problems(_vpc(vpc_id=...)), "vpc.vpc_id", "required with create_endpoints: true")


def test_creating_endpoints_needs_route_tables_stated() -> None:
    problems = _problems(_vpc(route_table_ids=...))
    _assert_problem(problems, "vpc.route_table_ids", "required with create_endpoints: true", "[] if the VPC already has")


def test_creating_endpoints_must_create_something() -> None:
    problems = _problems(_vpc(route_table_ids=[], interface_endpoints=[]))
    _assert_problem(problems, "vpc.create_endpoints", "nothing to create")


@pytest.mark.parametrize(
    ("key", "value"),
    [("route_table_ids", ["rtb-12345678"]), ("endpoint_subnet_ids", SUBNETS), ("interface_endpoints", ["logs"])],
)
def test_endpoint_settings_need_create_endpoints(key: str, value: list[str]) -> None:
    problems = _problems(_vpc(endpoints=False, **{key: value}))
    _assert_problem(problems, f"vpc.{key}", "only used with create_endpoints: true")


def test_endpoint_override_names_its_path() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["endpoints"][0]["vpc"] = {"subnet_ids": ["subnet-1"], "security_group_ids": GROUPS}

    _assert_problem(_problems(mutate), "endpoints[0].vpc.subnet_ids[0]", "form subnet-xxxxxxxx")


def test_batch_override_names_its_path() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["batch_transforms"] = [{**TRANSFORM, "vpc": {"subnet_ids": SUBNETS, "security_group_ids": []}}]

    _assert_problem(_problems(mutate), "batch_transforms[0].vpc.security_group_ids", "0 given; 1-5 allowed")


def test_overrides_take_placement_only() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["endpoints"][0]["vpc"] = {**PLACEMENT, "create_endpoints": True}

    problems = _problems(mutate)
    _assert_problem(problems, "endpoints[0].vpc.create_endpoints", "unknown key", "allowed here: security_group_ids, subnet_ids")


def test_network_is_a_reserved_endpoint_name() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["endpoints"][0]["name"] = "network"

    _assert_problem(_problems(mutate), "endpoints[0].name", "is reserved", "mlops-<env>-network")


def test_vpc_problems_carry_file_line_and_come_together() -> None:
    text = (
        "account: '123456789012'\nregion: eu-west-1\nvpc:\n"
        "  subnet_ids: [subnet-1]\n"
        "  security_group_ids: [sg-12345678, sg-12345678]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config/x.yaml")
    lines = {issue.path: issue.line for issue in caught.value.issues}
    assert lines == {"vpc.subnet_ids[0]": 4, "vpc.security_group_ids[1]": 5}
    assert "config/x.yaml:5: vpc.security_group_ids[1]: 'sg-12345678' is listed twice" in str(caught.value)
