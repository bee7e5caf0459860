"""Temperature scaling and the expected calibration error (genrelab.evaluation.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.evaluation.calibration import (apply_temperature, expected_calibration_error, fit_temperature,
                                             reliability_bins)


def _overconfident(n=4000, c=5, sharpen=3.0, seed=0):
    """Labels drawn from true probabilities, and those probabilities sharpened (logits x ``sharpen``)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.2, (n, c))
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(c, p=p) for p in true_p])
    sharp = np.exp(sharpen * logits)
    return sharp / sharp.sum(1, keepdims=True), y


def test_temperature_fitting_lowers_the_ece_of_overconfident_predictions():
    proba, y = _overconfident()
    t = fit_temperature(proba, y)
    assert t == pytest.approx(3.0, rel=0.15)  # undoes the sharpening
    before, after = expected_calibration_error(proba, y), expected_calibration_error(apply_temperature(proba, t), y)
    assert before > 0.15
    assert after < 0.04 and after < before / 4


def test_temperature_keeps_the_ranking_and_sums_to_one():
    proba, _ = _overconfident(n=50)
    for t in (0.5, 1.0, 2.5):
        q = apply_temperature(proba, t)
        assert np.allclose(q.sum(1), 1.0)
        assert (q.argmax(1) == proba.argmax(1)).all()
    assert np.array_equal(apply_temperature(proba, 1.0), proba)
    assert apply_temperature(proba, 4.0).max(1).mean() < proba.max(1).mean()  # T > 1 softens


def test_ece_of_perfectly_calibrated_bins_is_zero_and_labels_can_be_names():
    proba = np.array([[0.75, 0.25]] * 4)
    y = ["a", "a", "a", "b"]  # 3 of 4 right at confidence 0.75
    assert expected_calibration_error(proba, y, ["a", "b"]) == pytest.approx(0.0)
    assert reliability_bins(proba, y, ["a", "b"]) == [(0.75, 0.75, 0.75, 4)]
