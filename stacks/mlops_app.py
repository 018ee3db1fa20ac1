"""Build the whole app for one environment: foundation, one stack per endpoint, the gates.

Every synth runs cdk-nag's AwsSolutions pack as a policy-validation plugin (findings
abort synth and land in cdk.out/validation-report.json) and checks each stack against
CloudFormation's resource limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config.loader import REPO_ROOT, load_config
from config.schema import MlopsConfig
from mlops_constructs.limits import enforce_resource_limit
from mlops_constructs.log_groups import LogGroupSettings
from stacks.batch import BatchDependencies, BatchStack
from stacks.endpoint import EndpointDependencies, EndpointStack
from stacks.foundation import FoundationStack
from stacks.labeling import LabelingDependencies, LabelingStack
from stacks.monitoring import MonitoringDependencies, MonitoringStack
from stacks.network import NetworkStack, vpc_placement
from stacks.release import ReleaseStack

if TYPE_CHECKING:
    from stacks.api import ApiStack
    from stacks.training import TrainingStack

DEFAULT_ENV = "dev"


@dataclass(frozen=True)
class MlopsStacks:
    app: cdk.App
    env_name: str
    foundation: FoundationStack
    endpoints: dict[str, EndpointStack]
    batch: BatchStack | None
    network: NetworkStack | None = None
    release: ReleaseStack | None = None
    apis: dict[str, ApiStack] = field(default_factory=dict)
    labeling: LabelingStack | None = None
    monitoring: MonitoringStack | None = None
    training: TrainingStack | None = None

    @property
    def all(self) -> list[cdk.Stack]:
        return [
            self.foundation,
            *([self.network] if self.network else []),
            *([self.release] if self.release else []),
            *self.endpoints.values(),
            *([self.batch] if self.batch else []),
            *self.apis.values(),
            *([self.labeling] if self.labeling else []),
            *([self.monitoring] if self.monitoring else []),
            *([self.training] if self.training else []),
        ]


def stack_name(env_name: str, part: str) -> str:
    return f"mlops-{env_name}-{part}"


def removal_policy(config: MlopsConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.DESTROY if config.removal_policy == "destroy" else cdk.RemovalPolicy.RETAIN


def build(app: cdk.App, config: MlopsConfig, env_name: str, *, repo_root: Path = REPO_ROOT) -> MlopsStacks:
    """Add the environment's stacks and gates to `app`."""
    env = cdk.Environment(account=config.account, region=config.region)
    foundation = FoundationStack(
        app,
        stack_name(env_name, "foundation"),
        storage=config.storage,
        alerts=config.alerts,
        removal_policy=removal_policy(config),
        env=env,
    )
    storage = foundation.storage
    release = None
    if config.endpoints:
        release = ReleaseStack(
            app,
            stack_name(env_name, "release"),
            endpoint_names=[e.name for e in config.endpoints],
            logs=LogGroupSettings(encryption_key=foundation.logs_key, retention_days=config.logs.retention_days),
            repo_root=repo_root,
            env=env,
        )
    endpoint_uses = EndpointDependencies(
        artifacts_bucket=storage.artifacts,
        capture_bucket=storage.capture,
        data_key=storage.key,
        logs_key=foundation.logs_key,
        alert_topic=foundation.alerts.topic,
        log_retention_days=config.logs.retention_days,
        weights_service_token=release.provider.service_token if release else None,
    )
    network = None
    if config.vpc is not None and config.vpc.create_endpoints:
        network = NetworkStack(app, stack_name(env_name, "network"), vpc=config.vpc, env=env)
    endpoints = {
        e.name: EndpointStack(
            app,
            stack_name(env_name, e.name),
            endpoint=e,
            images=config.images,
            uses=endpoint_uses,
            repo_root=repo_root,
            vpc=vpc_placement(config.vpc_for(e.vpc)),
            env=env,
        )
        for e in config.endpoints
    }
    batch = None
    if config.batch_transforms:
        batch = BatchStack(
            app,
            stack_name(env_name, "batch"),
            transforms=config.batch_transforms,
            images=config.images,
            env_name=env_name,
            uses=BatchDependencies(
                artifacts_bucket=storage.artifacts,
                data_bucket=storage.data,
                data_key=storage.key,
                logs_key=foundation.logs_key,
                log_retention_days=config.logs.retention_days,
            ),
            repo_root=repo_root,
            default_vpc=vpc_placement(config.vpc),
            env=env,
        )
    labeling = None
    if config.labeling is not None:
        labeling = LabelingStack(
            app,
            stack_name(env_name, "labeling"),
            labeling=config.labeling,
            env_name=env_name,
            uses=LabelingDependencies(
                data_bucket=storage.data,
                data_key=storage.key,
                logs_key=foundation.logs_key,
                log_retention_days=config.logs.retention_days,
                alert_topic=foundation.alerts.topic,
            ),
            removal_policy=removal_policy(config),
            repo_root=repo_root,
            env=env,
        )
    training = None
    if config.training is not None:
        from stacks.training import TrainingDependencies, TrainingStack  # its modules only when configured

        training = TrainingStack(
            app,
            stack_name(env_name, "training"),
            training=config.training,
            images=config.images,
            env_name=env_name,
            uses=TrainingDependencies(
                artifacts_bucket=storage.artifacts,
                data_key=storage.key,
                logs_key=foundation.logs_key,
                alert_topic=foundation.alerts.topic,
                log_retention_days=config.logs.retention_days,
            ),
            repo_root=repo_root,
            removal_policy=removal_policy(config),
            vpc=vpc_placement(config.vpc),
            env=env,
        )
    if network is not None:
        # Models start only once S3 and ECR are reachable from their subnets.
        for dependent in [*endpoints.values(), *([batch] if batch else []), *([training] if training else [])]:
            dependent.add_stack_dependency(network, "SageMaker models reach S3 and ECR through the VPC endpoints")
    monitoring = None
    monitored = [e for e in config.endpoints if e.monitoring is not None]
    if monitored:
        monitoring = MonitoringStack(
            app,
            stack_name(env_name, "monitoring"),
            endpoints=monitored,
            uses=MonitoringDependencies(
                capture_bucket=storage.capture,
                monitoring_bucket=storage.monitoring,
                artifacts_bucket=storage.artifacts,
                data_key=storage.key,
                alert_topic_arn=foundation.alerts.topic.topic_arn,
            ),
            repo_root=repo_root,
            env=env,
        )
        for e in monitored:  # a schedule needs its endpoint in service (see stacks/monitoring.py)
            monitoring.add_stack_dependency(endpoints[e.name], "a monitoring schedule reads an endpoint that exists")
    stacks = MlopsStacks(
        app=app,
        env_name=env_name,
        foundation=foundation,
        endpoints=endpoints,
        batch=batch,
        network=network,
        release=release,
        apis=_api_stacks(app, config, env_name, foundation, endpoints, env, repo_root),
        labeling=labeling,
        monitoring=monitoring,
        training=training,
    )
    tags = {**config.tags, "mlops:environment": env_name}
    for key, value in tags.items():
        cdk.Tags.of(app).add(key, value)
    for stack in stacks.all:
        enforce_resource_limit(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def _api_stacks(
    app: cdk.App,
    config: MlopsConfig,
    env_name: str,
    foundation: FoundationStack,
    endpoints: dict[str, EndpointStack],
    env: cdk.Environment,
    repo_root: Path,
) -> dict[str, ApiStack]:
    """One stack per API; the first also holds API Gateway's account logging role (one per Region)."""
    if not config.apis:
        return {}
    from stacks.api import ApiDependencies, ApiStack, api_stack_name  # API Gateway, WAF, ... only when used

    uses = ApiDependencies(
        data_bucket=foundation.storage.data,
        data_key=foundation.storage.key,
        logs_key=foundation.logs_key,
        alert_topic=foundation.alerts.topic,
        log_retention_days=config.logs.retention_days,
        removal_policy=removal_policy(config),
    )
    by_endpoint = {e.name: e for e in config.endpoints}
    apis: dict[str, ApiStack] = {}
    for api in config.apis:
        stack = ApiStack(
            app,
            api_stack_name(env_name, api.name),
            api=api,
            endpoint_variants=[v.name for v in by_endpoint[api.endpoint].variants],
            uses=uses,
            repo_root=repo_root,
            account_logging=not apis,
            env=env,
        )
        stack.add_stack_dependency(endpoints[api.endpoint], "the API invokes this endpoint by name")
        if apis:
            stack.add_stack_dependency(next(iter(apis.values())), "API Gateway's account logging role is set there")
        apis[api.name] = stack
    return apis


@cache
def cdk_json_context() -> dict[str, Any]:
    """Feature flags and settings from cdk.json, so an app built in-process (tests,
    benchmarks) synthesises exactly as under `npx cdk synth`."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def create_app(env_name: str | None = None, *, outdir: str | None = None, config: MlopsConfig | None = None) -> MlopsStacks:
    """A new App for `env_name` (default: the `env` context, else dev)."""
    # CDK's built-in CloudFormation validation (a WASM linter) costs ~2 s of a ~2.5 s
    # synth; cfn-lint judges every template in the test suite instead (see README).
    app = cdk.App(context=dict(cdk_json_context()), outdir=outdir, builtin_cloud_formation_validation=False)
    name = env_name or app.node.try_get_context("env") or DEFAULT_ENV
    return build(app, config or load_config(name), name)
