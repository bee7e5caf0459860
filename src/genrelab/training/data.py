"""From a train config to normalised train/valid/test examples (:class:`PreparedData`).

Steps: load the dataset index (``genrelab.datasets``) -> split it (``genrelab.splits``: saved
lists, artist-grouped, random, official; or a random split of segments, the leaky protocol) ->
resolve the model's input spec (feature-table datasets replace the feature by the table's columns)
-> build examples through the feature cache -> fit the normaliser on the training part only.

The parts keep their examples as stored (float32, or uint8 pixels of colour-mapped images: :func:`pixel_dtype`;
in memory, or memory-mapped from a pack of the feature cache with ``data.mmap``) and read as normalised
float32 through a :class:`~genrelab.datasets.batches.NormalizedArray`: no normalised copy of a part is made;
the training loaders normalise each batch (on the GPU when training on one).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.datasets.torch import (
    Examples, apply_normalizer, build_examples, fit_normalizer, lazy_normalizer,
)
from genrelab.features.config import InputSpec, TableFeature
from genrelab.features.normalize import Standardizer
from genrelab.models.registry import InputContract
from genrelab.training.config import DataConfig, TrainConfig
from genrelab.types import ConfigError, DataError, LabelSet, Track

PARTS = ("train", "valid", "test")
LEAKY_METHODS = {"segments": True, "random": False}


@dataclass
class PreparedData:
    labels: list[str]
    spec: InputSpec
    contract: InputContract
    train: Examples
    val: Examples | None = None
    test: Examples | None = None
    normalizer: Standardizer | None = None
    split_info: dict[str, Any] = field(default_factory=dict)
    dataset_name: str = ""
    split: Any = None  # the genrelab.splits.Split used (saved as split.csv in the run dir)

    @property
    def one_example_per_track(self) -> bool:
        return all(ex is None or len(ex) == ex.n_tracks for ex in (self.train, self.val, self.test))

    def summary(self) -> dict[str, Any]:
        def part(ex: Examples | None) -> dict[str, Any] | None:
            if ex is None:
                return None
            counts = np.bincount(ex.y, minlength=len(self.labels)).tolist()
            return {"examples": len(ex), "tracks": ex.n_tracks, "per_label": dict(zip(self.labels, counts))}

        return {
            "dataset": self.dataset_name, "labels": self.labels, "split": self.split_info,
            "example_shape": list(self.train.example_shape), "spec": self.spec.to_dict(),
            "normalization": None if self.normalizer is None else self.normalizer.to_config(),
            "train": part(self.train), "valid": part(self.val), "test": part(self.test),
        }


# --------------------------------------------------------------------------- dataset + split
def load_tracks(dc: DataConfig) -> tuple[list[Track], str, Any]:
    """The dataset's labelled tracks, its display name and the :class:`DatasetIndex`."""
    from genrelab.datasets import load_dataset

    if not dc.root:
        raise ConfigError("the data config needs a root (a dataset folder or table file)")
    root = Path(dc.root).expanduser()
    if not root.exists():
        raise DataError(f"data root not found: {root}")
    if dc.dataset == "auto":
        from genrelab.datasets import detect_kind

        dc.dataset = detect_kind(root)
    index = load_dataset(dc.dataset, root, **dc.options)
    tracks = [t for t in index.tracks if t.label]
    if dc.genres:
        keep = set(dc.genres)
        tracks = [t for t in tracks if t.label in keep]
    if not tracks:
        raise DataError(f"{root}: no labelled tracks")
    if len(tracks) != len(index.tracks):
        index = index.subset({t.track_id for t in tracks})
    return tracks, str(getattr(index, "name", None) or dc.dataset), index


def _subsample(tracks: Sequence[Track], n: int | None) -> list[Track]:
    """The first ``n`` tracks (by id) of each genre: smoke runs."""
    if not n:
        return list(tracks)
    seen: dict[str, int] = defaultdict(int)
    keep = set()
    for t in sorted(tracks, key=lambda t: t.track_id):
        if seen[t.label] < n:  # type: ignore[index]
            seen[t.label] += 1  # type: ignore[index]
            keep.add(t.track_id)
    return [t for t in tracks if t.track_id in keep]


def make_track_split(index: Any, dc: DataConfig) -> Any:
    """A :class:`genrelab.splits.Split` of whole tracks (None for ``none`` and ``random-segment``)."""
    from genrelab import splits as S

    method = dc.split
    if method in ("none", "random-segment"):
        return None
    if method == "manifest":
        split = S.Split.from_csv(dc.manifest)
        S.check_leaks(split, index)
        return split
    if dc.folds:
        folds = S.kfold_splits(index, k=int(dc.folds), seed=dc.split_seed, grouped=method == "artist",
                               allow_artist_leak=dc.allow_artist_leak)
        return folds[int(dc.fold or 0)]
    opts: dict[str, Any] = {}
    if method == "gtzan-filtered":
        opts["lists"] = dc.lists
    if method == "stratified" and dc.allow_artist_leak:
        opts["allow_artist_leak"] = True
    ratios = dc.ratios if dc.ratios is not None else [0.8, 0.1, 0.1]
    if method in ("gtzan-filtered", "fma-official"):
        return S.make_split(index, method, **opts)
    return S.make_split(index, method, ratios=ratios, seed=dc.split_seed, **opts)


