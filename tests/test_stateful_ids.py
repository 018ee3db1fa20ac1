"""Logical IDs of stateful and fixed-name resources are a contract.

CloudFormation replaces a resource whose logical ID changes: a retained bucket or key is
orphaned and a new empty one created; a resource with a fixed name (the endpoint, its
log group, a named state machine) collides with itself and the deploy fails. A construct
refactor changes logical IDs silently and a snapshot update would accept it; this test
fails instead. Change the table only when the replacement is intended, and say how the
deployed resource is migrated (e.g. `cdk import`) in the commit.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlops_cli.diff_rules import STATEFUL_TYPES
from tests.conftest import SHIPPED_ENVS, Synthesized

# STATEFUL_TYPES is the list `mlops diff` blocks replacements of (one source, with reasons).

# Not stateful, but their logical IDs are a contract too: the release provider's functions
# have fixed names, and a custom resource's ServiceToken (the framework function's ARN)
# may not change once the resource exists.
CONTRACT_TYPES = {"AWS::Lambda::Function"}

RELEASE = {
    "ReleaseFrameworkLogs7D07E796": "AWS::Logs::LogGroup",
    "ReleaseHandlerC0803ED1": "AWS::Lambda::Function",
    "ReleaseHandlerLogs8E70629D": "AWS::Logs::LogGroup",
    "ReleaseIsComplete4873E138": "AWS::Lambda::Function",
    "ReleaseIsCompleteLogs8030D3E2": "AWS::Logs::LogGroup",
    "ReleaseProviderframeworkisCompleteEB281B32": "AWS::Lambda::Function",
    "ReleaseProviderframeworkonEvent5E4AF89F": "AWS::Lambda::Function",
    "ReleaseProviderframeworkonTimeout68A1996E": "AWS::Lambda::Function",
    "ReleaseProviderwaiterstatemachine46263EE4": "AWS::StepFunctions::StateMachine",
    "ReleaseWaiterLogsD0CDAC0B": "AWS::Logs::LogGroup",
}

FOUNDATION = {
    "StorageDataKeyE15BA43B": "AWS::KMS::Key",
    "LogsKeyA6AB43B2": "AWS::KMS::Key",
    "AlertsKey9E1197AF": "AWS::KMS::Key",
    "AlertsTopicCF7C81C9": "AWS::SNS::Topic",
    "StorageAccessLogsBucket06E03AA1": "AWS::S3::Bucket",
    "StorageArtifactsBucketA637E3AF": "AWS::S3::Bucket",
    "StorageCaptureBucket10260730": "AWS::S3::Bucket",
    "StorageDataBucket82AF5CCF": "AWS::S3::Bucket",
    "StorageMonitoringBucketB5910D5E": "AWS::S3::Bucket",
}
# The user pool holds every annotator's identity and MFA device; the workteam and the jobs
# have fixed or running state (see mlops_cli/diff_rules.py).
LABELING = {
    "WorkforceUserPool861D9C0F": "AWS::Cognito::UserPool",
    # Members are named after their address (mlops_constructs/labeling/workforce.py member_id),
    # so adding or removing one never moves another onto a new logical ID.
    "WorkforceMember928eab62c5C6173CD0": "AWS::Cognito::UserPoolUser",  # annotator-1@example.com
    "WorkforceMember7eb522744c4A1961F8": "AWS::Cognito::UserPoolUser",  # annotator-2@example.com
    "WorkforceMemberaa4badfe915C11102B": "AWS::Cognito::UserPoolUser",  # annotator-3@example.com
    "WorkforceMember18717f7f1f531F731C": "AWS::Cognito::UserPoolUser",  # reviewer@example.com
    "WorkforceNotificationKey7B9A265C": "AWS::KMS::Key",
    "WorkforceNotificationsABA5E341": "AWS::SNS::Topic",
    "Workforce659573B2": "AWS::SageMaker::Workforce",
    "WorkforceWorkteam2EF67918": "AWS::SageMaker::Workteam",
    "PortalSignInHandlerLogsF8443CB7": "AWS::Logs::LogGroup",
    "PortalSignInHandler15F27C90": "AWS::Lambda::Function",
    "PortalSignInFrameworkLogsCE2564F1": "AWS::Logs::LogGroup",
    "PortalSignInProviderframeworkonEvent3602FEEC": "AWS::Lambda::Function",
    "JobsPreAnnotationLogs40FF9AC1": "AWS::Logs::LogGroup",
    "JobsPreAnnotation3D63A9C3": "AWS::Lambda::Function",
    "JobsConsolidationLogsD7F1F8F0": "AWS::Logs::LogGroup",
    "JobsConsolidationCF09346C": "AWS::Lambda::Function",
    "JobsHandlerLogsF0B682CF": "AWS::Logs::LogGroup",
    "JobsHandler9E0D5509": "AWS::Lambda::Function",
    "JobsChainStarterLogsC5C15825": "AWS::Logs::LogGroup",
    "JobsChainStarterAB6C7D9B": "AWS::Lambda::Function",
    "JobsFrameworkLogs3A00BB24": "AWS::Logs::LogGroup",
    "JobsProviderframeworkonEvent5FE6ECCB": "AWS::Lambda::Function",
    "JobsJobtranscriptentities8A5E6744": "Custom::LabelingJob",
    "JobsJobtranscriptentitiesreviewEE1A6670": "Custom::LabelingJob",
}
ENDPOINT = {"Endpoint8024A810": "AWS::SageMaker::Endpoint", "EndpointLogs88A66289": "AWS::Logs::LogGroup"}

PINNED: dict[str, dict[str, dict[str, str]]] = {
    "dev": {
        "mlops-dev-foundation": FOUNDATION,
        "mlops-dev-caller-risk": ENDPOINT,
        "mlops-dev-release": RELEASE,
        "mlops-dev-batch": {
            "TransformcallerrisknightlyLogs46C09B09": "AWS::Logs::LogGroup",
            "TransformcallerrisknightlyStateMachineF64233E3": "AWS::StepFunctions::StateMachine",
        },
    },
    "prod": {
        "mlops-prod-foundation": FOUNDATION,
        "mlops-prod-caller-risk": ENDPOINT,
        "mlops-prod-release": RELEASE,
        "mlops-prod-call-transcript-intent": ENDPOINT,
        "mlops-prod-batch": {
            "TransformcallerriskbackfillLogs2BAF4891": "AWS::Logs::LogGroup",
            "TransformcallerriskbackfillStateMachineDAC61B49": "AWS::StepFunctions::StateMachine",
        },
        # The results table and its key are retained state; the functions and log groups have fixed
        # names; API Gateway's account role is retained (one per Region, see mlops_constructs/api/account.py).
        "mlops-prod-api-caller-risk": {
            "Key961B73FD": "AWS::KMS::Key",
            "ApiResultsTable4095D4BD": "AWS::DynamoDB::Table",
            "ApiGatewayAccount3F426938": "AWS::ApiGateway::Account",
            "ApiGatewayAccountRole4DADDEAA": "AWS::IAM::Role",
            "ApiAccessLogs50B185DB": "AWS::Logs::LogGroup",
            "ApiExecutionLogsB326CF6B": "AWS::Logs::LogGroup",
            "ApiArchiver1FAE5C51": "AWS::Lambda::Function",
            "ApiArchiverLogsFC8614EC": "AWS::Logs::LogGroup",
            "ApiScore6039FD30": "AWS::Lambda::Function",
            "ApiScoreLogs93960243": "AWS::Logs::LogGroup",
            "ApiStatusF414E303": "AWS::Lambda::Function",
            "ApiStatusLogs7A924732": "AWS::Logs::LogGroup",
            "ApiSubmit63DC0985": "AWS::Lambda::Function",
            "ApiSubmitLogs933D25FD": "AWS::Logs::LogGroup",
            "ApiWorkerE4DD1C09": "AWS::Lambda::Function",
            "ApiWorkerLogsC6CDF112": "AWS::Logs::LogGroup",
        },
        "mlops-prod-labeling": LABELING,
        "mlops-prod-monitoring": {
            "DataQualitycallerriskSchedule4EA40C21": "AWS::SageMaker::MonitoringSchedule",
            "TextDriftcalltranscriptintentSchedule6EA51B73": "AWS::SageMaker::MonitoringSchedule",
        },
        "mlops-prod-training": {
            "EpochMetricsTableD1FC9FA3": "AWS::DynamoDB::Table",
            "EpochMetricsFunctionC41EE2E5": "AWS::Lambda::Function",
            "EpochMetricsFunctionLogs133C80A3": "AWS::Logs::LogGroup",
            "TrainingLogsE5993150": "AWS::Logs::LogGroup",
            "TrainingStateMachineEAE34FB3": "AWS::StepFunctions::StateMachine",
        },
    },
}


def test_every_shipped_config_is_pinned() -> None:
    assert set(PINNED) == set(SHIPPED_ENVS)


@pytest.mark.parametrize("env", SHIPPED_ENVS)
def test_stateful_logical_ids_do_not_change(env: str, synth: Callable[[str], Synthesized]) -> None:
    result = synth(env)
    found = {
        name: {
            logical_id: body["Type"]
            for logical_id, body in result.template_json(name)["Resources"].items()
            if body["Type"] in STATEFUL_TYPES | CONTRACT_TYPES or body.get("DeletionPolicy") == "Retain"
        }
        for name in result.stack_names
    }
    assert found == PINNED[env]
