"""`mlops diff` wall time against two plain synths of the same refs (target: at most 1.3x).

    .venv/bin/python benchmarks/diff.py [--base HEAD~1] [--env dev|prod|all] [--rounds 3] [--deps reuse]

Each round, interleaved: (1) plain synths of the base (a worktree, checked out before the
clock starts) and the head (the working tree), one after the other, each env on its own, as
`npx cdk synth` does it; the same as bare `python app.py` runs (the app without the CLI's
start-up); (2) `mlops diff --base <base> --env <env> --format json`, no synth cache, from
a cold start (its worktree checkout, both synths, the diff engine, clean-up). Pick a base
whose templates differ from the head's: with none, the engine has nothing to load. Prints the
medians and the ratios. Machines with 2 cores shared by other work vary by +-20% between
runs: compare ratios from one run, not absolute seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
    }


def _timed(command: list[str], cwd: Path, extra: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env={**_env(), **(extra or {})}, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed


def cdk_synth(directory: Path, env: str, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    npx = shutil.which("npx", path=_env()["PATH"]) or "npx"
    return _timed([npx, "cdk", "synth", "--quiet", "--no-notices", "-c", f"env={env}", "-o", str(out)], directory)


def app_synth(directory: Path, env: str, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    context = json.dumps({"env": env})
    return _timed(
        [str(directory / ".venv" / "bin" / "python"), "app.py"], directory, {"CDK_OUTDIR": str(out), "CDK_CONTEXT_JSON": context}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD~1")
    parser.add_argument("--env", default="dev")
    parser.add_argument("--rounds", type=int, default=3)
    # reuse: both sides synthesise with the checkout's environment, as the plain synths below do
    # (a base with other npm/pip pins would otherwise measure an install, not a diff).
    parser.add_argument("--deps", default="reuse", choices=["auto", "reuse"])
    args = parser.parse_args()
    envs = sorted(p.stem for p in (ROOT / "config").glob("*.yaml")) if args.env == "all" else [args.env]
    work = Path(tempfile.mkdtemp(prefix="bench-diff-"))
    base_dir = work / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(base_dir), args.base], cwd=ROOT, check=True)
    try:
        for name in (".venv", "node_modules"):
            (base_dir / name).symlink_to(ROOT / name, target_is_directory=True)
        results: dict[str, list[float]] = {"cdk synth x2": [], "app.py x2": [], "mlops diff": []}
        for round_ in range(args.rounds):
            results["cdk synth x2"].append(
                sum(cdk_synth(d, e, work / f"out-{d.name}-{e}") for d in (base_dir, ROOT) for e in envs)
            )
            results["app.py x2"].append(sum(app_synth(d, e, work / f"app-{d.name}-{e}") for d in (base_dir, ROOT) for e in envs))
            results["mlops diff"].append(
                _timed(
                    [
                        str(BIN / "python"),
                        "-m",
                        "mlops_cli",
                        "diff",
                        "--base",
                        args.base,
                        "--env",
                        args.env,
                        "--format",
                        "json",
                        "--deps",
                        args.deps,
                    ],
                    ROOT,
                    ok=(0, 1),
                )
            )
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in results.items()), flush=True)
        medians = {k: statistics.median(v) for k, v in results.items()}
        print(f"\nbase {args.base}, head: working tree, env {args.env}, {args.rounds} rounds, medians (cores: {os.cpu_count()})")
        for name, value in medians.items():
            spread = f"{min(results[name]):.2f}-{max(results[name]):.2f}"
            print(f"  {name:14s} {value:6.2f} s   (spread {spread})")
        print(f"  ratio mlops diff / cdk synth x2: {medians['mlops diff'] / medians['cdk synth x2']:.2f}x (target <= 1.3x)")
        print(f"  ratio mlops diff / app.py x2:    {medians['mlops diff'] / medians['app.py x2']:.2f}x")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_dir)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
