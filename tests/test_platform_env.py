"""The environment variables the platform sets are the ones the inference server reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlops_inference import settings

from mlops_constructs import platform_env
from tests.conftest import SHIPPED_ENVS, Synthesized, resources_of_type


def test_construct_and_server_agree_on_the_platform_variables() -> None:
    assert platform_env.PLATFORM_ENV == settings.PLATFORM_ENV
    assert set(platform_env.PLATFORM_ENV) <= set(settings.SERVER_ENV)


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_every_platform_variable_set_on_a_model_is_read_by_the_server(env: str, synth: Callable[[str], Synthesized]) -> None:
    result = synth(env)
    for name in result.stack_names:
        for model in resources_of_type(result.template_json(name), "AWS::SageMaker::Model").values():
            variables = set(model["Properties"]["PrimaryContainer"].get("Environment", {}))
            platform_set = variables & set(platform_env.PLATFORM_ENV)
            assert platform_set <= set(settings.SERVER_ENV), f"{name}: {platform_set - set(settings.SERVER_ENV)} set for nobody"


def test_endpoint_models_carry_endpoint_and_variant_names(prod: Synthesized) -> None:
    stack = prod.stacks.endpoints["caller-risk"].stack_name
    environments = [
        m["Properties"]["PrimaryContainer"]["Environment"]
        for m in resources_of_type(prod.template_json(stack), "AWS::SageMaker::Model").values()
    ]
    assert sorted((e[platform_env.MLOPS_ENDPOINT], e[platform_env.MLOPS_VARIANT]) for e in environments) == [
        ("caller-risk", "challenger"),
        ("caller-risk", "champion"),
    ]
