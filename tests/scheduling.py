"""How pytest-xdist hands the suite to its workers (`-n auto`, pyproject addopts).

xdist's default (`--dist load`) sends single tests in collection order. On the 2-core
machines that wastes the cores twice over:
- a module-scoped or session-scoped fixture that costs seconds (a `mlops diff` of every case,
  a training job, the drift jobs) is built again on every worker that runs one of its tests;
- the costliest tests come last in collection order (test_training_*), so the run ends with
  one worker on a 15-second process test while the other has nothing left to do.
So the tests of each module in GROUPED go to one worker as one unit, and units are handed
out costliest first (FIRST, then collection order): longest-processing-time-first
scheduling, which keeps both workers busy to the end.

(`--dist loadgroup` with `xdist_group` marks would do the grouping, but pytest-xdist 3.8.0
marks a test's group by rewriting `item._nodeid`, which pytest 9 no longer reads: the marks
are silently ignored.)
"""

from __future__ import annotations

from typing import Any

# Modules whose tests share a fixture wider than one test (most cost seconds): one worker each.
# tests/test_scheduling.py fails when a test module defines such a fixture and is not listed.
GROUPED = frozenset(
    {
        "tests/test_diff.py",  # `runs`: every `mlops diff` case, each a synth in git worktrees
        "tests/test_drift_monitor.py",  # `baseline_dir`, `executions`: the drift jobs as processes
        "tests/test_training_image.py",  # `trained`: a training job as a process
        "tests/test_training_events.py",  # `job_output`: a training job as a process
        "tests/test_release.py",  # `changes`: synths of edited configs
        "tests/test_labeling_stack.py",  # `public`: a synth with a public workforce
        "tests/test_scoring_api_stack.py",  # `iam_api`: a synth with IAM authorisation
        "tests/test_scoring_api_local.py",  # `local_endpoint`: a model server process
        "tests/test_server.py",  # `port`: the inference server as a process
        "tests/test_server_hostile.py",  # `port`: the inference server as a process
        "tests/test_stdin_and_qa.py",  # `calls_csv` (cheap), read by the QA-pipeline processes
    }
)

# The costliest modules (measured, seconds of CPU on the 2-core machines), handed out first.
FIRST = (
    "tests/test_diff.py",  # ~40
    "tests/test_training_resume.py",  # spot resume ~10, two-process gloo ~10, launcher ~4
    "tests/test_drift_monitor.py",  # three processes that load the embedding model, ~10 each
    "tests/test_gates.py",  # cfn-lint of every shipped app
    "tests/test_training_image.py",
    "tests/test_training_events.py",
    "tests/test_vpc.py",
    "tests/test_stdin_and_qa.py",
    "tests/test_training_images.py",
    "tests/test_labeling_template.py",  # Chromium
    "tests/test_train_cli.py",
)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module if GROUPED, else the test alone."""
    module = module_of(nodeid)
    return module if module in GROUPED else nodeid


def rank(unit: str) -> int:
    module = module_of(unit)
    return FIRST.index(module) if module in FIRST else len(FIRST)


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
