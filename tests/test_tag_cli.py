"""``genrelab tag`` decisions on results we construct: --min-confidence, --overwrite, --styles, output wording."""

from __future__ import annotations

import copy
import re

import pytest
import soundfile as sf
from typer.testing import CliRunner

import inference_fixture as fx
from genrelab import tagging
from genrelab.cli import app
from genrelab.cli import tag as tag_cli
from genrelab.inference import ClassificationResult

runner = CliRunner()


@pytest.fixture
def lib(tmp_path, monkeypatch):
    """Three WAVs and a fake model whose answers the test sets in ``answers[name]``."""
    root = tmp_path / "tagtest"
    root.mkdir()
    for name in ("sure", "unsure", "tagged"):
        sf.write(str(root / f"{name}.wav"), fx.synth("noise", 2.0), fx.SR, subtype="PCM_16")
    tagging.write_genre(root / "tagged.wav", "Classical")
    answers: dict[str, ClassificationResult] = {}

    def fake_parallel(paths, model, **kw):
        for p in paths:
            res = copy.copy(answers[p.rsplit("/", 1)[1][:-4]])
            res.path = p
            yield res

    monkeypatch.setattr("genrelab.inference.classify_parallel", fake_parallel)
    monkeypatch.setattr(tag_cli, "load_classifier", lambda *a, **k: None)
    answers.update(sure=ClassificationResult("x", top=[("rock", 0.91)]),
                   unsure=ClassificationResult("x", top=[("jazz", 0.42)]),
                   tagged=ClassificationResult("x", top=[("hiphop", 0.88)]))
    return root, answers


def test_default_min_confidence_and_no_overwrite(lib):
    root, _ = lib
    res = runner.invoke(app, ["tag", str(root), "--write"])
    assert res.exit_code == 0, res.output
    assert tagging.read_genre(root / "sure.wav") == "Rock"
    assert tagging.read_genre(root / "unsure.wav") is None  # 42% < the default 50%: uncertain, skipped
    assert "uncertain" in res.output and "jazz 42% < 50%" in res.output
    assert tagging.read_genre(root / "tagged.wav") == "Classical"  # existing genre kept without --overwrite
    assert "1 uncertain" in res.output
    res = runner.invoke(app, ["tag", str(root), "--write", "--overwrite", "--min-confidence", "0.4"])
    assert tagging.read_genre(root / "tagged.wav") == "Hip-Hop"
    assert tagging.read_genre(root / "unsure.wav") == "Jazz"


def test_styles_are_written_after_the_genre(lib):
    root, answers = lib
    answers["sure"].styles = [{"style": "punk", "score": 0.7}, "rock", "Garage"]
    res = runner.invoke(app, ["tag", str(root / "sure.wav"), "--write", "--styles"])
    assert res.exit_code == 0, res.output
    assert tagging.read_genres(root / "sure.wav") == ["Rock", "Punk", "Garage"]
    # a result without styles: said so, the genre alone is written
    res = runner.invoke(app, ["tag", str(root / "unsure.wav"), "--write", "--styles", "--min-confidence", "0"])
    assert tagging.read_genres(root / "unsure.wav") == ["Jazz"]
    assert "gave no styles for 1 file(s)" in res.output


def test_output_words_are_separated(lib):
    root, _ = lib
    res = runner.invoke(app, ["tag", str(root / "sure.wav")])
    assert re.search(r"^would set +" + re.escape(str(root / "sure.wav")), res.output, re.M)  # not "would settag..."
