"""``genrelab features extract / export-csv / list`` on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genrelab.cli import app
from genrelab.features.gtzan57 import CSV_HEADER
from genrelab.features.presets import preset

runner = CliRunner()


def test_list_shows_presets():
    res = runner.invoke(app, ["features", "list"])
    assert res.exit_code == 0, res.output
    for name in ("mel", "gtzan57", "saintfelix-mfcc", "qin-image"):
        assert name in res.output


def test_extract_resumes_and_reports_failures(tiny_genre_folder, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_genre_folder, root)
    (root / "noise" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "cache"
    args = ["features", "extract", "--dataset", "folder", "--root", str(root), "--feature", "mfcc13",
            "--out", str(out), "--workers", "2", "--quiet", "--report", str(tmp_path / "r.json")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert (rep["total"], rep["computed"], rep["failed"]) == (13, 12, 1)
    assert rep["errors"][0]["track_id"].endswith("broken")
    spec = preset("mfcc13")
    files = sorted((out / spec.hash()).glob("*.npy"))
    assert len(files) == 12 and np.load(files[0]).shape[0] == 1
    res2 = runner.invoke(app, args + ["--strict"])
    assert res2.exit_code == 1  # the broken file still fails
    rep2 = json.loads((tmp_path / "r.json").read_text())
    assert (rep2["computed"], rep2["cached"]) == (0, 12)
    res3 = runner.invoke(app, ["features", "extract", "--root", str(root), "--feature", '{"kind": "mel", "n_mels": 32}',
                               "--out", str(out), "-j", "1", "-q"])
    assert res3.exit_code == 0, res3.output
    assert "12 computed" in res3.output.replace("\n", " ")


def test_extract_rejects_unknown_feature(tiny_genre_folder, tmp_path):
    res = runner.invoke(app, ["features", "extract", "--root", str(tiny_genre_folder), "--feature", "nope",
                              "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown feature" in res.output


@pytest.mark.parametrize("segments,rows", [(None, 3), (3.0, 6)])
def test_export_csv_layout(tiny_genre_folder, tmp_path, segments, rows):
    import shutil

    src = tmp_path / "src"
    for g in ("lowtone", "midtone", "noise"):  # one clip per genre keeps it quick
        (src / g).mkdir(parents=True)
        shutil.copy(tiny_genre_folder / g / f"{g}.00000.wav", src / g)
    out = tmp_path / "f.csv"
    args = ["features", "export-csv", str(src), "--out", str(out), "-j", "2", "-q"]
    if segments:
        args += ["--segments", str(segments)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert tuple(df.columns) == CSV_HEADER and len(df) == rows
    assert set(df["label"]) == {"lowtone", "midtone", "noise"}
    if segments:  # 6 s clips hold two 66,149-sample segments
        assert df["filename"].iloc[0].endswith(".0.wav") and set(df["length"]) == {66149}
    else:
        assert set(df["length"]) == {6 * 22050}
    assert np.isfinite(df[list(CSV_HEADER[2:-1])].to_numpy(dtype=float)).all()


def test_extract_verify_recomputes_a_garbled_entry(tiny_genre_folder, tmp_path):
    out = tmp_path / "cache"
    args = ["features", "extract", "--dataset", "folder", "--root", str(tiny_genre_folder), "--feature", "mfcc13",
            "--out", str(out), "-j", "1", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    entry = sorted((out / preset("mfcc13").hash()).glob("*.npy"))[0]
    data = entry.read_bytes()
    entry.write_bytes(data[:128] + bytes(len(data) - 128))  # same size, header intact: only the checksum tells
    res = runner.invoke(app, args)
    assert "0 computed" in res.output.replace("\n", " ")
    res = runner.invoke(app, args + ["--verify"])
    assert res.exit_code == 0 and "1 computed (1 broken entries recomputed)" in res.output.replace("\n", " ")
    assert entry.read_bytes() == data
