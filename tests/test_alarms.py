"""Promises of AlertTopic and EndpointAlarms."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.conftest import Synthesized, resources_of_type


def _alarms(synth: Synthesized, endpoint: str) -> dict[str, dict[str, Any]]:
    return resources_of_type(synth.template_json(synth.stacks.endpoints[endpoint].stack_name), "AWS::CloudWatch::Alarm")


def test_topic_encrypted_with_its_own_rotating_key(dev: Synthesized) -> None:
    template = dev.template_json(dev.stacks.foundation.stack_name)
    (topic,) = resources_of_type(template, "AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert "Alerts" in key_id
    assert "DataKey" not in key_id


@pytest.mark.parametrize(
    ("service", "source_arn"),
    [
        ("cloudwatch.amazonaws.com", "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:*"),
        ("events.amazonaws.com", "arn:aws:events:eu-west-1:111111111111:rule/*"),
    ],
)
def test_topic_and_its_key_let_alarms_and_rules_of_this_account_publish(service: str, source_arn: str, dev: Synthesized) -> None:
    scoped = {"StringEquals": {"aws:SourceAccount": "111111111111"}, "ArnLike": {"aws:SourceArn": source_arn}}
    dev.foundation().has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sns:Publish", "Condition": scoped}
                        )
                    ]
                )
            }
        },
    )
    dev.foundation().has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": service},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Condition": scoped,
                            }
                        )
                    ]
                )
            }
        },
    )


def test_topic_requires_tls(dev: Synthesized) -> None:
    dev.foundation().has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_email_subscriptions_from_config(prod: Synthesized) -> None:
    subs = resources_of_type(prod.template_json(prod.stacks.foundation.stack_name), "AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subs.values()) == ["ml-oncall@example.com", "ml-platform@example.com"]
    assert {s["Properties"]["Protocol"] for s in subs.values()} == {"email"}


def test_5xx_rate_alarm_per_variant(prod: Synthesized) -> None:
    rates = [a for a in _alarms(prod, "caller-risk").values() if "Metrics" in a["Properties"]]
    assert len(rates) == 2
    for alarm in rates:
        props = alarm["Properties"]
        (expression,) = [m for m in props["Metrics"] if "Expression" in m]
        assert expression["Expression"] == "100 * errors / invocations"
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
        assert names == {"Invocation5XXErrors", "Invocations"}
        assert props["Threshold"] == 1
        assert props["TreatMissingData"] == "notBreaching"


def test_p99_latency_alarm_per_variant_in_microseconds(prod: Synthesized) -> None:
    latency = [
        a["Properties"] for a in _alarms(prod, "caller-risk").values() if a["Properties"].get("MetricName") == "ModelLatency"
    ]
    assert len(latency) == 2
    for props in latency:
        assert props["ExtendedStatistic"] == "p99"
        assert props["Threshold"] == 250_000  # 250 ms, config/prod.yaml
        assert {d["Name"] for d in props["Dimensions"]} == {"EndpointName", "VariantName"}


def test_composite_alarms_notify_the_topic(prod: Synthesized) -> None:
    template = prod.template_json(prod.stacks.endpoints["caller-risk"].stack_name)
    composites = resources_of_type(template, "AWS::CloudWatch::CompositeAlarm")
    assert len(composites) == 2
    for composite in composites.values():
        props = composite["Properties"]
        assert props["AlarmRule"]["Fn::Join"][1][0].startswith("(ALARM(")
        (action,) = props["AlarmActions"]
        assert "AlertsTopic" in action["Fn::GetStackOutput"]["OutputName"]
        assert props["OKActions"] == props["AlarmActions"]
    for alarm in _alarms(prod, "caller-risk").values():
        assert "AlarmActions" not in alarm["Properties"]
