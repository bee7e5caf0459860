import numpy as np
import pytest

from genrelab.datasets.torch import (
    EpochShuffleSampler, Examples, GenreDataModule, MemoryFeatureCache, build_examples, fit_normalizer,
    normalizer_axes,
)
from genrelab.features.config import InputSpec, TableFeature
from genrelab.features.spectral import MFCC, MelSpectrogram
from genrelab.types import LabelSet, Track


def tracks_from(folder):
    out = []
    for p in sorted(folder.rglob("*.wav")):
        out.append(Track(track_id=p.stem, path=p, label=p.parent.name))
    return out


def test_segments_keep_track_ids_and_labels(tiny_genre_folder):
    tracks = tracks_from(tiny_genre_folder)
    labels = LabelSet.from_labels(t.label for t in tracks)
    spec = InputSpec(feature=MelSpectrogram(n_mels=16, n_fft=512, hop_length=256), clip_seconds=6.0,
                     segment_seconds=2.0)
    cache = MemoryFeatureCache()
    ex = build_examples(tracks, labels, spec, cache=cache)
    assert ex.X.shape[:2] == (len(tracks) * 3, 16) and ex.n_tracks == len(tracks)
    for tid in set(ex.track_ids.tolist()):
        rows = np.flatnonzero(ex.track_ids == tid)
        assert len(rows) == 3 and len(set(ex.y[rows].tolist())) == 1
    again = build_examples(tracks, labels, spec, cache=cache)  # served from the cache
    assert np.array_equal(ex.X, again.X)
    grouped = build_examples(tracks[:2], labels, InputSpec(feature=spec.feature, clip_seconds=6.0,
                                                            segment_seconds=2.0, group_segments=True))
    assert grouped.X.shape[:2] == (2, 3)


def test_table_rows_30s_and_3s():
    cols = ("a", "b")
    labels = LabelSet(["x", "y"])
    t30 = Track("x.00000", None, "x", extra={"a": 1.0, "b": 2.0})
    t3 = Track("y.00000", None, "y", extra={"features": np.arange(6, dtype=np.float32).reshape(3, 2),
                                            "segments": (0, 1, 2)})
    ex = build_examples([t30, t3], labels, InputSpec(feature=TableFeature(columns=cols)))
    assert ex.X.shape == (4, 2) and ex.track_ids.tolist() == ["x.00000"] + ["y.00000"] * 3
    assert ex.X[0].tolist() == [1.0, 2.0] and ex.y.tolist() == [0, 1, 1, 1]


@pytest.mark.parametrize("spec_kw,shape,axes", [
    ({"feature": TableFeature(columns=("a",))}, (57,), None),                       # vectors: per feature
    ({"feature": MelSpectrogram()}, (128, 130), (2,)),                                 # (mels, frames): per band
    ({"feature": MFCC(time_major=True)}, (125, 13), (1,)),                             # (frames, coef): per coefficient
    ({"feature": TableFeature(columns=("a",)), "group_segments": True}, (9, 57), (1,)),  # segments x features
])
def test_normalizer_axes(spec_kw, shape, axes):
    assert normalizer_axes(InputSpec(**spec_kw), shape) == axes


def test_normalizer_fitted_on_train_only_per_band():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4, 10)).astype(np.float32) * np.arange(1, 5)[None, :, None] + 5
    ex = Examples(X, np.zeros(20, dtype=int), np.arange(20).astype(str))
    norm = fit_normalizer(ex, InputSpec(feature=MelSpectrogram(n_mels=4)))
    Z = norm.transform(X)
    np.testing.assert_allclose(Z.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=(0, 2)), 1, atol=1e-4)
    assert fit_normalizer(ex, InputSpec(feature=MelSpectrogram(n_mels=4)), "none") is None


def test_epoch_sampler_is_seeded_per_epoch_and_datamodule_batches():
    s = EpochShuffleSampler(10, seed=3)
    a = list(s)
    s.set_epoch(1)
    b = list(s)
    s.set_epoch(0)
    assert list(s) == a and a != b and sorted(a) == list(range(10))
    ex = Examples(np.zeros((33, 4), np.float32), np.zeros(33, int), np.arange(33).astype(str))
    dm = GenreDataModule(ex, ex, batch_size=8, seed=0)
    assert dm.steps_per_epoch() == 4  # 33 = 4 x 8 + 1: the lone last example is dropped in training
    assert sum(len(b[1]) for b in dm.train_dataloader()) == 32
    assert sum(len(b[1]) for b in dm.val_dataloader()) == 33


def test_disk_feature_cache_and_augmented_training_tracks(tiny_genre_folder, tmp_path):
    from genrelab.features.cache import FeatureCache

    tracks = tracks_from(tiny_genre_folder)[:2]
    labels = LabelSet.from_labels(t.label for t in tracks)
    spec = InputSpec(feature=MelSpectrogram(n_mels=8, n_fft=512, hop_length=256), clip_seconds=2.0)
    cache = FeatureCache(tmp_path / "cache")
    ex = build_examples(tracks, labels, spec, cache=cache, progress=False)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    assert np.array_equal(build_examples(tracks, labels, spec, cache=cache, progress=False).X, ex.X)
    # training augmentation: each track + its tempo variant, cached too, examples keep the original id
    aug = build_examples(tracks, labels, spec, cache=cache, augment={"pitch_steps": [], "tempo_rates": [1.07]},
                         progress=False)
    assert len(aug) == 4 and sorted(set(aug.track_ids.tolist())) == sorted(t.track_id for t in tracks)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 4


def test_batch_indexed_loader_gives_the_per_example_loaders_batches():
    """make_loader cuts each batch with one index (no per-example collate): same batches, same order."""
    import torch
    from torch.utils.data import DataLoader

    from genrelab.datasets.torch import EpochShuffleSampler, make_loader, tensor_dataset

    rng = np.random.default_rng(0)
    ex = Examples(rng.standard_normal((67, 4, 5)).astype(np.float32), rng.integers(0, 3, 67),
                  np.array([f"t{i}" for i in range(67)], dtype=object), ["a", "b", "c"])
    for shuffle in (True, False):
        new = make_loader(ex, 8, shuffle=shuffle, seed=3)
        old = DataLoader(tensor_dataset(ex), batch_size=8, sampler=EpochShuffleSampler(67, seed=3, shuffle=shuffle),
                         drop_last=shuffle and 67 % 8 == 1)
        a, b = list(new), list(old)
        assert len(a) == len(b) == len(new)
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert make_loader(ex, 8).pin_memory == torch.cuda.is_available()
