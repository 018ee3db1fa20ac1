"""A real HTTP emulation of the AWS APIs (moto in server mode on 127.0.0.1) for CLI and handler tests.

Code under test talks to it through ordinary boto3 clients with `endpoint_url`, so
requests are serialised, sent and parsed exactly as against AWS; nothing in boto3 is patched.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"


@dataclass(frozen=True)
class Emulator:
    url: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def route_sdk(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point every boto3 client the code under test creates at the emulator (credentials, Region, URL)."""
        for name, value in {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            monkeypatch.setenv(name, value)

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def aws_emulator() -> Iterator[Emulator]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield Emulator(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def aws(aws_emulator: Emulator) -> Emulator:
    """The emulator, emptied before each test."""
    aws_emulator.reset()
    return aws_emulator


def create_endpoint(
    sagemaker: Any,
    name: str,
    variants: dict[str, tuple[str, float]],
    *,
    instance_count: int = 1,
    config_suffix: str = "v1",
) -> None:
    """An endpoint with variants {name: (instance type, weight)}, created through the API."""
    role = "arn:aws:iam::123456789012:role/sagemaker"
    for variant in variants:
        sagemaker.create_model(
            ModelName=f"{name}-{variant}-{config_suffix}",
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference:1"},
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config-{config_suffix}",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"{name}-{variant}-{config_suffix}",
                "InstanceType": instance_type,
                "InitialInstanceCount": instance_count,
                "InitialVariantWeight": weight,
            }
            for variant, (instance_type, weight) in variants.items()
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config-{config_suffix}")
