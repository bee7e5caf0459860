"""Memory-mapped packs, uint8 pixels and per-batch normalisation give the numbers of the in-memory path."""

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest
import torch

from tinymodels import blobs, table_spec

from genrelab.datasets.batches import InputTransform, NormalizedArray
from genrelab.datasets.pack import PACK_DIR, packed_examples, want_mmap
from genrelab.datasets.torch import (
    Examples, GenreDataModule, apply_normalizer, build_examples, lazy_normalizer, make_loader,
)
from genrelab.features.cache import FeatureCache
from genrelab.features.config import InputSpec
from genrelab.features.images import SpectrogramImage, dequantize, quantize
from genrelab.features.normalize import Standardizer
from genrelab.features.spectral import MelSpectrogram
from genrelab.training.config import DataConfig
from genrelab.training.data import pixel_dtype, prepare_arrays
from genrelab.types import ConfigError, LabelSet, Track

SPEC = InputSpec(feature=MelSpectrogram(n_mels=4, n_fft=256, hop_length=128), clip_seconds=1.0)


def synthetic_cache(tmp_path, n_tracks=4, seed=0):
    rng = np.random.default_rng(seed)
    cache = FeatureCache(tmp_path / "cache")
    tracks, arrays = [], []
    for i in range(n_tracks):
        t = Track(track_id=f"t{i}", path=None, label="ab"[i % 2])
        arr = rng.random((2 + i % 2, 3, 5)).astype(np.float32)
        cache.put(t.track_id, SPEC, arr)
        tracks.append(t)
        arrays.append(arr)
    return cache, tracks, arrays


def packs(cache):
    return sorted((cache.directory(SPEC) / PACK_DIR).glob("*.npy"))


def test_pack_is_reused_only_when_identical_and_rebuilt_when_stale_or_broken(tmp_path):
    cache, tracks, arrays = synthetic_cache(tmp_path)
    index = {"a": 0, "b": 1}.__getitem__
    X, y, ids, skipped = packed_examples(cache, tracks, index, SPEC)
    assert isinstance(X, np.memmap) and not skipped
    np.testing.assert_array_equal(X, np.concatenate(arrays))
    assert y.tolist() == [0, 0, 1, 1, 1, 0, 0, 1, 1, 1] and ids[:3] == ["t0", "t0", "t1"]
    (pack,) = packs(cache)
    stamp = pack.stat().st_mtime_ns
    packed_examples(cache, tracks, index, SPEC)  # identical list: reused, not rewritten
    assert packs(cache) == [pack] and pack.stat().st_mtime_ns == stamp
    # another track list (order matters too): another pack
    X2, *_ = packed_examples(cache, tracks[::-1], index, SPEC)
    np.testing.assert_array_equal(X2, np.concatenate(arrays[::-1]))
    assert len(packs(cache)) == 2
    # a recomputed entry: the pack is rebuilt with the new values
    arrays[1] = arrays[1] + 1
    cache.put("t1", SPEC, arrays[1])
    X3, *_ = packed_examples(cache, tracks, index, SPEC)
    np.testing.assert_array_equal(X3, np.concatenate(arrays))
    new = [p for p in packs(cache) if p.stat().st_mtime_ns >= stamp and p != pack]
    # a truncated pack is never read: rebuilt
    target = new[-1] if new else pack
    del X3
    with open(target, "r+b") as f:
        f.truncate(target.stat().st_size - 7)
    X4, *_ = packed_examples(cache, tracks, index, SPEC)
    np.testing.assert_array_equal(X4, np.concatenate(arrays))
    # a garbled pack of the right size: caught by the CRC (verify=True)
    with open(target, "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\xff\xff\xff\xff")
    X5, *_ = packed_examples(cache, tracks, index, SPEC, verify=True)
    np.testing.assert_array_equal(X5, np.concatenate(arrays))
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["shape"] == [10, 3, 5] and meta["dtype"] == "float32" and meta["tracks"] == 4
    assert not list(target.parent.glob("*.tmp-*"))


def test_pack_uint8_and_missing_entries(tmp_path):
    cache, tracks, arrays = synthetic_cache(tmp_path)
    X, *_ = packed_examples(cache, tracks, {"a": 0, "b": 1}.__getitem__, SPEC, dtype="uint8")
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X, quantize(np.concatenate(arrays)))
    assert np.abs(dequantize(X) - np.concatenate(arrays)).max() <= 1 / 510 + 1e-7
    gone = [*tracks, Track(track_id="nope", path=None, label="a")]
    X, y, ids, skipped = packed_examples(cache, gone, {"a": 0, "b": 1}.__getitem__, SPEC, on_error="skip")
    assert len(skipped) == 1 and "nope" in skipped[0] and "nope" not in ids
    with pytest.raises(Exception, match="nope"):
        packed_examples(cache, gone, {"a": 0, "b": 1}.__getitem__, SPEC)


