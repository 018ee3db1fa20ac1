"""`mlops-<env>-labeling`: one test per promise the stack makes (config/prod.yaml ships it)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest
from aws_cdk import assertions
from botocore.validate import ParamValidator

from config.loader import load_config
from lambda_src.labeling import jobs as handler
from mlops_constructs.labeling.template import NerTemplate
from tests.conftest import Synthesized
from tests.labeling_fixtures import job_properties, model_of

STACK = "mlops-prod-labeling"
Match = assertions.Match


@pytest.fixture
def labeling(prod: Synthesized) -> assertions.Template:
    return prod.template(STACK)


def _only(template: assertions.Template, kind: str) -> dict[str, Any]:
    (body,) = template.find_resources(kind).values()
    return dict(body)


def test_the_stack_exists_only_when_config_has_labeling(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.stacks.labeling is None
    assert prod.stacks.labeling is not None
    assert STACK in prod.stack_names


def test_the_user_pool_admits_only_invited_people_with_a_strong_password_and_mfa(labeling: assertions.Template) -> None:
    labeling.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": Match.object_like({"AllowAdminCreateUserOnly": True}),
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 14,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                    "TemporaryPasswordValidityDays": 7,
                }
            },
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
            "UserPoolTier": "PLUS",
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
        },
    )


def test_the_user_pool_is_retained_and_deletion_protected_in_prod(labeling: assertions.Template) -> None:
    labeling.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like({"DeletionProtection": "ACTIVE"}),
        },
    )


def test_members_are_invited_into_the_annotators_group(labeling: assertions.Template) -> None:
    members = load_config("prod").labeling.workforce.members  # type: ignore[union-attr]
    users = labeling.find_resources("AWS::Cognito::UserPoolUser")
    assert sorted(u["Properties"]["Username"] for u in users.values()) == sorted(m.lower() for m in members)
    assert all(u["Properties"]["DesiredDeliveryMediums"] == ["EMAIL"] for u in users.values())
    attachments = labeling.find_resources("AWS::Cognito::UserPoolUserToGroupAttachment")
    assert sorted(a["Properties"]["Username"] for a in attachments.values()) == sorted(m.lower() for m in members)
    assert {a["Properties"]["GroupName"] for a in attachments.values()} == {"annotators"}


def test_the_app_client_has_a_secret_and_the_pool_a_domain(labeling: assertions.Template) -> None:
    labeling.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"GenerateSecret": True, "AllowedOAuthFlows": ["code"], "SupportedIdentityProviders": ["COGNITO"]},
    )
    labeling.has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": "mlops-prod-222222222222-labeling"})


def test_the_private_workforce_is_made_from_the_pool_and_its_client(labeling: assertions.Template) -> None:
    workforce = _only(labeling, "AWS::SageMaker::Workforce")
    assert workforce["Properties"]["WorkforceName"] == "mlops-prod-workforce"
    assert set(workforce["Properties"]["CognitoConfig"]) == {"UserPool", "ClientId"}
    workteam = _only(labeling, "AWS::SageMaker::Workteam")
    assert workteam["Properties"]["WorkforceName"] == "mlops-prod-workforce"
    (workforce_id,) = labeling.find_resources("AWS::SageMaker::Workforce")
    assert workforce_id in workteam["DependsOn"]


def test_the_workteam_binds_the_pool_group_and_client_and_notifies_through_an_encrypted_topic(
    labeling: assertions.Template,
) -> None:
    workteam = _only(labeling, "AWS::SageMaker::Workteam")["Properties"]
    assert workteam["WorkteamName"] == "mlops-prod-annotators"
    (member,) = workteam["MemberDefinitions"]
    cognito = member["CognitoMemberDefinition"]
    assert set(cognito) == {"CognitoUserPool", "CognitoClientId", "CognitoUserGroup"}
    topic_ref = workteam["NotificationConfiguration"]["NotificationTopicArn"]
    (topic_id,) = labeling.find_resources("AWS::SNS::Topic")
    assert topic_ref == {"Ref": topic_id}
    assert "KmsMasterKeyId" in _only(labeling, "AWS::SNS::Topic")["Properties"]


def test_sagemaker_may_publish_to_the_workteam_topic_for_this_accounts_workteams(labeling: assertions.Template) -> None:
    conditions = {
        "StringEquals": {"aws:SourceAccount": "222222222222"},
        "ArnLike": {"aws:SourceArn": Match.any_value()},
    }
    labeling.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Principal": {"Service": "sagemaker.amazonaws.com"},
                                "Condition": conditions,
                            }
                        )
                    ]
                )
            }
        },
    )
    labeling.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Principal": {"Service": "sagemaker.amazonaws.com"},
                                "Condition": conditions,
                            }
                        )
                    ]
                )
            }
        },
    )


def test_the_ground_truth_lambdas_use_powertools_and_the_shared_handler_code(labeling: assertions.Template) -> None:
    for handler_name in ("labeling.pre_annotation.handler", "labeling.post_annotation.handler", "labeling.jobs.on_event"):
        labeling.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler_name,
                "Runtime": "python3.13",
                "Layers": [Match.string_like_regexp(":layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:")],
                "Environment": {
                    "Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": Match.string_like_regexp("^mlops-prod-labeling-")})
                },
            },
        )


def test_each_configured_job_is_a_custom_resource_and_the_review_reads_the_first_jobs_output(
    labeling: assertions.Template,
) -> None:
    found = labeling.find_resources("Custom::LabelingJob")
    by_name = {body["Properties"]["JobName"]: (logical_id, body) for logical_id, body in found.items()}
    assert set(by_name) == {"transcript-entities", "transcript-entities-review"}
    first_id, first = by_name["transcript-entities"]
    _, review = by_name["transcript-entities-review"]
    assert first["Properties"]["FromJob"] == ""
    assert review["Properties"]["FromJob"] == {"Fn::GetAtt": [first_id, "JobName"]}


def test_the_create_request_is_valid_against_the_service_model(prod: Synthesized) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateLabelingJob").input_shape
    for job in ("transcript-entities", "transcript-entities-review"):
        properties = job_properties(prod, job)
        manifest = handler.output_manifest(properties["OutputPath"], properties["FromJob"]) if properties["FromJob"] else None
        request = handler.request_for(properties, handler.job_name(properties), manifest)
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
        task = request["HumanTaskConfig"]
        assert request["OutputConfig"]["KmsKeyId"].startswith("arn:aws:kms:")
        assert task["PreHumanTaskLambdaArn"].endswith(":function:mlops-prod-labeling-pre-annotation")
        assert task["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"].endswith("labeling-consolidation")
        folder = f"{properties['ConfigPrefix']}{request['LabelingJobName']}/"
        assert task["UiConfig"]["UiTemplateS3Uri"] == f"{folder}template.liquid.html"
        assert request["LabelCategoryConfigS3Uri"] == f"{folder}label-categories.json"


def test_each_job_carries_its_template_with_the_configured_labels(prod: Synthesized) -> None:
    config = load_config("prod").labeling
    assert config is not None
    first, review = config.jobs
    properties = job_properties(prod, review.name)
    expected = NerTemplate(
        title=review.task.title,
        description=review.task.description,
        entity_labels=review.entity_labels,
        relation_types=review.relation_types,
        document_classes=review.document_classes,
        prefill_from=first.label_attribute,
    ).render()
    assert properties["Template"] == expected
    assert json.loads(properties["LabelCategories"])[:2] == ["entity:PERSON", "entity:ORG"]


def test_chained_jobs_are_started_by_a_schedule(labeling: assertions.Template) -> None:
    labeling.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(15 minutes)", "State": "ENABLED", "Targets": Match.any_value()}
    )
    labeling.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "labeling.jobs.on_schedule",
            "Environment": {"Variables": Match.object_like({"PENDING_PREFIX": Match.any_value()})},
        },
    )


def test_the_job_provider_may_manage_only_its_own_jobs_and_pass_only_the_labeling_role(prod: Synthesized) -> None:
    model = model_of(prod)
    (function,) = [f for f in model.of_type("AWS::Lambda::Function") if f.properties.get("Handler") == "labeling.jobs.on_event"]
    role = model.role_for_arn(model.resolve(function.stack, function.properties["Role"]))
    assert role is not None
    own = model.arn("sagemaker", "labeling-job/transcript-entities-0a1b2c3d")
    other = model.arn("sagemaker", "labeling-job/someone-elses-job")
    assert model.role_allows(role, "sagemaker:CreateLabelingJob", own)
    assert not model.role_allows(role, "sagemaker:CreateLabelingJob", other)
    assert not model.role_allows(role, "sagemaker:StopLabelingJob", other)
    passed = [s for s in model.role_statements(role) if "iam:PassRole" in s.actions]
    (statement,) = passed
    assert statement.conditions == {"StringEquals": {"iam:PassedToService": ("sagemaker.amazonaws.com",)}}
    assert len(statement.resources) == 1


def test_the_lambda_asset_holds_the_labeling_package_and_imports_as_lambda_does(prod: Synthesized) -> None:
    """Lambda puts the asset's root on sys.path and imports `labeling.<module>`; Powertools comes from the layer."""
    import subprocess
    import sys

    template = prod.template_json(STACK)
    handlers = {
        f["Properties"]["Handler"]: f["Properties"]["Code"]["S3Key"].removesuffix(".zip")
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function" and f["Properties"].get("Handler", "").startswith("labeling.")
    }
    assert set(handlers) == {
        "labeling.pre_annotation.handler",
        "labeling.post_annotation.handler",
        "labeling.jobs.on_event",
        "labeling.jobs.on_schedule",
        "labeling.portal.on_event",
    }
    assert len(set(handlers.values())) == 1  # one asset for the five functions
    asset = prod.outdir / f"asset.{next(iter(handlers.values()))}"
    assert sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()) == [
        "labeling/__init__.py",
        "labeling/jobs.py",
        "labeling/ner.py",
        "labeling/portal.py",
        "labeling/post_annotation.py",
        "labeling/pre_annotation.py",
        "labeling/s3io.py",
    ]
    probe = "; ".join(
        [f"import sys; sys.path.insert(0, {str(asset)!r})", "import importlib"]
        + [f"h = importlib.import_module('labeling.{h.split('.')[1]}'); assert callable(h.{h.split('.')[2]})" for h in handlers]
        + ["print('ok')"]
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=asset,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(asset)},
    )
    assert result.stdout.strip() == "ok", result.stderr


