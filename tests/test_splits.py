"""Splits: ratios, stratification, artist grouping, k-fold, the published GTZAN split, FMA's, manifests, leaks."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from genrelab import splits
from genrelab.datasets import DatasetIndex
from genrelab.datasets.gtzan import load_gtzan
from genrelab.splits import Split, SplitRow, check_leaks
from genrelab.types import ConfigError, DataError, SplitLeakError, Track


def make_index(n_labels=4, per_label=50, artists_per_label=10, unknown_every=0) -> DatasetIndex:
    """Tracks ``<label>.<i>``; artist ``<label>-a<k>`` (each artist in one label), some unknown."""
    tracks = []
    for li in range(n_labels):
        lab = f"g{li}"
        for i in range(per_label):
            artist = None if unknown_every and i % unknown_every == 0 else f"{lab}-a{i % artists_per_label}"
            tracks.append(Track(f"{lab}.{i:05d}", None, lab, artist))
    return DatasetIndex("synthetic", tracks)


def parts_of(split: Split) -> dict[str, str]:
    return split.assignment()


# --------------------------------------------------------------------------- ratios and presets
def test_presets_and_ratio_parsing():
    assert splits.resolve_ratios("qin") == ((0.8, 0.2), ("train", "test"))
    assert splits.resolve_ratios("sears")[0] == pytest.approx((0.7, 0.3))
    assert splits.resolve_ratios("liu") == ((0.8, 0.1, 0.1), ("train", "valid", "test"))
    assert splits.resolve_ratios("sirek")[0] == pytest.approx((0.6, 0.2, 0.2))
    assert splits.resolve_ratios("70/30")[0] == pytest.approx((0.7, 0.3))
    assert splits.resolve_ratios([3, 1])[0] == pytest.approx((0.75, 0.25))
    for bad in ("nonsense", [-1, 2], [0, 0]):
        with pytest.raises(ConfigError):
            splits.resolve_ratios(bad)
    with pytest.raises(ConfigError):
        splits.resolve_ratios([0.5, 0.3, 0.1, 0.1])  # four parts need names
    assert splits.resolve_ratios([0.5, 0.5], names=["a", "b"])[1] == ("a", "b")


@pytest.mark.parametrize("preset,sizes", [("qin", (160, 40)), ("sears", (140, 60)),
                                          ("liu", (160, 20, 20)), ("sirek", (120, 40, 40))])
def test_stratified_split_ratios_exact_per_label(preset, sizes):
    idx = make_index(per_label=50, artists_per_label=50)  # every track its own artist: no artist can cross
    s = splits.stratified_split(idx, preset, seed=3)
    names = splits.PART_NAMES[len(sizes)]
    assert s.sizes() == dict(zip(names, sizes))
    for part, counts in s.counts().items():
        assert len(set(counts.values())) == 1, f"{part} not stratified: {counts}"
    assert sorted(parts_of(s)) == sorted(idx.ids)  # every track exactly once


def test_stratified_split_is_seeded():
    idx = make_index(artists_per_label=50)
    a, b = splits.stratified_split(idx, "qin", seed=1), splits.stratified_split(idx, "qin", seed=1)
    c = splits.stratified_split(idx, "qin", seed=2)
    assert parts_of(a) == parts_of(b) and parts_of(a) != parts_of(c)
    assert a.seed == 1 and a.method == "stratified-by-track"


def test_stratified_split_with_known_artists_is_refused_unless_allowed():
    idx = make_index(per_label=50, artists_per_label=5)  # 10 tracks per artist: they must cross
    with pytest.raises(SplitLeakError, match="artist 'g.-a.' on 2 sides"):
        splits.stratified_split(idx, "qin", seed=0)
    s = splits.stratified_split(idx, "qin", seed=0, allow_artist_leak=True)
    assert s.allow == {"artist"} and "artist leak allowed" in s.method
    check_leaks(s)  # its own declared leak passes
    with pytest.raises(SplitLeakError):
        check_leaks(s, allow=())  # a strict check still sees it


# --------------------------------------------------------------------------- artist split
def test_artist_split_keeps_artists_on_one_side_and_ratios_close():
    idx = make_index(n_labels=5, per_label=60, artists_per_label=12, unknown_every=7)
    s = splits.artist_split(idx, "liu", seed=4)
    check_leaks(s, allow=())
    side = defaultdict(set)
    for t in idx:
        if t.artist:
            side[t.artist].add(parts_of(s)[t.track_id])
    assert all(len(v) == 1 for v in side.values())
    sizes = s.sizes()
    assert sum(sizes.values()) == len(idx)
    assert abs(sizes["train"] / len(idx) - 0.8) < 0.05
    assert abs(sizes["test"] / len(idx) - 0.1) < 0.05
    for part in ("train", "valid", "test"):  # every label on every side
        assert set(s.counts()[part]) == {f"g{i}" for i in range(5)}
    assert s.info["groups"] == 5 * 12 + sum(1 for t in idx if t.artist is None)
    assert parts_of(splits.artist_split(idx, "liu", seed=4)) == parts_of(s)


def test_artist_split_unknown_artists_are_single_groups():
    idx = make_index(n_labels=2, per_label=40, artists_per_label=1, unknown_every=1)  # no artist known
    s = splits.artist_split(idx, "qin", seed=0)
    assert s.sizes() == {"train": 64, "test": 16}


# --------------------------------------------------------------------------- k-fold
def test_stratified_kfold_covers_every_track_once():
    idx = make_index(per_label=20, artists_per_label=20)
    folds = splits.kfold_splits(idx, k=5, seed=0)
    assert len(folds) == 5
    tested = Counter(tid for f in folds for tid in f.ids("test"))
    assert set(tested) == set(idx.ids) and set(tested.values()) == {1}
    for f in folds:
        assert f.sizes() == {"train": 64, "test": 16}
        assert set(f.counts()["test"].values()) == {4}  # stratified


def test_grouped_kfold_no_artist_crosses_folds():
    idx = make_index(n_labels=4, per_label=30, artists_per_label=6, unknown_every=5)
    folds = splits.kfold_splits(idx, k=4, seed=1, grouped=True)
    test_fold_of_artist: dict[str, set[int]] = defaultdict(set)
    for i, f in enumerate(folds):
        check_leaks(f, allow=())
        a = f.assignment()
        for t in idx:
            if t.artist and a[t.track_id] == "test":
                test_fold_of_artist[t.artist].add(i)
        train_artists = {t.artist for t in idx if t.artist and a[t.track_id] == "train"}
        test_artists = {t.artist for t in idx if t.artist and a[t.track_id] == "test"}
        assert not train_artists & test_artists
    assert all(len(v) == 1 for v in test_fold_of_artist.values())
    assert Counter(tid for f in folds for tid in f.ids("test")) == Counter(idx.ids)
    with pytest.raises(SplitLeakError):  # by-track folds cross artists: refused unless allowed
        splits.kfold_splits(idx, k=4, seed=1)
    assert len(splits.kfold_splits(idx, k=4, seed=1, allow_artist_leak=True)) == 4


def test_kfold_errors():
    idx = make_index(n_labels=2, per_label=4, artists_per_label=1)
    with pytest.raises(ConfigError):
        splits.kfold_splits(idx, k=1)
    with pytest.raises(DataError, match="fewer than k"):
        splits.kfold_splits(idx, k=3, grouped=True)


# --------------------------------------------------------------------------- published splits
@pytest.mark.integration
def test_gtzan_filtered_split_against_the_shared_lists(gtzan_root):
    idx = load_gtzan(gtzan_root)
    s = splits.gtzan_filtered_split(idx, gtzan_root / "splits")
    assert s.info["listed"] == {"train": 443, "valid": 197, "test": 290}
    present = {p: s.sizes().get(p, 0) for p in ("train", "valid", "test")}
    assert {p: present[p] + s.info["missing"][p] for p in present} == s.info["listed"]
    assert s.sizes()["valid"] == 40 and s.sizes()["train"] == 39
    lists = splits.read_gtzan_lists(gtzan_root)  # the root with a splits/ folder works too
    assert lists["train"][0] == "blues.00029" and lists["valid"][0] == "blues.00000"
    for row in s.rows:
        assert row.track_id in lists[row.part]
    assert s.info["unassigned"] == sum(1 for t in idx if not any(t.track_id in v for v in lists.values()))
    check_leaks(s, idx, allow=())  # artist-filtered by construction, per GTZANindex.txt too


def test_gtzan_filtered_split_on_a_synthetic_index(tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    (d / "train_filtered.txt").write_text("blues/blues.00001.wav\nblues/blues.00002.wav\n")
    (d / "valid_filtered.txt").write_text("blues/blues.00003.wav\n")
    (d / "test_filtered.txt").write_text("blues/blues.00004.wav\nrock/rock.00009.wav\n")
    idx = DatasetIndex("g", [Track(f"blues.{i:05d}", None, "blues", f"A{i}") for i in range(5)])
    s = splits.gtzan_filtered_split(idx, d)
    assert s.assignment() == {"blues.00001": "train", "blues.00002": "train", "blues.00003": "valid",
                              "blues.00004": "test"}
    assert s.info["missing"] == {"train": 0, "valid": 0, "test": 1} and s.info["unassigned"] == 1
    (d / "valid_filtered.txt").write_text("blues/blues.00001.wav\n")
    with pytest.raises(SplitLeakError, match="blues.00001"):
        splits.gtzan_filtered_split(idx, d)
    (d / "test_filtered.txt").unlink()
    with pytest.raises(DataError, match="test_filtered.txt"):
        splits.gtzan_filtered_split(idx, d)


def test_fma_official_split():
    tracks = [Track("000002", None, "Hip-Hop", "AWOL", split="train"),
              Track("000003", None, "Hip-Hop", "AWOL", split="train"),
              Track("000010", None, "Pop", "Kurt", split="test"),
              Track("000011", None, "Pop", "Kurt", split="test"),
              Track("000012", None, "Pop", "Other", split=None)]
    s = splits.fma_official_split(DatasetIndex("fma", tracks))
    assert s.assignment() == {"000002": "train", "000003": "train", "000010": "test", "000011": "test"}
    assert s.info["unassigned"] == 1 and s.method == "fma-official"
    tracks[2].split = "train"  # Kurt on both sides: refused
    with pytest.raises(SplitLeakError, match="Kurt"):
        splits.fma_official_split(DatasetIndex("fma", tracks))
    with pytest.raises(DataError, match="tracks.csv"):
        splits.fma_official_split(DatasetIndex("x", [Track("1", None, "Pop")]))


# --------------------------------------------------------------------------- leaky segment mode
def test_random_segment_split_is_explicitly_leaky():
    idx = make_index(n_labels=2, per_label=10, artists_per_label=10)
    s = splits.random_segment_split(idx, "sears", seed=0, n_segments=10)
    assert s.leaky and s.segmented and "LEAKY" in s.method
    assert s.sizes() == {"train": 140, "test": 60}
    by_track = defaultdict(set)
    for r in s.rows:
        by_track[r.track_id].add(r.part)
    assert any(len(v) == 2 for v in by_track.values())  # it does leak
    check_leaks(s)  # allowed: the split says so itself
    with pytest.raises(SplitLeakError, match="segments"):
        check_leaks(s, allow=())
    with pytest.raises(DataError, match="segment"):
        s.assignment()
    assert len(s.segment_assignment()) == 200
    # 3-second table tracks bring their own segment numbers
    t = Track("blues.00000", None, "blues", extra={"segments": (0, 1, 2, 5)})
    seg = splits.random_segment_split([t, Track("rock.00000", None, "rock", extra={"segments": (0,)})],
                                      [0.5, 0.5], seed=0)
    assert sorted(r.segment for r in seg.rows if r.track_id == "blues.00000") == [0, 1, 2, 5]


def test_a_manifest_with_a_track_on_two_sides_is_refused(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("track_id,part\na,train\nb,test\na,test\n")
    with pytest.raises(SplitLeakError, match="'a' in test and train"):
        Split.from_csv(p)
    p.write_text("track_id,part,artist\na,train,Bob\nb,test,Bob\n")
    with pytest.raises(SplitLeakError, match="artist 'Bob'"):
        Split.from_csv(p)
    # artists can also come from the index instead of the manifest
    q = tmp_path / "q.csv"
    q.write_text("track_id,part\na,train\nb,test\n")
    s = Split.from_csv(q)
    idx = DatasetIndex("x", [Track("a", None, "x", "Bob"), Track("b", None, "x", "Bob")])
    with pytest.raises(SplitLeakError, match="Bob"):
        check_leaks(s, idx)
    assert check_leaks(s) == {"tracks": 2, "artists": 0, "parts": 2}


# --------------------------------------------------------------------------- manifests
@pytest.mark.parametrize("method", ["stratified", "artist", "random-segment"])
def test_manifest_round_trip_repeats_the_split(tmp_path, method):
    idx = make_index(per_label=20, artists_per_label=20 if method == "stratified" else 4)
    s = splits.make_split(idx, method, "sirek", seed=7)
    p = s.to_csv(tmp_path / "split.csv")
    text = p.read_text()
    assert text.startswith("# genrelab split manifest\n") and "# seed: 7" in text
    header = [line for line in text.splitlines() if not line.startswith("#")][0]
    assert header.startswith("track_id,part,artist,label")
    back = Split.from_csv(p)
    assert back.rows == s.rows and back.method == s.method and back.seed == 7 and back.allow == s.allow
    assert back.info == s.info
    for part in back.parts:
        assert [t.track_id for t in back.tracks(idx, part)] == back.ids(part)
    assert back.parts == ["train", "valid", "test"]


def test_make_split_dispatch_errors():
    idx = make_index(per_label=5, artists_per_label=5)
    with pytest.raises(ConfigError, match="unknown split method"):
        splits.make_split(idx, "by-magic")
    with pytest.raises(ConfigError, match="lists"):
        splits.make_split(idx, "gtzan-filtered")
    with pytest.raises(DataError, match="no label"):
        splits.stratified_split([Track("a", None, None)], "qin")
    with pytest.raises(DataError, match="no part"):
        splits.stratified_split(idx, "qin").ids("valid")
    with pytest.raises(ConfigError):
        Split([SplitRow("a", "train")], "x", allow=frozenset({"everything"}))