def tracks_from(folder, n=None):
    return [Track(track_id=p.stem, path=p, label=p.parent.name) for p in sorted(folder.rglob("*.wav"))][:n]


def test_build_examples_mmap_equals_in_memory_and_uint8_images(tiny_genre_folder, tmp_path):
    tracks = tracks_from(tiny_genre_folder)[::4]
    labels = LabelSet.from_labels(t.label for t in tracks)
    cache = FeatureCache(tmp_path / "cache")
    mem = build_examples(tracks, labels, SPEC, cache=cache)
    mm = build_examples(tracks, labels, SPEC, cache=cache, mmap=True)
    assert isinstance(mm.X, np.memmap) and not isinstance(mem.X, np.memmap)
    np.testing.assert_array_equal(mm.X, mem.X)
    assert mm.y.tolist() == mem.y.tolist() and mm.track_ids.tolist() == mem.track_ids.tolist()
    img = InputSpec(feature=SpectrogramImage(width=24, height=16, channels=3, n_fft=256, hop_length=128, n_mels=16),
                    clip_seconds=1.0)
    f32 = build_examples(tracks, labels, img, cache=cache)
    u8 = build_examples(tracks, labels, img, cache=cache, dtype="uint8")
    u8m = build_examples(tracks, labels, img, cache=cache, dtype="uint8", mmap=True)
    assert u8.X.dtype == u8m.X.dtype == np.uint8
    np.testing.assert_array_equal(u8.X, u8m.X)
    assert np.abs(dequantize(u8.X) - f32.X).max() <= 1 / 255
    with pytest.raises(ConfigError):
        build_examples(tracks, labels, SPEC, cache=cache, dtype="uint8")  # pixels only
    with pytest.raises(ConfigError, match="cache"):
        build_examples(tracks, labels, SPEC, mmap=True)


def test_storage_settings():
    img = InputSpec(feature=SpectrogramImage(channels=3))
    assert pixel_dtype(img) == "uint8" and pixel_dtype(img, "float32") == "float32"
    assert pixel_dtype(InputSpec(feature=SpectrogramImage(channels=1))) == "float32"  # Liu's grey levels
    assert pixel_dtype(SPEC) == "float32"
    with pytest.raises(ConfigError):
        pixel_dtype(SPEC, "uint8")
    assert DataConfig(mmap="true").mmap is True and DataConfig().mmap == "auto"
    with pytest.raises(ConfigError):
        DataConfig(mmap="sometimes")
    assert want_mmap(True, 0) and not want_mmap(False, 1 << 50) and want_mmap("auto", 1 << 50)
    assert not want_mmap("auto", 1 << 20)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_per_batch_normalisation_equals_apply_normalizer(tmp_path, dtype):
    rng = np.random.default_rng(1)
    raw = rng.random((37, 3, 4, 6)).astype(np.float32) * np.arange(1, 4, dtype=np.float32)[None, :, None, None]
    raw = quantize(raw / 3) if dtype == "uint8" else raw
    np.save(tmp_path / "x.npy", raw)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    norm = Standardizer(axes=(2, 3)).fit(dequantize(raw))
    chunked = Standardizer(axes=(2, 3)).fit(mapped)  # read in chunks, no float64 copy of the set
    np.testing.assert_allclose(chunked.mean, norm.mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked.std, norm.std, rtol=1e-6)
    ex = Examples(mapped, rng.integers(0, 2, 37), np.arange(37).astype(str))
    want = apply_normalizer(Examples(dequantize(raw), ex.y, ex.track_ids), norm).X
    lazy = lazy_normalizer(ex, norm)
    assert isinstance(lazy.X, NormalizedArray) and lazy.X.shape == raw.shape and lazy.X.dtype == np.float32
    np.testing.assert_allclose(np.asarray(lazy.X), want, atol=1e-6)
    np.testing.assert_allclose(lazy.X[3:9], want[3:9], atol=1e-6)
    host = make_loader(lazy, 8, shuffle=True, seed=2)
    dev = make_loader(lazy, 8, shuffle=True, seed=2, on_device=True)
    tf = lazy.X.transform()
    assert isinstance(tf, InputTransform) and not tf.state_dict()  # nothing new in checkpoints
    n = 0
    for (xh, yh), (xd, yd) in zip(host, dev):
        assert xd.dtype == (torch.uint8 if dtype == "uint8" else torch.float32)
        np.testing.assert_allclose(xh.numpy(), tf(xd).numpy(), atol=1e-6)
        assert torch.equal(yh, yd)
        n += len(yh)
    assert n == 32 or n == 37
    ordered = torch.cat([tf(x) for x, _ in make_loader(lazy, 8, on_device=True)]).numpy()
    np.testing.assert_allclose(ordered, want, atol=1e-6)


