"""Training throughput of the one training loop (mlops_training.trainer): epochs/s and samples/s.

Runs the trainer in-process on synthetic call data for a small and a wider MLP at two batch
sizes, plus the checkpoint cost (the same run with a checkpoint written after every epoch, as
the training image does), and prints medians over epochs after the first (warm-up). Prints
the device; AMP is measured only on CUDA (`--amp`), since the loop ignores it on CPU.
Usage: .venv/bin/python benchmarks/training.py [--rows 20000] [--epochs 4] [--amp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "containers" / "training")]
from mlops_training.data import synthetic_calls  # noqa: E402
from mlops_training.hyperparameters import Hyperparameters  # noqa: E402
from mlops_training.trainer import train  # noqa: E402


def measure(rows: int, epochs: int, hidden: tuple[int, ...], batch: int, *, amp: bool, checkpoint: bool) -> tuple[float, float]:
    """(epochs/s, samples/s): medians over epochs 2.. (epoch 1 warms up allocators and kernels)."""
    data = synthetic_calls(rows, seed=1)
    train_part, validation = data.split(int(rows * 0.8))
    hp = Hyperparameters(epochs=epochs, hidden=hidden, batch_size=batch, amp=amp)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(train_part, validation, hp, checkpoint_dir=Path(tmp) if checkpoint else None)
    history = result.history[1:] or result.history
    samples = statistics.median(m.samples_per_second for m in history)
    return samples / len(train_part), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is printed")
    parser.add_argument("--amp", action="store_true", help="also measure with AMP (CUDA only)")
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} rows={args.rows} epochs={args.epochs}")
    print("samples/s counts training rows only (80% of rows); epochs/s excludes validation")
    print(f"{'hidden':>10} {'batch':>6} {'amp':>5} {'ckpt':>5} {'epochs/s':>9} {'samples/s':>11}")
    amps = [False, True] if args.amp and torch.cuda.is_available() else [False]
    widths: tuple[tuple[int, ...], ...] = ((64, 32), (256, 128))
    cases = [
        (hidden, batch, amp, checkpoint)
        for hidden in widths
        for batch in (256, 1024)
        for amp in amps
        for checkpoint in (False, True)
    ]
    measure(args.rows, 2, (64, 32), 256, amp=False, checkpoint=False)  # process warm-up
    results: dict[tuple[tuple[int, ...], int, bool, bool], list[tuple[float, float]]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # interleaved, so a burst of load on a shared machine hits every case alike
        for hidden, batch, amp, checkpoint in cases:
            results[(hidden, batch, amp, checkpoint)].append(
                measure(args.rows, args.epochs, hidden, batch, amp=amp, checkpoint=checkpoint)
            )
    for (hidden, batch, amp, checkpoint), runs in results.items():
        eps = statistics.median(r[0] for r in runs)
        sps = statistics.median(r[1] for r in runs)
        label = ",".join(map(str, hidden))
        print(f"{label:>10} {batch:>6} {amp!s:>5} {checkpoint!s:>5} {eps:>9.2f} {sps:>11,.0f}")


if __name__ == "__main__":
    main()
