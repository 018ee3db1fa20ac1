"""Model Monitor of one environment: `mlops-<env>-monitoring`, present when an endpoint has `monitoring`.

Why a stack of its own rather than inside each endpoint stack:
- A monitoring schedule names an endpoint, and its executions read what that endpoint
  captured, so the endpoint must exist first. CloudFormation's AWS::SageMaker::Endpoint
  completes only once the endpoint is InService, and this stack depends on the monitored
  endpoint stacks, so every schedule is created after its endpoint is serving and deleted
  before it (`cdk destroy` and `cdk deploy` follow stack dependencies).
- Schedules, thresholds and alarms change on their own rhythm; a change here deploys no
  endpoint stack, whose deploys run guarded releases with rollback alarms.
- The drift container is one image asset for every endpoint, and the alert rule is one
  rule for every schedule.

The stack reads the foundation (buckets, data key, alert topic) through weak references and
publishes what `mlops monitor baseline` needs as outputs (roles, bucket, key, drift image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.monitoring import DataQualityMonitoring, TextDriftMonitoring
from config.schema import Endpoint
from mlops_constructs.images import ContainerImage
from mlops_constructs.model_monitor_images import analyzer_image
from mlops_constructs.monitoring import DataQualityMonitor, EndpointMonitoringRole, MonitoringJobSettings, TextDriftMonitor
from mlops_constructs.monitoring_alerts import MonitoringExecutionAlerts
from mlops_constructs.monitoring_rules import (
    DATA_QUALITY_METRICS_NAMESPACE,
    DRIFT_ENV_BATCH_SIZE,
    DRIFT_ENV_CSV_COLUMN,
    DRIFT_ENV_PERCENTILE,
    DRIFT_ENV_PERCENTILE_THRESHOLD,
    DRIFT_ENV_TEXT_FIELD,
    DRIFT_ENV_THRESHOLD,
    DRIFT_METRIC_MEAN,
    DRIFT_METRIC_PERCENTILE,
    DRIFT_METRICS_NAMESPACE,
    output_key,
)

DRIFT_CONTAINER_FOLDER = "drift_monitor"


@dataclass(frozen=True)
class MonitoringDependencies:
    """What the monitoring stack uses from the foundation."""

    capture_bucket: s3.IBucket
    monitoring_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket  # only its name, for the CLI: artifacts:// baselines are copied from it
    data_key: kms.IKey
    alert_topic_arn: str


def _settings(section: DataQualityMonitoring | TextDriftMonitoring, instance_count: int = 1) -> MonitoringJobSettings:
    return MonitoringJobSettings(
        schedule=section.parsed_schedule,
        instance_type=section.instance_type,
        instance_count=instance_count,
        volume_size_gb=section.volume_size_gb,
        max_runtime=cdk.Duration.minutes(section.max_runtime_minutes),
    )


def drift_environment(section: TextDriftMonitoring) -> dict[str, str]:
    """The drift container's settings from config (the container reads each of these)."""
    return {
        DRIFT_ENV_THRESHOLD: str(section.threshold),
        DRIFT_ENV_PERCENTILE: str(section.percentile),
        DRIFT_ENV_PERCENTILE_THRESHOLD: str(section.percentile_threshold),
        DRIFT_ENV_TEXT_FIELD: section.text_field,
        DRIFT_ENV_CSV_COLUMN: str(section.csv_column),
        DRIFT_ENV_BATCH_SIZE: str(section.batch_size),
    }


class MonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoints: Sequence[Endpoint],
        uses: MonitoringDependencies,
        repo_root: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description="Model Monitor schedules, their roles and alerts", **kwargs)  # type: ignore[arg-type]
        topic = sns.Topic.from_topic_arn(self, "AlertTopic", uses.alert_topic_arn)
        alarm_action = cw_actions.SnsAction(topic)
        self.roles: dict[str, EndpointMonitoringRole] = {}
        self.data_quality: dict[str, DataQualityMonitor] = {}
        self.text_drift: dict[str, TextDriftMonitor] = {}
        self.alarms: list[cloudwatch.Alarm] = []
        drift_image: ContainerImage | None = None
        cdk.CfnOutput(self, "MonitoringBucket", key=output_key("MonitoringBucket"), value=uses.monitoring_bucket.bucket_name)
        cdk.CfnOutput(self, "DataKeyArn", key=output_key("DataKeyArn"), value=uses.data_key.key_arn)
        cdk.CfnOutput(self, "ArtifactsBucket", key=output_key("ArtifactsBucket"), value=uses.artifacts_bucket.bucket_name)
        for endpoint in endpoints:
            monitoring = endpoint.monitoring
            if monitoring is None:
                continue
            name = endpoint.name
            role = EndpointMonitoringRole(
                self,
                f"Role-{name}",
                endpoint_name=name,
                capture_bucket=uses.capture_bucket,
                capture_prefix=name,  # ModelEndpoint captures under <endpoint>/ by default
                monitoring_bucket=uses.monitoring_bucket,
                data_key=uses.data_key,
            )
            self.roles[name] = role
            cdk.CfnOutput(self, f"RoleArn-{name}", key=output_key("RoleArn", name), value=role.role.role_arn)
            if monitoring.data_quality is not None:
                section = monitoring.data_quality
                monitor = DataQualityMonitor(
                    self,
                    f"DataQuality-{name}",
                    endpoint_name=name,
                    role=role,
                    analyzer=analyzer_image(self.region),
                    monitoring_bucket=uses.monitoring_bucket,
                    data_key=uses.data_key,
                    settings=_settings(section, section.instance_count),
                )
                self.data_quality[name] = monitor
                period = cdk.Duration.seconds(section.parsed_schedule.period_seconds)
                for feature in section.alarm_features:
                    metric = cloudwatch.Metric(
                        namespace=DATA_QUALITY_METRICS_NAMESPACE,
                        metric_name=f"feature_baseline_drift_{feature}",
                        dimensions_map={"EndpointName": name, "ScheduleName": monitor.schedule_name},
                        statistic="Maximum",
                        period=period,
                    )
                    self._alarm(
                        metric.create_alarm(
                            self,
                            f"DataQualityDrift-{name}-{feature}",
                            alarm_description=(
                                f"{name}: feature {feature} drifted more than {section.max_baseline_drift} from its baseline"
                            ),
                            threshold=section.max_baseline_drift,
                            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                            evaluation_periods=1,
                            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                        ),
                        alarm_action,
                    )
            if monitoring.text_drift is not None:
                section_td = monitoring.text_drift
                if drift_image is None:
                    drift_image = ContainerImage.from_folder(
                        self, "DriftImage", directory=repo_root / "containers" / DRIFT_CONTAINER_FOLDER
                    )
                    cdk.CfnOutput(self, "DriftImageUri", key=output_key("DriftImageUri"), value=drift_image.image_uri)
                drift = TextDriftMonitor(
                    self,
                    f"TextDrift-{name}",
                    endpoint_name=name,
                    role=role,
                    image=drift_image,
                    monitoring_bucket=uses.monitoring_bucket,
                    data_key=uses.data_key,
                    settings=_settings(section_td),
                    environment=drift_environment(section_td),
                )
                self.text_drift[name] = drift
                period = cdk.Duration.seconds(section_td.parsed_schedule.period_seconds)
                dimensions = {"Endpoint": name, "MonitoringSchedule": drift.schedule_name}
                for metric_name, threshold, what in (
                    (DRIFT_METRIC_MEAN, section_td.threshold, "mean"),
                    (DRIFT_METRIC_PERCENTILE, section_td.percentile_threshold, f"p{section_td.percentile}"),
                ):
                    metric = cloudwatch.Metric(
                        namespace=DRIFT_METRICS_NAMESPACE,
                        metric_name=metric_name,
                        dimensions_map=dimensions,
                        statistic="Minimum",
                        period=period,
                    )
                    self._alarm(
                        metric.create_alarm(
                            self,
                            f"TextDrift-{name}-{what}",
                            alarm_description=f"{name}: {what} similarity of captured texts to the baseline below {threshold}",
                            threshold=threshold,
                            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                            evaluation_periods=1,
                            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                        ),
                        alarm_action,
                    )
        schedules = [m.schedule.attr_monitoring_schedule_arn for m in self.data_quality.values()]
        schedules += [m.schedule.attr_monitoring_schedule_arn for m in self.text_drift.values()]
        self.execution_alerts = MonitoringExecutionAlerts(
            self, "ExecutionAlerts", topic_arn=uses.alert_topic_arn, schedule_arns=schedules
        )

    def _alarm(self, alarm: cloudwatch.Alarm, action: cloudwatch.IAlarmAction) -> None:
        alarm.add_alarm_action(action)
        self.alarms.append(alarm)
