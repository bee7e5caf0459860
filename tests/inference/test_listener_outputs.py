"""Listener outputs of a result: calibrated confidence and "uncertain", styles, the window head's smoothing and
the song's answer formed from the timeline (unit tests; the real-audio ones are in test_listener_real.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genrelab.inference import Classifier, ClassificationResult, TimelineEntry
from genrelab.inference.resolve import pretrained_dir
from genrelab.inference.result import UNCERTAIN_BELOW
from genrelab.inference.styles import STYLE_TAGS, styles_from_taggram
from genrelab.inference.timeline import WindowHead, smooth, song_answer
from genrelab.musicnn.info import MSD_LABELS


def test_low_confidence_result_is_marked_uncertain(sklearn_ckpt):
    clf = Classifier.from_pretrained(sklearn_ckpt)
    n = len(clf.labels)
    flat = np.full((1, n), 1.0 / n)
    sure = np.eye(n)[[0]] * 0.9 + 0.1 / n
    assert clf.answer("x", flat, 3, 1.0).uncertain
    res = clf.answer("x", sure, 3, 1.0)
    assert not res.uncertain and res.score >= UNCERTAIN_BELOW


def test_result_schema_round_trips_styles_and_uncertain():
    res = ClassificationResult(path="a.mp3", top=[("jazz", 0.41)], probabilities={"jazz": 0.41}, uncertain=True,
                               styles=[("jazz", 0.3), ("blues", 0.12)],
                               timeline=[TimelineEntry(0.0, 3.0, "jazz", 0.4, {"jazz": 0.4})])
    d = json.loads(json.dumps(res.to_dict()))
    assert d["uncertain"] is True and d["styles"] == [{"label": "jazz", "score": 0.3}, {"label": "blues", "score": 0.12}]
    assert ClassificationResult.from_dict(d) == res
    plain = ClassificationResult(path="b.wav", top=[("rock", 0.9)])
    assert "styles" not in plain.to_dict() and ClassificationResult.from_dict(plain.to_dict()) == plain


def test_styles_keep_only_genre_tags_above_the_threshold():
    tg = np.zeros((4, len(MSD_LABELS)))
    for tag, v in (("folk", 0.6), ("female vocalists", 0.9), ("acoustic", 0.8), ("Hip-Hop", 0.3), ("rock", 0.05)):
        tg[:, MSD_LABELS.index(tag)] = v
    assert styles_from_taggram(tg, MSD_LABELS) == [("folk", pytest.approx(0.6)), ("hip-hop", pytest.approx(0.3))]
    assert not {"female vocalists", "acoustic", "sad", "80s", "guitar"} & set(STYLE_TAGS)
    assert set(STYLE_TAGS) <= set(MSD_LABELS)


def test_smoothing_removes_flicker_and_keeps_real_changes():
    rng = np.random.default_rng(0)
    truth = np.array([0] * 10 + [1] * 10 + [2] * 10)
    p = np.full((30, 3), 0.2) + rng.uniform(0, 0.05, (30, 3))
    p[np.arange(30), truth] = 0.6
    p[[4, 15, 25]] = [0.1, 0.1, 0.1]  # three single-patch flickers to another genre
    p[4, 2] = p[15, 0] = p[25, 1] = 0.8
    p /= p.sum(1, keepdims=True)
    raw = p.argmax(1)
    assert (raw != truth).sum() == 3
    assert (smooth(np.log(p), switch_penalty=4.0) == truth).all()
    assert (smooth(np.log(p), switch_penalty=0.0) == raw).all()  # no penalty: each window on its own


def test_song_answer_is_the_label_holding_most_seconds():
    labels = ["a", "b", "c"]
    entry_labels = ["a"] * 3 + ["b"] * 4
    proba = np.array([[0.95, 0.04, 0.01]] * 3 + [[0.2, 0.45, 0.35]] * 4)
    top, probs = song_answer(labels, entry_labels, [3.0] * 7, proba)
    assert top[0][0] == "b"  # most seconds, though "a" has the higher mean probability
    assert probs["a"] > probs["b"]
    assert top[0][1] == pytest.approx(probs["b"]) and [t[0] for t in top] == ["b", "a", "c"]


def test_window_head_saves_and_loads_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    head = WindowHead(labels=["x", "y"], coef=rng.normal(size=(2, 8)), intercept=rng.normal(size=2),
                      mean=rng.normal(size=8), scale=rng.uniform(0.5, 1, 8), context=3, temperature=1.7)
    head.save(tmp_path / "timeline")
    back = WindowHead.load(tmp_path / "timeline")
    emb = rng.normal(size=(6, 4))
    assert np.allclose(back.predict_proba(emb), head.predict_proba(emb), atol=1e-5)
    assert back.temperature == pytest.approx(1.7)
    (tmp_path / "timeline" / "head.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(Exception, match="SHA-256"):
        WindowHead.load(tmp_path / "timeline")


def test_shipped_default_model_has_calibration_and_a_window_head():
    folder = pretrained_dir("default")
    meta = json.loads((folder / "model.json").read_text())
    cal = meta["calibration"]
    assert cal["method"] == "temperature" and cal["temperature"] > 0
    assert cal["ece_after"] < cal["ece_before"]
    assert cal["uncertain_below"] == UNCERTAIN_BELOW
    head = WindowHead.load(folder / "timeline")
    assert head.labels == meta["labels"] and head.temperature > 0
    assert (folder / "reliability.png").stat().st_size > 5000
    assert (folder / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_row_keeps_styles_and_uncertain_and_the_table_shows_them():
    import io

    from rich.console import Console

    from genrelab.cli import results_io as rio
    from genrelab.cli.classify import render_table
    from genrelab.inference.styles import MAX_STYLES

    assert rio.N_STYLES == MAX_STYLES
    labels = ["folk", "pop"]
    res = ClassificationResult(path="a.mp3", top=[("pop", 0.42), ("folk", 0.40)],
                               probabilities={"folk": 0.40, "pop": 0.42}, uncertain=True,
                               styles=[("folk", 0.17), ("indie", 0.12)], duration=30.0, n_segments=1, model="m")
    fields = rio.csv_fields(labels, 2)
    assert {"uncertain", "style_1", "style_score_1", f"style_{MAX_STYLES}"} <= set(fields)
    row = rio.csv_row(res, labels, 2, {"run_id": "r", "file_id": "f"})
    assert row["uncertain"] == "true" and (row["style_1"], row["style_score_1"]) == ("folk", "0.1700")
    back = rio.result_of({k: row.get(k, "") for k in fields}, labels)
    assert back.uncertain and back.styles == [("folk", 0.17), ("indie", 0.12)] and back.top == res.top
    buf = io.StringIO()
    render_table([res], 2, False, Console(file=buf, width=200))
    text = buf.getvalue()
    assert "pop 42% (uncertain)" in text and "folk 17%, indie 12%" in text


def test_tag_skips_below_the_uncertain_threshold_by_default():
    from genrelab.cli.tag import DEFAULT_MIN_CONFIDENCE

    assert DEFAULT_MIN_CONFIDENCE == UNCERTAIN_BELOW