def test_datamodule_mmap_with_two_workers(tmp_path):
    rng = np.random.default_rng(2)
    raw = quantize(rng.random((45, 3, 4, 5)))
    np.save(tmp_path / "x.npy", raw)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    ex = Examples(mapped, rng.integers(0, 3, 45), np.arange(45).astype(str))
    norm = Standardizer(axes=(2, 3)).fit(mapped)
    lazy = lazy_normalizer(ex, norm)
    base = GenreDataModule(lazy, lazy, batch_size=8, seed=0, on_device=True)
    work = GenreDataModule(lazy, lazy, batch_size=8, seed=0, num_workers=2, on_device=True)
    assert base.input_transform is not None
    a = [(x.clone(), y.clone()) for x, y in base.train_dataloader()]
    b = [(x.clone(), y.clone()) for x, y in work.train_dataloader()]
    assert len(a) == len(b) == 6 and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    assert a[0][0].dtype == torch.uint8
    # spawned processes (DDP spawn, non-fork contexts) map the pack again instead of receiving a copy
    blob = pickle.dumps(lazy.X)
    again = pickle.loads(blob)
    assert len(blob) < raw.nbytes // 4 and isinstance(again.raw, np.memmap)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(lazy.X))
    # mixed storage (a plain float part): no device transform, batches come normalised from the host
    plain = GenreDataModule(lazy, apply_normalizer(Examples(dequantize(raw), ex.y, ex.track_ids), norm),
                            batch_size=8, on_device=True)
    assert plain.input_transform is None and next(iter(plain.train_dataloader()))[0].dtype == torch.float32


def test_training_with_per_batch_normalisation_gives_the_same_weights(tmp_path):
    """A seeded run on lazily normalised parts (normalised on the batch, after the transfer) ends with the
    weights and scores of the run on materialised normalised copies (the previous path)."""
    from safetensors.numpy import load_file

    from genrelab.training.config import TrainConfig
    from genrelab.training.trainer import train

    X, y = blobs(n_per_class=30, seed=0)
    labels = ["a", "b", "c"]
    before = prepare_arrays(X[:60], y[:60], labels, table_spec(), X_val=X[60:75], y_val=y[60:75],
                            X_test=X[75:], y_test=y[75:])
    raw = {k: Examples(X[s], y[s], np.asarray([f"{k}{i}" for i in range(len(X[s]))], dtype=object), labels)
           for k, s in (("train", slice(0, 60)), ("valid", slice(60, 75)), ("test", slice(75, None)))}
    norm = before.normalizer
    after = dataclasses.replace(before, train=lazy_normalizer(raw["train"], norm),
                                val=lazy_normalizer(raw["valid"], norm), test=lazy_normalizer(raw["test"], norm))
    assert isinstance(after.train.X, NormalizedArray)
    cfg = dict(model="test-tiny-mlp", epochs=3, batch_size=16, seed=1, progress=False, test_curve=True,
               optim={"optimizer": "adam", "lr": 0.02}, data={"dataset": "table", "root": "x", "split": "none"},
               n_boot=20)
    a = train(TrainConfig.from_dict({**cfg, "out": str(tmp_path / "a")}), data=before)
    b = train(TrainConfig.from_dict({**cfg, "out": str(tmp_path / "b")}), data=after)
    wa, wb = load_file(a / "checkpoint/model.safetensors"), load_file(b / "checkpoint/model.safetensors")
    assert wa.keys() == wb.keys() and all(np.allclose(wa[k], wb[k], rtol=0, atol=1e-6) for k in wa)
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    assert ma["metrics"] == mb["metrics"]
    assert (a / "history.csv").read_text().split("\n")[0] == (b / "history.csv").read_text().split("\n")[0]
    ha = [row.split(",")[1:5] for row in (a / "history.csv").read_text().splitlines()[1:]]
    hb = [row.split(",")[1:5] for row in (b / "history.csv").read_text().splitlines()[1:]]
    assert ha == hb
    from genrelab import checkpoint

    ca, cb = checkpoint.load(a / "checkpoint"), checkpoint.load(b / "checkpoint")
    assert np.array_equal(ca.normalizer.mean, norm.mean) and np.array_equal(cb.normalizer.std, norm.std)