def split_tracks(tracks: list[Track], dc: DataConfig, index: Any = None) -> tuple[dict[str, list[Track]], dict[str, Any], Any]:
    """Tracks per part (train/valid/test), a description ``{method, leaky, ...}`` and the Split (or None)."""
    method = dc.split
    info: dict[str, Any] = {"method": method, "seed": dc.split_seed}
    if method == "none":
        return {"train": list(tracks), "valid": [], "test": []}, {**info, "leaky": False}, None
    if method == "random-segment":
        # decided per segment once examples exist (prepare_from_parts)
        return ({"train": list(tracks), "valid": [], "test": []},
                {**info, "method": "random-segment", "leaky": True, "ratios": dc.ratios or "sears"}, None)
    split = make_track_split(index if index is not None else tracks, dc)
    by_id = {t.track_id: t for t in tracks}
    parts = {p: ([by_id[i] for i in split.ids(p) if i in by_id] if p in split.parts else []) for p in PARTS}
    info["method"] = split.method
    info["leaky"] = bool(split.allow)  # a track or an artist allowed on two sides
    if split.allow:
        info["allowed_leaks"] = sorted(split.allow)
    if dc.ratios is not None:
        info["ratios"] = dc.ratios
    if dc.lists:
        info["lists"] = str(dc.lists)
    if split.info:
        info["split_info"] = split.info
    if not parts["train"]:
        raise DataError(f"split {method!r} leaves no training tracks (do the list names match the dataset?)")
    parts, info = _repart(parts, info, dc)
    return parts, info, split


def _repart(parts: dict[str, list[Track]], info: dict[str, Any], dc: DataConfig) -> tuple[dict[str, list[Track]], dict[str, Any]]:
    """Apply ``test_part`` (score another part) and ``valid_from_train`` (artist-grouped carve-out)."""
    from genrelab import splits as S

    if dc.test_part and dc.test_part != "test":
        if not parts.get(dc.test_part):
            raise DataError(f"test_part {dc.test_part!r}: the split has no tracks there")
        parts = {**parts, "test": parts[dc.test_part], dc.test_part: []}
        info["test_part"] = dc.test_part
    if dc.valid_from_train:
        f = float(dc.valid_from_train)
        sub = S.artist_split(parts["train"], [1 - f, f], seed=dc.split_seed)
        ids = {p: set(sub.ids(p)) for p in sub.parts}
        parts = {**parts, "train": [t for t in parts["train"] if t.track_id in ids.get("train", set())],
                 "valid": [t for t in parts["train"] if t.track_id in ids.get("test", set())]}
        info["valid_from_train"] = f
    return parts, info


# --------------------------------------------------------------------------- spec
def table_columns(tracks: Sequence[Track], index: Any = None) -> list[str]:
    meta = getattr(index, "meta", None) or {}
    cols = meta.get("columns") or getattr(index, "feature_columns", None)
    if cols:
        return [str(c) for c in cols]
    t = tracks[0]
    feats = (t.extra or {}).get("feature_names")
    if feats:
        return list(feats)
    raise DataError("the feature table index does not say which columns are features")


def resolve_spec(entry: Any, cfg: TrainConfig, tracks: Sequence[Track] = (), index: Any = None) -> InputSpec:
    spec = entry.contract(**cfg.model_args).spec
    dc = cfg.data
    if dc.dataset == "table":
        audio_eq = spec.feature.to_dict() if spec.feature.kind != "table" else spec.feature.audio_equivalent
        cols = tuple(table_columns(tracks, index)) if tracks else tuple(getattr(spec.feature, "columns", ()))
        # a table row is one 30 s clip; the model reads it as is (no segments)
        spec = InputSpec(feature=TableFeature(columns=cols, audio_equivalent=audio_eq),
                         clip_seconds=spec.clip_seconds, group_segments=spec.group_segments)
        return spec
    changes: dict[str, Any] = {}
    if cfg.feature:
        from genrelab.features.config import FeatureConfig

        # a full feature config (with "kind") replaces the model's; without "kind" it changes parameters
        fd = cfg.feature if "kind" in cfg.feature else {**spec.feature.to_dict(), **cfg.feature}
        changes["feature"] = FeatureConfig.from_dict(fd)
    if dc.clip_seconds is not None:
        changes["clip_seconds"] = dc.clip_seconds
    if dc.n_segments is not None and spec.segmented:
        changes["n_segments"] = dc.n_segments
    if dc.hop_seconds is not None and spec.segmented:
        changes["hop_seconds"] = dc.hop_seconds
    return dataclasses.replace(spec, **changes) if changes else spec


