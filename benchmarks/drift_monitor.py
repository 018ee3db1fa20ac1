"""The text-drift monitor's throughput and memory: captured records per second and peak RSS.

Each batch size runs in a fresh process (so peak memory is that run's alone): it loads the
embedding model (timed apart), then runs one monitoring execution over generated capture
files (JSON, BASE64 and CSV records, half shifted vocabulary) against a 1,000-text baseline.
records/s counts the whole execution: reading, decoding, embedding, nearest-baseline
search, writing the reports. Peak RSS is the process's ru_maxrss (model included).

Each size runs --rounds executions after one model load and reports the best and the median
(on a shared machine the best is the least disturbed). Usage:
.venv/bin/python benchmarks/drift_monitor.py [--records 512] [--rounds 3] [--batch-sizes 1 32 256] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "containers" / "drift_monitor")]

from tests.drift_corpus import mixed_encodings, texts, write_capture  # noqa: E402

ENDPOINT = "call-transcript-intent"


def _child(args: argparse.Namespace) -> None:
    from drift_monitor.embed import Embedder
    from drift_monitor.monitor import MonitorSettings, run

    work = Path(args.workdir)
    started = time.perf_counter()
    embedder = Embedder(device=args.device)
    load_s = time.perf_counter() - started
    settings = MonitorSettings(
        dataset_source=work / "capture",
        output_path=work / f"out-{args.batch_size}",
        baseline_statistics=work / "baseline" / "statistics.json",
        threshold=0.5,
        percentile=10,
        percentile_threshold=0.3,
        text_field="transcript",
        batch_size=args.batch_size,
        endpoint_name=ENDPOINT,
        schedule_name=f"{ENDPOINT}-drift",
        opt_ml_output=work / f"opt-ml-{args.batch_size}",
    )
    timings = []
    with open(os.devnull, "w") as quiet:
        for _ in range(args.rounds):
            started = time.perf_counter()
            outcome = run(settings, embedder, stdout=quiet)
            timings.append(time.perf_counter() - started)
    records = outcome.statistics["capture"]["records"]
    best, median = min(timings), statistics.median(timings)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "batch_size": args.batch_size,
                "records": records,
                "rounds": args.rounds,
                "records_per_s_best": round(records / best, 1),
                "records_per_s_median": round(records / median, 1),
                "model_load_s": round(load_s, 2),
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=512)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="executions per batch size (one model load); best and median")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:2]), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = work / "baseline.txt"
        dataset.write_text("\n".join(texts("calls", 1000, seed=1)) + "\n")
        subprocess.run(
            [sys.executable, "-m", "drift_monitor", "baseline", "--input", str(dataset), "--output", str(work / "baseline")],
            env=env,
            check=True,
            capture_output=True,
        )
        sample = texts("calls", args.records // 2, seed=2) + texts("shifted", args.records - args.records // 2, seed=3)
        write_capture(work / "capture", ENDPOINT, mixed_encodings(sample))
        print(f"device {args.device}, {args.records} records, {os.cpu_count()} CPUs (shared machine: read ratios, not absolutes)")
        print(f"{'batch':>6} {'best rec/s':>11} {'median rec/s':>13} {'load s':>7} {'peak RSS MB':>12}")
        for batch in args.batch_sizes:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--batch-size",
                    str(batch),
                    "--workdir",
                    str(work),
                    "--device",
                    args.device,
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            row = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{row['batch_size']:>6} {row['records_per_s_best']:>11} {row['records_per_s_median']:>13} "
                f"{row['model_load_s']:>7} {row['peak_rss_mb']:>12}",
                flush=True,
            )


if __name__ == "__main__":
    main()
