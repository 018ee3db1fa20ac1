"""Synth cost: the app as `cdk synth` runs it (cdk-nag on) against an empty CDK app, and its growth per endpoint.

Every measurement is a fresh Python process started the way CDK CLI 2.1148 starts the app:
`CDK_OUTDIR` and `CDK_CONTEXT_JSON` in the environment, with the context the CLI passes
(the `env`, path and asset metadata, version reporting). The floor is an empty CDK app with
CDK's built-in WASM template validation off, as in our app (README, "Synth cost"), so the
ratio compares like with like: interpreter + jsii + Node.js start-up and an empty synth.

Rounds interleave every program (floor, dev, prod, the endpoint series), so drift in machine
load hits them alike; each line gives the median, min and max of --runs rounds. The series
synthesises generated configs of 1, 5, 20 and 60 endpoints (two autoscaled variants each, one
stack per endpoint) and reports the marginal cost per endpoint as the least-squares slope.
`--calls` also counts the jsii round trips (Python -> Node.js requests) of each program, in
one extra untimed pass.

Usage: .venv/bin/python benchmarks/synth.py [--runs 5] [--series 1,5,20,60] [--calls]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

# What the CDK CLI (2.1148) puts in CDK_CONTEXT_JSON besides `-c` values and cdk.json.
CLI_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}

EMPTY_APP = """
import aws_cdk as cdk
cdk.App(builtin_cloud_formation_validation=False).synth()
"""

# app.py itself, as `cdk synth` runs it (`python app.py`).
APP_PY = """
import runpy
runpy.run_path("app.py", run_name="__main__")
"""

# app.py's path with a config file from elsewhere (the generated series).
GENERATED_APP = """
from pathlib import Path
from config.loader import load_config
from stacks.mlops_app import create_app
create_app("bench", config=load_config("bench", config_dir=Path({config_dir!r}))).app.synth()
"""

# Prepended with --calls: counts requests to the jsii kernel and prints the count at exit.
COUNT_CALLS = """
import atexit, sys
from jsii._kernel.providers import process as _process
_calls = [0]
_send = _process._NodeProcess.send
def _counting_send(self, request, response_type):
    _calls[0] += 1
    return _send(self, request, response_type)
_process._NodeProcess.send = _counting_send
atexit.register(lambda: print(f"JSII_CALLS={_calls[0]}", file=sys.stderr))
"""


class Program:
    def __init__(self, name: str, code: str, env_name: str, outdir: Path) -> None:
        self.name = name
        self.code = code
        self.outdir = outdir
        self.env = {
            **os.environ,
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "CDK_OUTDIR": str(outdir),
            "CDK_CONTEXT_JSON": json.dumps({"env": env_name, **CLI_CONTEXT}),
        }
        self.samples: list[float] = []

    def run(self, prelude: str = "") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", prelude + self.code], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SystemExit(f"{self.name} failed:\n{result.stderr[-3000:]}")
        return result

    def timed(self) -> None:
        start = time.perf_counter()
        self.run()
        self.samples.append(time.perf_counter() - start)

    def calls(self) -> int:
        stderr = self.run(COUNT_CALLS).stderr
        return int(stderr.rsplit("JSII_CALLS=", 1)[1].split()[0])

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def generated_config(endpoints: int) -> dict[str, Any]:
    """A prod-like config with `endpoints` endpoints of two autoscaled variants each."""
    variant: dict[str, Any] = {
        "image": "inference",
        "instance_type": "ml.c6i.xlarge",
        "initial_instance_count": 2,
        "autoscaling": {
            "min_capacity": 2,
            "max_capacity": 10,
            "target_invocations_per_instance": 1000,
            "scheduled": [{"name": "peak", "cron": "0 7 ? * MON-FRI *", "min_capacity": 4}],
        },
    }
    return {
        "account": "333333333333",
        "region": "eu-west-1",
        "removal_policy": "retain",
        "alerts": {"emails": ["oncall@example.com"]},
        "endpoints": [
            {
                "name": f"model-{i}",
                "variants": [
                    {**variant, "name": "champion", "weight": 90, "model_data": f"artifacts://m{i}/v1/model.tar.gz"},
                    {**variant, "name": "challenger", "weight": 10, "model_data": f"artifacts://m{i}/v2/model.tar.gz"},
                ],
            }
            for i in range(endpoints)
        ],
    }


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (endpoints, seconds)."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def _largest_stack(outdir: Path) -> tuple[str, int]:
    """The largest endpoint stack and its resource count."""
    templates = outdir.glob("mlops-bench-model-*.template.json")
    counts = {p.name.removesuffix(".template.json"): len(json.loads(p.read_text())["Resources"]) for p in templates}
    name = max(counts, key=counts.__getitem__)
    return name, counts[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--series", default="1,5,20,60", help="endpoint counts of the generated configs")
    parser.add_argument("--calls", action="store_true", help="also count jsii round trips (one untimed pass)")
    args = parser.parse_args()
    counts = [int(c) for c in args.series.split(",") if c]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floor = Program("empty CDK app (floor)", EMPTY_APP, "dev", work / "empty")
        programs = [floor, *(Program(f"{env}: app.py", APP_PY, env, work / env) for env in ("dev", "prod"))]
        series: dict[int, Program] = {}
        for count in counts:
            config_dir = work / f"gen{count}"
            config_dir.mkdir()
            (config_dir / "bench.yaml").write_text(yaml.safe_dump(generated_config(count)))
            code = GENERATED_APP.format(config_dir=str(config_dir))
            series[count] = Program(f"{count} endpoint(s)", code, "bench", work / f"out{count}")
        programs += series.values()

        for program in programs:
            program.run()  # warm the file cache; not counted
        for _ in range(args.runs):
            for program in programs:
                program.timed()
        calls = {p.name: p.calls() for p in programs} if args.calls else {}

        print(f"fresh processes, {args.runs} interleaved rounds: median (min-max), ratio to the floor's median")
        for program in programs:
            low, high = min(program.samples), max(program.samples)
            line = f"{program.name:24s} {program.median:6.2f} s ({low:.2f}-{high:.2f})  {program.median / floor.median:4.2f}x"
            if program.name in calls:
                line += f"  {calls[program.name]:6d} jsii calls"
            if program in series.values():
                stack, resources = _largest_stack(program.outdir)
                line += f"  largest stack {stack}: {resources} resources"
            print(line)
        if len(series) >= 2:
            points = [(count, program.median) for count, program in series.items()]
            per_endpoint = slope(points)
            print(f"marginal cost: {per_endpoint * 1000:.0f} ms per endpoint (least-squares slope over {counts})")
            if args.calls:
                call_slope = slope([(count, float(calls[program.name])) for count, program in series.items()])
                print(f"               {call_slope:.0f} jsii calls per endpoint")


if __name__ == "__main__":
    main()