def test_training_on_uint8_pixels_matches_their_materialised_values(tmp_path):
    """uint8 storage trains exactly like float32 inputs holding the same (PNG) values, normalised beforehand."""
    from safetensors.numpy import load_file

    from genrelab.training.config import TrainConfig
    from genrelab.training.trainer import train

    X, y = blobs(n_per_class=20, seed=1)
    u8 = quantize((X - X.min()) / (X.max() - X.min()))
    labels = ["a", "b", "c"]
    before = prepare_arrays(dequantize(u8[:50]), y[:50], labels, table_spec(), X_val=dequantize(u8[50:]), y_val=y[50:])
    ids = np.asarray([f"t{i}" for i in range(60)], dtype=object)
    after = dataclasses.replace(
        before, train=lazy_normalizer(Examples(u8[:50], y[:50], ids[:50], labels), before.normalizer),
        val=lazy_normalizer(Examples(u8[50:], y[50:], ids[50:], labels), before.normalizer), test=None)
    assert after.train.X.raw.dtype == np.uint8
    cfg = dict(model="test-tiny-mlp", epochs=2, batch_size=16, seed=3, progress=False, n_boot=10,
               optim={"optimizer": "adam", "lr": 0.02}, data={"dataset": "table", "root": "x", "split": "none"})
    a = train(TrainConfig.from_dict({**cfg, "out": str(tmp_path / "a")}), data=before)
    b = train(TrainConfig.from_dict({**cfg, "out": str(tmp_path / "b")}), data=after)
    wa, wb = load_file(a / "checkpoint/model.safetensors"), load_file(b / "checkpoint/model.safetensors")
    assert all(np.allclose(wa[k], wb[k], rtol=0, atol=1e-6) for k in wa)


def test_prepare_from_parts_maps_every_part_and_reads_the_in_memory_numbers(tiny_genre_folder, tmp_path):
    from genrelab.training.config import TrainConfig
    from genrelab.training.data import prepare_from_parts

    tracks = tracks_from(tiny_genre_folder)
    labels = LabelSet.from_labels(t.label for t in tracks)
    parts = {"train": tracks[0::2], "valid": tracks[1::4], "test": tracks[3::4]}
    cache = FeatureCache(tmp_path / "cache")

    def prepared(mmap):
        cfg = TrainConfig.from_dict({"model": "x", "progress": False,
                                     "data": {"dataset": "gtzan", "root": "x", "split": "none", "mmap": mmap}})
        return prepare_from_parts(parts, labels, SPEC, cfg, {"method": "given"}, cache=cache)

    mem, mapped = prepared(False), prepared(True)
    for a, b in ((mem.train, mapped.train), (mem.val, mapped.val), (mem.test, mapped.test)):
        assert isinstance(b.X, NormalizedArray) and isinstance(b.X.raw, np.memmap)
        assert not isinstance(a.X, NormalizedArray) or not isinstance(a.X.raw, np.memmap)
        np.testing.assert_allclose(np.asarray(b.X), np.asarray(a.X), atol=1e-5)
        assert a.y.tolist() == b.y.tolist()
    np.testing.assert_allclose(mapped.normalizer.mean, mem.normalizer.mean, rtol=1e-6, atol=1e-6)
    ref = apply_normalizer(build_examples(parts["train"], labels, SPEC, cache=cache), mem.normalizer)
    np.testing.assert_array_equal(np.asarray(mem.train.X), ref.X)  # in memory: the numbers of the previous path
    dm = GenreDataModule(mapped.train, mapped.val, mapped.test, batch_size=4, on_device=True)
    assert dm.on_device and dm.input_transform is not None


def test_cli_train_storage_options(tmp_path, monkeypatch):
    """--mmap and --pixels reach DataConfig; bad values are refused with the option's name."""
    from typer.testing import CliRunner

    from genrelab.cli import app
    from genrelab.training import trainer

    seen = []
    monkeypatch.setattr(trainer, "train", lambda c, resume=False: seen.append(c) or tmp_path)
    base = ["train", "--model", "qin-mlp", "--root", str(tmp_path), "-q"]
    res = CliRunner().invoke(app, base)
    assert res.exit_code == 0, res.output
    assert seen[0].data.mmap == "auto" and seen[0].data.pixels == "auto"
    res = CliRunner().invoke(app, base + ["--mmap", "true", "--pixels", "float32", "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert seen[1].data.mmap is True and seen[1].data.pixels == "float32"
    res = CliRunner().invoke(app, base + ["--pixels", "jpeg"])
    assert res.exit_code != 0 and "pixels" in res.output and len(seen) == 2
    res = CliRunner().invoke(app, base + ["--mmap", "maybe"])
    assert res.exit_code != 0 and "mmap" in res.output and len(seen) == 2
