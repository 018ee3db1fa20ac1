"""Promises of ModelEndpoint and its serving role, on the synthesised endpoint stacks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match

from tests.conftest import Synthesized, resources_of_type


def _template(synth: Synthesized, endpoint: str) -> dict[str, Any]:
    return synth.template_json(synth.stacks.endpoints[endpoint].stack_name)


def _config(synth: Synthesized, endpoint: str) -> dict[str, Any]:
    (config,) = resources_of_type(_template(synth, endpoint), "AWS::SageMaker::EndpointConfig").values()
    properties: dict[str, Any] = config["Properties"]
    return properties


def _policy_statements(synth: Synthesized, endpoint: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resources_of_type(_template(synth, endpoint), "AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_one_model_per_variant(prod: Synthesized) -> None:
    template = prod.endpoint("caller-risk")
    template.resource_count_is("AWS::SageMaker::Model", 2)
    variants = Capture()
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"ProductionVariants": variants})
    referenced = {v["ModelName"]["Fn::GetAtt"][0] for v in variants.as_array()}
    assert referenced == set(template.find_resources("AWS::SageMaker::Model"))


def test_models_and_endpoint_config_have_generated_names(prod: Synthesized) -> None:
    # Both are replaced on any change; a fixed name would collide with itself.
    template = _template(prod, "caller-risk")
    for resource in resources_of_type(template, "AWS::SageMaker::Model").values():
        assert "ModelName" not in resource["Properties"]
    assert "EndpointConfigName" not in _config(prod, "caller-risk")


def test_endpoint_keeps_the_configured_name(prod: Synthesized) -> None:
    prod.endpoint("caller-risk").has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {"EndpointName": "caller-risk", "EndpointConfigName": {"Fn::GetAtt": [Match.any_value(), "EndpointConfigName"]}},
    )


def test_weights_counts_and_instance_types_as_configured(prod: Synthesized) -> None:
    variants = {v["VariantName"]: v for v in _config(prod, "caller-risk")["ProductionVariants"]}
    assert variants["champion"]["InitialInstanceCount"] == 2
    assert variants["champion"]["InstanceType"] == "ml.c6i.xlarge"
    # Weights are set live after the endpoint (release.py), never through the EndpointConfig.
    assert {v["InitialVariantWeight"] for v in variants.values()} == {0}
    weights = Capture()
    prod.endpoint("caller-risk").has_resource_properties("Custom::EndpointWeights", {"Weights": weights})
    assert json.loads(weights.as_string()) == {"champion": 90, "challenger": 10}


def test_data_capture_to_the_capture_bucket_prefix_encrypted(dev: Synthesized) -> None:
    bucket_output, key_output = Capture(), Capture()
    dev.endpoint("caller-risk").has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 20,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "DestinationS3Uri": {
                    "Fn::Join": [
                        "",
                        [
                            "s3://",
                            {
                                "Fn::GetStackOutput": {
                                    "OutputName": bucket_output,
                                    "StackName": "mlops-dev-foundation",
                                    "Region": "eu-west-1",
                                }
                            },
                            "/caller-risk",
                        ],
                    ]
                },
                "KmsKeyId": {"Fn::GetStackOutput": Match.object_like({"OutputName": key_output})},
                "CaptureContentTypeHeader": Match.object_like(
                    {"JsonContentTypes": ["application/json", "application/jsonlines"]}
                ),
            }
        },
    )
    assert "Capture" in bucket_output.as_string()
    assert "DataKey" in key_output.as_string()


def test_volume_encryption_where_instance_type_allows(prod: Synthesized) -> None:
    # ml.c6i has no local storage: the volume is encrypted with the data key.
    key_output = Capture()
    prod.endpoint("caller-risk").has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"KmsKeyId": {"Fn::GetStackOutput": Match.object_like({"OutputName": key_output})}}
    )
    assert "DataKey" in key_output.as_string()


def test_no_volume_key_for_local_nvme_instance_types(prod: Synthesized) -> None:
    # ml.g5/ml.g6 have hardware-encrypted NVMe; CreateEndpointConfig rejects a KmsKeyId.
    prod.endpoint("call-transcript-intent").has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"KmsKeyId": Match.absent()}
    )


def test_models_run_network_isolated(prod: Synthesized) -> None:
    template = prod.endpoint("caller-risk")
    assert template.find_resources("AWS::SageMaker::Model") == template.find_resources(
        "AWS::SageMaker::Model", {"Properties": {"EnableNetworkIsolation": True}}
    )


def test_models_wait_for_the_role_policy(prod: Synthesized) -> None:
    template = prod.endpoint("caller-risk")
    (policy_id,) = template.find_resources("AWS::IAM::Policy")
    models = template.find_resources("AWS::SageMaker::Model")
    assert models == template.find_resources("AWS::SageMaker::Model", {"DependsOn": [policy_id]})


def test_batching_and_variant_labels_passed_to_container(prod: Synthesized) -> None:
    environments = {}
    for resource in resources_of_type(_template(prod, "caller-risk"), "AWS::SageMaker::Model").values():
        environment = resource["Properties"]["PrimaryContainer"]["Environment"]
        environments[environment["MLOPS_VARIANT"]] = environment
    assert set(environments) == {"champion", "challenger"}
    for environment in environments.values():
        assert environment["MLOPS_ENDPOINT"] == "caller-risk"
        assert (environment["MAX_BATCH_SIZE"], environment["MAX_BATCH_DELAY_MS"]) == ("32", "5")


def test_serving_role_trusts_sagemaker_from_this_account_only(dev: Synthesized) -> None:
    dev.endpoint("caller-risk").has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
                    }
                ]
            }
        },
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_managed_policies_and_no_wildcard_actions(env: str, dev: Synthesized, prod: Synthesized) -> None:
    synth = dev if env == "dev" else prod
    for name in synth.stacks.endpoints:
        for role in resources_of_type(_template(synth, name), "AWS::IAM::Role").values():
            assert "ManagedPolicyArns" not in role["Properties"]
        for statement in _policy_statements(synth, name):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions), statement


def test_role_reads_exactly_the_model_objects(dev: Synthesized) -> None:
    (reads,) = [s for s in _policy_statements(dev, "caller-risk") if s["Action"] == "s3:GetObject"]
    keys = sorted(r["Fn::Join"][1][1] for r in reads["Resource"])
    assert keys == ["/caller-risk/challenger/model.tar.gz", "/caller-risk/champion/model.tar.gz"]


def test_role_writes_only_its_capture_prefix(dev: Synthesized) -> None:
    dev.endpoint("caller-risk").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "s3:PutObject", "Resource": {"Fn::Join": ["", [Match.any_value(), "/caller-risk/*"]]}}
                        )
                    ]
                )
            }
        },
    )


def test_role_logs_only_to_its_endpoint_log_group(dev: Synthesized) -> None:
    (logs,) = [s for s in _policy_statements(dev, "caller-risk") if "logs:PutLogEvents" in s["Action"]]
    assert logs["Resource"] == "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/sagemaker/Endpoints/caller-risk:*"


def test_endpoint_log_group_has_config_retention_and_the_logs_key(dev: Synthesized) -> None:
    key_output = Capture()
    dev.endpoint("caller-risk").has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": "/aws/sagemaker/Endpoints/caller-risk",
            "RetentionInDays": 90,
            "KmsKeyId": {"Fn::GetStackOutput": Match.object_like({"OutputName": key_output})},
        },
    )
    assert "LogsKey" in key_output.as_string()


def test_role_metrics_limited_to_sagemaker_namespaces(dev: Synthesized) -> None:
    (metrics,) = [s for s in _policy_statements(dev, "caller-risk") if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}


def test_images_built_from_containers_folder(dev: Synthesized) -> None:
    for resource in resources_of_type(_template(dev, "caller-risk"), "AWS::SageMaker::Model").values():
        image = resource["Properties"]["PrimaryContainer"]["Image"]["Fn::Sub"]
        assert "cdk-hnb659fds-container-assets" in image


def test_gpu_image_gets_its_build_args(prod: Synthesized) -> None:
    manifest = (prod.outdir / "mlops-prod-call-transcript-intent.assets.json").read_text()
    assert '"BASE_IMAGE": "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"' in manifest
    assert '"ORT_PACKAGE": "onnxruntime-gpu"' in manifest
    assert '"platform": "linux/amd64"' in manifest


def test_metrics_carry_endpoint_and_variant_dimensions(dev: Synthesized) -> None:
    endpoint = dev.stacks.endpoints["caller-risk"].endpoint
    metric = endpoint.metric_model_latency("challenger")
    assert metric.namespace == "AWS/SageMaker"
    assert metric.metric_name == "ModelLatency"
    assert metric.statistic == "p99"
    assert metric.dimensions == {"EndpointName": "caller-risk", "VariantName": "challenger"}
    with pytest.raises(ValueError, match="has no variant 'blue'"):
        endpoint.metric_invocations("blue")
