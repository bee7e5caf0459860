"""``genrelab data check|summary|split|download`` through typer's CliRunner."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrelab.cli import app
from genrelab.datasets.check import check_file
from http_archive_server import ArchiveServer, tree, zip_bytes

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["data", *map(str, args)], catch_exceptions=False)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {Path(r["path"]).name: r for r in csv.DictReader(f)}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def messy_folder(tmp_path, gtzan_root, fma_root) -> Path:
    """A few real clips, plus a truncated copy of a real clip, a zero-byte file, a text file named .mp3,
    a duplicate, a silent and a too-short file."""
    root = tmp_path / "messy"
    root.mkdir()
    for g, i in (("blues", 0), ("jazz", 54), ("metal", 3)):
        shutil.copy(gtzan_root / "genres_original" / g / f"{g}.{i:05d}.wav", root)
    shutil.copy(fma_root / "fma_small" / "000" / "000002.mp3", root)
    data = (gtzan_root / "genres_original" / "rock" / "rock.00001.wav").read_bytes()
    (root / "rock.00001.truncated.wav").write_bytes(data[: len(data) // 2])
    (root / "zero.wav").write_bytes(b"")
    (root / "readme.mp3").write_text("This is not a song, just some notes.\n")
    shutil.copy(root / "blues.00000.wav", root / "blues.copy.wav")
    sf.write(root / "silence.wav", np.zeros(22050 * 2, dtype=np.float32), 22050)
    sf.write(root / "blip.wav", 0.5 * np.ones(2205, dtype=np.float32), 22050)
    return root


@pytest.mark.integration
def test_check_flags_bad_files_and_passes_real_clips(messy_folder, tmp_path):
    before = snapshot(messy_folder)
    out_csv = tmp_path / "report.csv"
    result = invoke("check", messy_folder, "--csv", out_csv, "--jobs", "2")
    assert result.exit_code == 0, result.output
    rows = read_csv(out_csv)
    assert len(rows) == 10
    status = {name: r["status"] for name, r in rows.items()}
    assert status == {
        "blues.00000.wav": "ok", "jazz.00054.wav": "ok", "metal.00003.wav": "ok", "000002.mp3": "ok",
        "rock.00001.truncated.wav": "corrupt", "zero.wav": "empty", "readme.mp3": "not-audio",
        "blues.copy.wav": "duplicate", "silence.wav": "silent", "blip.wav": "too-short",
    }
    assert "truncated" in rows["rock.00001.truncated.wav"]["detail"]
    assert "text file" in rows["readme.mp3"]["detail"]
    assert rows["blues.copy.wav"]["duplicate_of"].endswith("blues.00000.wav")
    assert float(rows["000002.mp3"]["duration"]) == pytest.approx(29.98, abs=0.05)
    assert rows["000002.mp3"]["sample_rate"] == "44100" and rows["000002.mp3"]["channels"] == "2"
    for name in ("rock.00001.truncated.wav", "zero.wav", "readme.mp3", "blues.copy.wav"):
        assert name in result.output
    assert "6 problem file(s) of 10" in result.output
    assert "Illegal Audio-MPEG-Header" not in result.output
    assert snapshot(messy_folder) == before  # nothing modified, nothing added
    strict = invoke("check", messy_folder, "--no-csv", "--strict", "--jobs", "1")
    assert strict.exit_code == 1


def test_check_clean_folder_strict_passes(tmp_path, monkeypatch):
    root = tmp_path / "clean"
    (root / "a").mkdir(parents=True)
    t = np.arange(22050 * 2) / 22050
    sf.write(root / "a" / "x.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    sf.write(root / "a" / "y.flac", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    monkeypatch.chdir(tmp_path)
    result = invoke("check", root, "--strict", "--jobs", "1", "--all")
    assert result.exit_code == 0, result.output
    assert "summary: ok 2" in result.output
    assert not list(tmp_path.glob("*.csv"))  # no CSV unless asked (--csv FILE)
    # run from inside ROOT: the CSV goes to the temp folder, ROOT stays untouched
    monkeypatch.chdir(root)
    before = snapshot(root)
    assert invoke("check", ".", "--jobs", "1").exit_code == 0
    assert snapshot(root) == before
    assert invoke("check", tmp_path / "missing").exit_code == 2


def test_check_compares_a_shipped_checksums_list(tmp_path):
    root = tmp_path / "fma_small"
    (root / "000").mkdir(parents=True)
    t = np.arange(22050 * 2) / 22050
    for i, f in enumerate((440, 550)):
        sf.write(root / "000" / f"00000{i}.wav", (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 22050)
    good = hashlib.sha1((root / "000" / "000000.wav").read_bytes()).hexdigest()
    (root / "checksums").write_text(f"{good}  000/000000.wav\n{'0' * 40}  000/000001.wav\n")
    out = tmp_path / "c.csv"
    r = invoke("check", root, "--csv", out, "--jobs", "1")
    rows = read_csv(out)
    assert rows["000000.wav"]["status"] == "ok" and rows["000000.wav"]["checksum"] == "match"
    assert rows["000001.wav"]["status"] == "corrupt" and rows["000001.wav"]["checksum"] == "mismatch"
    assert "differs from the one listed" in rows["000001.wav"]["detail"]
    assert "checksums: 1 file(s) match the shipped list, 1 differ" in r.output


def test_check_file_reports_without_raising(tmp_path):
    assert check_file(tmp_path / "nope.wav").status == "missing"
    d = tmp_path / "dir.wav"
    d.mkdir()
    assert check_file(d).status == "not-audio"
    y = np.zeros(22050, dtype=np.float32)
    y[10] = np.nan
    sf.write(tmp_path / "nan.wav", y, 22050, subtype="FLOAT")
    rep = check_file(tmp_path / "nan.wav")
    assert rep.status == "non-finite" and rep.sample_rate == 22050


@pytest.mark.integration
@pytest.mark.slow
def test_check_all_real_shared_clips_are_healthy(shared_data, tmp_path):
    start = time.perf_counter()
    out_csv = tmp_path / "all.csv"
    for sub in ("gtzan", "fma"):
        result = invoke("check", shared_data / sub, "--csv", out_csv, "--strict", "--jobs", "2")
        assert result.exit_code == 0, result.output
        rows = read_csv(out_csv)
        assert len(rows) == {"gtzan": 84, "fma": 12}[sub]
        assert {r["status"] for r in rows.values()} == {"ok"}
        if sub == "fma":  # every mp3 also matches the official fma_small/checksums list
            assert {r["checksum"] for r in rows.values()} == {"match"}
            assert "checksums: 12 file(s) match" in result.output
    assert time.perf_counter() - start < 30


@pytest.mark.integration
def test_summary_of_gtzan_and_fma(gtzan_root, fma_root, tmp_path):
    result = invoke("summary", gtzan_root, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["tracks"] == 84 and info["labels"]["country"] == 12 and len(info["labels"]) == 10
    assert info["formats"] == {"wav": 84} and info["sample_rates"] == {"22050": 84}
    assert info["channels"] == {"1": 84} and info["artists_known"] == 81
    assert 29.9 < info["duration"]["median_s"] < 30.1
    text = invoke("summary", fma_root, "--kind", "fma")
    assert text.exit_code == 0 and "Hip-Hop" in text.output and "44100 Hz: 12" in text.output
    # with a split manifest made by `data split`
    manifest = tmp_path / "split.csv"
    made = invoke("split", gtzan_root, "--out", manifest, "--method", "gtzan-filtered")
    assert made.exit_code == 0, made.output
    assert "train 39" in made.output and "valid 40" in made.output
    info = json.loads(invoke("summary", gtzan_root, "--split", manifest, "--json").output)
    assert info["parts"] == {"train": 39, "valid": 40}
    assert info["split_method"].startswith("gtzan-artist-filtered")


def test_split_command_methods_and_refusal(tiny_genre_folder, tmp_path):
    out = tmp_path / "m.csv"
    r = invoke("split", tiny_genre_folder, "--out", out, "--method", "stratified", "--ratios", "sears", "--seed", "3")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(line for line in out.read_text().splitlines() if not line.startswith("#")))
    assert len(rows) == 12 and {row["part"] for row in rows} == {"train", "test"}
    assert "# seed: 3" in out.read_text()
    r = invoke("split", tiny_genre_folder, "--out", out, "--method", "random-segment", "--segments", "4")
    assert r.exit_code == 0 and "LEAKY" in r.output
    bad = invoke("split", tiny_genre_folder, "--out", out, "--method", "nope")
    assert bad.exit_code == 2 and "unknown split method" in bad.output


def test_download_command_against_a_local_server(tmp_path):
    server = ArchiveServer().start()
    try:
        files = {"fma_metadata/tracks.csv": b",track\n,genre_top\ntrack_id,\n2,Hip-Hop\n",
                 "fma_metadata/genres.csv": b"genre_id,title\n21,Hip-Hop\n"}
        data = zip_bytes(files)
        server.files["/fma_metadata.zip"] = data
        sha1 = hashlib.sha1(data).hexdigest()
        dest = tmp_path / "data"
        r = invoke("download", "fma-metadata", "--to", dest, "--url", server.url("fma_metadata.zip"),
                   "--checksum", f"sha1:{sha1}")
        assert r.exit_code == 0, r.output
        assert "verified" in r.output and "extracted into" in r.output
        assert tree(dest / "fma_metadata") == {k.split("/", 1)[1]: v for k, v in files.items()}
        again = invoke("download", "fma-metadata", "--to", dest, "--url", server.url("fma_metadata.zip"),
                       "--checksum", f"sha1:{sha1}")
        assert "already downloaded" in again.output and "already extracted" in again.output
        bad = invoke("download", "fma-metadata", "--to", tmp_path / "other", "--url",
                     server.url("fma_metadata.zip"), "--checksum", "sha1:" + "f" * 40)
        assert bad.exit_code == 1 and "checksum mismatch" in bad.output
        assert not (tmp_path / "other" / "fma_metadata").exists()
    finally:
        server.stop()
    listing = invoke("download", "--list")
    assert listing.exit_code == 0 and "fma-small" in listing.output and "gtzan" in listing.output
    assert invoke("download", "fma-huge", "--to", tmp_path).exit_code == 2


def test_data_help_lists_the_commands():
    r = runner.invoke(app, ["data", "--help"])
    assert r.exit_code == 0
    for cmd in ("check", "summary", "split", "download"):
        assert cmd in r.output
