"""`mlops diff` end to end: a throwaway git repository of the project, config changes committed
on top, and the real command (a subprocess) comparing them.

Cost: every case synthesises its head once (dev only) and the shared base once; a synth cache
shared by the session keeps each commit's assembly, and one fixture runs all the cases in
sequence (two cores: parallel cases would only queue).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import REPO_ROOT
from mlops_cli.diff_render import print_text
from mlops_cli.diff_report import (
    Blocking,
    Report,
    deployment_config_text,
    render,
    split_allowed,
)
from mlops_cli.diff_rules import STATEFUL_RULES, STATEFUL_TYPES, stateful_rule

SKIP_DIRS = ("tests/", "benchmarks/")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def resources(self, stack: str) -> dict[str, dict[str, Any]]:
        return {r["logical_id"]: r for r in self.stack(stack)["resources"]}

    def stack(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.report["stacks"] if s["stack"] == name]
        return dict(found)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _project_files() -> list[str]:
    listed = _git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    return sorted({f for f in listed if f and not f.startswith(SKIP_DIRS) and (REPO_ROOT / f).is_file()})


def _edit_config(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = repo / "config" / "dev.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _base_config(config: dict[str, Any]) -> None:
    _variant(config, "champion")["autoscaling"] = {"min_capacity": 1, "max_capacity": 3, "target_invocations_per_instance": 500}
    second = json.loads(json.dumps(config["endpoints"][0]))
    second["name"] = "fraud-score"
    config["endpoints"].append(second)


def _variant(config: dict[str, Any], name: str) -> dict[str, Any]:
    variants: list[dict[str, Any]] = config["endpoints"][0]["variants"]
    (variant,) = [v for v in variants if v["name"] == name]
    return variant


class Project:
    """A git repository holding the project's files (the checkout's working state) with commits on top."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for rel in _project_files():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, target)
        for name in (".venv", "node_modules"):
            (root / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
        _git(root, "init", "-q", "-b", "main")
        # .gitignore's `.venv/` matches directories, not these symlinks.
        (root / ".git" / "info" / "exclude").write_text(".venv\nnode_modules\n")
        _git(root, "config", "user.email", "ci@example.com")
        _git(root, "config", "user.name", "CI")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "project")
        # The base every case starts from: the champion autoscaled (an instance-type change is judged)
        # and a second endpoint that a case removes.
        _edit_config(root, _base_config)
        self.commit_all("base: champion autoscaled, a second endpoint")
        _git(root, "tag", "base")

    def commit_all(self, message: str) -> None:
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-q", "-m", message)

    def case(self, name: str, change: Callable[[Path], None]) -> str:
        """A branch `name` off the base with `change` committed; the working tree returns to the base."""
        _git(self.root, "checkout", "-q", "-b", name, "base")
        change(self.root)
        self.commit_all(name)
        _git(self.root, "checkout", "-q", "main")
        return name


def mlops_diff(repo: Path, *args: str, cache: Path | None = None, timeout: float = 240) -> Run:
    env = {**os.environ, "COLUMNS": "200"}
    if cache is not None:
        env["MLOPS_DIFF_SYNTH_CACHE"] = str(cache)
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "diff", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr)


def _even_weights(config: dict[str, Any]) -> None:
    _variant(config, "champion")["weight"] = 50
    _variant(config, "challenger")["weight"] = 50


def _bucket_names(root: Path) -> None:
    path = root / "mlops_constructs" / "storage.py"
    source = path.read_text()
    anchor = '            "Bucket",\n'
    assert anchor in source, "storage.py changed shape: update the bucket-replacement case"
    path.write_text(source.replace(anchor, anchor + '            bucket_name=f"mlops-difftest-{id.lower()}",\n', 1))


def _broken(root: Path) -> None:
    _edit_config(root, lambda c: c.update(endpoints=[{"name": "caller-risk", "variants": []}]))


CASES: dict[str, Callable[[Path], None]] = {
    "weights": lambda root: _edit_config(root, _even_weights),
    "new-model": lambda root: _edit_config(
        root, lambda c: _variant(c, "challenger").update(model_data="artifacts://caller-risk/v2/model.tar.gz")
    ),
    "bucket-names": _bucket_names,
    "no-endpoint": lambda root: _edit_config(root, lambda c: c.update(endpoints=c["endpoints"][:1])),
    "instance-type": lambda root: _edit_config(root, lambda c: _variant(c, "champion").update(instance_type="ml.c6i.xlarge")),
    "broken": _broken,
}


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("diff-project"))
    for name, change in CASES.items():
        project.case(name, change)
    return project


