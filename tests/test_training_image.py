"""The training image's entrypoint as SageMaker runs it (a process over a temporary /opt/ml),
and what it writes served by the inference container (also a process)."""

from __future__ import annotations

import json
import re
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlops_inference.model import Model
from mlops_training.data import read_channel, synthetic_calls, write_csv
from mlops_training.hyperparameters import HyperparameterError, Hyperparameters, parse

from mlops_cli.model_artifact import build
from tests.serving_fixtures import RISKY, ROW, server_process
from tests.training_fixtures import TRAINING_DIR, OptMl

SMALL = {"epochs": "3", "hidden": "16,8", "batch_size": "128", "seed": "5", "model_version": "job-1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> OptMl:
    data = synthetic_calls(3000, seed=11)
    opt_ml = OptMl.create(tmp_path_factory.mktemp("opt-ml"), hyperparameters=SMALL, train=data)
    result = opt_ml.run(TRAINING_JOB_NAME="risk-job-1")
    assert result.returncode == 0, result.stderr
    return opt_ml


def test_job_writes_exactly_the_artifact_members(trained: OptMl) -> None:
    assert sorted(p.name for p in trained.paths.model.iterdir()) == ["metadata.json", "model.onnx"]
    metadata = json.loads((trained.paths.model / "metadata.json").read_text())
    assert (metadata["format"], metadata["format_version"], metadata["model_version"]) == ("mlops-tabular-classifier", 1, "job-1")
    assert metadata["training"]["job_name"] == "risk-job-1"
    assert metadata["training"]["data"] == {"train_rows": 2400, "validation_rows": 600}
    assert not trained.paths.failure.exists()


def test_inference_container_serves_what_the_job_wrote(trained: OptMl) -> None:
    expected = Model(trained.paths.model, threads=1).predict(np.array([ROW, RISKY], dtype=np.float32))
    with server_process(trained.paths.model) as (port, _):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data="\n".join(json.dumps({"features": row}) for row in (ROW, RISKY)).encode(),
            headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answers = [json.loads(line) for line in response.read().decode().splitlines()]
    assert [a["risk"] for a in answers] == pytest.approx(expected.tolist(), abs=1e-5)
    assert answers[1]["risk"] > answers[0]["risk"]  # it learned the synthetic rule's direction


def test_job_and_cli_train_the_same_model(tmp_path: Path) -> None:
    """One implementation: the job, given the CLI's data as channels, exports the same graph bytes."""
    data = synthetic_calls(1000, seed=7)
    train_part, holdout = data.split(800)
    archive = tmp_path / "cli" / "model.tar.gz"
    build(archive, hidden=(8,), rows=1000, epochs=2, seed=7)
    opt_ml = OptMl.create(
        tmp_path / "opt-ml", hyperparameters={"epochs": "2", "hidden": "8", "seed": "7"}, train=train_part, validation=holdout
    )
    assert opt_ml.run().returncode == 0
    with tarfile.open(archive) as tar:
        cli_graph = tar.extractfile("model.onnx").read()  # type: ignore[union-attr]
    assert (opt_ml.paths.model / "model.onnx").read_bytes() == cli_graph


def test_channel_csv_round_trips_float32_exactly(tmp_path: Path) -> None:
    data = synthetic_calls(200, seed=3)
    write_csv(data, tmp_path / "train" / "a.csv")
    back = read_channel(tmp_path / "train")
    assert np.array_equal(back.features, data.features)
    assert np.array_equal(back.labels, data.labels)


def test_hyperparameters_arrive_as_strings() -> None:
    hp = parse({"epochs": "12", "learning_rate": "3e-4", "hidden": "128,64", "amp": "true", "sagemaker_program": "x"})
    assert (hp.epochs, hp.learning_rate, hp.hidden, hp.amp) == (12, 3e-4, (128, 64), True)
    assert parse(Hyperparameters(epochs=4, hidden=(3, 2)).as_strings()) == Hyperparameters(epochs=4, hidden=(3, 2))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"epochs": "many"}, "epochs='many': must be an integer"),
        ({"epochs": "0"}, "epochs='0': must be between 1 and 10000"),
        ({"learning_rate": "-1"}, "learning_rate='-1': must be in (0.0, 10.0]"),
        ({"hidden": "64,,32"}, "hidden='64,,32': must be layer sizes"),
        ({"hidden": "0"}, "hidden='0': must be 1 to 16 comma-separated layer sizes"),
        ({"amp": "maybe"}, "amp='maybe': must be true or false"),
        ({"threshold": "1.5"}, "threshold='1.5': must be in [0.0, 1.0]"),
        ({"colour": "red"}, "colour: unknown hyperparameter (known: amp, batch_size"),
    ],
)
def test_bad_hyperparameter_is_named(raw: dict[str, str], message: str) -> None:
    with pytest.raises(HyperparameterError) as caught:
        parse(raw)
    assert message in str(caught.value)


def test_bad_hyperparameters_become_the_failure_reason(tmp_path: Path) -> None:
    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "many", "colour": "red"}, train=synthetic_calls(50, seed=1))
    result = opt_ml.run()
    assert result.returncode == 1
    reason = opt_ml.failure()
    assert "epochs='many': must be an integer" in reason
    assert "colour: unknown hyperparameter" in reason
    assert not opt_ml.paths.model.exists()


def test_missing_train_channel_is_the_failure_reason(tmp_path: Path) -> None:
    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "1"}, train=synthetic_calls(50, seed=1))
    for file in opt_ml.paths.channel("train").iterdir():
        file.unlink()
    assert opt_ml.run().returncode == 1
    assert re.search(r"DataError: channel directory .*/input/data/train holds no \.csv files", opt_ml.failure())


