"""Scaling figures for docs/scaling.md: per-track cost of each stage of the shipped model, and the local process
pool against Ray Data on the same cores, measured in one run.

Stages (shipped model = musicnn embedding + logistic regression, one 30 s GTZAN clip per track):
decode (16 kHz mono), features (log-mel + 3 s patches), backbone (MSD_musicnn on the patches, the default
runtime: ONNX Runtime when available), head (normaliser + logistic regression). Then whole-library throughput:
``classify_parallel`` with ``--workers 2`` against ``classify_ray`` on a local 2-CPU Ray instance (its start-up
time printed apart), both over the same clips.

    python benchmarks/bench_scale.py [--tracks 12] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def clips(n: int) -> list[str]:
    files = sorted((SHARED / "gtzan" / "genres_original").glob("*/*.wav"))
    if not files:
        sys.exit(f"no GTZAN clips under {SHARED}")
    step = max(1, len(files) // n)
    return [str(f) for f in files[::step][:n]]


def stages(files: list[str]) -> dict[str, float]:
    """Median seconds per track of each stage, one process, warm."""
    import numpy as np

    from genrelab import audio
    from genrelab.inference import Classifier
    from genrelab.musicnn import dsp
    from genrelab.musicnn.runtime import engine

    clf = Classifier.from_pretrained("default")
    feat = clf.spec.feature
    eng = engine(feat.model)
    clf.classify(files[0])  # warm-up: sessions, caches
    t: dict[str, list[float]] = {"decode": [], "features": [], "backbone": [], "head": [], "classify (all)": []}
    for f in files:
        t0 = time.perf_counter()
        y, _ = audio.load(f, sr=16000, mono=True)
        t1 = time.perf_counter()
        patches = dsp.patches(dsp.log_mels([audio.crop_or_pad(y, 30 * 16000)])[0])
        t2 = time.perf_counter()
        emb = feat.pool(eng.run(patches, (feat.layer,))[feat.layer])
        t3 = time.perf_counter()
        clf.predict_examples(np.asarray(emb, dtype=np.float32)[None])
        t4 = time.perf_counter()
        clf.classify(f)
        t5 = time.perf_counter()
        for k, (a, b) in zip(t, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
            t[k].append(b - a)
    print(f"backbone runtime: {eng.backend}; {len(patches)} patches per 30 s track")
    return {k: statistics.median(v) for k, v in t.items()}


def engines(files: list[str], workers: int) -> dict[str, float]:
    from genrelab.inference import classify_parallel

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    res = list(classify_parallel(files, "default", workers=workers))
    out["local pool"] = time.perf_counter() - t0
    assert all(r.ok for r in res), [r.error for r in res if not r.ok]
    try:
        from genrelab.scale import connect
        from genrelab.scale.ray_classify import classify_ray
    except ImportError:
        return out
    t0 = time.perf_counter()
    connect(None, num_cpus=workers)
    out["ray start-up"] = time.perf_counter() - t0
    for name in ("ray (cold workers)", "ray (warm)"):
        t0 = time.perf_counter()
        res = list(classify_ray(files, "default"))
        out[name] = time.perf_counter() - t0
        assert all(r.ok for r in res), [r.error for r in res if not r.ok]
    import ray

    ray.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    files = clips(args.tracks)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores visible; {len(files)} GTZAN clips of 30 s")
    s = stages(files)
    total = s["classify (all)"]
    print("\nper-track cost, one process (median):")
    for k, v in s.items():
        print(f"  {k:<16} {v * 1000:8.1f} ms  ({v / total:5.1%} of classify)")
    if args.no_ray:
        return
    e = engines(files, args.workers)
    base = e["local pool"]
    print(f"\n{len(files)} tracks, {args.workers} CPUs:")
    for k, v in e.items():
        extra = "" if k == "ray start-up" else f"  {len(files) / v * 60:6.1f} tracks/min  ({base / v:.2f}x the local pool)"
        print(f"  {k:<20} {v:6.1f} s{extra}")


if __name__ == "__main__":
    main()
