"""Instant classification: speed and memory of ``genrelab classify`` with a model (default: the shipped one).

Prints, in one run (2 CPU cores unless --cores says otherwise):
- model load time; cold start (a fresh ``genrelab classify`` process) for a 30 s clip and a 4-minute song;
- warm latency (model loaded) for the same two files;
- library throughput (tracks per minute) over the real GTZAN clips with 1 and 2 workers;
- peak memory (RSS) classifying a synthetic 1-hour file, default mode and ``--timeline``;
- PyTorch vs ONNX Runtime per-clip latency (the musicnn backbone for embedding models, else the model).
Targets (issue 7): warm 30 s < 0.5 s, 4-min < 1 s, > 150 tracks/min, < 1 GB for 1 hour, cold 30 s < 3 s.

    python benchmarks/bench_inference.py [--model default] [--cores 2] [--quick] [--cold-only]

``--cold-only`` measures just the cold starts (and the import time), the part that changes with import work.
Cold starts are the median of 3 (``--quick``) or 5 fresh processes.
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

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGETS = {"warm_30s": 0.5, "warm_4min": 1.0, "throughput": 150.0, "peak_1h_mb": 1024.0, "cold_30s": 3.0}


def _pin(cores: int) -> None:
    if hasattr(os, "sched_setaffinity") and cores:
        avail = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, avail[:cores])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(cores))


def _clips() -> list[Path]:
    root = SHARED / "gtzan" / "genres_original"
    return sorted(root.glob("*/*.wav"))


def _make_files(tmp: Path, clips: list[Path]) -> tuple[Path, Path, Path]:
    import numpy as np
    import soundfile as sf

    clip = clips[0]
    song = tmp / "song-4min.wav"  # 8 real clips of one genre back to back
    same = [c for c in clips if c.parent == clips[-1].parent][:8]
    ys = [sf.read(str(c), dtype="float32")[0] for c in same]
    while sum(len(y) for y in ys) < 240 * 22050:
        ys += ys
    y = np.concatenate(ys)[: 240 * 22050]
    sf.write(str(song), y, 22050, subtype="PCM_16")
    hour = tmp / "mix-1h.wav"  # synthetic 1-hour mix at 44.1 kHz stereo (the worst case to decode)
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 60) / 44100
    with sf.SoundFile(str(hour), "w", 44100, 2, subtype="PCM_16") as f:
        for minute in range(60):
            tone = 0.2 * np.sin(2 * np.pi * (110 * (1 + minute % 7)) * t) + 0.05 * rng.standard_normal(t.size)
            f.write(np.stack([tone, tone], axis=1).astype(np.float32))
    return clip, song, hour


def _cli(args: list[str], cores: int) -> tuple[float, int, str]:
    """Wall time, peak RSS (MB) and output of ``genrelab <args>`` in a fresh process."""
    code = ("import resource, sys, time\n"
            "from genrelab.cli import main\n"
            "sys.argv = ['genrelab'] + %r\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            # VmHWM: this process's own peak (ru_maxrss would carry this benchmark's high-water mark across exec)
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print('__RSS__', kb, file=sys.stderr)\n") % (args,)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(cores)})
    wall = time.perf_counter() - t0
    rss = 0
    for line in p.stderr.splitlines():
        if line.startswith("__RSS__"):
            rss = int(line.split()[1]) // 1024
    return wall, rss, p.stdout + p.stderr


def _import_time(cores: int) -> float:
    """Seconds a fresh process spends importing what ``genrelab classify`` imports before the model loads
    (genrelab.cli, inference, checkpoint: the registries are lazy, so no model family and no torch)."""
    code = ("import time; t0 = time.perf_counter()\n"
            "import genrelab.cli, genrelab.inference, genrelab.checkpoint\n"
            "print(time.perf_counter() - t0)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(cores)})
    return float(p.stdout.split()[-1])


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and clips")
    ap.add_argument("--cold-only", action="store_true", help="only the cold starts (fresh processes) and imports")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    _pin(args.cores)
    clips = _clips()
    if not clips:
        sys.exit(f"no GTZAN clips under {SHARED} (set GENRELAB_SHARED_DATA)")
    from genrelab.inference import Classifier, classify_parallel

    res: dict[str, float | str] = {"model": args.model, "cores": args.cores}
    repeat = 3 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        clip, song, hour = _make_files(tmp, clips)
        # warm the caches a first run fills (ONNX exports, converted backbone weights) so cold = a user's 2nd day
        _cli(["classify", str(clip), "--model", args.model, "-q"], args.cores)
        for name, f in (("cold_30s", clip), ("cold_4min", song)):
            res[name] = statistics.median(
                _cli(["classify", str(f), "--model", args.model, "-q"], args.cores)[0] for _ in range(repeat))
        res["imports_s"] = _import_time(args.cores)
        if args.cold_only:
            _report(args, res, [
                ("imports (genrelab cli/inference/checkpoint)", res["imports_s"], "s", None),
                ("cold start, 30 s clip (fresh process)", res["cold_30s"], "s", TARGETS["cold_30s"]),
                ("cold start, 4-min song", res["cold_4min"], "s", None),
            ])
            return
        t0 = time.perf_counter()
        clf = Classifier.from_pretrained(args.model)
        res["load_s"] = time.perf_counter() - t0
        res["backend"] = clf.backend_name
        first = clf.classify(clip)
        assert first.ok, first.error
        res["warm_30s"] = _time(lambda: clf.classify(clip), repeat)
        res["warm_4min"] = _time(lambda: clf.classify(song), repeat)
        res["warm_4min_timeline"] = _time(lambda: clf.classify(song, timeline=True), 1)
        lib = clips[:24] if args.quick else clips
        for workers in (1, 2):
            t0 = time.perf_counter()
            out = list(classify_parallel(lib, args.model, workers=workers, classifier=clf))
            dt = time.perf_counter() - t0
            assert all(r.ok for r in out)
            res[f"throughput_w{workers}"] = len(lib) / dt * 60
        res["throughput"] = max(res["throughput_w1"], res["throughput_w2"])
        for mode, extra in (("default", []), ("timeline", ["--timeline"])):
            wall, rss, out = _cli(["classify", str(hour), "--model", args.model, "-q", "-f", "json", *extra], args.cores)
            res[f"peak_1h_{mode}_mb"] = rss
            res[f"time_1h_{mode}_s"] = wall
        res["peak_1h_mb"] = max(res["peak_1h_default_mb"], res["peak_1h_timeline_mb"])
        res.update(_backend_compare(args.model, clip, repeat))

    rows = [
        ("imports (genrelab cli/inference/checkpoint)", res["imports_s"], "s", None),
        ("model load (after imports)", res["load_s"], "s", None),
        ("cold start, 30 s clip (fresh process)", res["cold_30s"], "s", TARGETS["cold_30s"]),
        ("cold start, 4-min song", res["cold_4min"], "s", None),
        ("warm, 30 s clip", res["warm_30s"], "s", TARGETS["warm_30s"]),
        ("warm, 4-min song", res["warm_4min"], "s", TARGETS["warm_4min"]),
        ("warm, 4-min song --timeline", res["warm_4min_timeline"], "s", None),
        ("library throughput, 1 worker", res["throughput_w1"], "tracks/min", None),
        ("library throughput, 2 workers", res["throughput_w2"], "tracks/min", TARGETS["throughput"]),
        ("1-hour file, default: peak RSS", res["peak_1h_default_mb"], "MB", TARGETS["peak_1h_mb"]),
        ("1-hour file, default: wall", res["time_1h_default_s"], "s", None),
        ("1-hour file, --timeline: peak RSS", res["peak_1h_timeline_mb"], "MB", TARGETS["peak_1h_mb"]),
        ("1-hour file, --timeline: wall", res["time_1h_timeline_s"], "s", None),
    ]
    for k in ("torch_clip_s", "onnx_clip_s"):
        if k in res:
            rows.append((f"per clip, {k.split('_')[0]} ({res.get('compare_what', '')})", res[k], "s", None))
    _report(args, res, rows)


def _report(args: argparse.Namespace, res: dict, rows: list) -> None:
    print(f"\ninference benchmark: model={args.model}, {args.cores} cores, backend={res.get('backend', '-')}")
    for name, val, unit, target in rows:
        ok = ""
        if target is not None:
            good = val >= target if unit == "tracks/min" else val <= target
            ok = f"  target {'>' if unit == 'tracks/min' else '<'} {target:g}: {'ok' if good else 'MISSED'}"
        print(f"  {name:<42} {val:9.3f} {unit}{ok}")
    if "torch_clip_s" in res and "onnx_clip_s" in res:
        print(f"  ONNX Runtime speed-up over PyTorch: {res['torch_clip_s'] / res['onnx_clip_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


def _backend_compare(model: str, clip: Path, repeat: int) -> dict:
    """Per-clip latency of the same work under PyTorch and ONNX Runtime."""
    from genrelab import audio
    from genrelab.inference import Classifier

    clf = Classifier.from_pretrained(model)
    out: dict = {}
    if clf.spec.feature.kind == "musicnn":
        from genrelab.musicnn.dsp import log_mel, patches
        from genrelab.musicnn.runtime import MusicnnEngine
        from genrelab.runtime import Runtime

        y, _ = audio.load(clip, sr=16000)
        x = patches(log_mel(y))
        out["compare_what"] = f"{clf.spec.feature.model} backbone, {len(x)} patches"
        for be in ("torch", "onnx"):
            try:
                eng = MusicnnEngine(clf.spec.feature.model, Runtime.from_env(backend=be))
            except Exception as exc:  # pragma: no cover
                print(f"  ({be} backend unavailable: {exc})")
                continue
            eng.run(x, (clf.spec.feature.layer,))
            out[f"{be}_clip_s"] = _time(lambda: eng.run(x, (clf.spec.feature.layer,)), repeat)
    elif clf.meta.get("model", {}).get("kind") == "torch":
        out["compare_what"] = "whole classify call"
        from genrelab.runtime import Runtime

        for be in ("torch", "onnx"):
            c = Classifier.from_pretrained(model, runtime=Runtime.from_env(backend=be))
            c.classify(clip)
            out[f"{be}_clip_s"] = _time(lambda: c.classify(clip), repeat)
    return out


if __name__ == "__main__":
    main()