@pytest.fixture(scope="session")
def runs(project: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every expensive case, run once: each head synthesised once, the base once (synth cache)."""
    cache = tmp_path_factory.mktemp("synth-cache")
    found = {name: mlops_diff(project.root, "--base", "base", "--head", name, "--format", "json", cache=cache) for name in CASES}
    found["no-endpoint-allowed"] = mlops_diff(
        project.root,
        "--base=base",
        "--head=no-endpoint",
        "--format=json",
        "--allow-replace=Endpoint8024A810",
        "--allow-replace=mlops-dev-fraud-score/EndpointLogs88A66289",
        cache=cache,
    )
    found["weights-markdown"] = mlops_diff(project.root, "--base=base", "--head=weights", "--format=markdown", cache=cache)
    found["broken-base"] = mlops_diff(project.root, "--base=broken", "--head=weights", "--format=json", cache=cache)
    return found


def _no_worktrees_left(project: Project) -> None:
    assert _git(project.root, "worktree", "list", "--porcelain").count("worktree ") == 1


# --- the cases -------------------------------------------------------------------------------


def test_weight_shift_only(runs: dict[str, Run]) -> None:
    run = runs["weights"]
    assert run.code == 0, run.stderr
    report = run.report
    assert report["schema"] == "mlops-diff/1"
    documented = {"schema", "verdict", "exit_code", "base", "head", "engine", "envs", "notes", "blocking", "allowed", "stacks"}
    assert set(report) == documented | {"timings"}
    assert {"env", "stack", "status", "resources", "weights", "guardrails", "autoscaling", "iam", "engine_text"} == set(
        report["stacks"][0]
    )
    assert report["verdict"] == "ok"
    assert report["blocking"] == []
    stack = run.stack("mlops-dev-caller-risk")
    shares = {w["variant"]: (w["share_before"], w["share_after"]) for w in stack["weights"]}
    assert shares == {"champion": (90.0, 50.0), "challenger": (10.0, 50.0)}
    changes = run.resources("mlops-dev-caller-risk")
    replaced = {k for k, r in changes.items() if r["change"] in ("replaced", "may be replaced")}
    # Weights live in the EndpointConfig unless a live-weights custom resource carries them.
    assert replaced <= {k for k, r in changes.items() if r["type"] == "AWS::SageMaker::EndpointConfig"}
    assert not any(r["type"] == "AWS::SageMaker::Model" for r in changes.values())
    assert all(s["status"] == "unchanged" for s in report["stacks"] if s["stack"] != "mlops-dev-caller-risk")


def test_weight_table_in_markdown_with_verdict_first(runs: dict[str, Run]) -> None:
    run = runs["weights-markdown"]
    assert run.code == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert "mlops diff: OK" in first
    assert "| caller-risk | champion | 90% (90) -> 50% (50) |" in run.stdout
    assert "| caller-risk | challenger | 10% (10) -> 50% (50) |" in run.stdout


def test_new_model_replaces_model_and_config_and_updates_endpoint(runs: dict[str, Run]) -> None:
    run = runs["new-model"]
    assert run.code == 0, run.stderr
    changes = run.resources("mlops-dev-caller-risk")
    by_type = {r["type"]: r for r in changes.values()}
    model = by_type["AWS::SageMaker::Model"]
    assert model["change"] == "replaced"
    assert model["replaced_by"] == ["PrimaryContainer"]
    assert by_type["AWS::SageMaker::EndpointConfig"]["change"] == "replaced"
    endpoint = changes["Endpoint8024A810"]
    assert endpoint["change"] == "modified"
    assert "EndpointConfigName" in endpoint["properties"]
    (row,) = [w for w in run.stack("mlops-dev-caller-risk")["weights"] if w["variant"] == "challenger"]
    assert "caller-risk/challenger/model.tar.gz" in row["model_before"]
    assert "caller-risk/v2/model.tar.gz" in row["model_after"]


def test_iam_grant_is_shown(runs: dict[str, Run]) -> None:
    """The serving role reads exactly its variants' model objects: a new model is a new grant."""
    iam = runs["new-model"].stack("mlops-dev-caller-risk")["iam"]
    granted = [s for s in iam if s["change"] == "+"]
    assert any("s3:GetObject" in s["action"] and "caller-risk/v2/model.tar.gz" in s["resource"] for s in granted), iam
    assert any(s["change"] == "-" and "caller-risk/challenger/model.tar.gz" in s["resource"] for s in iam)


def test_bucket_replacement_blocks_and_names_the_property(runs: dict[str, Run]) -> None:
    run = runs["bucket-names"]
    assert run.code == 1, run.stderr
    report = run.report
    assert report["verdict"] == "blocked"
    blocked = {b["logical_id"]: b for b in report["blocking"]}
    assert "StorageDataBucket82AF5CCF" in blocked
    assert all(b["type"] == "AWS::S3::Bucket" and b["property"] == "BucketName" for b in blocked.values())
    assert "empty" in blocked["StorageDataBucket82AF5CCF"]["reason"]
    # New buckets reach the endpoint stack through the foundation's outputs: its Models are replaced.
    models = [r for r in run.resources("mlops-dev-caller-risk").values() if r["type"] == "AWS::SageMaker::Model"]
    assert models
    assert all(m["change"] == "replaced" for m in models)
    assert "mlops-dev-foundation:StorageArtifactsBucket" in models[0]["through"]


def test_removing_an_endpoint_blocks_unless_allowed(runs: dict[str, Run]) -> None:
    run = runs["no-endpoint"]
    assert run.code == 1, run.stderr
    blocked = {(b["logical_id"], b["change"]) for b in run.report["blocking"]}
    assert ("Endpoint8024A810", "removed") in blocked
    assert ("EndpointLogs88A66289", "removed") in blocked  # its log group keeps 90 days of logs
    assert {b["stack"] for b in run.report["blocking"]} == {"mlops-dev-fraud-score"}
    assert run.stack("mlops-dev-fraud-score")["status"] == "removed"
    allowed = runs["no-endpoint-allowed"]
    assert allowed.code == 0, allowed.report["blocking"]
    assert allowed.report["blocking"] == []
    assert {b["logical_id"] for b in allowed.report["allowed"]} == {"Endpoint8024A810", "EndpointLogs88A66289"}


def test_autoscaled_instance_type_change_blocks(runs: dict[str, Run]) -> None:
    run = runs["instance-type"]
    assert run.code == 1, run.stderr
    (blocked,) = run.report["blocking"]
    assert blocked["property"] == "ProductionVariants[champion].InstanceType"
    assert "ml.c6i.large -> ml.c6i.xlarge" in blocked["change"]
    assert "Auto Scaling" in blocked["reason"]


def test_base_that_does_not_synthesise_is_exit_2_with_its_error(runs: dict[str, Run], project: Project) -> None:
    run = runs["broken-base"]
    assert run.code == 2
    assert run.stdout == ""
    assert "base broken" in run.stderr
    assert "does not synthesise" in run.stderr
    assert "variants" in run.stderr  # the config error of the base itself
    assert "Traceback (most recent call last)" not in run.stderr.split("does not synthesise", 1)[0]
    _no_worktrees_left(project)


# --- bad input: one line, non-zero, no traceback, nothing left behind --------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-ref"], "unknown git ref 'no-such-ref'"),
        (["--base", "base", "--env", "staging"], "unknown env 'staging'"),
    ],
)
def test_bad_input_is_one_clear_line(project: Project, args: list[str], message: str) -> None:
    run = mlops_diff(project.root, *args)
    assert run.code == 2
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
    _no_worktrees_left(project)


