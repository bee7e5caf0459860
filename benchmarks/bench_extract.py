"""End-to-end feature extraction: ``genrelab features extract`` against a plain librosa loop, same data, same cores.

    .venv/bin/python benchmarks/bench_extract.py [--tracks 168] [--slow-tracks 24] [--repeats 3] [--cores 2]
        [--presets mel,mel-3s,mfcc13,liu-image,gtzan57] [--datasets gtzan,fma] [--json out.json]

Data (from ``$GENRELAB_SHARED_DATA``, default ``../shared/data``), linked (not copied) into a temporary folder
under new names so every track is a distinct file to both programs:

- ``gtzan``: the shared GTZAN clips (22,050 Hz mono WAV, no resampling needed), repeated to ``--tracks``;
- ``fma``: the 12 shared FMA-small clips (44.1 kHz stereo MP3: decode, downmix, resample to 22,050 Hz),
  repeated to ``--tracks``.

``gtzan57`` uses ``--slow-tracks`` tracks (the plain loop takes seconds per track).

For every dataset and preset, each repetition runs, one after the other (interleaved, so both see the same
machine load):

1. ``genrelab features extract --dataset folder --feature PRESET -j CORES`` into an empty cache, as a new
   process (wall clock: process start-up, imports, index, decode, features, cache writes, everything);
2. the plain loop, as a new process: ``librosa.load(path, sr=22050)``, the librosa feature code of the preset,
   ``np.save`` per track (one process, as a student writes it; see ``PLAIN`` below).

Reported: tracks/s of each (median over repetitions), the ratio (median of the per-repetition ratios), the
ratio of CPU seconds spent (``CPU x``: plain loop / genrelab with its workers; what the work costs, whatever
else runs on the machine), and a
per-stage breakdown: CPU ms per track of decode, downmix + resample, compute and cache write + index (genrelab:
what its workers report for the real runs, ``--report``; plain loop: timed stage by stage in this process on
``--stage-tracks`` tracks), and process start-up (``start s``: the wall seconds of a genrelab run spent outside
its compute loop: interpreter, imports, dataset index, worker start; ``no-op s``: a whole run with nothing left
to compute; the plain loop's is its ``import librosa``). Targets on 2 cores: mel >= 3x the
plain loop, every preset faster than the plain loop, gtzan57 >= 10x.

The process and its children are pinned to ``--cores`` CPUs. On a shared machine the absolute numbers move
with the load (printed); the ratios, taken from interleaved runs, are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model as _cpu_name, pin_cores as _pin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PRESETS = ("mel", "mel-3s", "mfcc13", "liu-image", "gtzan57")

#: The plain loop: librosa as documented, one track after the other, ``np.save`` per track.
PLAIN = r'''
import sys
from pathlib import Path

import librosa
import numpy as np

preset, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
SR, CLIP = 22050, 22050 * 30


def mel_db(y):
    return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR), ref=np.max)


def liu_image(y):
    S = mel_db(librosa.util.fix_length(y, size=CLIP))
    S = (S - S.min()) / max(S.max() - S.min(), 1e-12)
    S = S[::-1]
    rows = np.minimum(((np.arange(128) + 0.5) * S.shape[0] / 128).astype(int), S.shape[0] - 1)
    cols = np.minimum(((np.arange(128) + 0.5) * S.shape[1] / 128).astype(int), S.shape[1] - 1)
    return S[rows][:, cols][None].astype(np.float32)


def features(y):
    if preset == "mel":
        return mel_db(y)
    if preset == "mel-3s":
        y = librosa.util.fix_length(y, size=CLIP)
        return np.stack([mel_db(y[i * 66150:(i + 1) * 66150]) for i in range(10)])
    if preset == "mfcc13":
        return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13)
    if preset == "liu-image":
        return liu_image(y)
    if preset == "gtzan57":
        from genrelab.features.gtzan57 import reference_features  # librosa calls only (the Kaggle recipe)

        return reference_features(y, SR)
    raise SystemExit(f"unknown preset {preset}")


out.mkdir(parents=True, exist_ok=True)
for i, f in enumerate(sorted(p for p in root.rglob("*") if p.suffix in (".wav", ".mp3"))):
    y, _ = librosa.load(f, sr=SR)
    np.save(out / f"{i:05d}.npy", features(y))
'''


def _shared() -> Path:
    return Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def make_dataset(kind: str, n: int, dest: Path) -> Path:
    """``dest/<kind>/<label>/<name>_r<k>.<ext>``: ``n`` links to the shared clips, repeated as needed."""
    if kind == "gtzan":
        src = sorted((_shared() / "gtzan" / "genres_original").glob("*/*.wav"))
    else:
        src = sorted((_shared() / "fma" / "fma_small").glob("*/*.mp3"))
    if not src:
        raise SystemExit(f"no {kind} clips under {_shared()} (set GENRELAB_SHARED_DATA)")
    root = dest / kind
    for i in range(n):
        f = src[i % len(src)]
        label = f.parent.name if kind == "gtzan" else "fma"
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{f.stem}_r{i // len(src)}{f.suffix}").symlink_to(f.resolve())
    return root


def _children_cpu() -> float:
    """CPU seconds (user + system) of all waited-for child processes so far (workers of workers included)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def run_genrelab(preset: str, root: Path, out: Path, workers: int) -> tuple[float, dict]:
    """Wall seconds of one ``features extract`` process and its ``--report`` (stage CPU seconds, seconds; plus
    ``cpu``: CPU seconds of the process and its workers)."""
    shutil.rmtree(out, ignore_errors=True)
    report = out.parent / "extract-report.json"
    cmd = [sys.executable, "-c", "from genrelab.cli import main; main()", "features", "extract", "--dataset",
           "folder", "--root", str(root), "--feature", preset, "--out", str(out), "-j", str(workers), "-q",
           "--strict", "--report", str(report)]
    c0, t0 = _children_cpu(), time.perf_counter()
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if res.returncode != 0:
        raise SystemExit(f"genrelab failed on {preset}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return dt, {**json.loads(report.read_text()), "cpu": cpu}


def run_plain(script: Path, preset: str, root: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one plain-loop process."""
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = _children_cpu(), time.perf_counter()
    res = subprocess.run([sys.executable, str(script), preset, str(root), str(out)], env=_env(),
                         capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if res.returncode != 0:
        raise SystemExit(f"plain loop failed on {preset}:\n{res.stderr[-2000:]}")
    return dt, cpu


def startup(preset: str, root: Path, out: Path, workers: int) -> float:
    """Wall time of an extract run with nothing left to compute (imports, index, entry validation)."""
    cmd = [sys.executable, "-c", "from genrelab.cli import main; main()", "features", "extract", "--dataset",
           "folder", "--root", str(root), "--feature", preset, "--out", str(out), "-j", str(workers), "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - t0


def plain_startup() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import librosa, librosa.feature, numpy"], env=_env(), check=True)
    return time.perf_counter() - t0


def plain_stages(preset: str, root: Path, n: int, tmp: Path) -> dict[str, float]:
    """CPU ms per track of each stage of the plain loop (this process's CPU time, BLAS threads included: robust
    to other load)."""
    import librosa
    import numpy as np
    import soundfile as sf

    files = sorted(p for p in root.rglob("*") if p.suffix in (".wav", ".mp3"))[:n]
    plain = {"decode": [], "resample": [], "compute": [], "write": []}
    plain_ns: dict = {"PRESET": preset, "__name__": "plain"}  # the plain loop's functions, without its loop
    exec(compile(PLAIN.split("out.mkdir")[0].replace("sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])",
                                                     "PRESET, None, None"), "plain", "exec"), plain_ns)
    plain_ns["features"](np.zeros(22050 * 31, dtype=np.float32))  # warm-up
    clock = time.process_time
    for f in files:
        t0 = clock()
        d, sr = sf.read(str(f), dtype="float32", always_2d=True)  # what librosa.load does first
        t1 = clock()
        yl = librosa.to_mono(d.T)
        if sr != 22050:
            yl = librosa.resample(yl, orig_sr=sr, target_sr=22050)
        t2 = clock()
        z = plain_ns["features"](yl)
        t3 = clock()
        np.save(tmp / "plain-stage.npy", z)
        t4 = clock()
        for key, v in zip(plain, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            plain[key].append(v)
    return {k: 1000 * statistics.median(v) for k, v in plain.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, default=168, help="tracks per dataset (the shared clips, repeated)")
    ap.add_argument("--slow-tracks", type=int, default=24, help="tracks for gtzan57 (the plain loop is slow)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; medians are reported")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--datasets", default="gtzan,fma")
    ap.add_argument("--stage-tracks", type=int, default=4, help="tracks the plain loop is timed on stage by stage")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cores = _pin(args.cores)
    presets = [p for p in args.presets.split(",") if p]
    datasets = [d for d in args.datasets.split(",") if d]

    import librosa
    import torch

    print(f"machine: {_cpu_name()}; {cores} of {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; python {platform.python_version()}, "
          f"librosa {librosa.__version__}, torch {torch.__version__}")
    torch.set_num_threads(1)
    from genrelab.features import threads as _kernels

    _kernels.set_num_threads(1)
    results: dict = {"machine": _cpu_name(), "cores": cores, "loadavg_start": os.getloadavg(), "runs": {}}
    tmp = Path(tempfile.mkdtemp(prefix="genrelab-bench-extract-"))
    script = tmp / "plain_loop.py"
    script.write_text(PLAIN)
    try:
        roots = {}
        for kind in datasets:
            roots[(kind, False)] = make_dataset(kind, args.tracks, tmp / "full")
            roots[(kind, True)] = make_dataset(kind, args.slow_tracks, tmp / "small")
        print(f"process start-up: genrelab extract with nothing to compute (below), plain 'import librosa' "
              f"{plain_startup():.2f} s")
        print(f"\n{'dataset':8s} {'preset':10s} {'tracks':>6s} {'genrelab tr/s':>13s} {'plain tr/s':>10s} "
              f"{'ratio':>6s} {'CPU x':>7s}  {'start s':>7s} {'no-op s':>7s}  "
              f"CPU ms/track: decode / resample / compute / write")
        ok = True
        for kind in datasets:
            for preset in presets:
                slow = preset == "gtzan57"
                root = roots[(kind, slow)]
                n = args.slow_tracks if slow else args.tracks
                ours, plain, ratios, reports, cpu_ratios = [], [], [], [], []
                for _ in range(max(1, args.repeats)):
                    a, rep = run_genrelab(preset, root, tmp / "cache", cores)
                    b, b_cpu = run_plain(script, preset, root, tmp / "plain-out")
                    ours.append(a)
                    reports.append(rep)
                    plain.append(b)
                    ratios.append(b / a)
                    cpu_ratios.append(b_cpu / rep["cpu"])
                noop = startup(preset, root, tmp / "cache", cores)
                # genrelab's stages: CPU seconds the workers spent per stage in the real runs (median run)
                mid = reports[ours.index(sorted(ours)[len(ours) // 2])]
                g = {k: 1000 * v / n for k, v in mid.get("stage_cpu_seconds", {}).items()}
                g["outside"] = statistics.median(o - r["seconds"] for o, r in zip(ours, reports))
                p = plain_stages(preset, root, args.stage_tracks, tmp)
                st = {"genrelab_cpu_ms_per_track": g, "plain_cpu_ms_per_track": p}
                r = statistics.median(ratios)
                rc = statistics.median(cpu_ratios)
                target = 10.0 if preset == "gtzan57" else 3.0 if preset == "mel" else 1.0
                ok &= r >= target
                print(f"{kind:8s} {preset:10s} {n:6d} {n / statistics.median(ours):13.1f} "
                      f"{n / statistics.median(plain):10.1f} {r:5.1f}x {rc:6.1f}x  {g['outside']:7.2f} {noop:7.2f}  "
                      f"genrelab {g.get('decode', 0):.1f}/{g.get('resample', 0):.1f}/{g.get('compute', 0):.1f}/"
                      f"{g.get('write', 0):.1f}  "
                      f"plain {p['decode']:.1f}/{p['resample']:.1f}/{p['compute']:.1f}/{p['write']:.1f}"
                      + ("" if r >= target else f"  (target {target:g}x not met)"), flush=True)
                results["runs"][f"{kind}/{preset}"] = {
                    "tracks": n, "genrelab_s": ours, "plain_s": plain, "ratios": ratios, "ratio_median": r,
                    "cpu_ratios": cpu_ratios, "cpu_ratio_median": rc,
                    "genrelab_tracks_per_s": n / statistics.median(ours),
                    "plain_tracks_per_s": n / statistics.median(plain), "noop_run_s": noop, "stages_ms": st,
                    "target": target}
        results["loadavg_end"] = os.getloadavg()
        print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"targets (mel >= 3x, every preset > 1x, gtzan57 >= 10x): {'met' if ok else 'NOT met'}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
