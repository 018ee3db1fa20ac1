"""How pytest-xdist hands the suite to its workers (`-n auto`, pyproject addopts).

xdist's default (`--dist load`) sends single tests in collection order. On the 2-core
machines that wastes the cores twice over:
- a fixture wider than one test that costs seconds (a `mlops diff` of every case, a training
  job, the drift jobs, a synth, the model archive) is built again on every worker that runs
  one of its tests;
- the costliest tests come last in collection order (test_training_*), so the run ends with
  one worker on a 15-second process test while the other has nothing left to do.
So the tests of the modules of one GROUPS entry go to one worker as one unit, and units are
handed out costliest first (FIRST, then collection order): longest-processing-time-first
scheduling, which keeps both workers busy to the end.

(`--dist loadgroup` with `xdist_group` marks would do the grouping, but pytest-xdist 3.8.0
marks a test's group by rewriting `item._nodeid`, which pytest 9 no longer reads: the marks
are silently ignored.)
"""

from __future__ import annotations

from typing import Any

# Module -> its unit: the modules of one unit share a fixture wider than one test (most cost
# seconds). tests/test_scheduling.py fails when a test module defines such a fixture, or uses
# one of conftest's costly session fixtures (SESSION_FIXTURES), without being listed here.
GROUPS = {
    "tests/test_diff.py": "diff",  # `runs`: every `mlops diff` case, each a synth in git worktrees
    "tests/test_drift_monitor.py": "drift",  # `baseline_dir`, `executions`: the drift jobs as processes
    "tests/test_training_image.py": "training-image",  # `trained`: a training job as a process
    "tests/test_training_events.py": "training-events",  # `job_output`: a training job as a process
    "tests/test_release.py": "release",  # `changes`: synths of edited configs
    "tests/test_labeling_stack.py": "labeling-stack",  # `public`: a synth with a public workforce
    "tests/test_scoring_api_stack.py": "scoring-api-stack",  # `iam_api`: a synth with IAM authorisation
    "tests/test_scoring_api_invoke.py": "scoring-api-invoke",  # `localhost_certificate`
    # conftest's `vpc`: a synth of tests/configs/vpc.yaml
    "tests/test_vpc.py": "vpc",
    "tests/test_deploy_rules.py": "vpc",
    # conftest's `model_archive`/`model_dir`: a model trained and exported to ONNX; servers on it
    "tests/test_model_format.py": "model",
    "tests/test_scoring_api_local.py": "model",  # `server_port`: the inference server as a process
    "tests/test_server.py": "model",  # `port`: the inference server as a process
    "tests/test_server_hostile.py": "model",  # `port`: the inference server as a process
    "tests/test_server_lifecycle.py": "model",
    "tests/test_stdin_and_qa.py": "model",  # `calls_csv`, read by the QA-pipeline processes
}

# conftest.py's session fixtures that cost seconds and serve a few modules (dev and prod serve
# most modules: every worker builds those).
SESSION_FIXTURES = ("vpc", "model_archive", "model_dir")

# The costliest units (a GROUPS name, or a module whose tests are units of their own), by
# measured seconds of CPU on the 2-core machines: handed out first, in this order.
FIRST = (
    "diff",  # ~40
    "tests/test_training_resume.py",  # spot resume ~10, two-process gloo ~10, launcher ~4
    "drift",  # three processes that load the embedding model, ~10 each
    "tests/test_gates.py",  # synths, cfn-lint of every shipped app
    "model",  # ~20: the model archive, server processes, the QA pipeline
    "training-image",
    "training-events",
    "vpc",
    "tests/test_training_images.py",
    "tests/test_labeling_template.py",  # Chromium
    "tests/test_train_cli.py",
)


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module's group, else the test alone."""
    return GROUPS.get(nodeid.split("::", 1)[0], nodeid)


def rank(unit: str) -> int:
    for key in (unit, unit.split("::", 1)[0]):
        if key in FIRST:
            return FIRST.index(key)
    return len(FIRST)


def make_scheduler(config: Any, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class CostlyFirstScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            # The base class hands out the front of the queue: put the costliest unit there
            # (min: the first of the lowest rank, so collection order among equals).
            self.workqueue.move_to_end(min(self.workqueue, key=rank), last=False)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False  # the order is ours (rank), not "most tests first"
    return CostlyFirstScheduling(config, log)
