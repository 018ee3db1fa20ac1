"""Monitoring that reaches people: an EventBridge rule on monitoring executions, and metric alarms.

Model Monitor runs each execution as a processing job; SageMaker sends "SageMaker Processing
Job State Change" events to EventBridge (Developer Guide, "Events that Amazon SageMaker AI
sends to Amazon EventBridge"), whose detail is the job's description, including
MonitoringScheduleArn, ProcessingJobStatus and ExitMessage. An execution that found
violations completes with an ExitMessage starting "CompletedWithViolations" (the
MonitoringExecutionSummary status of the same name); a broken one ends Failed or Stopped.

The topic is addressed by ARN, as an imported topic: the foundation's AlertTopic already lets
events.amazonaws.com and cloudwatch.amazonaws.com publish and use its key for this
account's rules and alarms, and a target that edited its policy from here would make the
foundation depend on this stack.
"""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import aws_events as events
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from mlops_constructs.validation import Problems

PROCESSING_JOB_EVENT = "SageMaker Processing Job State Change"


class MonitoringExecutionAlerts(Construct):
    """One rule: executions of `schedule_arns` that completed with violations, failed or stopped -> `topic`."""

    def __init__(self, scope: Construct, id: str, *, topic_arn: str, schedule_arns: Sequence[str]) -> None:
        super().__init__(scope, id)
        problems = Problems(self)
        problems.check(len(schedule_arns) >= 1, "schedule_arns: name at least one monitoring schedule")
        problems.raise_if_any()
        self.rule = events.Rule(
            self,
            "Rule",
            description="Model Monitor executions that found violations, failed or were stopped",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[PROCESSING_JOB_EVENT],
                detail={
                    "MonitoringScheduleArn": list(schedule_arns),
                    "$or": [
                        {"ProcessingJobStatus": ["Failed", "Stopped"]},
                        {"ExitMessage": [{"prefix": "CompletedWithViolations"}]},
                    ],
                },
            ),
        )
        detail = "$.detail"
        self.rule.add_target(
            _TopicByArn(
                topic_arn,
                events.RuleTargetInput.from_text(
                    f"Model Monitor execution {events.EventField.from_path(f'{detail}.ProcessingJobName')} "
                    f"of schedule {events.EventField.from_path(f'{detail}.MonitoringScheduleArn')}: "
                    f"{events.EventField.from_path(f'{detail}.ProcessingJobStatus')} "
                    f"{events.EventField.from_path(f'{detail}.ExitMessage')} "
                    f"{events.EventField.from_path(f'{detail}.FailureReason')}"
                ),
            )
        )


@jsii.implements(events.IRuleTarget)
class _TopicByArn:
    """An SNS topic target by ARN alone: aws_events_targets.SnsTopic would add a topic-policy
    statement (the foundation's policy already allows this account's rules) and warns about an
    imported topic's unresolved environment."""

    def __init__(self, topic_arn: str, message: events.RuleTargetInput) -> None:
        self._arn = topic_arn
        self._message = message

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._arn, input=self._message)
