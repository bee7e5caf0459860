"""Issue 10 items 7, 8, 15: hostile file names and non-regular files on the command line."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from genrelab.cli import app
from hostile.conftest import write_wav

runner = CliRunner()


def test_markup_in_names_is_shown_literally(tmp_path, tiny_ckpt):
    lib = tmp_path / "lib"
    a = write_wav(lib / "a[/]x.wav", "noise")  # folder "a[" + file "]x.wav": the shown path holds "[/]"
    b = write_wav(lib / "[bold]b.wav", "lowtone", seed=1)
    (lib / "c[red]broken.wav").write_bytes(b"RIFF not really")
    res = runner.invoke(app, ["classify", str(lib), "--model", str(tiny_ckpt)])
    assert res.exit_code == 0, res.output
    flat = res.output.replace("\n", "")
    assert "a[/]x.wav" in flat and b.name in flat and "c[red]broken.wav" in flat
    assert "2 classified, 1 failed" in res.output
    res = runner.invoke(app, ["tag", str(lib), "--model", str(tiny_ckpt), "--min-confidence", "0"])
    assert res.exit_code == 0, res.output
    assert "a[/]x.wav: '' ->" in res.output and f"{b.name}: '' ->" in res.output


def test_control_characters_cannot_forge_lines(tmp_path, tiny_ckpt):
    lib = tmp_path / "lib"
    evil = write_wav(lib / "x\nERROR: forged\r\x1b[31m.wav", "noise")
    (lib / "y\nFAKE ok.wav").write_bytes(b"not audio")
    res = runner.invoke(app, ["classify", str(lib), "--model", str(tiny_ckpt)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert not any(line.startswith(("ERROR: forged", "FAKE ok")) for line in lines), res.output
    assert "\x1b" not in res.output and "\r" not in res.output
    assert "forged\\r\\x1b[31m.wav" in res.output  # shown escaped (the table may fold the long path)
    assert "y\\nFAKE ok.wav" in res.output.replace("\n", "")
    res = runner.invoke(app, ["tag", str(evil), "--model", str(tiny_ckpt), "--min-confidence", "0"])
    assert not any(line.startswith("ERROR: forged") for line in res.output.splitlines()), res.output


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_tag_skips_a_fifo(tmp_path, tiny_ckpt):
    lib = tmp_path / "lib"
    write_wav(lib / "ok.wav")
    fifo = lib / "x.wav"
    os.mkfifo(fifo)
    for args in ([str(lib)], [str(fifo)], [str(lib), "--write"]):
        res = runner.invoke(app, ["tag", *args, "--model", str(tiny_ckpt), "--min-confidence", "0"])
        assert "x.wav: not a regular file" in res.output, res.output
    assert fifo.exists() and not fifo.is_file()  # left alone


def test_a_folder_without_audio_exits_1(tmp_path, tiny_ckpt):
    (tmp_path / "notes.txt").write_text("no music here")
    for cmd in ("classify", "tag"):
        res = runner.invoke(app, [cmd, str(tmp_path), "--model", str(tiny_ckpt)])
        assert res.exit_code == 1, (cmd, res.output)
        assert "no audio files found in" in res.output


def test_tags_table_shows_markup_and_control_characters_literally(tmp_path, monkeypatch):
    from genrelab.cli import tags as tags_cli

    song = write_wav(tmp_path / "a[red]x [bold]y.wav")
    bad = tmp_path / "z\nERROR: forged.wav"

    def fake(files, *a, **k):
        return ([{"path": str(song), "model": "MSD_musicnn", "n_segments": 1, "tags": [{"label": "rock", "score": 0.5}]}],
                [{"path": str(bad), "error": f"{bad}: not-audio"}])

    monkeypatch.setattr(tags_cli, "tag_files", fake)
    res = runner.invoke(app, ["tags", str(song), str(bad)], env={"COLUMNS": "200"})
    assert res.exit_code == 1  # one file failed
    flat = "".join(ch for ch in res.output if ch not in " \n│")  # the table may fold the name
    assert "a[red]x[bold]y.wav" in flat
    assert not any(line.startswith("ERROR: forged") for line in res.output.splitlines())
