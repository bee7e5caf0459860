"""SpecAugment on a training batch: the vectorised ``SpecAugment`` (a constant number of tensor ops per batch)
against the previous per-example loop (4 slice assignments per example), same parameters, same inputs, same cores.

    .venv/bin/python benchmarks/bench_augment.py [--batch 32] [--cores 2] [--threads 1,2] [--device cpu|cuda]

Input shapes of the studies (batch of ``--batch``): Liu's 1 x 128 x 128 image, a 128 x 128 mel (Hoang/Bian),
Saint-Felix's/Sears's 125 x 13 MFCC (time-major: ``time_axis=-2``; the old loop had no such option and masked
the wrong axes, at the same cost), Feng's 512 x 128 STFT, Qin's/Sirek's 3 x 288 x 432 image. Default masks:
2 bands of <= 8 bins, 2 spans of <= 20 frames, each example's mean as fill. Samples/s = batch / median time of
one call (``--repeats`` timed rounds of enough calls to last ~0.2 s); the ratio is new / old in the same run,
for each torch thread count of ``--threads`` (training uses 1 thread for models under 2M parameters and on
machines with 2 cores or fewer: ``training.trainer._set_threads``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model, pin_cores

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

#: (label, example shape, time axis)
SHAPES = (("1x128x128 (Liu image)", (1, 128, 128), -1), ("128x128 (mel)", (128, 128), -1),
          ("125x13 (MFCC, time-major)", (125, 13), -2), ("512x128 (Feng STFT)", (512, 128), -1),
          ("3x288x432 (Qin/Sirek image)", (3, 288, 432), -1))


class LoopSpecAugment:
    """The previous implementation (until 2026-11-30): a Python loop over the batch, numpy draws per mask."""

    def __init__(self, freq_masks=2, freq_width=8, time_masks=2, time_width=20, value=None, seed=None):
        import numpy as np

        self.freq_masks, self.freq_width, self.time_masks, self.time_width = freq_masks, freq_width, time_masks, time_width
        self.value = value
        self.rng = np.random.default_rng(seed)

    def __call__(self, t):
        import torch

        t = t.clone()
        F, T = t.shape[-2], t.shape[-1]
        for b in range(t.shape[0]):
            fill = t[b].mean() if self.value is None else torch.tensor(self.value, dtype=t.dtype)
            for _ in range(self.freq_masks):
                w = int(self.rng.integers(0, min(self.freq_width, F) + 1))
                f0 = int(self.rng.integers(0, F - w + 1))
                t[b, ..., f0:f0 + w, :] = fill
            for _ in range(self.time_masks):
                w = int(self.rng.integers(0, min(self.time_width, T) + 1))
                s0 = int(self.rng.integers(0, T - w + 1))
                t[b, ..., :, s0:s0 + w] = fill
        return t


def _seconds_per_call(fn, x, repeats: int, sync) -> float:
    fn(x)
    sync()
    n = 1
    while True:  # calls per round: ~0.2 s
        t0 = time.perf_counter()
        for _ in range(n):
            fn(x)
        sync()
        dt = time.perf_counter() - t0
        if dt > 0.2 or n >= 4096:
            break
        n *= 2
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(x)
        sync()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    cores = pin_cores(args.cores)

    import torch

    from genrelab.features.augment import SpecAugment

    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    print(f"CPU: {cpu_model()}; {cores} cores, torch {torch.__version__}; device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""))
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'input (batch ' + str(args.batch) + ')':<30} {'threads':>7} {'old loop':>12} {'vectorised':>12} "
          f"{'new/old':>8}")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for label, shape, time_axis in SHAPES:
            x = torch.randn(args.batch, *shape, device=dev)
            old = _seconds_per_call(LoopSpecAugment(seed=0), x, args.repeats, sync)
            new = _seconds_per_call(SpecAugment(seed=0, time_axis=time_axis), x, args.repeats, sync)
            print(f"{label:<30} {threads:>7} {args.batch / old:>10,.0f}/s {args.batch / new:>10,.0f}/s "
                  f"{old / new:>7.1f}x")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
