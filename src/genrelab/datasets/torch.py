"""Model-ready arrays and torch loaders built from a track list + an input spec.

The pipeline is: tracks (a :class:`~genrelab.types.Track` list from a dataset index and one part of
a split) -> :class:`Examples` (``X`` float32 ``(n_examples, *example_shape)``, integer labels ``y``
and the ``track_ids`` each example came from, so segment scores can be aggregated per track) ->
normalisation fitted on the training part only -> a Lightning :class:`GenreDataModule`.

- Audio features go through the feature cache (``FeatureCache.get_or_compute``) when one is given,
  else they are computed on the fly with ``InputSpec.examples`` (same code either way).
- ``spec.group_segments``: every track gives one example holding all its segments.
- Feature tables (``feature.kind == "table"``, the Kaggle CSVs): rows are read straight from the
  track records (``Track.extra``), no audio is decoded.
- Augmentation (training audio only): Liu et al.'s pitch/tempo variants of every training track
  (:func:`genrelab.features.augment.expand_training_set`), computed and cached like any track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from genrelab.datasets.batches import EpochShuffleSampler, NormalizedArray  # noqa: F401 (re-exported)
from genrelab.features.config import InputSpec
from genrelab.features.images import quantize
from genrelab.features.normalize import Standardizer
from genrelab.types import ConfigError, DataError, LabelSet, Track

# Feature kinds whose example is a raw signal: z-score them with one global mean/std.
WAVEFORM_KINDS = ("waveform", "raw", "audio")


# --------------------------------------------------------------------------- examples
@dataclass
class Examples:
    """Examples of one split part: ``X[i]`` came from track ``track_ids[i]`` and has class ``y[i]``."""

    X: np.ndarray
    y: np.ndarray
    track_ids: np.ndarray
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.int64)
        self.track_ids = np.asarray(self.track_ids, dtype=object)
        if not (len(self.X) == len(self.y) == len(self.track_ids)):
            raise DataError(f"examples disagree in length: X {len(self.X)}, y {len(self.y)}, ids {len(self.track_ids)}")

    def __len__(self) -> int:
        return int(len(self.y))

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    @property
    def n_tracks(self) -> int:
        return len(set(self.track_ids.tolist()))

    def subset(self, idx: Sequence[int] | np.ndarray) -> "Examples":
        idx = np.asarray(idx, dtype=np.int64)
        return Examples(self.X[idx], self.y[idx], self.track_ids[idx], list(self.labels))

    @staticmethod
    def concat(parts: Sequence["Examples"]) -> "Examples":
        parts = [p for p in parts if len(p)]
        if not parts:
            raise DataError("no examples to concatenate")
        return Examples(np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]),
                        np.concatenate([p.track_ids for p in parts]), list(parts[0].labels))


def table_rows(track: Track, columns: Sequence[str]) -> np.ndarray:
    """A track's feature-table rows ``(n_rows, n_columns)`` float32, taken from the track record.

    ``track.extra["features"]``: one row (30 s tables given as arrays) or ``(n_segments, n_columns)``
    (3 s tables); otherwise one ``extra`` entry per column (30 s tables).
    """
    extra = track.extra or {}
    if "features" in extra and extra["features"] is not None:
        rows = np.atleast_2d(np.asarray(extra["features"], dtype=np.float32))
        if columns and rows.shape[1] != len(columns):
            raise DataError(f"{track.track_id}: table rows have {rows.shape[1]} values, the spec wants {len(columns)}")
        return rows
    if not columns:
        raise DataError(f"{track.track_id}: the table spec names no columns and the track has no 'features'")
    missing = [c for c in columns if c not in extra]
    if missing:
        raise DataError(f"{track.track_id}: feature table has no column(s) {missing[:5]}")
    return np.asarray([[float(extra[c]) for c in columns]], dtype=np.float32)


def _load_audio(track: Track, spec: InputSpec) -> np.ndarray:
    from genrelab import audio

    if track.path is None:
        raise DataError(f"{track.track_id}: no audio path (a feature-table row cannot feed an audio model)")
    y, _ = audio.load(track.path, sr=spec.sample_rate)
    return y


def track_examples(track: Track, spec: InputSpec, cache: Any = None) -> np.ndarray:
    """Model-ready examples of one track ``(n, *shape)`` (from the cache when given)."""
    if spec.feature.kind == "table":
        rows = table_rows(track, getattr(spec.feature, "columns", ()))
        return rows[None] if spec.group_segments else rows
    if cache is not None:
        return np.asarray(cache.get_or_compute(track, spec), dtype=np.float32)
    from genrelab.features.cache import compute_track

    if track.path is None:
        raise DataError(f"{track.track_id}: no audio path (a feature-table row cannot feed an audio model)")
    return compute_track(track, spec)


class MemoryFeatureCache:
    """``get_or_compute(track, spec)`` kept in memory (shared by the runs of a recipe or the folds of a
    k-fold run, so features are computed once per track and input spec)."""

    def __init__(self) -> None:
        self._store: dict[tuple[str, str, str], np.ndarray] = {}

    def get_or_compute(self, track: Track, spec: InputSpec) -> np.ndarray:
        from genrelab.features.cache import compute_track

        key = (str(track.path), track.track_id, spec.hash())
        hit = self._store.get(key)
        if hit is None:
            if track.path is None:
                raise DataError(f"{track.track_id}: no audio path")
            hit = compute_track(track, spec)
            self._store[key] = hit
        return hit


def augmented_tracks(tracks: Sequence[Track], cfg: dict[str, Any] | None) -> list[Track]:
    """Training tracks followed by their augmented variants (:func:`genrelab.features.augment.expand_training_set`:
    Liu et al.'s pitch +-1 semitone and tempo 0.93x/1.07x, 5x the set). ``cfg``: None/{} off, or
    ``{"pitch_steps": [...], "tempo_rates": [...]}`` (defaults: Liu's)."""
    if cfg is None or cfg is False or cfg.get("enabled", True) is False:
        return list(tracks)
    from genrelab.features.augment import expand_training_set

    params = {k: v for k, v in cfg.items() if k in ("pitch_steps", "tempo_rates")}
    unknown = set(cfg) - {"pitch_steps", "tempo_rates", "enabled"}
    if unknown:
        raise ConfigError(f"augmentation has no option(s) {sorted(unknown)}; use pitch_steps, tempo_rates")
    plain = [t if (t.split or "train") in ("train", "training") else _as_train(t) for t in tracks]
    return expand_training_set(plain, **params)


def _as_train(t: Track) -> Track:
    # the index's own (official) split says nothing about the part chosen here: this track trains
    import dataclasses

    return dataclasses.replace(t, split="train")


def build_examples(
    tracks: Sequence[Track],
    labels: LabelSet,
    spec: InputSpec,
    *,
    cache: Any = None,
    augment: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = False,
    desc: str = "features",
    on_error: str = "raise",
    workers: int = 1,
    mmap: bool | str = False,
    dtype: str = "float32",
) -> Examples:
    """Examples of ``tracks`` (segments, or grouped segments, or table rows).

    ``augment`` (training part only): see :func:`augmented_tracks`; the variants' examples carry
    their original track's id. With a :class:`~genrelab.features.cache.FeatureCache` the missing
    features are computed first (``compute_all``, in parallel when ``workers`` > 1).
    ``on_error="skip"`` drops tracks whose audio cannot be read.

    ``mmap`` (with a ``FeatureCache``, audio features only): ``X`` is a memory-mapped pack of the entries
    (:mod:`genrelab.datasets.pack`, rebuilt whenever the track list or an entry changes), so no array of all
    examples is made; ``"auto"``: when the entries exceed ``pack.AUTO_RAM_FRACTION`` of RAM. ``dtype="uint8"``: ``X`` holds image pixels quantised as an 8-bit PNG
    (:func:`genrelab.features.images.quantize`; read them through :class:`NormalizedArray` or ``dequantize``).
    """
    if dtype not in ("float32", "uint8"):
        raise ConfigError(f"examples dtype must be float32 or uint8, got {dtype!r}")
    if dtype == "uint8" and spec.feature.kind != "image":
        raise ConfigError(f"uint8 examples hold image pixels; {spec.feature.kind!r} features stay float32")
    xs: list[np.ndarray] = []
    ys: list[int] = []
    ids: list[str] = []
    if augment is not None and augment is not False and spec.feature.kind != "table":
        tracks = augmented_tracks(tracks, augment)
    if cache is not None and hasattr(cache, "compute_all") and spec.feature.kind != "table":
        report = cache.compute_all(tracks, spec, workers=max(1, int(workers)), progress=progress)
        if on_error != "skip" and getattr(report, "failed", 0):
            raise DataError(f"features failed for {report.failed} track(s): {report.errors[:3]}")
    if mmap == "auto":
        from genrelab.datasets.pack import entry_bytes, want_mmap

        on_disk = cache is not None and hasattr(cache, "compute_all") and spec.feature.kind != "table"
        mmap = on_disk and want_mmap("auto", entry_bytes(cache, tracks, spec) // (4 if dtype == "uint8" else 1))
    if mmap and spec.feature.kind != "table":
        if cache is None or not hasattr(cache, "compute_all"):
            raise ConfigError("memory-mapped examples need an on-disk feature cache (data.cache_dir)")
        from genrelab.datasets.pack import packed_examples

        X, y, ids_, skipped_ = packed_examples(cache, tracks, labels.index, spec, dtype=dtype, on_error=on_error)
        ex = Examples(X, y, np.asarray(ids_, dtype=object), labels.to_list())
        ex.skipped = skipped_  # type: ignore[attr-defined]
        return ex
    it: Any = tracks
    if progress:
        try:
            from rich.progress import track as rich_track

            it = rich_track(tracks, description=desc, transient=True)
        except Exception:  # pragma: no cover - rich always installed
            pass
    skipped: list[str] = []
    for t in it:
        if t.label is None:
            raise DataError(f"{t.track_id}: no label")
        try:
            feats = track_examples(t, spec, cache)
        except Exception as exc:
            if on_error == "skip":
                skipped.append(f"{t.track_id}: {exc}")
                continue
            raise
        target = labels.index(t.label)
        xs.append(quantize(feats) if dtype == "uint8" else feats)
        ys.extend([target] * len(feats))
        ids.extend([str((t.extra or {}).get("original_id", t.track_id))] * len(feats))
    if not xs:
        raise DataError(f"no examples built from {len(tracks)} track(s)" + (f"; skipped: {skipped[:3]}" if skipped else ""))
    shapes = {x.shape[1:] for x in xs}
    if len(shapes) > 1:
        raise DataError(f"tracks give examples of different shapes {sorted(shapes)}; set clip_seconds/n_segments")
    ex = Examples(np.concatenate(xs).astype(dtype, copy=False), np.asarray(ys), np.asarray(ids, dtype=object),
                  labels.to_list())
    ex.skipped = skipped  # type: ignore[attr-defined]
    return ex


# --------------------------------------------------------------------------- normalisation
# Feature kinds fed to the model as they are (pretrained front ends with their own scaling).
UNNORMALISED_KINDS = ("musicnn-mel",)


def is_time_major(spec: InputSpec) -> bool:
    """True when a 2-D feature is laid out ``(frames, bands)`` (e.g. MFCC with ``time_major``)."""
    return bool(getattr(spec.feature, "time_major", False)) or spec.feature.kind in ("musicnn-mel",)


def normalizer_axes(spec: InputSpec, example_shape: tuple[int, ...], mode: str = "auto") -> tuple[int, ...] | str | None:
    """Standardizer axes (see :class:`~genrelab.features.normalize.Standardizer`) for an example shape.

    auto: per feature for vectors, per band for 2-D spectrograms/MFCCs (``(bands, frames)``, or
    ``(frames, bands)`` when time-major), per channel for ``(C, H, W)`` images, one global mean/std for
    raw waveforms; grouped segments also reduce the segment axis.
    """
    if mode == "feature":
        return None
    if mode == "global" or spec.feature.kind in WAVEFORM_KINDS:
        return "global"
    g = 1 if spec.group_segments else 0
    base_ndim = len(example_shape) - g
    lead = (1,) if g else ()
    if mode == "band" or (mode == "auto" and base_ndim == 2):
        if base_ndim < 2:
            return lead or None
        # reduce the time axis: axis 1+g of the example when time-major, else 2+g
        return (*lead, (1 + g) if is_time_major(spec) else (2 + g))
    if mode == "channel" or (mode == "auto" and base_ndim == 3):
        return (*lead, 2 + g, 3 + g)
    return lead or None


def fit_normalizer(train: Examples, spec: InputSpec, mode: str = "auto") -> Standardizer | None:
    """A :class:`Standardizer` fitted on the training examples (None when ``mode == "none"``, or for
    the pretrained front ends' own inputs in ``auto`` mode)."""
    if mode == "none" or (mode == "auto" and spec.feature.kind in UNNORMALISED_KINDS):
        return None
    return Standardizer(axes=normalizer_axes(spec, train.example_shape, mode)).fit(train.X)


def apply_normalizer(ex: Examples | None, norm: Standardizer | None) -> Examples | None:
    """``ex`` with a normalised copy of ``X`` (float32)."""
    if ex is None or norm is None:
        return ex
    return Examples(norm.transform(ex.X), ex.y, ex.track_ids, list(ex.labels))


def lazy_normalizer(ex: Examples | None, norm: Standardizer | None) -> Examples | None:
    """``ex`` whose ``X`` reads as normalised float32 through a :class:`NormalizedArray` (no copy of the set:
    loaders normalise each batch, on the host or on the device); float32 ``X`` without a normaliser stays as is."""
    if ex is None or (norm is None and ex.X.dtype == np.float32 and not isinstance(ex.X, np.memmap)):
        return ex
    out = Examples(NormalizedArray(ex.X, norm), ex.y, ex.track_ids, list(ex.labels))
    out.skipped = getattr(ex, "skipped", [])  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- torch side
def tensor_dataset(ex: Examples):
    """A per-example ``TensorDataset`` of normalised float32 ``X`` and ``y`` (the pre-batch loader's dataset)."""
    import torch
    from torch.utils.data import TensorDataset

    return TensorDataset(torch.from_numpy(np.ascontiguousarray(ex.X, dtype=np.float32)),
                         torch.from_numpy(ex.y.astype(np.int64)))


def make_loader(ex: Examples, batch_size: int, *, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, num_replicas: int = 1, rank: int = 0, pin_memory: bool | None = None,
                on_device: bool = False):
    """A DataLoader of ``(X, y)`` batches over ``ex`` (:func:`genrelab.datasets.batches.batch_loader`: order
    :class:`EpochShuffleSampler`, one gather per batch, ``pin_memory`` by default when CUDA is available).
    ``on_device``: batches of a :class:`NormalizedArray` come as stored; the consumer applies ``ex.X.transform()``."""
    from genrelab.datasets.batches import batch_loader

    return batch_loader(ex.X, ex.y, batch_size, shuffle=shuffle, seed=seed, num_workers=num_workers,
                        drop_last=drop_last, num_replicas=num_replicas, rank=rank, pin_memory=pin_memory,
                        on_device=on_device)


def _same_storage(*parts: Examples | None) -> bool:
    """True when every given part is read through a :class:`NormalizedArray` with one normaliser and dtype."""
    xs = [p.X for p in parts if p is not None]
    return all(isinstance(x, NormalizedArray) for x in xs) and len({(id(x.norm), x.raw.dtype.str) for x in xs}) == 1


def _lightning_datamodule_base():
    import lightning.pytorch as pl

    return pl.LightningDataModule


class GenreDataModule(_lightning_datamodule_base()):  # type: ignore[misc]
    """Train/val/test loaders over :class:`Examples` (normalised, or read through a :class:`NormalizedArray`).

    ``on_device``: the loaders hand over the stored batches of the parts' :class:`NormalizedArray` (uint8 or
    float32, from memory or a memory-mapped pack) and the LightningModule applies :attr:`input_transform` on the
    batch's device (``on_after_batch_transfer``); otherwise (or when the parts are not stored alike) batches
    are normalised on the host."""

    def __init__(self, train: Examples, val: Examples | None = None, test: Examples | None = None, *,
                 batch_size: int = 32, num_workers: int = 0, seed: int = 0, on_device: bool = False):
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.train_ex, self.val_ex, self.test_ex = train, val, test
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)
        self.on_device = bool(on_device) and _same_storage(train, val, test)

    @property
    def input_transform(self) -> Any:
        """The transform the training batches still need (an ``nn.Module``), or None when they come ready."""
        return self.train_ex.X.transform() if self.on_device else None

    def _replicas(self) -> tuple[int, int]:
        """(world size, global rank) of the Lightning run this module is attached to; (1, 0) outside one."""
        trainer = getattr(self, "trainer", None)
        return (int(trainer.world_size), int(trainer.global_rank)) if trainer is not None else (1, 0)

    def steps_per_epoch(self, world_size: int = 1) -> int:
        n = -(-len(self.train_ex) // max(1, world_size))
        full, rest = divmod(n, self.batch_size)
        drop = n > self.batch_size and rest == 1
        return max(1, full + (1 if rest and not drop else 0))

    def train_dataloader(self):
        world, rank = self._replicas()  # sharded here (the trainer runs with use_distributed_sampler=False)
        return make_loader(self.train_ex, self.batch_size, shuffle=True, seed=self.seed, num_workers=self.num_workers,
                           num_replicas=world, rank=rank, on_device=self.on_device)

    def val_dataloader(self):
        if self.val_ex is None or not len(self.val_ex):
            return []
        return make_loader(self.val_ex, self.batch_size, num_workers=self.num_workers, on_device=self.on_device)

    def test_dataloader(self):
        if self.test_ex is None or not len(self.test_ex):
            return []
        return make_loader(self.test_ex, self.batch_size, num_workers=self.num_workers, on_device=self.on_device)


def predict_proba(model: Any, X: np.ndarray, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Softmax probabilities of a torch model on an array, in eval mode, batch by batch."""
    import torch

    model = model.to(device).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size], dtype=np.float32)).to(device)
            out.append(torch.softmax(model(xb).float(), dim=1).cpu().numpy())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)
