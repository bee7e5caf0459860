"""Dataset loaders: GTZAN (both layouts), FMA (official tracks.csv and plain CSVs), folders, Kaggle tables."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab.datasets import DatasetIndex, detect_kind, load_dataset
from genrelab.datasets.fma import load_fma, read_tracks_csv, track_path
from genrelab.datasets.gtzan import load_gtzan, read_index_file
from genrelab.datasets.tables import load_table, parse_filename, segment_rows
from genrelab.types import GTZAN_GENRES, DataError, Track

SR = 22050


def write_tone(path: Path, seconds: float = 1.0, sr: int = SR, fmt: str | None = None, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format=fmt)
    return path


# --------------------------------------------------------------------------- GTZAN
@pytest.mark.integration
def test_gtzan_finds_all_84_shared_clips_with_labels_and_artists(gtzan_root):
    idx = load_gtzan(gtzan_root)
    assert len(idx) == 84 and idx.skipped == {}
    assert list(idx.labels) == list(GTZAN_GENRES)
    expected = sorted(p.stem for p in (gtzan_root / "genres_original").glob("*/*.wav"))
    assert sorted(idx.ids) == expected
    for t in idx:
        assert t.label == t.track_id.split(".")[0] == t.path.parent.name
        assert 29.9 < t.duration < 30.7
    # artists from Sturm's GTZANindex.txt, found beside the root
    assert idx.meta["index_file"].endswith("GTZANindex.txt")
    index = read_index_file(gtzan_root / "GTZANindex.txt")
    for t in idx:
        assert t.artist == index[t.track_id][0]
    assert idx.by_id("blues.00000").artist == "John Lee Hooker"
    assert idx.by_id("blues.00000").extra["title"] == "One Bourbon, One Scotch And One Beer"
    assert idx.by_id("jazz.00054").artist is None  # listed with an empty artist
    assert sum(t.artist is not None for t in idx) == 81
    assert idx.label_counts()["country"] == 12


def _fake_gtzan(root: Path, layout: str, ext: str, n: int = 2) -> Path:
    for g in ("blues", "rock"):
        for i in range(n):
            write_tone(root / layout / g / f"{g}.{i:05d}{ext}", 0.5, fmt="AU" if ext == ".au" else None)
    return root


def test_gtzan_original_au_layout_and_explicit_index(tmp_path):
    root = _fake_gtzan(tmp_path / "gtzan", "genres", ".au")
    idx_file = tmp_path / "elsewhere" / "GTZANindex.txt"
    idx_file.parent.mkdir()
    idx_file.write_text("## header\nblues.00000.wav ::: Artist A ::: Song\nrock.00001.wav ::: Artist B ::: \n"
                        "blues.00001.wav ::: ::: \n")
    idx = load_gtzan(root, index_file=idx_file)
    assert idx.meta["layout"] == "genres" and len(idx) == 4
    assert list(idx.labels) == ["blues", "rock"]
    assert idx.by_id("blues.00000").artist == "Artist A"
    assert idx.by_id("rock.00001").artist == "Artist B" and "title" not in idx.by_id("rock.00001").extra
    assert idx.by_id("blues.00001").artist is None and idx.by_id("rock.00000").artist is None
    assert idx.by_id("rock.00000").path.suffix == ".au"
    assert idx.by_id("rock.00000").duration == pytest.approx(0.5)
    with pytest.raises(DataError, match="index file not found"):
        load_gtzan(root, index_file=tmp_path / "nope.txt")


def test_gtzan_skips_and_counts_bad_files(tmp_path):
    root = _fake_gtzan(tmp_path / "Data", "genres_original", ".wav", n=3)
    g = root / "genres_original"
    (g / "rock" / "rock.00000.wav").write_bytes(b"")  # empty
    data = (g / "rock" / "rock.00001.wav").read_bytes()
    (g / "rock" / "rock.00001.wav").write_bytes(data[: len(data) // 2])  # truncated
    (g / "rock" / "notes.txt").write_text("hi")
    (g / "rock" / "blues.00009.wav").write_bytes(data)  # a blues name in the rock folder
    idx = load_gtzan(tmp_path / "Data")
    assert sorted(idx.ids) == ["blues.00000", "blues.00001", "blues.00002", "rock.00002"]
    assert idx.skipped == {"empty": 1, "corrupt": 1, "not-audio-name": 1, "unexpected-name": 1}
    assert "rock.00001.wav" in idx.meta["skipped_examples"]["corrupt"][0]
    # without probing, no header is read: the bad files stay (data check is the tool that finds them)
    assert len(load_gtzan(tmp_path / "Data", probe=False)) == 6


def test_gtzan_missing_layout_is_a_clear_error(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DataError, match="genres_original"):
        load_gtzan(tmp_path)


# --------------------------------------------------------------------------- FMA
TRACKS_HEADER = [
    ["", "album", "artist", "artist", "set", "set", "track", "track", "track", "track"],
    ["", "title", "id", "name", "split", "subset", "duration", "genre_top", "genres", "title"],
    ["track_id", "", "", "", "", "", "", "", "", ""],
]


def _tracks_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerows(TRACKS_HEADER)
        w.writerows(rows)
    return path


def _fake_fma(root: Path) -> Path:
    rows = [
        # track_id, album title, artist id, artist name, split, subset, duration, genre_top, genres, title
        ["2", "AWOL", "1", "AWOL", "training", "small", "168", "Hip-Hop", "[21]", "Food"],
        ["3", "AWOL", "1", "AWOL", "validation", "medium", "237", "Hip-Hop", "[21]", "Electric Ave"],
        ["5", "AWOL", "1", "AWOL", "test", "small", "206", "", "[21]", "This World"],  # no genre_top
        ["10", "Constant", "6", "Kurt Vile, the Violators", "training", "small", "161", "Pop", "[10]", "Freeway"],
        ["20", "Niris", "4", "Nicky Cook", "test", "small", "311", "Folk", "[76]", "Spiritual"],  # no audio
        ["140", "Jazz", "9", "Alec K. Redfearn", "test", "large", "253", "Folk", "[17]", "Queen"],
    ]
    _tracks_csv(root / "fma_metadata" / "tracks.csv", rows)
    for tid in (2, 3, 5, 10, 140, 999):  # 999 is on disk but in no metadata
        write_tone(track_path(root / "fma_medium", tid), 0.5, sr=44100, fmt="MP3")
    return root


def test_read_tracks_csv_with_three_header_rows(tmp_path):
    p = _tracks_csv(tmp_path / "tracks.csv", [["2", "A", "1", "AWOL", "training", "small", "168", "Hip-Hop", "[21]", "Food"]])
    df = read_tracks_csv(p)
    assert list(df.index) == [2]
    assert df.loc[2, "genre_top"] == "Hip-Hop" and df.loc[2, "split"] == "training"
    assert df.loc[2, "subset"] == "small" and df.loc[2, "artist"] == "AWOL" and df.loc[2, "title"] == "Food"
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,genre_top\n2,Pop\n3,Rock\n")
    with pytest.raises(DataError, match="third header row"):
        read_tracks_csv(bad)
    bad.write_text("track_id,genre_top\n")
    with pytest.raises(DataError, match="three header rows"):
        read_tracks_csv(bad)


def test_fma_official_layout(tmp_path):
    root = _fake_fma(tmp_path / "fma")
    idx = load_fma(root)  # the fma_medium folder: subset medium (small + medium tracks)
    assert idx.name == "fma_medium" and idx.meta["subset"] == "medium"
    assert idx.ids == ["000002", "000003", "000010"]
    t = idx.by_id("000010")
    assert t.label == "Pop" and t.artist == "Kurt Vile, the Violators" and t.split == "train"
    assert t.extra["subset"] == "small" and t.extra["title"] == "Freeway"
    assert t.path == root / "fma_medium" / "000" / "000010.mp3"
    assert t.duration == pytest.approx(0.5, abs=0.06)
    assert idx.by_id("000003").split == "valid"
    assert idx.skipped == {"no-label": 1, "no-audio": 1, "not-in-metadata": 1, "other-subset": 1}
    assert idx.meta["other_subsets"] == 1  # track 140 is 'large'
    # the small subset read from the same audio: the medium-only track 3 is left out too
    small = load_fma(root, subset="small", audio_dir=root / "fma_medium")
    assert small.name == "fma_small" and small.ids == ["000002", "000010"]
    assert small.skipped["other-subset"] == 2
    assert {t.split for t in small} == {"train"}
    with pytest.raises(DataError, match="no fma_large folder"):
        load_fma(root, subset="large")
    with pytest.raises(DataError, match="unknown FMA subset"):
        load_fma(root, subset="tiny")


def test_fma_plain_csvs_of_the_shared_folder_layout(tmp_path):
    root = tmp_path / "fma"
    for tid in (2, 5, 10):
        write_tone(track_path(root / "fma_small", tid), 0.3, sr=44100, fmt="MP3")
    (root / "labels.csv").write_text("track_id,genre_top,path\n2,Hip-Hop,fma_small/000/000002.mp3\n"
                                     "5,,fma_small/000/000005.mp3\n10,Pop,fma_small/000/000010.mp3\n"
                                     "11,Pop,fma_small/000/000011.mp3\n")
    idx = load_fma(root)
    assert idx.ids == ["000002", "000010"] and idx.labels.names == ("Hip-Hop", "Pop")
    assert idx.skipped == {"no-label": 1, "no-audio": 1}
    assert all(t.split is None and t.artist is None for t in idx)
    (root / "labels.csv").unlink()
    (root / "track_genre_top.csv").write_text(",track_id,genre_top\n0,2,Hip-Hop\n1,3,Hip-Hop\n2,10,Pop\n")
    idx = load_fma(root)
    assert idx.ids == ["000002", "000010"] and idx.skipped == {"no-audio": 1, "not-in-metadata": 1}
    with pytest.raises(DataError, match="no FMA metadata"):
        (root / "track_genre_top.csv").unlink()
        load_fma(root)


@pytest.mark.integration
def test_fma_finds_the_12_shared_mp3s_with_genres(fma_root):
    expected = {}
    with open(fma_root / "labels.csv") as f:
        for row in csv.DictReader(f):
            expected[f"{int(row['track_id']):06d}"] = row["genre_top"]
    idx = load_fma(fma_root)
    assert len(idx) == 12 and idx.skipped == {}
    assert {t.track_id: t.label for t in idx} == expected
    assert all(29.9 < t.duration < 30.1 and t.path.suffix == ".mp3" for t in idx)
    assert set(idx.label_counts().values()) == {2}
    # the 106,574-row track_genre_top.csv: same 12 tracks, every other track counted as without audio
    big = load_fma(fma_root, metadata=fma_root / "track_genre_top.csv", probe=False)
    assert {t.track_id: t.label for t in big} == expected
    assert big.skipped == {"no-audio": 106574 - 12}


# --------------------------------------------------------------------------- folder
def test_folder_loader(tmp_path):
    root = tmp_path / "collection"
    write_tone(root / "waltz" / "a.wav", 0.4)
    write_tone(root / "waltz" / "disc2" / "b.flac", 0.4, fmt="FLAC")
    write_tone(root / "tango" / "c.ogg", 0.4, fmt="OGG")
    write_tone(root / "loose.wav", 0.4)
    (root / "tango" / "broken.mp3").write_text("not audio at all")
    idx = load_dataset("folder", root)
    assert sorted(idx.ids) == ["a", "b", "c"]
    assert idx.by_id("b").label == "waltz" and idx.by_id("c").label == "tango"
    assert idx.skipped == {"no-label": 1, "not-audio": 1}
    # clashing stems fall back to relative paths
    write_tone(root / "tango" / "a.wav", 0.4)
    idx = load_dataset("folder", root)
    assert sorted(idx.ids) == ["tango/a", "tango/c", "waltz/a", "waltz/disc2/b"]


def test_tiny_genre_folder_fixture_loads(tiny_genre_folder):
    idx = load_dataset("auto", tiny_genre_folder)
    assert len(idx) == 12 and list(idx.labels) == ["lowtone", "midtone", "noise"]


# --------------------------------------------------------------------------- tables
def _feature_table(path: Path, segmented: bool) -> Path:
    cols = ["filename", "length", "f_a", "f_b", "label"]
    rows = []
    for g in ("blues", "rock"):
        for i in range(3):
            if segmented:
                for s in (2, 0, 1):
                    rows.append([f"{g}.{i:05d}.{s}.wav", 66149, i + s / 10, -s, g])
            else:
                rows.append([f"{g}.{i:05d}.wav", 661794, float(i), 2.0 * i, g])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)
    return path


def test_parse_table_filenames():
    assert parse_filename("blues.00000.3.wav", True) == ("blues.00000", 3)
    assert parse_filename("blues.00000.wav", False) == ("blues.00000", None)
    with pytest.raises(DataError):
        parse_filename("blues.wav", True)


def test_30_sec_table(tmp_path):
    p = _feature_table(tmp_path / "features_30_sec.csv", segmented=False)
    idx = load_dataset("auto", p)
    assert idx.name == "features_30_sec" and len(idx) == 6
    assert idx.meta["columns"] == ["f_a", "f_b"] and not idx.meta["segmented"]
    t = idx.by_id("rock.00002")
    assert t.label == "rock" and t.extra["f_b"] == 4.0 and t.path is None
    assert t.duration == pytest.approx(661794 / 22050)


def test_3_sec_table_maps_segments_to_tracks(tmp_path):
    p = _feature_table(tmp_path / "features_3_sec.csv", segmented=True)
    with open(p, "a") as f:
        f.write("blues.00000.1.wav,66149,1.0,1.0,blues\n")  # a repeated row
        f.write("rock.00009.0.wav,66149,nan,1.0,rock\n")  # a non-finite row
    audio_root = tmp_path / "gtzan"
    write_tone(audio_root / "genres_original" / "blues" / "blues.00001.wav", 0.2)
    idx = load_table(p, audio_root=audio_root)
    assert idx.meta["segmented"] and idx.meta["rows"] == 18 and len(idx) == 6
    t = idx.by_id("blues.00001")
    assert t.extra["segments"] == (0, 1, 2)  # sorted by segment number
    np.testing.assert_allclose(t.extra["features"], [[1.0, 0.0], [1.1, -1.0], [1.2, -2.0]], rtol=1e-6)
    assert t.path == audio_root / "genres_original" / "blues" / "blues.00001.wav"
    assert idx.by_id("blues.00000").path is None
    assert idx.skipped == {"duplicate": 1, "non-finite": 1}
    rows = list(segment_rows(idx))
    assert len(rows) == 18 and rows[0][:2] == ("blues.00000", 0)


@pytest.mark.integration
def test_shared_kaggle_table_with_artists_and_audio(gtzan_root):
    idx = load_table(gtzan_root / "features_30_sec.csv", audio_root=gtzan_root)
    assert len(idx) == 691 and len(idx.meta["columns"]) == 57
    assert sum(t.path is not None for t in idx) == 84
    assert idx.by_id("blues.00000").artist == "John Lee Hooker"  # GTZANindex.txt beside the table


# --------------------------------------------------------------------------- index
def test_index_round_trip_and_summary(tmp_path):
    tracks = [
        Track("a", tmp_path / "a.wav", "rock", "X", 30.0, "train", "test", {"title": "T", "n": 3}),
        Track("b", None, "pop", None, None, "test", "test", {"features": np.zeros(3)}),
        Track("c", tmp_path / "c.wav", "rock", "Y", 29.5, None, "test"),
    ]
    idx = DatasetIndex("demo", tracks, skipped={"no-audio": 2})
    assert idx.label_counts() == {"pop": 1, "rock": 2}
    assert idx.split_counts() == {"train": {"rock": 1}, "test": {"pop": 1}}
    s = idx.summary()
    assert s["tracks"] == 3 and s["artists_known"] == 2 and s["duration"]["known"] == 2
    assert s["skipped"] == {"no-audio": 2} and s["splits"] == {"test": 1, "train": 1}
    out = idx.to_csv(tmp_path / "index.csv")
    back = DatasetIndex.from_csv(out)
    assert back.ids == ["a", "b", "c"]
    a = back.by_id("a")
    assert a.path == tmp_path / "a.wav" and a.artist == "X" and a.duration == 30.0 and a.split == "train"
    assert a.extra == {"title": "T", "n": 3}
    assert back.by_id("b").path is None and "features" not in back.by_id("b").extra
    assert idx.subset(["c", "a"]).ids == ["a", "c"]
    assert idx.subset(lambda t: t.label == "pop").ids == ["b"]
    with pytest.raises(DataError, match="unknown track"):
        idx.subset(["zzz"])
    with pytest.raises(DataError, match="no track"):
        idx.by_id("zzz")
    with pytest.raises(DataError, match="duplicate track ids"):
        DatasetIndex("dup", tracks + [tracks[0]])


def test_detect_kind_and_load_dataset_errors(tmp_path):
    _fake_gtzan(tmp_path / "g", "genres_original", ".wav", n=1)
    assert detect_kind(tmp_path / "g") == "gtzan"
    (tmp_path / "f" / "fma_small").mkdir(parents=True)
    assert detect_kind(tmp_path / "f") == "fma"
    assert detect_kind(_feature_table(tmp_path / "t.csv", False)) == "table"
    (tmp_path / "other").mkdir()
    assert detect_kind(tmp_path / "other") == "folder"
    with pytest.raises(DataError, match="unknown dataset kind"):
        load_dataset("mp3s", tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_dataset("auto", tmp_path / "nowhere")
    assert len(load_dataset("gtzan", tmp_path / "g")) == 2