def _labeling_only(workforce: dict[str, Any], **job: Any) -> Any:
    import yaml

    from config.loader import parse_config

    data = {
        "account": "333333333333",
        "region": "eu-west-1",
        "removal_policy": "destroy",
        "labeling": {
            "workforce": workforce,
            "jobs": [
                {
                    "name": "tickets",
                    "input_manifest": "labeling/tickets/input.manifest",
                    "label_attribute": "ticket-entities",
                    "entity_labels": ["PRODUCT"],
                    "task": {"title": "Mark products", "description": "Select each product name."},
                    **job,
                }
            ],
        },
    }
    return parse_config(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from stacks.mlops_app import create_app

    config = _labeling_only({"type": "public"}, price={"cents": 3, "tenth_fractions_of_a_cent": 6}, data_free_of_pii=True)
    outdir = tmp_path_factory.mktemp("cdk-public")
    stacks = create_app("public", outdir=str(outdir), config=config)
    stacks.app.synth()
    return Synthesized(env="public", stacks=stacks, outdir=outdir)


def test_a_public_workforce_gets_no_user_pool_and_pays_per_task(public: Synthesized) -> None:
    template = public.template("mlops-public-labeling")
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::SageMaker::Workteam", 0)
    properties = job_properties(public, "tickets")
    request = handler.request_for(properties, handler.job_name(properties), None)
    task = request["HumanTaskConfig"]
    assert task["WorkteamArn"] == "arn:aws:sagemaker:eu-west-1:394669845002:workteam/public-crowd/default"
    assert task["PublicWorkforceTaskPrice"] == {"AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}}
    assert request["InputConfig"]["DataAttributes"] == {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]}
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateLabelingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def test_the_jobs_construct_reports_every_bad_prop_at_once() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    from mlops_constructs.labeling.jobs import LabelingJobs, LabelingJobSpec
    from mlops_constructs.log_groups import LogGroupSettings
    from mlops_constructs.validation import PropsError

    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    key = kms.Key(stack, "Key")
    spec = LabelingJobSpec(
        name="a",
        label_attribute="a",
        template=NerTemplate(title="t", description="d", entity_labels=["X"]),
        label_categories=["entity:X"],
        task_title="t",
        task_description="d",
        task_keywords=["text"],
        time_limit_seconds=60,
        workers_per_object=1,
        input_manifest_key="elsewhere/in.manifest",
    )
    with pytest.raises(PropsError) as caught:
        LabelingJobs(
            stack,
            "Jobs",
            jobs=[spec, dataclasses.replace(spec, name="b", input_manifest_key=None, from_job="c")],
            workteam_arn="arn:aws:sagemaker:eu-west-1:111111111111:workteam/private-crowd/t",
            data_bucket=s3.Bucket(stack, "Data"),
            data_key=key,
            logs=LogGroupSettings(encryption_key=key, retention_days=2),
            lambda_src="lambda_src",
        )
    assert caught.value.problems == [
        "jobs[0].input_manifest_key: must lie under labeling/ (the role reads only there)",
        "jobs[1].from_job: 'c' is not an earlier job",
        "logs.retention_days: log retention 2 days: CloudWatch Logs accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, "
        "365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
    ]


def _member_ids(members: list[str]) -> dict[str, str]:
    """Logical ID of each member's user (by user name) in a bare stack with this member list."""
    from mlops_constructs.labeling.workforce import PrivateWorkforce

    app = cdk.App()
    stack = cdk.Stack(app, "Members", env=cdk.Environment(account="222222222222", region="eu-west-1"))
    PrivateWorkforce(
        stack,
        "Workforce",
        workforce_name="w",
        workteam_name="t",
        domain_prefix="mlops-test-labeling",
        members=members,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    ids = {}
    for logical_id, body in resources.items():
        if body["Type"] in ("AWS::Cognito::UserPoolUser", "AWS::Cognito::UserPoolUserToGroupAttachment"):
            kind = "user" if body["Type"].endswith("User") else "attachment"
            ids[f"{kind}:{body['Properties']['Username']}"] = logical_id
    return ids


def test_removing_a_member_leaves_the_other_members_resources_alone() -> None:
    # Every property of AWS::Cognito::UserPoolUser and UserPoolUserToGroupAttachment requires
    # replacement (CloudFormation resource reference): with IDs by list position, removing the first
    # member would re-create the second under the first's ID while it still exists -> UsernameExists.
    before = _member_ids(["a@example.com", "B@example.com", "c@example.com"])
    after = _member_ids(["B@example.com", "c@example.com"])
    assert {k: v for k, v in before.items() if not k.endswith("a@example.com")} == after
    # The ID follows the address, not its case in config.
    assert _member_ids(["b@example.com"]) == {k: v for k, v in after.items() if "b@" in k}


def test_changing_only_the_case_of_an_address_changes_nothing() -> None:
    # A changed property would replace the user under the same ID: CloudFormation creates the new
    # one first, and the user name still exists. So every property follows the lower-cased address.
    def members(address: str) -> dict[str, Any]:
        stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="222222222222", region="eu-west-1"))
        from mlops_constructs.labeling.workforce import PrivateWorkforce

        PrivateWorkforce(
            stack,
            "W",
            workforce_name="w",
            workteam_name="t",
            domain_prefix="x-labeling",
            members=[address],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        resources = assertions.Template.from_stack(stack).to_json()["Resources"]
        return {k: v for k, v in resources.items() if v["Type"].startswith("AWS::Cognito::UserPoolUser")}

    assert members("Zoe.Martin@Example.com") == members("zoe.martin@example.com")


def test_members_are_created_with_a_verified_email(labeling: assertions.Template) -> None:
    # Account recovery is by verified email only: an unverified address could not reset a password.
    users = labeling.find_resources("AWS::Cognito::UserPoolUser")
    for user in users.values():
        attributes = {a["Name"]: a["Value"] for a in user["Properties"]["UserAttributes"]}
        assert attributes["email_verified"] == "true"
        assert attributes["email"] == user["Properties"]["Username"]


def test_a_chained_job_that_cannot_start_raises_an_alarm_on_the_alert_topic(prod: Synthesized) -> None:
    # The chain starter logs an ERROR for each pending request it cannot start, every tick;
    # a metric filter counts them and an alarm pages through the platform's alert topic.
    labeling = prod.template(STACK)
    starter_id = next(
        k
        for k, v in labeling.find_resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "labeling.jobs.on_schedule"
    )
    starter_logs = prod.template_json(STACK)["Resources"][starter_id]["Properties"]["LoggingConfig"]["LogGroup"]
    (metric_filter,) = labeling.find_resources("AWS::Logs::MetricFilter").values()
    assert metric_filter["Properties"]["LogGroupName"] == starter_logs
    assert metric_filter["Properties"]["FilterPattern"] == '{ $.level = "ERROR" }'
    transformation = metric_filter["Properties"]["MetricTransformations"][0]
    (alarm,) = labeling.find_resources("AWS::CloudWatch::Alarm").values()
    assert alarm["Properties"]["MetricName"] == transformation["MetricName"]
    assert alarm["Properties"]["Namespace"] == transformation["MetricNamespace"]
    assert alarm["Properties"]["Threshold"] == 1
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    (action,) = alarm["Properties"]["AlarmActions"]
    assert "AlertsTopic" in json.dumps(action)


def test_the_app_client_is_pointed_at_the_worker_portal_after_the_workforce(prod: Synthesized) -> None:
    # The portal's address exists only once the workforce does (DescribeWorkforce SubDomain), so a
    # custom resource after the workforce sets the client's callback and sign-out URLs
    # (lambda_src/labeling/portal.py; tests/test_labeling_portal.py runs it).
    labeling = prod.template(STACK)
    resources = prod.template_json(STACK)["Resources"]
    (sign_in,) = labeling.find_resources("Custom::WorkerPortalSignIn").values()
    (client_id,) = labeling.find_resources("AWS::Cognito::UserPoolClient")
    (pool_id,) = labeling.find_resources("AWS::Cognito::UserPool")
    (workforce_id,) = labeling.find_resources("AWS::SageMaker::Workforce")
    properties = sign_in["Properties"]
    assert properties["UserPoolId"] == {"Ref": pool_id}
    assert properties["ClientId"] == {"Ref": client_id}
    assert properties["WorkforceName"] == resources[workforce_id]["Properties"]["WorkforceName"]
    assert workforce_id in sign_in["DependsOn"]
    # Its handler may describe only this workforce and change only this pool's clients.
    model = model_of(prod)
    (function,) = [f for f in model.of_type("AWS::Lambda::Function") if f.properties.get("Handler") == "labeling.portal.on_event"]
    role = model.role_for_arn(model.resolve(function.stack, function.properties["Role"]))
    assert role is not None
    pool_arn = model.resolve(STACK, {"Fn::GetAtt": [pool_id, "Arn"]})
    assert model.role_allows(role, "cognito-idp:UpdateUserPoolClient", pool_arn)
    assert not model.role_allows(role, "cognito-idp:UpdateUserPoolClient", model.arn("cognito-idp", "userpool/eu-west-1_other"))
    assert model.role_allows(role, "sagemaker:DescribeWorkforce", model.arn("sagemaker", "workforce/mlops-prod-workforce"))
    assert not model.role_allows(role, "sagemaker:UpdateWorkforce", model.arn("sagemaker", "workforce/mlops-prod-workforce"))


def test_a_change_of_the_app_client_sets_the_portal_urls_again() -> None:
    # CloudFormation's update of the client puts the placeholder callback back; the sign-in
    # resource's properties change with the client's settings, so it runs again after it.
    from mlops_constructs.labeling.portal import _client_digest
    from mlops_constructs.labeling.workforce import PrivateWorkforce

    def digest(scopes: list[Any]) -> str:
        stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="222222222222", region="eu-west-1"))
        workforce = PrivateWorkforce(
            stack,
            "W",
            workforce_name="w",
            workteam_name="t",
            domain_prefix="x-labeling",
            members=["a@example.com"],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        workforce.client.node.default_child.allowed_o_auth_scopes = scopes  # type: ignore[union-attr]
        return _client_digest(stack, workforce.client)

    assert digest(["openid"]) == digest(["openid"]) != digest(["openid", "email"])
