"""Genre tags: written where each format keeps them, read back, and the audio data byte-identical."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import inference_fixture as fx
from genrelab import tagging
from genrelab.cli import app

FORMATS = ["mp3", "flac", "ogg", "opus", "m4a", "wav"]


def _make(tmp_path, ext: str, label: str = "noise", seconds: float = 4.0):
    """A real encoded file of ``ext`` (ffmpeg for the lossy containers, soundfile where it can)."""
    y = fx.synth(label, seconds, seed=3)
    wav = tmp_path / f"src-{label}.wav"
    sf.write(str(wav), y, fx.SR, subtype="PCM_16")
    out = tmp_path / f"{label}.{ext}"
    if ext == "wav":
        shutil.copy(wav, out)
    elif ext == "flac":
        sf.write(str(out), y, fx.SR, format="FLAC")
    else:
        if shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg needed to encode test files")
        codec = {"m4a": ["-c:a", "aac"], "opus": ["-c:a", "libopus"], "ogg": ["-c:a", "libvorbis"],
                 "mp3": ["-c:a", "libmp3lame"]}[ext]
        r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *codec, str(out)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"ffmpeg cannot encode {ext}: {r.stderr.decode()[:200]}")
    return out


def _decoded(path):
    if path.suffix in (".m4a", ".opus"):
        if shutil.which("ffmpeg") is None:
            return None
        r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"], capture_output=True, check=True)
        return np.frombuffer(r.stdout, dtype=np.int16)
    return sf.read(str(path), dtype="int16")[0]


@pytest.mark.parametrize("ext", FORMATS)
def test_write_reads_back_and_audio_is_identical(tmp_path, ext):
    path = _make(tmp_path, ext)
    payload = tagging.audio_payload(path)
    samples = _decoded(path)
    assert len(payload) > 1000
    tagging.write_genre(path, "Hip-Hop")
    assert tagging.read_genre(path) == "Hip-Hop"
    assert tagging.audio_payload(path) == payload  # the bytes of the audio frames/packets
    after = _decoded(path)
    if samples is not None:
        assert np.array_equal(samples, after)  # and what a decoder makes of them
    # overwrite an existing genre (the file now has tags)
    tagging.write_genre(path, "Jazz")
    assert tagging.read_genre(path) == "Jazz"
    assert tagging.audio_payload(path) == payload
    assert not [p for p in tmp_path.iterdir() if "genrelab-tmp" in p.name]  # no temporary left behind


def test_tag_is_where_players_look(tmp_path):
    import mutagen

    mp3 = _make(tmp_path, "mp3")
    flac = _make(tmp_path, "flac")
    m4a = _make(tmp_path, "m4a")
    for p in (mp3, flac, m4a):
        tagging.write_genre(p, "Reggae")
    assert str(mutagen.File(str(mp3)).tags["TCON"]) == "Reggae"
    assert mutagen.File(str(flac)).tags["GENRE"] == ["Reggae"]
    assert mutagen.File(str(m4a)).tags["\xa9gen"] == ["Reggae"]


def test_a_failed_write_leaves_the_file_untouched(tmp_path, monkeypatch):
    path = _make(tmp_path, "flac")
    before = path.read_bytes()

    def boom(self, *a, **k):
        raise OSError("disk full")

    import mutagen.flac

    monkeypatch.setattr(mutagen.flac.FLAC, "save", boom)
    with pytest.raises(tagging.TagError, match="disk full"):
        tagging.write_genre(path, "Blues")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src-noise.wav", "noise.flac"])


def test_a_change_to_the_audio_is_refused(tmp_path, monkeypatch):
    path = _make(tmp_path, "wav")
    before = path.read_bytes()
    calls = iter(["a", "b"])  # pretend the payload changed between before and after
    monkeypatch.setattr(tagging, "audio_payload_digest", lambda p, *a: next(calls))
    with pytest.raises(tagging.TagError, match="audio data would change"):
        tagging.write_genre(path, "Blues")
    assert path.read_bytes() == before


def test_unsupported_and_broken_files(tmp_path):
    au = tmp_path / "x.au"
    sf.write(str(au), fx.synth("noise", 1.0), fx.SR)
    assert not tagging.supported(au)
    with pytest.raises(tagging.TagError):
        tagging.write_genre(au, "Rock")
    fake = tmp_path / "fake.mp3"
    fake.write_text("not an mp3 at all")
    with pytest.raises(tagging.TagError):
        tagging.read_genre(fake)


def test_display_names():
    assert tagging.display_name("hiphop") == "Hip-Hop"
    assert tagging.display_name("rock") == "Rock"


def test_cli_dry_run_write_and_overwrite(tmp_path, torch_ckpt_for_tags, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    lib = tmp_path / "lib"
    lib.mkdir()
    a = _make(lib, "flac", "midtone")
    b = _make(lib, "wav", "lowtone")
    (lib / "src-midtone.wav").unlink()
    (lib / "src-lowtone.wav").unlink()
    tagging.write_genre(b, "Classical")
    before = {p: p.read_bytes() for p in (a, b)}
    res = runner.invoke(app, ["tag", str(lib), "--model", str(torch_ckpt_for_tags)])
    assert res.exit_code == 0, res.output
    assert "would set" in res.output and "'' -> 'Midtone'" in res.output
    assert "already 'Classical'" in res.output  # an existing genre is kept unless --overwrite
    res = runner.invoke(app, ["tag", str(lib), "--model", str(torch_ckpt_for_tags), "--overwrite"])
    assert "'Classical' -> 'Lowtone'" in res.output
    assert all(p.read_bytes() == before[p] for p in before)  # dry runs: nothing written
    res = runner.invoke(app, ["tag", str(lib), "--model", str(torch_ckpt_for_tags), "--write"])
    assert res.exit_code == 0, res.output
    assert tagging.read_genre(a) == "Midtone"
    assert tagging.read_genre(b) == "Classical"  # kept: it already had a genre
    res = runner.invoke(app, ["tag", str(b), "--model", str(torch_ckpt_for_tags), "--write", "--overwrite",
                              "--lowercase"])
    assert tagging.read_genre(b) == "lowtone"


@pytest.fixture(scope="module")
def torch_ckpt_for_tags(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("tagckpt") / "mlp", kind="torch")