def test_a_worker_keeps_the_reason_another_process_wrote_first(tmp_path: Path) -> None:
    """With several processes, the first failure is the cause (say rank 0's export); a rank that fails
    after it (its collective cut off) must not overwrite it with the consequence."""
    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "1"}, train=synthetic_calls(1, seed=1))  # no validation rows
    opt_ml.paths.failure.parent.mkdir(parents=True, exist_ok=True)
    opt_ml.paths.failure.write_text("ExportError: rank 0 could not write the model")
    result = opt_ml.run()
    assert result.returncode == 1
    assert "ValueError: too few rows" in result.stderr
    assert opt_ml.failure() == "ExportError: rank 0 could not write the model"


def test_malformed_channel_file_is_named(tmp_path: Path) -> None:
    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "1"}, train=synthetic_calls(50, seed=1))
    (opt_ml.paths.channel("train") / "part-0.csv").write_text("call_duration_s,label\n1,0\n")
    assert opt_ml.run().returncode == 1
    assert "part-0.csv: header lacks calls_last_24h" in opt_ml.failure()


def test_onnx_pin_matches_the_dev_toolchain() -> None:
    """The image's pins and the tests' are the same versions, so the tests judge what ships."""
    image = dict(line.split("==") for line in (TRAINING_DIR / "requirements.txt").read_text().splitlines() if "==" in line)
    dev = (TRAINING_DIR.parent.parent / "requirements-dev.txt").read_text()
    assert all(f"{name}=={version}" in dev for name, version in image.items())


def test_dockerfile_extends_the_base_images_paths() -> None:
    """A DLC sets PYTHONPATH and LD_LIBRARY_PATH (CUDA, NCCL, EFA): any assignment must keep them."""
    dockerfile = (TRAINING_DIR / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=", dockerfile, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, re.M)
    for variable in ("PYTHONPATH", "LD_LIBRARY_PATH"):
        for value in re.findall(rf"^ENV .*\b{variable}=(\S+)", dockerfile, re.M):
            assert f"${{{variable}" in value, f"{variable}={value} replaces the base image's value"
    assert re.search(r'^ENTRYPOINT \["python3", "-m", "mlops_training"\]', dockerfile, re.M)


def test_failure_reason_is_cut_to_what_sagemaker_keeps(tmp_path: Path) -> None:
    from mlops_training.contract import FAILURE_LIMIT, Paths, write_failure

    paths = Paths(root=tmp_path, checkpoints=tmp_path / "checkpoints")
    write_failure(paths, "x" * 5000)
    assert len(paths.failure.read_text()) == FAILURE_LIMIT == 1024


def test_cluster_from_resourceconfig_and_torchrun_per_host(tmp_path: Path) -> None:
    """Two hosts with 4 GPUs each: every host runs torchrun with its rank in the sorted host list."""
    from mlops_training.contract import Paths, cluster
    from mlops_training.entrypoint import plan, torchrun_command

    paths = Paths(root=tmp_path, checkpoints=tmp_path / "checkpoints")
    paths.resource_config.parent.mkdir(parents=True)
    paths.resource_config.write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-2", "algo-1"], "network_interface_name": "eth0"})
    )
    found = cluster(paths, env={})
    launch = plan(found, Hyperparameters(), gpus=4)
    assert (launch.nodes, launch.node_rank, launch.processes_per_host, launch.world_size) == (2, 1, 4, 8)
    command = torchrun_command(launch, {})
    assert command[1:] == [
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--node_rank=1",
        "--nproc_per_node=4",
        "--master_addr=algo-1",
        "--master_port=29500",
        "-m",
        "mlops_training",
        "worker",
    ]


def test_sm_hosts_take_precedence_and_one_cpu_host_is_one_process(tmp_path: Path) -> None:
    from mlops_training.contract import Paths, cluster
    from mlops_training.entrypoint import plan

    paths = Paths(root=tmp_path, checkpoints=tmp_path / "checkpoints")
    found = cluster(paths, env={"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"})
    assert (found.hosts, found.node_rank) == (("algo-1",), 0)
    assert plan(found, Hyperparameters(), gpus=0).world_size == 1
    assert plan(found, Hyperparameters(processes_per_host=2), gpus=0).world_size == 2
    assert cluster(paths, env={}).hosts == ("localhost",)  # a local run: no resourceconfig.json


def test_more_processes_than_gpus_is_refused_before_launch(tmp_path: Path) -> None:
    """Each process takes its own GPU (cuda:LOCAL_RANK): two on a one-GPU host would fail in the
    worker with "CUDA error: invalid device ordinal" (seen on an H100), so the plan refuses it."""
    from mlops_training.contract import Paths, cluster
    from mlops_training.entrypoint import plan

    found = cluster(Paths(root=tmp_path, checkpoints=tmp_path / "checkpoints"), env={})
    with pytest.raises(ValueError, match=r"processes_per_host=2 exceeds the 1 GPU\(s\) on this host"):
        plan(found, Hyperparameters(processes_per_host=2), gpus=1)
    assert plan(found, Hyperparameters(processes_per_host=2), gpus=2).world_size == 2
    assert plan(found, Hyperparameters(), gpus=1).world_size == 1


def test_unknown_current_host_is_the_failure_reason(tmp_path: Path) -> None:
    opt_ml = OptMl.create(tmp_path, hyperparameters={"epochs": "1"}, train=synthetic_calls(50, seed=1))
    result = opt_ml.run(SM_HOSTS='["algo-1"]', SM_CURRENT_HOST="algo-9")
    assert result.returncode == 1
    assert "current host 'algo-9' is not among the job's hosts" in opt_ml.failure()