def test_not_a_git_repository(tmp_path: Path) -> None:
    run = mlops_diff(tmp_path, "--base", "main")
    assert run.code == 2
    assert "is not in a git repository" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_dirty_worktree_with_head_at_head(project: Project) -> None:
    (project.root / "scratch.txt").write_text("uncommitted\n")
    try:
        run = mlops_diff(project.root, "--base", "base", "--head", "HEAD")
    finally:
        (project.root / "scratch.txt").unlink()
    assert run.code == 2
    assert "uncommitted change(s)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    _no_worktrees_left(project)


def _slow_synth(root: Path) -> None:
    """The head's synthesis takes 60 s before it starts: a window that load cannot close."""
    path = root / "stacks" / "mlops_app.py"
    future = "from __future__ import annotations\n"
    source = path.read_text()
    assert future in source, "stacks/mlops_app.py changed shape: update the slow-synth case"
    path.write_text(source.replace(future, future + "import time\n\ntime.sleep(60)\n", 1))


def test_ctrl_c_leaves_no_worktree(project: Project) -> None:
    # Against a head that synthesises slowly, so the interrupt lands during synthesis even on a
    # loaded machine (against a normal head, the diff sometimes finished before the poll below
    # saw both worktrees, and the test read exit 0).
    head = project.case("slow-synth", _slow_synth)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "diff", "--base", "base", "--head", head],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    worktrees: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        listing = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=project.root, capture_output=True, text=True)
        listed = listing.stdout if listing.returncode == 0 else ""  # fails while a worktree is half added
        worktrees = [line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")][1:]
        if len(worktrees) == 2:  # base and head checked out: synthesis under way
            break
        time.sleep(0.05)
    assert worktrees, "mlops diff never checked out a worktree"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    _no_worktrees_left(project)
    assert not any(Path(w).exists() for w in worktrees)


# --- rules and reading templates (no synth) ----------------------------------------------------


def test_blocking_list_is_one_source_with_a_reason_each() -> None:
    assert {r.resource_type for r in STATEFUL_RULES} == STATEFUL_TYPES
    assert {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::Cognito::UserPool"} <= STATEFUL_TYPES
    assert {"AWS::Logs::LogGroup", "AWS::SageMaker::Endpoint"} <= STATEFUL_TYPES
    assert all(len(r.reason) > 20 for r in STATEFUL_RULES)


def test_log_groups_block_only_with_retention() -> None:
    assert stateful_rule({"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 90}}) is not None
    assert stateful_rule({"Type": "AWS::Logs::LogGroup", "Properties": {}}) is None
    assert stateful_rule({"Type": "AWS::SageMaker::Model", "Properties": {}}) is None


def test_allow_replace_takes_ids_or_stack_slash_id() -> None:
    items = [
        Blocking("dev", "s1", "KeyA", "AWS::KMS::Key", "replaced", "KeySpec", "r"),
        Blocking("dev", "s2", "KeyA", "AWS::KMS::Key", "replaced", "KeySpec", "r"),
        Blocking("dev", "s2", "BucketB", "AWS::S3::Bucket", "removed", None, "r"),
    ]
    blocking, allowed = split_allowed(items, ["s2/KeyA"])
    assert [(b.stack, b.logical_id) for b in allowed] == [("s2", "KeyA")]
    assert len(blocking) == 2


def test_render_reads_intrinsics() -> None:
    value = {
        "Fn::Join": [
            "",
            [
                "s3://",
                {"Fn::GetStackOutput": {"OutputName": "PublishOutputRefStorageArtifactsBucketA637E3AF17859549"}},
                "/m/model.tar.gz",
            ],
        ]
    }
    assert render(value) == "s3://${StorageArtifactsBucket}/m/model.tar.gz"
    assert render({"Fn::GetAtt": ["Endpoint8024A810", "EndpointName"]}) == "${Endpoint8024A810.EndpointName}"


def test_guardrails_in_words() -> None:
    config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": 600,
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}]},
    }
    assert deployment_config_text(config) == "blue/green canary 10%, wait 600s; rollback on 2 alarm(s)"
    assert deployment_config_text(None) is None


