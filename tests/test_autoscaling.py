"""Promises of VariantAutoscaling, on the prod endpoint stacks."""

from __future__ import annotations

from typing import Any

from tests.conftest import Synthesized, resources_of_type


def _targets(prod: Synthesized, endpoint: str) -> dict[str, dict[str, Any]]:
    template = prod.template_json(prod.stacks.endpoints[endpoint].stack_name)
    targets = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    return {t["Properties"]["ResourceId"]["Fn::Join"][1][-1].removeprefix("/variant/"): t for t in targets}


def test_scalable_target_per_autoscaled_variant_with_min_max(prod: Synthesized) -> None:
    targets = _targets(prod, "caller-risk")
    assert set(targets) == {"champion", "challenger"}
    champion = targets["champion"]["Properties"]
    assert (champion["MinCapacity"], champion["MaxCapacity"]) == (2, 10)
    assert champion["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert champion["ServiceNamespace"] == "sagemaker"


def test_scaling_acts_through_the_sagemaker_service_linked_role(prod: Synthesized) -> None:
    template = prod.template_json(prod.stacks.endpoints["caller-risk"].stack_name)
    assert not [name for name in template["Resources"] if "TargetRole" in name]  # no empty per-target roles
    for target in _targets(prod, "caller-risk").values():
        assert target["Properties"]["RoleARN"] == (
            "arn:aws:iam::222222222222:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        )


def test_scalable_target_resource_id_depends_on_the_endpoint(prod: Synthesized) -> None:
    resource_id = _targets(prod, "caller-risk")["champion"]["Properties"]["ResourceId"]["Fn::Join"][1]
    assert resource_id[0] == "endpoint/"
    assert resource_id[1]["Fn::GetAtt"][1] == "EndpointName"


def test_target_tracking_on_invocations_per_instance_with_cooldowns(prod: Synthesized) -> None:
    template = prod.template_json(prod.stacks.endpoints["caller-risk"].stack_name)
    policies = list(resources_of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values())
    assert len(policies) == 2
    config = policies[0]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert config["TargetValue"] == 1200
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (300, 60)


def test_scheduled_actions_scale_ahead_of_peaks(prod: Synthesized) -> None:
    actions = {a["ScheduledActionName"]: a for a in _targets(prod, "caller-risk")["champion"]["Properties"]["ScheduledActions"]}
    assert actions["weekday-peak"]["Schedule"] == "cron(0 7 ? * MON-FRI *)"
    assert actions["weekday-peak"]["ScalableTargetAction"] == {"MinCapacity": 6}
    assert actions["weekday-evening"]["ScalableTargetAction"] == {"MinCapacity": 2}


def test_scheduled_action_time_zone(prod: Synthesized) -> None:
    (action,) = _targets(prod, "call-transcript-intent")["gpu-a"]["Properties"]["ScheduledActions"]
    assert action["Timezone"] == "Europe/London"
    assert action["Schedule"] == "cron(30 6 ? * MON-FRI *)"


def test_no_autoscaling_when_not_configured(dev: Synthesized) -> None:
    template = dev.template_json(dev.stacks.endpoints["caller-risk"].stack_name)
    assert resources_of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
