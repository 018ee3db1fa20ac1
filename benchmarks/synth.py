"""Synth cost: full dev/prod synth (cdk-nag on) against an empty CDK app, and growth with endpoints.

Each measurement is a fresh Python process, as under `npx cdk synth` (interpreter start,
jsii/Node start, construct tree, synthesis, cdk-nag); the median of --runs is printed.
Usage: .venv/bin/python benchmarks/synth.py [--runs 5]
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

EMPTY_APP = """
import aws_cdk as cdk
cdk.App(outdir={outdir!r}).synth()
"""

OUR_APP = """
from pathlib import Path
from config.loader import load_config
from stacks.mlops_app import create_app
config = load_config({env!r}, config_dir=Path({config_dir!r}))
create_app({env!r}, outdir={outdir!r}, config=config).app.synth()
"""


def _run(code: str) -> float:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True)
    return time.perf_counter() - start


def _median(code: str, runs: int) -> float:
    _run(code)  # warm the file cache; not counted
    return statistics.median(_run(code) for _ in range(runs))


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


def _largest_stack(outdir: Path) -> tuple[str, int]:
    counts = {p.name: len(json.loads(p.read_text())["Resources"]) for p in outdir.glob("*.template.json")}
    name = max(counts, key=counts.__getitem__)
    return name, counts[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        programs = {
            "empty CDK app (floor)": EMPTY_APP.format(outdir=str(work / "empty")),
            **{
                f"{env} full synth + nag": OUR_APP.format(env=env, outdir=str(work / env), config_dir=str(ROOT / "config"))
                for env in ("dev", "prod")
            },
        }
        # Interleaved rounds: drift in machine load hits the floor and the apps alike.
        for code in programs.values():
            _run(code)  # warm the file cache; not counted
        samples: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(args.runs):
            for name, code in programs.items():
                samples[name].append(_run(code))
        floor = statistics.median(samples["empty CDK app (floor)"])
        for name, values in samples.items():
            took = statistics.median(values)
            spread = f"(min {min(values):.2f}, max {max(values):.2f})"
            print(f"{name:26s} {took:6.2f} s {spread:24s} {took / floor:4.2f}x floor")

        print("\ngenerated configs (2 autoscaled variants per endpoint, one stack per endpoint):")
        points: list[tuple[int, float]] = []
        for count in (1, 5, 20):
            config_dir = work / f"gen{count}"
            config_dir.mkdir()
            (config_dir / "bench.yaml").write_text(yaml.safe_dump(generated_config(count)))
            outdir = work / f"out{count}"
            took = _median(OUR_APP.format(env="bench", outdir=str(outdir), config_dir=str(config_dir)), max(1, args.runs // 2))
            stack, resources = _largest_stack(outdir)
            points.append((count, took))
            print(f"  {count:3d} endpoints  {took:6.2f} s   largest stack {stack}: {resources} resources (limit 500)")
        slope = (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
        print(f"  marginal cost: {slope * 1000:.0f} ms per endpoint")


if __name__ == "__main__":
    main()
