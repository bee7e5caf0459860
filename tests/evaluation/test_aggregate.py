"""Segment -> track aggregation by hand: mean, majority vote, ties, and both levels' metrics."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.evaluation.aggregate import aggregate_tracks, evaluate_levels, track_labels

LABELS = ["a", "b", "c"]
# track "t2" first: the output order is first-seen, not sorted
IDS = ["t2", "t1", "t2", "t1", "t2", "t3"]
PROBA = np.array([
    [0.6, 0.3, 0.1],  # t2 -> a
    [0.1, 0.8, 0.1],  # t1 -> b
    [0.2, 0.7, 0.1],  # t2 -> b
    [0.5, 0.4, 0.1],  # t1 -> a
    [0.7, 0.2, 0.1],  # t2 -> a
    [0.1, 0.1, 0.8],  # t3 -> c
])


def test_mean_by_hand():
    ids, tp = aggregate_tracks(PROBA, IDS, "mean")
    assert ids == ["t2", "t1", "t3"]
    np.testing.assert_allclose(tp[0], [0.5, 0.4, 0.1])
    np.testing.assert_allclose(tp[1], [0.3, 0.6, 0.1])
    np.testing.assert_allclose(tp[2], [0.1, 0.1, 0.8])


def test_vote_by_hand_and_tie_broken_by_mean_probability():
    ids, tp = aggregate_tracks(PROBA, IDS, "vote")
    assert ids == ["t2", "t1", "t3"]
    np.testing.assert_allclose(tp.sum(axis=1), 1.0)
    np.testing.assert_allclose(tp[0], [2 / 3, 1 / 3, 0], atol=1e-5)   # t2: a, b, a
    np.testing.assert_allclose(tp[2], [0, 0, 1], atol=1e-5)
    # t1 has one vote for a and one for b: a tie, broken by the mean probability (b: 0.6 > a: 0.3)
    np.testing.assert_allclose(tp[1], [0.5, 0.5, 0], atol=1e-5)
    assert tp[1].argmax() == 1
    # the opposite tie-break when the mean favours a
    _, tp2 = aggregate_tracks(np.array([[0.9, 0.1], [0.45, 0.55]]), ["x", "x"], "vote")
    assert tp2[0].argmax() == 0


def test_mean_and_vote_can_disagree():
    proba = np.array([[0.4, 0.6], [0.4, 0.6], [1.0, 0.0]])
    _, mean = aggregate_tracks(proba, ["x"] * 3, "mean")
    _, vote = aggregate_tracks(proba, ["x"] * 3, "vote")
    assert mean[0].argmax() == 0 and vote[0].argmax() == 1


def test_bad_inputs():
    with pytest.raises(ValueError):
        aggregate_tracks(PROBA, IDS[:-1])
    with pytest.raises(ValueError):
        aggregate_tracks(PROBA, IDS, "median")
    with pytest.raises(ValueError):
        track_labels(["a", "b"], ["t", "t"])  # one track, two labels
    np.testing.assert_array_equal(track_labels(["x", "y", "x"], ["t1", "t2", "t1"]), ["x", "y"])


def test_evaluate_levels_labels_both_levels():
    y = ["a", "b", "a", "b", "a", "c"]  # t2 = a, t1 = b, t3 = c
    res = evaluate_levels(y, PROBA, IDS, LABELS, n_boot=200)
    assert set(res) == {"segment", "track", "track_vote"}
    seg, trk, vote = res["segment"], res["track"], res["track_vote"]
    assert (seg["level"], seg["aggregation"]) == ("segment", None)
    assert (trk["level"], trk["aggregation"]) == ("track", "mean")
    assert (vote["level"], vote["aggregation"]) == ("track", "vote")
    # segments: a, b, b, a, a, c vs truth a, b, a, b, a, c -> 4/6
    assert seg["n"] == 6 and seg["accuracy"] == pytest.approx(4 / 6)
    # tracks by mean: t2 -> a (right), t1 -> b (right), t3 -> c (right)
    assert trk["n"] == 3 and trk["accuracy"] == pytest.approx(1.0)
    assert vote["accuracy"] == pytest.approx(1.0)
    assert seg["ci"]["accuracy"]["unit"] == "group" and seg["ci"]["accuracy"]["n_groups"] == 3
    assert trk["ci"]["accuracy"]["low"] <= trk["accuracy"] <= trk["ci"]["accuracy"]["high"]
    only_mean = evaluate_levels(y, PROBA, IDS, LABELS, methods="mean", ci=False)
    assert set(only_mean) == {"segment", "track"} and "ci" not in only_mean["track"]