def test_text_output_shows_brackets_as_data() -> None:
    import io

    from rich.console import Console

    blocked = Blocking(
        "dev",
        "s",
        "EndpointConfig1",
        "AWS::SageMaker::EndpointConfig",
        "instance type a -> b",
        "ProductionVariants[champion].InstanceType",
        "r",
    )
    report = Report(
        base={"ref": "main", "commit": "0" * 40},
        head={"ref": None, "commit": None},
        engine="e",
        envs=["dev"],
        stacks=[],
        blocking=[blocked],
        allowed=[],
    )
    sink = io.StringIO()
    print_text(report, Console(file=sink, width=200))
    text = sink.getvalue()
    assert text.startswith("mlops diff: BLOCKED: 1 blocking change")
    assert "ProductionVariants[champion].InstanceType" in text


def test_workspace_removes_a_worktree_left_locked_by_an_interrupted_add(tmp_path: Path) -> None:
    """Ctrl-C during `git worktree add` leaves the new worktree locked ("initializing"); `prune`
    skips locked entries, so close() must remove it with --force twice (git-worktree docs)."""
    from mlops_cli.diff import Workspace

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-q", "--allow-empty", "-m", "x")
    workspace = Workspace.create(repo)
    path = workspace.checkout("head", _git(repo, "rev-parse", "HEAD").strip())
    _git(repo, "worktree", "lock", "--reason", "initializing", str(path))
    workspace.close()
    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
