"""Autoscaling for one production variant: target tracking plus scheduled capacity.

A new SageMaker instance takes roughly 5-7 minutes to serve traffic, so target tracking
alone lags a predictable peak; scheduled actions raise the floor ahead of time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.endpoint import IModelEndpoint
from mlops_constructs.naming import SCHEDULED_ACTION_NAME_RULE, is_scheduled_action_name
from mlops_constructs.schedule import validate_cron
from mlops_constructs.validation import Problems, is_token

_SLR_PRINCIPAL = "sagemaker.application-autoscaling.amazonaws.com"
_SLR_NAME = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"


@dataclass(frozen=True)
class ScheduledScaling:
    """Set min and/or max capacity on a cron schedule (six AAS cron fields, in `timezone`)."""

    name: str
    cron: str
    min_capacity: int | None = None
    max_capacity: int | None = None
    timezone: str = "UTC"


class VariantAutoscaling(Construct):
    """Scalable target, invocations-per-instance target tracking and scheduled actions."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IModelEndpoint,
        variant_name: str,
        min_capacity: int,
        max_capacity: int,
        target_invocations_per_instance: float,
        scale_in_cooldown: cdk.Duration = cdk.Duration.seconds(300),
        scale_out_cooldown: cdk.Duration = cdk.Duration.seconds(60),
        scheduled: Sequence[ScheduledScaling] = (),
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        if not is_token(min_capacity) and not is_token(max_capacity):
            problems.check(
                1 <= min_capacity <= max_capacity, f"need 1 <= min_capacity ({min_capacity}) <= max_capacity ({max_capacity})"
            )
        if not is_token(target_invocations_per_instance):
            problems.check(target_invocations_per_instance > 0, "target_invocations_per_instance must be above 0")
        names = [s.name for s in scheduled]
        problems.check(len(set(names)) == len(names), f"scheduled action names must be unique ({', '.join(names)})")
        for action in scheduled:
            problems.check(
                is_scheduled_action_name(action.name), f"scheduled name '{action.name}' is invalid: {SCHEDULED_ACTION_NAME_RULE}"
            )
            problems.check(
                action.min_capacity is not None or action.max_capacity is not None,
                f"scheduled '{action.name}' sets neither min_capacity nor max_capacity",
            )
            try:
                validate_cron(action.cron)
            except ValueError as error:
                problems.add(f"scheduled '{action.name}': {error}")
        problems.raise_if_any()

        # Application Auto Scaling acts through its service-linked role for SageMaker (created
        # on first use). Naming it stops the L2 from adding an empty role of its own per target.
        service_linked_role = iam.Role.from_role_arn(
            self,
            "ServiceLinkedRole",
            cdk.Stack.of(self).format_arn(
                service="iam",
                region="",
                resource="role",
                resource_name=f"aws-service-role/{_SLR_PRINCIPAL}/{_SLR_NAME}",
            ),
            mutable=False,
        )
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            role=service_linked_role,
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=endpoint.variant_resource_id(variant_name),
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
        )
        self.target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
        )
        for action in scheduled:
            self.target.scale_on_schedule(
                action.name,
                schedule=appscaling.Schedule.expression(f"cron({validate_cron(action.cron)})"),
                min_capacity=action.min_capacity,
                max_capacity=action.max_capacity,
                time_zone=None if action.timezone == "UTC" else cdk.TimeZone.of(action.timezone),
            )
