"""Training input pipeline: samples/s the DataModule delivers from the feature cache, beside each study model's
step time (samples/s it consumes), on the same cores.

    .venv/bin/python benchmarks/bench_loader.py [--clips 84] [--batch 32] [--cores 2] [--models liu-cnn,...]
        [--device cpu|cuda] [--json out.json]

For each model: its input spec's examples of ``--clips`` shared GTZAN clips are computed into a feature cache
(``FeatureCache.compute_all``) and read back through ``build_examples`` + normalisation, as training does;
then

- loader: ``GenreDataModule.train_dataloader()`` over the training examples (repeated up to ``--samples`` per
  epoch), samples/s, median of ``--repeats`` epochs: as is, with SpecAugment applied to each batch for
  spectrogram and image inputs (``+aug``; the on-line augmentation: Liu's pitch/tempo variants are cached
  entries like any other and cost the loader nothing more), with 2 worker processes, and the previous
  per-example ``TensorDataset`` + collate loader for comparison;
- model step: forward + backward + Adam step on a batch of that shape (``--device``), samples/s, median.

The loader keeps up when its samples/s exceed the step's. Run it with ``--device cuda`` on a GPU machine
to compare against GPU steps (pinned memory is then on).
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


def _epoch_rate(loader, augment, reps: int) -> float:
    rates = []
    for _ in range(reps):
        n = 0
        t0 = time.perf_counter()
        for X, _y in loader:
            if augment is not None:
                X = augment(X)
            n += len(X)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


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
    from torch.utils.data import DataLoader

    from genrelab.datasets.torch import EpochShuffleSampler, GenreDataModule, apply_normalizer, build_examples, \
        fit_normalizer, tensor_dataset
    from genrelab.features.augment import SpecAugment
    from genrelab.features.cache import FeatureCache
    from genrelab.models import registry
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
    print(f"\n{'model':16s} {'example shape':>16s} {'examples':>8s} {'loader/s':>9s} {'+aug/s':>9s} "
          f"{'old loader/s':>12s} {'workers=2/s':>12s} {'step ms':>8s} {'model/s':>8s} {'keeps up':>8s}")
    results = {"machine": _cpu_name(), "cores": cores, "device": args.device, "loadavg": os.getloadavg(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="genrelab-bench-loader-") as tmp:
        cache = FeatureCache(Path(tmp) / "cache")
        for name in [m for m in args.models.split(",") if m]:
            entry = registry.get(name)
            spec = entry.contract().spec
            ex = build_examples(tracks, labels, spec, cache=cache, workers=cores)
            train = apply_normalizer(ex, fit_normalizer(ex, spec))
            n_real = len(train)
            # repeat up to --samples examples, but at most ~1 GB of them (3 x 288 x 432 images are 1.5 MB each)
            cap = max(n_real, (1 << 30) // max(1, train.X[0].nbytes))
            train = train.subset(np.resize(np.arange(n_real), max(n_real, min(args.samples, cap))))
            shape = tuple(train.example_shape)
            dm = GenreDataModule(train, batch_size=args.batch, seed=0)
            aug = SpecAugment(seed=0) if len(shape) in (2, 3) and spec.feature.kind in ("mel", "stft", "mfcc", "image") \
                else None
            rate = _epoch_rate(dm.train_dataloader(), None, args.repeats)
            rate_aug = _epoch_rate(dm.train_dataloader(), aug, args.repeats) if aug is not None else rate
            old = DataLoader(tensor_dataset(train), batch_size=args.batch,
                             sampler=EpochShuffleSampler(len(train), seed=0, shuffle=True))
            rate_old = _epoch_rate(old, None, args.repeats)
            dm2 = GenreDataModule(train, batch_size=args.batch, seed=0, num_workers=2)
            rate_w = _epoch_rate(dm2.train_dataloader(), None, max(1, args.repeats - 1))
            model = entry.build(len(labels)).to(args.device).train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            xb = torch.from_numpy(np.ascontiguousarray(train.X[: args.batch])).to(args.device)
            yb = torch.from_numpy(train.y[: args.batch]).to(args.device)
            steps = []
            for i in range(4):
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                if i:  # the first step warms up
                    steps.append(time.perf_counter() - t0)
            step = statistics.median(steps)
            model_rate = len(xb) / step
            ok = rate_aug >= model_rate
            print(f"{name:16s} {str(shape):>16s} {n_real:8d} {rate:9.0f} {rate_aug:9.0f} {rate_old:12.0f} "
                  f"{rate_w:12.0f} {1000 * step:8.1f} {model_rate:8.0f} {'yes' if ok else 'NO':>8s}", flush=True)
            results["models"][name] = {"shape": shape, "examples": n_real, "loader_per_s": rate,
                                       "loader_specaugment_per_s": rate_aug,
                                       "old_loader_per_s": rate_old, "loader_workers2_per_s": rate_w,
                                       "step_s": step, "model_per_s": model_rate, "keeps_up": ok}
            del ex, train, dm, dm2, model
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
