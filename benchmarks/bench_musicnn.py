"""musicnn embeddings: seconds per 30 s clip (10 patches of 3 s) on 2 CPU cores, side by side in one run.

Measured here, interleaved (every round runs every method once; the best and the median round are shown):
- ``naive``: the PyTorch port run the straightforward way: eager float32, one patch at a time, plain
  conv -> ReLU -> BatchNorm -> max (no fused inference path), ``torch.no_grad``;
- ``torch``: ``MusicnnEngine(backend="torch")``: ``torch.inference_mode``, fused inference path (one
  max-pool over frequency on the raw conv output, BatchNorm folded after it), 2 patches per call;
- ``onnx``: the same graph exported once to ONNX, ONNX Runtime (what ``MusicnnEngine`` uses by default,
  4 patches per network call), one clip per engine call;
- ``onnx x8``: 8 clips in one engine call, time per clip (batching many clips must not cost more);
- ``gemm``: one 2048^3 float32 matrix product: the machine's dense speed at that moment (a floor for the net).
Every method includes decoding the file and the log-mel (``preprocess`` is shown on its own).

Not runnable here (TensorFlow is not installed), quoted from issue 6 as measured on the same kind of
machine: the stock ``musicnn.extractor`` ~1.2 s per clip, the same TF graph built once and run batched ~0.3 s.
Targets: >= 4x faster than the stock extractor and no slower than the batched TF graph (<= 0.3 s/clip).

    python benchmarks/bench_musicnn.py [--cores 2] [--rounds 10] [--model MSD_musicnn] [--update-readme]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))
README = Path(__file__).resolve().parent / "README.md"
STOCK_TF_S = 1.2  # issue 6: stock musicnn.extractor per 30 s clip, 2 cores (rebuilds the graph every call)
BATCHED_TF_S = 0.3  # issue 6: the TF graph built once, run batched
SECTION = "## musicnn (`bench_musicnn.py`)"


def _pin(cores: int) -> int:
    if hasattr(os, "sched_setaffinity") and cores:
        avail = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, avail[:cores])
        cores = min(cores, len(avail))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(cores)
    return cores


def _clip() -> Path:
    p = SHARED / "gtzan" / "genres_original" / "blues" / "blues.00002.wav"
    if p.exists():
        return p
    import numpy as np
    import soundfile as sf

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "genrelab-bench-musicnn.wav"
    rng = np.random.default_rng(0)
    sf.write(str(tmp), (0.1 * rng.standard_normal(30 * 22050)).astype("float32"), 22050, subtype="PCM_16")
    return tmp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--model", default="MSD_musicnn")
    ap.add_argument("--update-readme", action="store_true", help="write the results into benchmarks/README.md")
    args = ap.parse_args()
    cores = _pin(args.cores)

    import numpy as np
    import torch

    torch.set_num_threads(cores)
    from genrelab.musicnn import dsp
    from genrelab.musicnn import network
    from genrelab.musicnn.runtime import MusicnnEngine
    from genrelab.musicnn.weights import load_pretrained
    from genrelab.runtime import Runtime

    clip = _clip()
    t0 = time.perf_counter()
    onnx = MusicnnEngine(args.model, Runtime.from_env(backend="onnx", threads=cores))
    setup_onnx = time.perf_counter() - t0
    torch_engine = MusicnnEngine(args.model, Runtime.from_env(backend="torch", threads=cores))
    net = load_pretrained(args.model)
    layer = "penultimate"

    def preprocess():
        return dsp.file_patches(clip)

    def naive():
        x = dsp.file_patches(clip)
        fused = network.FUSED_INFERENCE
        network.FUSED_INFERENCE = False
        try:
            with torch.no_grad():
                return np.concatenate([net.forward_features(torch.from_numpy(p[None]), (layer,))[layer].numpy() for p in x])
        finally:
            network.FUSED_INFERENCE = fused

    def torch_batched():
        return torch_engine.run(dsp.file_patches(clip), (layer,))[layer]

    many = 8

    def onnx_batched():
        return onnx.run(dsp.file_patches(clip), (layer,))[layer]

    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    gemm_flop = 2 * 2048 ** 3

    def gemm():  # this machine's dense float32 GEMM speed right now (the floor for a direct convolution)
        with torch.inference_mode():
            return torch.mm(a, b)

    def onnx_many():
        x = np.concatenate([dsp.file_patches(clip) for _ in range(many)])
        return onnx.run(x, (layer,))[layer]

    # the fast paths agree with the naive port
    ref = naive()
    for fn in (torch_batched, onnx_batched):
        got = fn()
        err = float(np.abs(got - ref).max() / np.abs(ref).max())
        assert err < 1e-4, f"{fn.__name__} differs from the naive port: {err:.2e}"
    n_patches = ref.shape[0]

    methods = {"preprocess": (preprocess, 1), "naive": (naive, 1), "torch": (torch_batched, 1),
               "onnx": (onnx_batched, 1), f"onnx x{many}": (onnx_many, many), "gemm": (gemm, 1)}
    times: dict[str, list[float]] = {k: [] for k in methods}
    for name, (fn, _) in methods.items():  # warm-up
        fn()
    for _ in range(args.rounds):
        for name, (fn, per) in methods.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / per)

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"musicnn {args.model}, 30 s clip ({n_patches} patches), {cores} cores, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, load average {load:.1f} at the end",
        f"{'method':<12} {'best s/clip':>12} {'median':>8} {'vs naive':>9} {'vs stock TF 1.2 s':>18}",
    ]
    gflops = gemm_flop / best.pop("gemm") / 1e9
    med.pop("gemm")
    for k in best:
        lines.append(f"{k:<12} {best[k]:>12.3f} {med[k]:>8.3f} {best['naive'] / best[k]:>8.1f}x "
                     f"{STOCK_TF_S / best[k]:>17.1f}x")
    lines.append(f"{'stock TF':<12} {STOCK_TF_S:>12.3f} {'':>8} {'':>9} {'(issue 6, not run here)':>18}")
    lines.append(f"{'batched TF':<12} {BATCHED_TF_S:>12.3f} {'':>8} {'':>9} {'(issue 6, not run here)':>18}")
    lines.append(f"ONNX session setup (export on first use, then load): {setup_onnx:.2f} s")
    model_gflop = n_patches * network.flops_per_patch() / 1e9
    floor = model_gflop / gflops
    lines.append(f"dense float32 GEMM on this machine now: {gflops:.0f} GFLOP/s; the network is {model_gflop:.1f} GFLOP "
                 f"per clip (direct convolution), i.e. >= {floor:.3f} s at GEMM speed; onnx reaches "
                 f"{floor / best['onnx']:.0%} of it ({floor / best[f'onnx x{many}']:.0%} batched)")
    fastest = min(("torch", "onnx"), key=lambda k: best[k])
    checks = {
        ">= 4x faster than the stock extractor (<= 0.30 s)": best[fastest] <= STOCK_TF_S / 4,
        "no slower than the batched TF graph (<= 0.30 s)": best[fastest] <= BATCHED_TF_S,
        f"batching {many} clips costs no more per clip (medians)": med[f"onnx x{many}"] <= med["onnx"] * 1.05,
    }
    for what, ok in checks.items():
        lines.append(f"{'PASS' if ok else 'MISS'}  {what} [{fastest}: {best[fastest]:.3f} s]")
    print("\n".join(lines))
    if args.update_readme:
        _update_readme("\n".join(lines))
    return 0


def _update_readme(text: str) -> None:
    """Replace the text of the ``## musicnn`` section of benchmarks/README.md between the markers (or append)."""
    begin, end = "<!-- bench_musicnn:begin -->", "<!-- bench_musicnn:end -->"
    block = f"{begin}\n```\n{text}\n```\n{end}"
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    README.write_text(new)


if __name__ == "__main__":
    sys.exit(main())