# --------------------------------------------------------------------------- main entry
def prepare_data(cfg: TrainConfig, entry: Any = None, *, cache: Any = None) -> PreparedData:
    from genrelab.models import registry

    entry = entry or registry.get(cfg.model)
    dc = cfg.data
    tracks, name, index = load_tracks(dc)
    labels = LabelSet.from_labels(t.label for t in tracks)
    parts, info, split = split_tracks(tracks, dc, index)
    parts = {k: _subsample(v, dc.max_per_genre) for k, v in parts.items()}
    spec = resolve_spec(entry, cfg, tracks, index)
    if cache is None and dc.cache_dir and spec.feature.kind != "table":
        cache = open_cache(dc.cache_dir)
    prepared = prepare_from_parts(parts, labels, spec, cfg, info, name, cache=cache)
    if split is not None:
        prepared.split = split
    return prepared


def open_cache(path: str | Path) -> Any:
    from genrelab.features.cache import FeatureCache

    return FeatureCache(Path(path))


def prepare_from_parts(parts: dict[str, list[Track]], labels: LabelSet, spec: InputSpec, cfg: TrainConfig,
                       split_info: dict[str, Any], dataset_name: str = "", *, cache: Any = None) -> PreparedData:
    dc = cfg.data
    progress = bool(cfg.progress)
    store = {"dtype": pixel_dtype(spec, dc.pixels), "mmap": dc.mmap if dc.split != "random-segment" else False}
    train = build_examples(parts["train"], labels, spec, cache=cache, augment=dc.augment, seed=cfg.seed,
                           progress=progress, desc="train features", workers=dc.num_workers, **store)
    if isinstance(train.X, np.memmap):
        store["mmap"] = True  # the other parts stored alike (one transform for every loader)
    val = build_examples(parts["valid"], labels, spec, cache=cache, progress=progress, desc="valid features",
                         **store) if parts.get("valid") else None
    test = build_examples(parts["test"], labels, spec, cache=cache, progress=progress, desc="test features",
                          **store) if parts.get("test") else None
    split_obj = None
    if dc.split == "random-segment":
        if dc.augment is not None:
            raise ConfigError("augmentation with a segment split would put augmented copies of test segments in training")
        train, val, test, split_obj = _segment_parts(train, parts["train"], dc)
    norm = fit_normalizer(train, spec, dc.normalize)
    train_n = lazy_normalizer(train, norm)
    assert train_n is not None
    contract = InputContract(spec, tuple(int(s) for s in train.example_shape))
    info = dict(split_info)
    info["n_tracks"] = {"train": train.n_tracks, "valid": val.n_tracks if val else 0, "test": test.n_tracks if test else 0}
    return PreparedData(labels=labels.to_list(), spec=spec, contract=contract, train=train_n,
                        val=lazy_normalizer(val, norm), test=lazy_normalizer(test, norm), normalizer=norm,
                        split_info=info, dataset_name=dataset_name, split=split_obj)


def pixel_dtype(spec: InputSpec, pixels: str = "auto") -> str:
    """How a part's examples are stored: ``uint8`` or ``float32`` (``data.pixels``; see
    :func:`genrelab.features.images.stored_dtype`)."""
    from genrelab.features.images import stored_dtype

    return stored_dtype(spec.feature, pixels)


def _segment_parts(ex: Examples, tracks: list[Track], dc: DataConfig) -> tuple[Examples, Examples | None, Examples | None, Any]:
    """The leaky random-segment protocol over built examples (genrelab.splits.random_segment_split)."""
    from genrelab import splits as S

    counts: dict[str, int] = defaultdict(int)
    seg_no = np.empty(len(ex), dtype=np.int64)
    for i, tid in enumerate(ex.track_ids.tolist()):
        seg_no[i] = counts[tid]
        counts[tid] += 1
    plain = [dataclasses.replace(t, extra={k: v for k, v in (t.extra or {}).items() if k != "segments"})
             for t in tracks]
    split = S.random_segment_split(plain, dc.ratios or "sears", dc.split_seed, n_segments=dict(counts))
    where = split.segment_assignment()
    part_of = np.array([where[(tid, int(k))] for tid, k in zip(ex.track_ids.tolist(), seg_no)], dtype=object)
    out = {p: ex.subset(np.flatnonzero(part_of == p)) for p in PARTS}
    val = out["valid"] if len(out["valid"]) else None
    test = out["test"] if len(out["test"]) else None
    return out["train"], val, test, split


def prepare_arrays(X_train: np.ndarray, y_train: np.ndarray, labels: Sequence[str], spec: InputSpec, *,
                   X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                   X_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                   normalize: str = "auto", split_info: dict[str, Any] | None = None) -> PreparedData:
    """PreparedData from plain arrays (one example per track; tests and notebooks)."""

    def ex(X, y, prefix):
        if X is None:
            return None
        return Examples(np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray([f"{prefix}{i}" for i in range(len(X))], dtype=object), list(labels))

    train, val, test = ex(X_train, y_train, "train"), ex(X_val, y_val, "valid"), ex(X_test, y_test, "test")
    norm = fit_normalizer(train, spec, normalize)
    return PreparedData(labels=list(labels), spec=spec, contract=InputContract(spec, train.example_shape),
                        train=apply_normalizer(train, norm), val=apply_normalizer(val, norm),
                        test=apply_normalizer(test, norm), normalizer=norm,
                        split_info=split_info or {"method": "given", "leaky": False}, dataset_name="arrays")
