"""The shipped default model's listener outputs on real audio (../shared/data): a timeline that follows a
four-genre mix, windows that differ on one clip, styles from the same network pass, calibrated confidence."""

from __future__ import annotations

import collections
import csv

import numpy as np
import pytest
import soundfile as sf

from genrelab import audio
from genrelab.evaluation.segments import timeline_scores

MIX = ("jazz", "metal", "classical", "hiphop")


@pytest.mark.integration
@pytest.mark.slow
def test_timeline_follows_a_four_genre_mix(default_clf, gtzan_root, tmp_path):
    """Four real 30 s clips back to back (the first clip of each genre by file name, a fixed rule): each section
    is labelled with its genre, boundaries land within 4 s, the headline is the timeline's most frequent label.
    In-sample: the shipped window head saw these clips; the leave-artist-out figure is in the model card."""
    root = gtzan_root / "genres_original"
    parts = [audio.load(sorted((root / g).glob(f"{g}.*.wav"))[0], sr=16000)[0] for g in MIX]
    path = tmp_path / "mix.wav"
    sf.write(str(path), np.concatenate(parts), 16000, subtype="PCM_16")
    res = default_clf.classify(path, timeline=True, top_k=3)
    assert res.ok, res.error
    ends = np.cumsum([len(p) / 16000 for p in parts])
    sections = list(zip([0.0, *ends[:-1]], ends, MIX))
    sc = timeline_scores([(e.start, e.end, e.label) for e in res.timeline], sections)
    assert sc["section_labels"] == list(MIX), sc
    assert max(sc["boundary_errors"]) <= 4.0, sc
    assert sc["seconds_correct"] >= 0.85, sc
    counts = collections.Counter(e.label for e in res.timeline)
    assert counts[res.label] == max(counts.values())  # the headline is the most frequent timeline label
    assert res.label in MIX and 0.0 < res.score < 1.0
    assert res.probabilities[res.label] == pytest.approx(res.score)


@pytest.mark.integration
@pytest.mark.slow
def test_windows_of_one_clip_differ_and_agree_with_the_headline(default_clf, gtzan_root):
    clip = sorted((gtzan_root / "genres_original" / "jazz").glob("*.wav"))[1]
    res = default_clf.classify(clip, timeline=True)
    assert res.ok, res.error
    probs = np.array([[e.probabilities[g] for g in default_clf.labels] for e in res.timeline])
    assert len(probs) == 10 and np.ptp(probs, axis=0).max() > 0.01  # not one flat bar
    counts = collections.Counter(e.label for e in res.timeline)
    assert counts[res.label] == max(counts.values())


@pytest.mark.integration
def test_fma_folk_track_styles_come_from_the_same_network_pass(default_clf, fma_root, monkeypatch):
    """The first Folk track of labels.csv: the genre head knows no folk, the styles say folk; the tag scores
    come from the one backbone pass that also gives the genre."""
    from genrelab.musicnn.runtime import MusicnnEngine

    row = next(r for r in csv.DictReader(open(fma_root / "labels.csv")) if r["genre_top"] == "Folk")
    calls = []
    run = MusicnnEngine.run
    monkeypatch.setattr(MusicnnEngine, "run", lambda self, x, layers=None: calls.append(layers) or run(self, x, layers))
    res = default_clf.classify(fma_root / row["path"], top_k=3)
    assert res.ok, res.error
    assert len(calls) == 1 and set(calls[0]) == {"penultimate", "taggram"}
    names = [s for s, _ in res.styles]
    assert "folk" in names, res.styles
    assert all(0.0 < p <= 1.0 for _, p in res.styles) and len(names) <= 5
    d = res.to_dict()
    assert {"label": "folk", "score": pytest.approx(dict(res.styles)["folk"])} in d["styles"]


@pytest.mark.integration
def test_default_answers_are_calibrated_and_flag_uncertainty(default_clf, gtzan_root):
    assert default_clf.temperature > 1.0  # the shipped head was overconfident on unseen artists
    clip = sorted((gtzan_root / "genres_original" / "metal").glob("*.wav"))[0]
    raw = default_clf.checkpoint.predict_proba(default_clf.spec.window_examples(
        [audio.load(clip, sr=16000)[0]], default_clf.runtime))[0]
    res = default_clf.classify(clip)
    assert res.score == pytest.approx(max(raw) ** (1 / default_clf.temperature)
                                      / sum(p ** (1 / default_clf.temperature) for p in raw), rel=1e-4)
    assert res.uncertain == (res.score < 0.5)


@pytest.mark.integration
@pytest.mark.slow
def test_tag_styles_writes_folk_on_the_fma_folk_track(fma_root, tmp_path):
    """End to end with the shipped model: ``tag --styles --write --overwrite`` on a copy of the first FMA Folk
    track writes the genre (one of the ten; not folk) followed by its styles, folk among them."""
    import shutil

    from typer.testing import CliRunner

    from genrelab import tagging
    from genrelab.cli import app

    row = next(r for r in csv.DictReader(open(fma_root / "labels.csv")) if r["genre_top"] == "Folk")
    song = tmp_path / "folk.mp3"
    shutil.copyfile(fma_root / row["path"], song)
    assert [g.lower() for g in tagging.read_genres(song)] == ["folk"]  # FMA's own tag: replaced below
    res = CliRunner().invoke(app, ["tag", str(song), "--write", "--overwrite", "--styles", "--min-confidence", "0"])
    assert res.exit_code == 0, res.output
    written = [g.lower() for g in tagging.read_genres(song)]
    assert written[0] != "folk" and "folk" in written[1:], (written, res.output)  # the genre, then the styles
