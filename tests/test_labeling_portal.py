"""`Custom::WorkerPortalSignIn` (lambda_src/labeling/portal.py) as real code.

Cognito is moto in server mode: the app client really is created with the stack's settings,
described and updated. Real UpdateUserPoolClient resets every setting a request leaves out to
its default (Cognito API reference), but moto merges, so the request itself is checked to carry
every setting the client has that the API accepts. moto's SageMaker has no workforce API, so
DescribeWorkforce is botocore's Stubber (validated against the service model).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.labeling import portal
from tests.aws_emulator import Emulator

REGION = "eu-west-1"
SUBDOMAIN = "abcd1234xy.labeling.eu-west-1.sagemaker.aws"
WORKFORCE = "mlops-prod-workforce"


@pytest.fixture
def cognito(aws: Emulator) -> Any:
    return aws.client("cognito-idp")


@pytest.fixture
def client_ids(cognito: Any) -> tuple[str, str]:
    """A pool and an app client made with the settings the stack gives them (CDK's default callback)."""
    pool = cognito.create_user_pool(PoolName="workers")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="portal",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "profile"],
        CallbackURLs=["https://example.com"],
        SupportedIdentityProviders=["COGNITO"],
        PreventUserExistenceErrors="ENABLED",
        AccessTokenValidity=60,
        IdTokenValidity=60,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
    )["UserPoolClient"]["ClientId"]
    return pool, client


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _workforce(stubber: Stubber) -> None:
    stubber.add_response(
        "describe_workforce",
        {
            "Workforce": {
                "WorkforceName": WORKFORCE,
                "WorkforceArn": f"arn:aws:sagemaker:{REGION}:222222222222:workforce/{WORKFORCE}",
                "SubDomain": SUBDOMAIN,
                "LastUpdatedDate": datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC),
            }
        },
        {"WorkforceName": WORKFORCE},
    )


def _event(kind: str, pool: str, client: str) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResourceType": "Custom::WorkerPortalSignIn",
        "ResourceProperties": {"ServiceToken": "t", "UserPoolId": pool, "ClientId": client, "WorkforceName": WORKFORCE},
        **({"PhysicalResourceId": f"{pool}/{client}"} if kind != "Create" else {}),
    }


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_the_client_gets_the_worker_portals_urls_and_keeps_every_other_setting(
    cognito: Any, client_ids: tuple[str, str], sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    pool, client = client_ids
    monkeypatch.setitem(portal._CLIENTS, "sagemaker", sagemaker[0])
    monkeypatch.setitem(portal._CLIENTS, "cognito-idp", cognito)
    before = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]
    _workforce(sagemaker[1])
    result = portal.on_event(_event(kind, pool, client))
    after = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]
    assert after["CallbackURLs"] == [f"https://{SUBDOMAIN}/oauth2/idpresponse"]
    assert after["LogoutURLs"] == [f"https://{SUBDOMAIN}/logout"]
    assert result["PhysicalResourceId"] == f"{pool}/{client}"
    assert result["Data"] == {"SubDomain": SUBDOMAIN, "PortalUrl": f"https://{SUBDOMAIN}"}
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed <= {"CallbackURLs", "LogoutURLs", "LastModifiedDate"}, changed
    assert after["ClientSecret"] == before["ClientSecret"]


def test_the_update_request_carries_only_what_the_api_accepts(client_ids: tuple[str, str], cognito: Any) -> None:
    pool, client = client_ids
    described = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]
    request = portal.update_request(described, cognito.meta.service_model, SUBDOMAIN)
    accepted = set(cognito.meta.service_model.operation_model("UpdateUserPoolClient").input_shape.members)
    # Everything the client has that the API takes goes back unchanged (nothing reset to a default) ...
    kept = (set(described) & accepted) - {"CallbackURLs", "LogoutURLs"}
    assert {k: request[k] for k in kept} == {k: described[k] for k in kept}
    assert {"AllowedOAuthFlows", "AllowedOAuthScopes", "ExplicitAuthFlows", "PreventUserExistenceErrors"} <= kept
    # ... and nothing the API refuses is sent.
    assert set(request) <= accepted
    assert "ClientSecret" not in request
    assert "CreationDate" not in request


def test_delete_leaves_the_client_alone(sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(portal._CLIENTS, "sagemaker", sagemaker[0])
    assert portal.on_event(_event("Delete", "eu-west-1_abc", "client")) == {"PhysicalResourceId": "eu-west-1_abc/client"}
