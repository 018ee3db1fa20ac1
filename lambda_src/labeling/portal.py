"""`Custom::WorkerPortalSignIn`: point the workforce's Cognito app client at the worker portal.

The private workforce is made from the app client (CreateWorkforce CognitoConfig), and its
worker portal's address (DescribeWorkforce `SubDomain`) exists only once the workforce does,
so the client cannot be created with the portal's callback URL: CloudFormation creates it with
a placeholder. After the workforce, this resource sets the client's callback URL to
`https://<SubDomain>/oauth2/idpresponse` and its sign-out URL to `https://<SubDomain>/logout`.

UpdateUserPoolClient resets every setting the request leaves out to its default (Cognito API
reference), so the request is the client's current settings (DescribeUserPoolClient), limited
to what UpdateUserPoolClient accepts, with only the two URL lists replaced. Delete changes
nothing (the client goes with its stack).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

LOG = Logger()
_CLIENTS: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


def portal_urls(subdomain: str) -> tuple[str, str]:
    """(callback URL, sign-out URL) of the worker portal at `subdomain`."""
    return f"https://{subdomain}/oauth2/idpresponse", f"https://{subdomain}/logout"


def update_request(described: dict[str, Any], service_model: Any, subdomain: str) -> dict[str, Any]:
    """UpdateUserPoolClient's request: the client as it is, with the portal's URLs."""
    accepted = set(service_model.operation_model("UpdateUserPoolClient").input_shape.members)
    request = {k: v for k, v in described.items() if k in accepted}
    callback, logout = portal_urls(subdomain)
    request["CallbackURLs"] = [callback]
    request["LogoutURLs"] = [logout]
    if request.get("DefaultRedirectURI") not in (None, callback):
        request["DefaultRedirectURI"] = callback  # must be one of CallbackURLs
    return request


def on_event(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Provider framework onEvent."""
    properties = event["ResourceProperties"]
    physical_id = f"{properties['UserPoolId']}/{properties['ClientId']}"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    subdomain = _client("sagemaker").describe_workforce(WorkforceName=properties["WorkforceName"])["Workforce"]["SubDomain"]
    cognito = _client("cognito-idp")
    described = cognito.describe_user_pool_client(UserPoolId=properties["UserPoolId"], ClientId=properties["ClientId"])
    request = update_request(described["UserPoolClient"], cognito.meta.service_model, subdomain)
    cognito.update_user_pool_client(**request)
    LOG.info("worker portal sign-in set", extra={"subdomain": subdomain, "client": properties["ClientId"]})
    return {"PhysicalResourceId": physical_id, "Data": {"SubDomain": subdomain, "PortalUrl": f"https://{subdomain}"}}
