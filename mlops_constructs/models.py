"""A SageMaker Model whose execution role can run it: shared by endpoints and batch transform."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.images import ContainerImage
from mlops_constructs.network import VpcPlacement


def container_model(
    scope: Construct,
    id: str,
    *,
    role: iam.IRole,
    model: ModelArtifact,
    image: ContainerImage,
    environment: Mapping[str, str] | None = None,
    network_isolation: bool = True,
    vpc: VpcPlacement | None = None,
) -> sagemaker.CfnModel:
    """Grant `role` the archive and the image, and create the Model (generated name).

    With `vpc`, the Model gets its `VpcConfig` (invalid IDs raise, naming `scope`) and
    `role` the EC2 network-interface permissions SageMaker then uses.

    SageMaker checks the role's access when it creates the model and starts instances:
    the role's policy must exist first, or the deploy races it. (The role itself is
    already ordered by the GetAtt on its ARN.)
    """
    if vpc is not None:
        vpc.check(scope)
        vpc.grant_network_interfaces(role)
    model.grant_read(role)
    image.grant_pull(role)
    resource = sagemaker.CfnModel(
        scope,
        id,
        execution_role_arn=role.role_arn,
        enable_network_isolation=network_isolation,
        vpc_config=vpc.model_vpc_config() if vpc is not None else None,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image.image_uri, model_data_url=model.s3_url, environment=dict(environment or {}) or None
        ),
    )
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        resource.node.add_dependency(policy)
    return resource
