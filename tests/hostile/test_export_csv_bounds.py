"""Issue 10 item 11: ``features export-csv`` bounds its memory whatever a file or its header claims, and a
file that fails becomes a reported error while the other rows are written."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import genrelab
from genrelab.features import gtzan57


def _sparse_wav(path: Path, data_bytes: int, sr: int = 44100, channels: int = 2) -> None:
    """A PCM16 WAV whose header declares ``data_bytes`` of audio, stored sparse (takes no disk)."""
    hdr = b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 36 + data_bytes)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * channels * 2, channels * 2, 16)
    hdr += b"data" + struct.pack("<I", data_bytes)
    with open(path, "wb") as f:
        f.write(hdr)
        f.truncate(len(hdr) + data_bytes)


def _normal(path: Path) -> None:
    y = 0.1 * np.random.default_rng(0).standard_normal(22050 * 5).astype(np.float32)
    sf.write(str(path), y, 22050, subtype="PCM_16")


# The child's own peak: VmHWM of its address space. (getrusage's ru_maxrss would not do: Linux carries the
# parent's high-water mark across fork+exec, so a 2 GB pytest process would make every child look 2 GB.)
_CHILD = r"""
import resource, sys
from genrelab.cli import app

def peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print("MAXRSS_MB", peak_mb(), flush=True)
"""


@pytest.mark.slow
def test_huge_and_sparse_files_stay_under_1gb(tmp_path):
    src = tmp_path / "audio" / "g"
    src.mkdir(parents=True)
    _sparse_wav(src / "a_4gib.wav", 4 * 2**30 - 64)  # declares 4 GiB (6.8 h of 44.1 kHz stereo)
    _sparse_wav(src / "b_hour.wav", 3600 * 44100 * 2 * 2)  # a 1-hour 44.1 kHz stereo file
    _normal(src / "c_normal.wav")
    out = tmp_path / "f.csv"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(genrelab.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", _CHILD, "features", "export-csv", str(tmp_path / "audio"),
                          "--out", str(out), "-j", "1", "-q"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rss = float(res.stdout.split("MAXRSS_MB")[1].split()[0])
    assert rss < 1024, f"peak memory {rss:.0f} MB"
    df = pd.read_csv(out)
    assert list(df["filename"]) == ["a_4gib.wav", "b_hour.wav", "c_normal.wav"]
    assert list(df["length"])[:2] == [60 * 22050] * 2  # the first 60 s (EXPORT_MAX_SECONDS) of the huge files
    assert df.loc[2, "length"] == 5 * 22050


def test_a_failing_file_is_reported_and_the_export_goes_on(tmp_path, monkeypatch):
    from genrelab import audio

    src = tmp_path / "g"
    src.mkdir()
    _normal(src / "a.wav")
    _normal(src / "b.wav")
    (src / "c.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    real = audio.load

    def load(path, *a, **k):
        if Path(path).name == "a.wav":
            raise MemoryError("Unable to allocate 8.00 GiB")
        return real(path, *a, **k)

    monkeypatch.setattr(audio, "load", load)
    rep = gtzan57.export_csv([(src / n, "g") for n in ("a.wav", "b.wav", "c.wav")], tmp_path / "f.csv", workers=1)
    assert (rep["rows"], rep["failed"]) == (1, 2)
    assert "out of memory" in rep["errors"][0][1] and "a.wav" in rep["errors"][0][1]
    assert list(pd.read_csv(tmp_path / "f.csv")["filename"]) == ["b.wav"]


def test_max_seconds_crops_and_zero_means_whole_files(tmp_path):
    p = tmp_path / "n.wav"
    y = 0.1 * np.random.default_rng(1).standard_normal(22050 * 8).astype(np.float32)
    sf.write(str(p), y, 22050, subtype="FLOAT")
    rep = gtzan57.export_csv([(p, "")], tmp_path / "a.csv", max_seconds=4)
    assert rep["rows"] == 1 and pd.read_csv(tmp_path / "a.csv").loc[0, "length"] == 4 * 22050
    gtzan57.export_csv([(p, "")], tmp_path / "b.csv", max_seconds=None)
    row = pd.read_csv(tmp_path / "b.csv").loc[0]
    assert row["length"] == 8 * 22050
    np.testing.assert_allclose(row[list(gtzan57.GTZAN57_COLUMNS)].to_numpy(float), gtzan57.gtzan57_features(y),
                               rtol=1e-6, atol=1e-9)
