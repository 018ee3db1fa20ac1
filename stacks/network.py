"""VPC placement from config, and the optional stack of VPC endpoints SageMaker needs.

The endpoints get a stack of their own (mlops-<env>-network) rather than a place in the
foundation: they hold no data (deleting or replacing one loses nothing), so they need
neither the foundation's retention nor its termination protection; a mistake in a route
table or subnet ID fails and rolls back this small stack, never an update of the keys
and buckets; and environments without `create_endpoints` keep a foundation template
that is byte-identical to one without VPC support. Endpoint and batch stacks deploy
after it, so models find S3 and ECR reachable when SageMaker first starts them.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from config.schema import EnvironmentVpc, VpcPlacementSettings
from mlops_constructs.network import SageMakerVpcEndpoints, VpcPlacement


def vpc_placement(settings: VpcPlacementSettings | None) -> VpcPlacement | None:
    """The construct library's placement for a config section (None: no VPC)."""
    if settings is None:
        return None
    return VpcPlacement(subnet_ids=tuple(settings.subnet_ids), security_group_ids=tuple(settings.security_group_ids))


class NetworkStack(cdk.Stack):
    """Interface endpoints (private DNS) and the S3 gateway endpoint in the environment's VPC."""

    def __init__(self, scope: Construct, id: str, *, vpc: EnvironmentVpc, **kwargs: object) -> None:
        super().__init__(
            scope,
            id,
            description="VPC endpoints for SageMaker models in a VPC without internet access",
            **kwargs,  # type: ignore[arg-type]
        )
        if vpc.vpc_id is None or vpc.route_table_ids is None:  # the schema requires both with create_endpoints
            raise ValueError(f"{self.node.path}: vpc.vpc_id and vpc.route_table_ids are required to create endpoints")
        self.endpoints = SageMakerVpcEndpoints(
            self,
            "Endpoints",
            vpc_id=vpc.vpc_id,
            subnet_ids=vpc.endpoint_subnet_ids or vpc.subnet_ids,
            client_security_group_ids=vpc.security_group_ids,
            route_table_ids=vpc.route_table_ids,
            services=vpc.endpoint_services(),
        )
