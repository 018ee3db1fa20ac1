"""The construct library used directly (without our YAML): props validated at construct time,
and the promises that config-driven stacks do not exercise."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from config.loader import REPO_ROOT
from mlops_constructs.alarms import EndpointAlarms
from mlops_constructs.artifacts import ModelArtifact
from mlops_constructs.autoscaling import ScheduledScaling, VariantAutoscaling
from mlops_constructs.batch_transform import BatchTransform
from mlops_constructs.endpoint import DataCapture, ModelEndpoint, VariantSpec
from mlops_constructs.images import ContainerImage
from mlops_constructs.limits import enforce_resource_limit
from mlops_constructs.log_groups import LogGroupSettings
from mlops_constructs.nag import NagAck
from mlops_constructs.storage import CaptureLifecycle
from mlops_constructs.validation import PropsError

ECR = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.5-cpu-py311"
ENV = cdk.Environment(account="123456789012", region="eu-west-1")


def _stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Test", env=ENV)


def _variant(**overrides: Any) -> VariantSpec:
    values: dict[str, Any] = {
        "name": "champion",
        "model": ModelArtifact.from_s3_uri("s3://models/caller-risk/model.tar.gz"),
        "image": ContainerImage.from_ecr_uri(ECR),
        "instance_type": "ml.c6i.large",
    }
    values.update(overrides)
    return VariantSpec(**values)


def _endpoint(stack: cdk.Stack, variants: list[VariantSpec] | None = None, **kwargs: Any) -> ModelEndpoint:
    return ModelEndpoint(
        stack, "Ep", endpoint_name=kwargs.pop("endpoint_name", "caller-risk"), variants=variants or [_variant()], **kwargs
    )


def _statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_grant_invoke_allows_invoke_on_this_endpoint_only() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    caller = iam.Role(stack, "Api", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    endpoint.grant_invoke(caller)
    template = Template.from_stack(stack)
    endpoint_id = stack.get_logical_id(endpoint.endpoint)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": stack.get_logical_id(caller.node.default_child)}],  # type: ignore[arg-type]
            "PolicyDocument": {
                "Statement": [{"Action": "sagemaker:InvokeEndpoint", "Effect": "Allow", "Resource": {"Ref": endpoint_id}}]
            },
        },
    )


def test_external_image_pull_scoped_to_its_repository() -> None:
    stack = _stack()
    _endpoint(stack)
    pulls = [s for s in _statements(Template.from_stack(stack)) if "ecr:BatchGetImage" in s["Action"]]
    assert pulls[0]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ecr:eu-west-1:763104351884:repository/pytorch-inference"]]
    }


def test_external_model_read_scoped_to_its_object() -> None:
    stack = _stack()
    _endpoint(stack)
    (read,) = [s for s in _statements(Template.from_stack(stack)) if s["Action"] == "s3:GetObject"]
    assert read["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::models/caller-risk/model.tar.gz"]]}


def test_local_model_archive_becomes_an_asset_read_by_exact_key(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(__file__, arcname="model.py")
    stack = _stack()
    _endpoint(stack, [_variant(model=ModelArtifact.from_asset(stack, "Local", str(archive)))])
    template = Template.from_stack(stack)
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    url = model["Properties"]["PrimaryContainer"]["ModelDataUrl"]
    assert url.startswith("s3://cdk-hnb659fds-assets-123456789012-eu-west-1/")
    (read,) = [s for s in _statements(template) if s["Action"] == "s3:GetObject"]
    object_key = url.removeprefix("s3://cdk-hnb659fds-assets-123456789012-eu-west-1/")
    assert read["Resource"]["Fn::Join"][1][-1] == f":s3:::cdk-hnb659fds-assets-123456789012-eu-west-1/{object_key}"


def test_graviton_variant_builds_an_arm64_image() -> None:
    stack = _stack()
    image = ContainerImage.from_folder(stack, "Img", directory=REPO_ROOT / "containers" / "inference", architecture="arm64")
    _endpoint(stack, [_variant(image=image, instance_type="ml.c7g.large")])
    assembly = cdk.App.of(stack).synth()  # type: ignore[union-attr]
    manifest = Path(assembly.directory, "Test.assets.json").read_text()
    assert '"platform": "linux/arm64"' in manifest


def test_data_capture_can_capture_input_only() -> None:
    stack = _stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "Bucket")
    _endpoint(stack, data_capture=DataCapture(bucket=bucket, encryption_key=key, capture_output=False, sampling_percent=5))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"DataCaptureConfig": Match.object_like({"InitialSamplingPercentage": 5, "CaptureOptions": [{"CaptureMode": "Input"}]})},
    )


def test_mixed_local_storage_variants_drop_the_volume_key() -> None:
    stack = _stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    endpoint = _endpoint(stack, [_variant(), _variant(name="gpu", instance_type="ml.g5.xlarge")], volume_encryption_key=key)
    assert endpoint.local_storage_variants == ["gpu"]
    (config,) = Template.from_stack(stack).find_resources("AWS::SageMaker::EndpointConfig").values()
    assert "KmsKeyId" not in config["Properties"]


def test_autoscaling_resource_id_names_the_variant() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    VariantAutoscaling(
        stack,
        "Scale",
        endpoint=endpoint,
        variant_name="champion",
        min_capacity=1,
        max_capacity=3,
        target_invocations_per_instance=100,
        scheduled=[ScheduledScaling(name="peak", cron="cron(0 7 ? * MON-FRI *)", max_capacity=5)],
    )
    (target,) = Template.from_stack(stack).find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["ResourceId"]["Fn::Join"][1][-1] == "/variant/champion"
    assert target["Properties"]["ScheduledActions"] == [
        {"ScalableTargetAction": {"MaxCapacity": 5}, "Schedule": "cron(0 7 ? * MON-FRI *)", "ScheduledActionName": "peak"}
    ]


def test_grants_return_the_grant_with_its_statements() -> None:
    stack = _stack()
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    grants = [
        ModelArtifact.from_s3_uri("s3://models/m/model.tar.gz").grant_read(role),
        ContainerImage.from_ecr_uri(ECR).grant_pull(role),
        _endpoint(stack).grant_invoke(role),
    ]
    assert all(isinstance(g, iam.Grant) and g.success for g in grants)
    assert [sorted(a for s in g.principal_statements for a in s.actions) for g in grants] == [
        ["s3:GetObject"],
        ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer"],
        ["sagemaker:InvokeEndpoint"],
    ]


def test_metric_options_pass_through_keyword_only() -> None:
    endpoint = _endpoint(_stack())
    metric = endpoint.metric_5xx_errors("champion", period=cdk.Duration.minutes(5), statistic="Average", label="5xx")
    assert (metric.period.to_minutes(), metric.statistic, metric.label) == (5, "Average", "5xx")
    assert endpoint.metric_invocations("champion").statistic == "Sum"
    with pytest.raises(TypeError):
        endpoint.metric_5xx_errors("champion", cdk.Duration.minutes(5))  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("metric_cpu_utilization", "CPUUtilization"),
        ("metric_memory_utilization", "MemoryUtilization"),
        ("metric_disk_utilization", "DiskUtilization"),
        ("metric_gpu_utilization", "GPUUtilization"),
        ("metric_gpu_memory_utilization", "GPUMemoryUtilization"),
    ],
)
def test_instance_metrics_come_from_the_endpoints_namespace(method: str, name: str) -> None:
    metric = getattr(_endpoint(_stack()), method)("champion")
    assert (metric.namespace, metric.metric_name, metric.statistic) == ("/aws/sagemaker/Endpoints", name, "Average")
    assert metric.dimensions == {"EndpointName": "caller-risk", "VariantName": "champion"}


def test_imported_endpoint_gets_alarms_autoscaling_and_grants() -> None:
    stack = _stack()
    endpoint = ModelEndpoint.from_endpoint_name(stack, "Legacy", "Fraud-Scorer", variant_names=["blue", "green"])
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    endpoint.grant_invoke(role)
    VariantAutoscaling(
        stack, "Scale", endpoint=endpoint, variant_name="green", min_capacity=1, max_capacity=2, target_invocations_per_instance=9
    )
    EndpointAlarms(stack, "Alarms", endpoint=endpoint, topic=cdk.aws_sns.Topic(stack, "T"))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    # SageMaker lower-cases endpoint names in ARNs.
                    {
                        "Action": "sagemaker:InvokeEndpoint",
                        "Resource": {
                            "Fn::Join": [
                                "",
                                ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:eu-west-1:123456789012:endpoint/fraud-scorer"],
                            ]
                        },
                    }
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"ResourceId": "endpoint/Fraud-Scorer/variant/green"}
    )
    template.resource_count_is("AWS::CloudWatch::CompositeAlarm", 2)
    template.resource_count_is("AWS::CloudWatch::Alarm", 4)
    template.resource_count_is("AWS::SageMaker::Endpoint", 0)


def test_endpoint_log_group_is_created_before_the_endpoint() -> None:
    stack = _stack()
    endpoint = _endpoint(stack, logs=LogGroupSettings(encryption_key=kms.Key(stack, "LogKey"), retention_days=30))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/sagemaker/Endpoints/caller-risk", "RetentionInDays": 30, "KmsKeyId": Match.any_value()},
    )
    assert endpoint.log_group is not None
    template.has_resource(
        "AWS::SageMaker::Endpoint",
        {"DependsOn": Match.array_with([stack.get_logical_id(endpoint.log_group.node.default_child)])},  # type: ignore[arg-type]
    )


# --- construct-time validation: each names the construct and the prop ------------------------

Builder = Callable[[cdk.Stack], object]

INVALID: list[tuple[str, Builder, str]] = [
    (
        "endpoint name",
        lambda s: _endpoint(s, endpoint_name="bad_name"),
        r"Test/Ep: invalid props:\n  - endpoint_name 'bad_name' is invalid",
    ),
    (
        "no variants",
        lambda s: ModelEndpoint(s, "Ep", endpoint_name="x", variants=[]),
        r"variants: 0 given; an endpoint takes 1-10",
    ),
    ("eleven variants", lambda s: _endpoint(s, [_variant(name=f"v{i}") for i in range(11)]), r"variants: 11 given"),
    (
        "duplicate variants",
        lambda s: _endpoint(s, [_variant(), _variant(name="CHAMPION")]),
        r"variants\[1\]\.name 'CHAMPION' repeats",
    ),
    ("negative weight", lambda s: _endpoint(s, [_variant(weight=-1)]), r"variants\[0\]\.weight -1 is negative"),
    ("all zero weights", lambda s: _endpoint(s, [_variant(weight=0)]), r"at least one weight must be above 0"),
    (
        "zero instances",
        lambda s: _endpoint(s, [_variant(initial_instance_count=0)]),
        r"initial_instance_count must be at least 1",
    ),
    (
        "instance type",
        lambda s: _endpoint(s, [_variant(instance_type="ml.c6i.huge")]),
        r"variants\[0\]\.instance_type 'ml.c6i.huge' is not",
    ),
    (
        "sampling",
        lambda s: _endpoint(
            s, data_capture=DataCapture(bucket=s3.Bucket(s, "B"), encryption_key=kms.Key(s, "K"), sampling_percent=101)
        ),
        r"sampling_percent 101 is outside 0-100",
    ),
    (
        "autoscaling range",
        lambda s: VariantAutoscaling(
            s,
            "A",
            endpoint=_endpoint(s),
            variant_name="champion",
            min_capacity=3,
            max_capacity=2,
            target_invocations_per_instance=1,
        ),
        r"Test/A: invalid props:\n  - need 1 <= min_capacity \(3\) <= max_capacity \(2\)",
    ),
    (
        "autoscaling unknown variant",
        lambda s: VariantAutoscaling(
            s, "A", endpoint=_endpoint(s), variant_name="blue", min_capacity=1, max_capacity=2, target_invocations_per_instance=1
        ),
        r"has no variant 'blue'",
    ),
    (
        "bad cron",
        lambda s: VariantAutoscaling(
            s,
            "A",
            endpoint=_endpoint(s),
            variant_name="champion",
            min_capacity=1,
            max_capacity=2,
            target_invocations_per_instance=1,
            scheduled=[ScheduledScaling(name="p", cron="0 7 * * * *", min_capacity=2)],
        ),
        r"exactly one of day-of-month",
    ),
    (
        "alarm datapoints",
        lambda s: EndpointAlarms(
            s, "Al", endpoint=_endpoint(s), topic=cdk.aws_sns.Topic(s, "T"), evaluation_periods=2, datapoints_to_alarm=3
        ),
        r"Test/Al: invalid props:\n  - need 1 <= datapoints_to_alarm \(3\) <= evaluation_periods \(2\)",
    ),
    (
        "missing Dockerfile",
        lambda s: ContainerImage.from_folder(s, "I", directory=REPO_ROOT / "containers"),
        r"Dockerfile does not exist",
    ),
    ("non-ECR image", lambda s: ContainerImage.from_ecr_uri("docker.io/library/python:3.11"), r"not an ECR image URI"),
    ("model not tar.gz", lambda s: ModelArtifact.from_asset(s, "M", "model.pt"), r"must be a .tar.gz archive"),
    ("absolute bucket key", lambda s: ModelArtifact.from_bucket(s3.Bucket(s, "B"), "/abs"), r"must be a relative object key"),
    (
        "log retention",
        lambda s: _endpoint(s, logs=LogGroupSettings(encryption_key=kms.Key(s, "K"), retention_days=45)),
        r"logs.retention_days: log retention 45 days: CloudWatch Logs accepts 1, 3",
    ),
    (
        "imported endpoint name",
        lambda s: ModelEndpoint.from_endpoint_name(s, "Old", "bad_name", variant_names=[]),
        r"Test: invalid props:\n  - Old: endpoint_name 'bad_name' is invalid.*\n  - Old: name at least one variant",
    ),
    (
        "capture lifecycle",
        lambda s: CaptureLifecycle(infrequent_access_after_days=30, expire_after_days=30),
        r"expire_after_days must be greater",
    ),
]


@pytest.mark.parametrize(("builder", "message"), [(b, m) for _, b, m in INVALID], ids=[n for n, _, _ in INVALID])
def test_invalid_props_raise_naming_the_prop(builder: Builder, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        builder(_stack())


def test_construct_errors_list_every_problem_with_the_construct_path() -> None:
    with pytest.raises(PropsError) as caught:
        _endpoint(
            _stack(), [_variant(weight=-1, instance_type="ml.c6i.huge"), _variant(name="CHAMPION")], endpoint_name="bad_name"
        )
    assert caught.value.path == "Test/Ep"
    assert len(caught.value.problems) == 4
    assert [p.split(" ")[0] for p in caught.value.problems] == [
        "endpoint_name",
        "variants[0].weight",
        "variants[0].instance_type",
        "variants[1].name",
    ]


def test_construct_validation_skips_values_known_only_at_deploy() -> None:
    stack = _stack()
    weight = cdk.CfnParameter(stack, "Weight", type="Number").value_as_number
    count = int(cdk.CfnParameter(stack, "Count", type="Number").value_as_number)  # a token: a large negative number
    endpoint = _endpoint(stack, [_variant(weight=weight, initial_instance_count=count)])
    VariantAutoscaling(
        stack,
        "A",
        endpoint=endpoint,
        variant_name="champion",
        min_capacity=count,
        max_capacity=count,
        target_invocations_per_instance=1,
    )
    Template.from_stack(stack).resource_count_is("AWS::SageMaker::Endpoint", 1)


def test_nag_acknowledgements_need_a_specific_reason() -> None:
    with pytest.raises(ValueError, match="give a specific reason"):
        NagAck("AwsSolutions-IAM5[Resource::*]", "needed")


def test_resource_limit_fails_synth_with_advice() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Big", env=ENV)
    for index in range(12):
        cdk.CfnResource(stack, f"R{index}", type="AWS::SNS::Topic")
    enforce_resource_limit(stack, limit=10)
    with pytest.raises(RuntimeError, match=r"stack Big has 12 resources; CloudFormation allows 10 per stack\. Split it"):
        app.synth()


def test_transform_job_arns_are_lower_case_and_log_streams_keep_the_case() -> None:
    # SageMaker writes ARNs with the job name lower-cased; the state machine's grant must match them.
    stack = _stack()
    key = kms.Key(stack, "Key")
    BatchTransform(
        stack,
        "Nightly",
        name="Caller-Risk-Nightly",
        state_machine_name="nightly",
        model=ModelArtifact.from_s3_uri("s3://models/caller-risk/model.tar.gz"),
        image=ContainerImage.from_ecr_uri(ECR),
        data_bucket=s3.Bucket(stack, "Data"),
        encryption_key=key,
        logs=LogGroupSettings(encryption_key=key),
        instance_type="ml.c5.xlarge",
    )
    resources = [str(s["Resource"]) for s in _statements(Template.from_stack(stack))]
    assert any("transform-job/caller-risk-nightly-*" in r for r in resources)
    assert not any("transform-job/Caller-Risk" in r for r in resources)
    assert any("log-stream:Caller-Risk-Nightly-*" in r for r in resources)
