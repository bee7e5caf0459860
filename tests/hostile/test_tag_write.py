"""Issue 10 items 9, 10, 15: ``tag --write`` keeps links, survives kill -9, and streams big files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

import genrelab
from genrelab import tagging
from genrelab.cli import app
from hostile.conftest import write_wav

runner = CliRunner()


def test_symlink_tags_the_target_and_stays_a_link(tmp_path):
    real = write_wav(tmp_path / "music" / "song.wav")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    payload = tagging.audio_payload(real)
    tagging.write_genre(link, "Jazz")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert tagging.read_genre(real) == "Jazz"
    assert tagging.audio_payload(real) == payload
    assert sorted(p.name for p in (tmp_path / "music").iterdir()) == ["song.wav"]


def test_hard_link_is_not_split(tmp_path):
    a = write_wav(tmp_path / "a.wav")
    b = tmp_path / "b.wav"
    os.link(a, b)
    ino = a.stat().st_ino
    os.chmod(a, 0o640)
    tagging.write_genre(b, "Blues")
    assert a.stat().st_ino == b.stat().st_ino == ino and a.stat().st_nlink == 2
    assert tagging.read_genre(a) == "Blues"
    assert (a.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no temp or backup left


def test_cli_write_through_a_symlink(tmp_path, tiny_ckpt):
    real = write_wav(tmp_path / "store" / "t.wav", "lowtone")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "t.wav").symlink_to(real)
    res = runner.invoke(app, ["tag", str(lib), "--model", str(tiny_ckpt), "--write", "--min-confidence", "0"])
    assert res.exit_code == 0, res.output
    assert (lib / "t.wav").is_symlink() and tagging.read_genre(real) == "Lowtone"


_KILLED = """
import sys, time
from pathlib import Path
from genrelab import tagging
stage = sys.argv[2]
if stage == "save":  # stop inside the tag write of the temporary copy
    import mutagen.wave
    def slow(self, *a, **k):
        print("ready", flush=True); time.sleep(60)
    mutagen.wave.WAVE.save = slow
else:  # stop half-way through streaming the tagged bytes into a hard-linked file
    real_copy = tagging._copy_into
    def half(src, dst):
        if ".genrelab-bak-" in Path(src).name:
            return real_copy(src, dst)
        data = Path(src).read_bytes()
        with open(dst, "r+b") as f:
            f.write(data[: len(data) // 2]); f.truncate(); f.flush()
        print("ready", flush=True); time.sleep(60)
    tagging._copy_into = half
tagging.write_genre(sys.argv[1], "Metal")
"""


def _kill_during_write(path: Path, stage: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(genrelab.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    p = subprocess.Popen([sys.executable, "-c", _KILLED, str(path), stage], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        p.kill()
        p.stdout.close()


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_kill_during_write_leaves_nothing_that_is_taken_for_a_track(tmp_path, tiny_ckpt):
    lib = tmp_path / "lib"
    song = write_wav(lib / "song.wav")
    before = song.read_bytes()
    _kill_during_write(song, "save")
    assert song.read_bytes() == before  # the original was never touched
    left = [p.name for p in lib.iterdir() if p.name != "song.wav"]
    assert left and all(".genrelab-tmp" in n for n in left)
    # an older genrelab named its temporaries with the audio extension: never a track either
    (lib / ".song.abc123.genrelab-tmp.wav").write_bytes(before)
    res = runner.invoke(app, ["classify", str(lib), "--model", str(tiny_ckpt), "-f", "json", "-q"])
    assert res.exit_code == 0, res.output
    assert '"path"' in res.stdout and res.stdout.count('"path"') == 1
    res = runner.invoke(app, ["tag", str(lib), "--model", str(tiny_ckpt), "--min-confidence", "0"])
    assert "found" in res.output and res.output.count("would set") == 1  # dry run: reported, not removed
    res = runner.invoke(app, ["tag", str(lib), "--model", str(tiny_ckpt), "--min-confidence", "0", "--write"])
    assert res.exit_code == 0, res.output
    assert "removed" in res.output
    assert sorted(p.name for p in lib.iterdir()) == ["song.wav"]


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_kill_while_rewriting_a_hard_linked_file_is_repaired(tmp_path):
    a = write_wav(tmp_path / "a.wav")
    b = tmp_path / "b.wav"
    os.link(a, b)
    before = a.read_bytes()
    _kill_during_write(a, "copy")
    assert a.read_bytes() != before  # half-written by the killed run
    assert any(".genrelab-bak-" in p.name for p in tmp_path.iterdir())
    done = tagging.clean_stale([tmp_path])
    assert any(line.startswith("restored") for line in done), done
    assert a.read_bytes() == before and b.read_bytes() == before and a.stat().st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]


def test_a_temporary_in_use_is_not_cleaned(tmp_path):
    song = write_wav(tmp_path / "s.wav")
    fd, tmp = tagging._locked_temp(tmp_path, song.name, tagging.TMP_MARK)
    try:
        assert tagging.clean_stale([tmp_path]) == [] and tmp.exists()
    finally:
        os.close(fd)
    assert tagging.clean_stale([tmp_path]) and not tmp.exists()


def test_write_streams_instead_of_holding_the_file(tmp_path):
    import numpy as np
    import soundfile as sf

    big = tmp_path / "big.wav"
    sf.write(str(big), np.zeros(16000 * 60 * 8, dtype=np.int16), 16000, subtype="PCM_16")  # 15 MB
    size = big.stat().st_size
    tracemalloc.start()
    try:
        tagging.write_genre(big, "Ambient")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tagging.read_genre(big) == "Ambient"
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_kill_while_tagging_through_a_symlink_is_cleaned_beside_the_target(tmp_path, tiny_ckpt):
    store = tmp_path / "store"
    real = write_wav(store / "t.wav")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "t.wav").symlink_to(real)
    _kill_during_write(lib / "t.wav", "save")
    assert any(".genrelab-tmp" in p.name for p in store.iterdir())  # the temporary is beside the real file
    res = runner.invoke(app, ["tag", str(lib), "--model", str(tiny_ckpt), "--write", "--min-confidence", "0"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in store.iterdir()) == ["t.wav"] and (lib / "t.wav").is_symlink()


def test_read_only_file_is_left_alone(tmp_path):
    ro_file = write_wav(tmp_path / "a" / "ro.wav")
    before = ro_file.read_bytes()
    os.chmod(ro_file, 0o444)
    try:
        with pytest.raises(tagging.TagError, match="read-only"):
            tagging.write_genre(ro_file, "Rock")
    finally:
        os.chmod(ro_file, 0o644)
    assert ro_file.read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_a_reported_error(tmp_path):
    song = write_wav(tmp_path / "b" / "x.wav")
    os.chmod(tmp_path / "b", 0o555)
    try:
        with pytest.raises(tagging.TagError, match="cannot write tags"):
            tagging.write_genre(song, "Rock")
    finally:
        os.chmod(tmp_path / "b", 0o755)
    assert tagging.read_genre(song) is None


def test_any_os_error_becomes_a_tag_error(tmp_path, monkeypatch):
    song = write_wav(tmp_path / "s.wav")
    before = song.read_bytes()

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tagging.shutil, "copyfileobj", full)
    with pytest.raises(tagging.TagError, match="No space left"):
        tagging.write_genre(song, "Rock")
    assert song.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["s.wav"]
