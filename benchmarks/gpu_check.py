"""One-command GPU check (``make gpu-check``): does genrelab's GPU path work here, and how much faster is it?

On a CUDA machine, in well under 5 minutes:

1. mel spectrogram: ``MelSpectrogram.compute(device="cuda")`` equals the CPU result (dB, max abs difference) on 30 s
   clips, and its throughput against the CPU;
2. one training epoch of a CNN (Liu et al.'s CNN, 128 x 128 mel patches) with ``16-mixed`` precision through
   genrelab's Lightning module and data module: finite loss, examples/s against a ``32-true`` CPU epoch;
3. musicnn: the pretrained MSD_musicnn backbone on CUDA equals the CPU (penultimate layer), patches/s against the
   CPU, and the shipped default model (musicnn embedding + logistic regression) classifies a real clip (or a
   synthetic one) with the embedding computed on CUDA exactly as on the CPU;
4. input pipeline (issue 15): Qin's ResNet-18 on 3 x 288 x 432 images (the largest study input), stored as uint8
   PNG pixels, through the training loader (one gather per batch, pinned memory, normalised on the GPU) feeding
   ``16-mixed`` training steps, against the same steps on one batch already on the GPU: the difference is the
   time the steps waited for data (passes under 20 %).

Without a GPU it says so and exits 0 (nothing to check). ``--device cpu`` runs every check with the CPU as the
"device" (the tests use it to exercise the code path). Prints the CPU model and each ratio measured in the same
run; record GPU figures in benchmarks/README.md.

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py, also when loaded by path
from machine import cpu_model

MEL_TOL_DB = 0.05      # float32 cuFFT vs CPU FFT: observed differences are ~1e-4 dB
MUSICNN_TOL = 2e-3     # max abs difference of the penultimate layer (values of order 1), cuDNN vs CPU kernels
PROBA_TOL = 1e-3       # default model's probabilities with the embedding from either device
TIME_BUDGET_S = 300


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeats: int = 3) -> tuple[Any, float]:
    """Result of ``fn()`` and its best time over ``repeats`` runs after one warm-up."""
    out = fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return out, best


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.rows.append((name, bool(ok), detail))
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.rows)


# --------------------------------------------------------------------------- checks
def check_mel(device: str, sync: Callable[[], None], rep: Report, n_clips: int) -> None:
    from genrelab.features.spectral import MelSpectrogram

    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(30 * sr) / sr
    clips = np.stack([0.3 * np.sin(2 * np.pi * (110 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)
                      for i in range(n_clips)]).astype(np.float32)
    mel = MelSpectrogram(sample_rate=sr, n_mels=128)
    ref, t_cpu = timed(lambda: mel.compute(clips, device="cpu"), lambda: None, repeats=2)
    got, t_dev = timed(lambda: mel.compute(clips, device=device), sync, repeats=2)
    diff = float(np.abs(ref - got).max())
    rep.add("mel spectrogram parity", diff <= MEL_TOL_DB and got.shape == ref.shape,
            f"{n_clips} x 30 s clips {got.shape[1:]}: max |{device} - cpu| = {diff:.2e} dB (tolerance {MEL_TOL_DB})")
    rep.add("mel spectrogram throughput", True,
            f"cpu {n_clips / t_cpu:.1f} clips/s, {device} {n_clips / t_dev:.1f} clips/s: {t_cpu / t_dev:.1f}x")


def _epoch(model_name: str, device: str, precision: str, n: int, batch: int) -> tuple[float, float]:
    """Seconds of one training epoch over ``n`` random examples and its mean training loss."""
    import lightning.pytorch as pl
    import torch

    from genrelab.datasets.torch import Examples, GenreDataModule
    from genrelab.models import registry
    from genrelab.training.optim import OptimConfig
    from genrelab.training.module import GenreModule

    entry = registry.get(model_name)
    shape = entry.contract().input_shape
    rng = np.random.default_rng(0)
    y = np.arange(n) % 10
    X = rng.standard_normal((n, *shape)).astype(np.float32) + y.reshape(-1, *[1] * len(shape)) * 0.1
    ex = Examples(X, y.astype(np.int64), np.array([f"t{i}" for i in range(n)]), [f"g{i}" for i in range(10)])
    torch.manual_seed(0)
    module = GenreModule(entry.build(10), OptimConfig(optimizer="adam", lr=1e-3), steps_per_epoch=max(1, n // batch))
    dm = GenreDataModule(ex, batch_size=batch, seed=0)
    trainer = pl.Trainer(max_epochs=1, accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1,
                         precision=precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    seconds = time.perf_counter() - t0
    loss = float(trainer.callback_metrics.get("train_loss", torch.tensor(float("nan"))))
    return seconds, loss


def check_training(device: str, rep: Report, n_dev: int, n_cpu: int) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*(does not have many workers|GPU available but not used).*")
    precision = "16-mixed" if device.startswith("cuda") else "32-true"
    _epoch("liu-cnn", device, precision, min(n_dev, 64), 32)  # warm-up: cuDNN autotuning, lazy CUDA init
    s_dev, loss = _epoch("liu-cnn", device, precision, n_dev, 32)
    s_cpu, _ = _epoch("liu-cnn", "cpu", "32-true", n_cpu, 32)
    rep.add(f"training epoch ({precision})", np.isfinite(loss),
            f"liu-cnn, {n_dev} examples of 1x128x128 on {device}: {s_dev:.1f} s, train loss {loss:.3f}")
    rep.add("training throughput", True, f"cpu 32-true {n_cpu / s_cpu:.1f} ex/s, {device} {precision} "
            f"{n_dev / s_dev:.1f} ex/s: {(n_dev / s_dev) / (n_cpu / s_cpu):.1f}x")


def check_input_pipeline(device: str, sync: Callable[[], None], rep: Report, model_name: str, batch: int,
                         n_batches: int) -> None:
    """Training steps fed by the loader vs the same steps on one device-resident batch (see the module docstring)."""
    import torch

    from genrelab.datasets.torch import Examples, GenreDataModule, lazy_normalizer
    from genrelab.features.normalize import Standardizer
    from genrelab.models import registry

    entry = registry.get(model_name)
    shape = entry.contract().input_shape
    n = batch * n_batches
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)  # colour-mapped images as training stores them
    y = (np.arange(n) % 10).astype(np.int64)
    norm = Standardizer(axes=(2, 3)).fit(X[: min(n, 64)].astype(np.float32) / 255.0)
    ex = lazy_normalizer(Examples(X, y, np.array([f"t{i}" for i in range(n)], dtype=object),
                                  [f"g{i}" for i in range(10)]), norm)
    dm = GenreDataModule(ex, batch_size=batch, seed=0, on_device=True)
    transform = dm.input_transform.to(device)
    loader = dm.train_dataloader()
    model = entry.build(10).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    amp = device.startswith("cuda")

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda" if amp else "cpu", dtype=torch.float16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    def fed() -> None:
        for xb, yb in loader:
            step(transform(xb.to(device, non_blocking=amp)), yb.to(device, non_blocking=amp))

    xr, yr = next(iter(loader))
    xr, yr = transform(xr.to(device)), yr.to(device)

    def resident() -> None:
        for _ in range(n_batches):
            step(xr, yr)

    _, t_res = timed(resident, sync, repeats=2)
    _, t_fed = timed(fed, sync, repeats=2)
    wait = max(0.0, 1.0 - t_res / t_fed)
    # on a GPU the steps must not wait; with the CPU as the device (tests) the figure is only reported: the
    # loader and the steps then share the same cores
    rep.add("input pipeline keeps up", wait < 0.2 or not device.startswith("cuda"),
            f"{model_name}, {batch} x {'x'.join(map(str, shape))} uint8 images per step: "
            f"{n / t_fed:.0f} samples/s fed by the loader, {n / t_res:.0f} samples/s on a resident batch: "
            f"steps waited {100 * wait:.0f} % of the time")


def check_musicnn(device: str, sync: Callable[[], None], rep: Report, n_patches: int, clip: str | None) -> None:
    import torch

    from genrelab.musicnn import dsp
    from genrelab.musicnn.info import N_MELS, PATCH_FRAMES
    from genrelab.musicnn.network import flops_per_patch
    from genrelab.musicnn.weights import load_pretrained

    net_cpu = load_pretrained("MSD_musicnn")
    net_dev = load_pretrained("MSD_musicnn").to(device)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_patches, PATCH_FRAMES, N_MELS)).astype(np.float32)

    def run(net, dev: str, arr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = net.forward_features(torch.from_numpy(arr).to(dev), ("penultimate",))["penultimate"]
        return out.float().cpu().numpy()

    ref, t_cpu = timed(lambda: run(net_cpu, "cpu", x), lambda: None, repeats=1)
    got, t_dev = timed(lambda: run(net_dev, device, x), sync, repeats=3)
    diff = float(np.abs(ref - got).max())
    rep.add("musicnn backbone parity", diff <= MUSICNN_TOL,
            f"{n_patches} patches: max |{device} - cpu| of the penultimate layer = {diff:.2e} (tolerance {MUSICNN_TOL})")
    gflop = flops_per_patch() / 1e9
    rep.add("musicnn throughput", True,
            f"cpu {n_patches / t_cpu:.1f} patches/s, {device} {n_patches / t_dev:.1f} patches/s: {t_cpu / t_dev:.1f}x "
            f"({gflop:.2f} GFLOP per 3 s patch: {device} sustains {gflop * n_patches / t_dev:.0f} GFLOP/s)")

    # classify with the shipped model, the embedding computed on the device as the Ray GPU actors compute it
    from genrelab.inference import Classifier
    from genrelab.runtime import Runtime

    clf = Classifier.from_pretrained("default", runtime=Runtime.from_env(backend="torch"))
    feat = clf.spec.feature
    if clip:
        y = dsp.load_audio(clip)[: 30 * 16000]
    else:
        t = np.arange(30 * 16000) / 16000
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    res = clf.classify_array(y, 16000, top_k=3)
    from genrelab.scale import backbone  # what `classify --engine ray` runs on GPU actors

    x, counts = backbone.patches([y])
    p = clf.predict_examples(backbone.DeviceBackbone(feat, device).embed(x, counts))[0]
    p_ref = np.array([res.probabilities[lab] for lab in clf.labels])
    diff = float(np.abs(p - p_ref).max())
    top = clf.labels[int(np.argmax(p))]
    rep.add("classify with musicnn on the device", diff <= PROBA_TOL and top == res.label,
            f"{Path(clip).name if clip else 'synthetic clip'}: {top} ({p.max():.2f}) on {device}, {res.label} "
            f"({res.score:.2f}) on cpu; max probability difference {diff:.1e} (tolerance {PROBA_TOL})")


def _real_clip() -> str | None:
    p = Path(__file__).resolve().parents[2] / "shared/data/gtzan/genres_original/rock/rock.00001.wav"
    return str(p) if p.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (exercise the code path)")
    ap.add_argument("--quick", action="store_true", help="small sizes (tests)")
    args = ap.parse_args(argv)
    import logging

    import torch

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"genrelab gpu-check: CPU {cpu_model()} ({torch.get_num_threads()} torch threads), torch {torch.__version__}")
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check. "
                  "Run `make gpu-check` on a machine with an NVIDIA GPU and a CUDA build of PyTorch.")
            return 0
        print(f"GPU: {torch.cuda.get_device_name(args.device)}, CUDA {torch.version.cuda}")
        # full float32 for the parity checks (TF32 convolutions/matmuls round to 10-bit mantissas)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

        def sync() -> None:
            torch.cuda.synchronize(args.device)
    else:
        def sync() -> None:
            return None

    t0 = time.perf_counter()
    rep = Report()
    quick = args.quick or not args.device.startswith("cuda")
    checks = [
        ("mel", lambda: check_mel(args.device, sync, rep, 2 if quick else 32)),
        ("training", lambda: check_training(args.device, rep, 32 if quick else 2048, 32 if quick else 128)),
        ("musicnn", lambda: check_musicnn(args.device, sync, rep, 4 if quick else 256, _real_clip())),
        ("input pipeline", lambda: check_input_pipeline(args.device, sync, rep, "sirek-cnn4" if quick else "qin-resnet18",
                                                        2 if quick else 64, 2 if quick else 40)),
    ]
    for name, fn in checks:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report every check, then fail
            rep.add(name, False, f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - t0
    rep.add("time budget", elapsed < TIME_BUDGET_S, f"{elapsed:.0f} s (must stay under {TIME_BUDGET_S} s)")
    print(("all checks passed" if rep.ok else "SOME CHECKS FAILED") + f" on {args.device}")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
