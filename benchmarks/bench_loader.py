"""Training input pipeline: samples/s the DataModule delivers from the feature cache, as training runs it, beside
each study model's step time (samples/s it consumes), on the same cores.

    .venv/bin/python benchmarks/bench_loader.py [--clips 84] [--batch 32] [--cores 2] [--models liu-cnn,...]
        [--device cpu|cuda] [--json out.json]

For each model: its input spec's examples of ``--clips`` shared GTZAN clips are computed into a feature cache
(``FeatureCache.compute_all``); the track list is repeated up to ``--samples`` examples (at most ~1 GB of float32
examples) and read back as training does (``build_examples`` -> ``lazy_normalizer``: the parts stay as stored and
every batch is normalised by :class:`~genrelab.datasets.batches.InputTransform` on ``--device`` after the copy,
pinned memory and a non-blocking copy when ``--device cuda``). Samples/s of one epoch of
``GenreDataModule.train_dataloader()`` up to the normalised batch on the device (median of ``--repeats`` after
one warm-up epoch):

- ``f32 mem``: float32 examples in memory (what every input used before; the batches then came normalised from a
  materialised copy of the set: the same gather of float32 bytes);
- ``u8 mem``: colour-mapped images held as uint8 PNG pixels (``data.pixels`` auto: qin-resnet18, sirek-cnn4);
- ``mmap``: the memory-mapped pack (``data.mmap``; warm page cache), stored as training stores it (uint8 pixels
  for colour images, float32 otherwise), in the main process and with 2 worker processes (``w2``);
- with ``--device cpu`` these four stop at the stored batch on the host: the work the CPU must do when a GPU
  normalises; with ``--device cuda`` they include the pinned copy, the transfer and the normalisation on the GPU;
- ``train``: the training path (``u8 mem`` for colour images, else ``f32 mem``) up to the normalised batch on
  ``--device``; ``+aug``: the same with SpecAugment on the device for spectrogram and image inputs;
- model step: forward + backward + Adam step on a batch of that shape (``--device``), samples/s, median.

The loader keeps up when ``train`` and ``+aug`` exceed the step's samples/s. On a GPU machine run it with
``--device cuda`` to compare against GPU steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model as _cpu_name, pin_cores as _pin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

#: one model per study (and its input): Liu (128 x 128 grey image), Qin (3 x 288 x 432 image, 9 x 57 sequence),
#: Saint-Felix (MFCC slices), Sirek (mel 3 s segments), Sears (mel), Feng (STFT 128 x 512), Hoang/Bian (mel)
MODELS = ("liu-cnn", "qin-resnet18", "qin-lstm", "saintfelix-cnn", "sirek-cnn4", "sears-cnn038", "feng-bigru",
          "bian-cnn1d")


def _epoch_rate(dm, device: str, augment, reps: int, host_only: bool = False) -> float:
    """Samples/s of the training loader up to the normalised (and augmented) batch on ``device``; ``host_only``
    (CPU runs): up to the stored batch, i.e. what the host must deliver when a GPU does the rest."""
    import torch

    cuda = device.startswith("cuda")
    transform = None if host_only and not cuda else dm.input_transform
    if transform is not None:
        transform = transform.to(device)
    loader = dm.train_dataloader()  # once, as Lightning does (worker processes persist across epochs)
    rates = []
    for _ in range(reps + 1):  # the first epoch warms up (worker start-up, page cache, allocator)
        n = 0
        t0 = time.perf_counter()
        for X, _y in loader:
            X = X.to(device, non_blocking=cuda)
            if transform is not None:
                X = transform(X)
            if augment is not None:
                X = augment(X)
            n += len(X)
        if cuda:
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates[1:])


def _step_rate(entry, n_labels: int, xb, yb, device: str) -> float:
    import torch

    model = entry.build(n_labels).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xb, yb = xb.to(device), yb.to(device)
    steps = []
    for i in range(4):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:  # the first step warms up
            steps.append(time.perf_counter() - t0)
    return statistics.median(steps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=84)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=4096,
                    help="examples per epoch (the clips' examples repeated up to this many, at most ~1 GB)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cores = _pin(args.cores)

    import numpy as np
    import torch

    from genrelab.datasets.torch import GenreDataModule, build_examples, fit_normalizer, is_time_major, lazy_normalizer
    from genrelab.features.augment import SpecAugment
    from genrelab.features.cache import FeatureCache
    from genrelab.models import registry
    from genrelab.training.data import pixel_dtype
    from genrelab.types import LabelSet, Track

    torch.set_num_threads(cores)
    shared = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))
    files = sorted((shared / "gtzan" / "genres_original").glob("*/*.wav"))
    if not files:
        print(f"no clips under {shared} (set GENRELAB_SHARED_DATA)")
        return 1
    pick = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(args.clips, len(files)))]
    tracks = [Track(track_id=f.stem, path=f, label=f.parent.name) for f in pick]
    labels = LabelSet.from_labels(t.label for t in tracks)
    print(f"machine: {_cpu_name()}; {cores} of {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; torch {torch.__version__}; device {args.device}; "
          f"batch {args.batch}; {len(tracks)} clips")
    print(f"\n{'model':16s} {'example':>14s} {'n':>5s} {'f32 mem/s':>10s} {'u8 mem/s':>9s} {'mmap/s':>9s} "
          f"{'mmap w2/s':>9s} {'train/s':>9s} {'+aug/s':>8s} {'step ms':>8s} {'model/s':>8s} {'keeps up':>8s}")
    results = {"machine": _cpu_name(), "cores": cores, "device": args.device, "models": {},
               "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="genrelab-bench-loader-") as tmp:
        cache = FeatureCache(Path(tmp) / "cache")
        for name in [m for m in args.models.split(",") if m]:
            entry = registry.get(name)
            spec = entry.contract().spec
            one = build_examples(tracks, labels, spec, cache=cache, workers=cores)  # computes the cache entries
            per_track = max(1, len(one) // len(tracks))
            cap = max(len(one), (1 << 30) // max(1, one.X[0].nbytes))
            target = max(len(one), min(args.samples, cap))
            needed = max(len(tracks), -(-target // per_track))
            rep = (tracks * -(-needed // len(tracks)))[:needed]
            norm = fit_normalizer(one, spec)
            store = pixel_dtype(spec)  # uint8 for colour-mapped images, float32 otherwise

            def loader(dtype: str, mmap: bool, workers: int = 0):
                ex = build_examples(rep, labels, spec, cache=cache, dtype=dtype, mmap=mmap)
                part = lazy_normalizer(ex, norm)
                return GenreDataModule(part, batch_size=args.batch, seed=0, num_workers=workers, on_device=True), ex

            dm, ex = loader("float32", False)
            n = len(ex)
            host = dict(host_only=True)
            r_f32 = _epoch_rate(dm, args.device, None, args.repeats, **host)
            dm_train = loader(store, False)[0] if store == "uint8" else dm
            r_u8 = _epoch_rate(dm_train, args.device, None, args.repeats, **host) if store == "uint8" else None
            dm_m, ex_m = loader(store, True)
            assert isinstance(ex_m.X, np.memmap)
            r_mm = _epoch_rate(dm_m, args.device, None, args.repeats, **host)
            r_mw = _epoch_rate(loader(store, True, workers=2)[0], args.device, None, max(1, args.repeats - 1), **host)
            r_train = _epoch_rate(dm_train, args.device, None, args.repeats)  # + normalisation on --device
            aug = SpecAugment(seed=0) if len(ex.example_shape) in (2, 3) and \
                spec.feature.kind in ("mel", "stft", "mfcc", "image") else None
            if aug is not None and is_time_major(spec):
                aug = SpecAugment(seed=0, time_axis=-2)
            r_aug = _epoch_rate(dm_train, args.device, aug, args.repeats) if aug is not None else None
            xb = torch.from_numpy(np.ascontiguousarray(np.asarray(lazy_normalizer(one, norm).X[: args.batch])))
            yb = torch.from_numpy(one.y[: args.batch])
            step = _step_rate(entry, len(labels), xb, yb, args.device)
            model_rate = len(xb) / step
            ok = r_train >= model_rate and (r_aug is None or r_aug >= model_rate)

            def f(x):
                return f"{x:,.0f}" if x is not None else "-"

            print(f"{name:16s} {'x'.join(map(str, ex.example_shape)):>14s} {n:5d} {f(r_f32):>10s} {f(r_u8):>9s} "
                  f"{f(r_mm):>9s} {f(r_mw):>9s} {f(r_train):>9s} {f(r_aug):>8s} {1000 * step:8.1f} {model_rate:8.0f} "
                  f"{'yes' if ok else 'NO':>8s}", flush=True)
            results["models"][name] = {"shape": ex.example_shape, "examples": n, "stored": store,
                                       "f32_mem_per_s": r_f32, "u8_mem_per_s": r_u8, "mmap_per_s": r_mm,
                                       "mmap_workers2_per_s": r_mw, "train_path_per_s": r_train,
                                       "specaugment_per_s": r_aug,
                                       "step_s": step, "model_per_s": model_rate, "keeps_up": ok}
            del one, ex, ex_m, dm, dm_m, dm_train
    results["loadavg_end"] = os.getloadavg()
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
