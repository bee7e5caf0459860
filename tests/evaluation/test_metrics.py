"""compute_metrics agrees with scikit-learn; recall variance, bootstrap CI and fold summary by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from genrelab.evaluation.metrics import SCALAR_METRICS, bootstrap_ci, compute_metrics, encode_labels, fold_summary

LABELS = ["blues", "classical", "jazz", "rock"]  # "rock" never occurs: absent from y_true and y_pred
Y_TRUE = ["blues", "blues", "blues", "classical", "classical", "jazz", "jazz", "jazz", "jazz", "blues"]
Y_PRED = ["blues", "jazz", "blues", "classical", "blues", "jazz", "jazz", "classical", "jazz", "blues"]


def test_agrees_with_sklearn_on_hand_made_case():
    m = compute_metrics(Y_TRUE, Y_PRED, labels=LABELS)
    assert m["n"] == 10 and m["labels"] == LABELS
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED)) == pytest.approx(0.7)
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS, average=avg, zero_division=0)
        assert m[f"precision_{avg}"] == pytest.approx(p)
        assert m[f"recall_{avg}"] == pytest.approx(r)
        assert m[f"f1_{avg}"] == pytest.approx(f)
    p, r, f, s = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS, average=None, zero_division=0)
    for i, g in enumerate(LABELS):
        pg = m["per_genre"][g]
        assert (pg["precision"], pg["recall"], pg["f1"], pg["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert m["per_genre"]["rock"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["confusion_matrix"] == skm.confusion_matrix(Y_TRUE, Y_PRED, labels=LABELS).tolist()
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert "blues" in m["classification_report"] and "rock" in m["classification_report"]


def test_hand_computed_values_and_normalised_confusion():
    m = compute_metrics(Y_TRUE, Y_PRED, labels=LABELS)
    # blues: 3 of 4 right; classical: 1 of 2; jazz: 3 of 4
    assert m["per_genre"]["blues"]["recall"] == pytest.approx(0.75)
    assert m["per_genre"]["classical"]["recall"] == pytest.approx(0.5)
    assert m["per_genre"]["jazz"]["recall"] == pytest.approx(0.75)
    # variance over the genres present in y_true: mean 2/3, deviations 1/12, -1/6, 1/12
    assert m["recall_variance"] == pytest.approx(((1 / 12) ** 2 * 2 + (1 / 6) ** 2) / 3)
    assert m["recall_std"] == pytest.approx(math.sqrt(m["recall_variance"]))
    cmn = np.array(m["confusion_matrix_normalized"])
    assert cmn[0].tolist() == pytest.approx([0.75, 0, 0.25, 0])
    assert cmn[3].tolist() == [0, 0, 0, 0]  # no support: a row of zeros, not NaN
    json.dumps(m, allow_nan=False)  # strict JSON


def test_indices_and_names_give_the_same_result():
    a = compute_metrics(Y_TRUE, Y_PRED, labels=LABELS)
    b = compute_metrics(encode_labels(Y_TRUE, LABELS), encode_labels(Y_PRED, LABELS), labels=LABELS)
    assert a == b
    with pytest.raises(ValueError):
        compute_metrics(["blues", "metal"], ["blues", "blues"], labels=LABELS)


def test_probabilities_give_top_k_and_log_loss():
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 1, 2])
    proba = rng.dirichlet(np.ones(4), size=y.size)
    m = compute_metrics(y, proba=proba, labels=LABELS)  # y_pred from argmax
    assert m["accuracy"] == pytest.approx(np.mean(proba.argmax(1) == y))
    assert m["top_k_accuracy"]["2"] == pytest.approx(skm.top_k_accuracy_score(y, proba, k=2, labels=range(4)))
    assert m["top_k_accuracy"]["3"] == pytest.approx(skm.top_k_accuracy_score(y, proba, k=3, labels=range(4)))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=range(4)), rel=1e-6)
    for k in SCALAR_METRICS:
        assert isinstance(m[k], float)


def test_empty_input_does_not_crash():
    m = compute_metrics([], [], labels=LABELS)
    assert m["n"] == 0 and math.isnan(m["accuracy"])


def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    pred = np.where(rng.random(200) < 0.7, y, (y + 1) % 4)
    a = bootstrap_ci(y, pred, n_boot=500, seed=3)
    b = bootstrap_ci(y, pred, n_boot=500, seed=3)
    c = bootstrap_ci(y, pred, n_boot=500, seed=4)
    assert a == b and a != c
    assert a["estimate"] == pytest.approx(np.mean(y == pred))
    assert a["low"] <= a["estimate"] <= a["high"]
    assert 0.05 < a["high"] - a["low"] < 0.2  # about 4 standard errors of a proportion near 0.7 with n=200
    assert a["confidence"] == pytest.approx(0.95)
    perfect = bootstrap_ci(y, y, n_boot=50)
    assert perfect["low"] == perfect["high"] == 1.0


def test_bootstrap_groups_and_custom_metric():
    y = np.array([0, 0, 1, 1, 2, 2, 0, 0])
    pred = np.array([0, 0, 1, 0, 2, 2, 1, 1])
    groups = ["t1", "t1", "t2", "t2", "t3", "t3", "t4", "t4"]
    g = bootstrap_ci(y, pred, n_boot=300, seed=0, groups=groups)
    assert g["unit"] == "group" and g["n_groups"] == 4
    assert g["estimate"] == pytest.approx(5 / 8)
    assert g["low"] <= g["estimate"] <= g["high"]
    # accuracy as a callable gives the same interval as the fast path for the same seed
    slow = bootstrap_ci(y, pred, n_boot=300, seed=0, groups=groups,
                        metric=lambda t, p: float(np.mean(t == p)))
    assert (slow["low"], slow["high"]) == pytest.approx((g["low"], g["high"]))


def test_fold_summary_mean_and_std():
    folds = [compute_metrics([0, 1, 1, 0], p, labels=["a", "b"]) for p in ([0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0])]
    s = fold_summary(folds)
    accs = [1.0, 0.75, 0.5]
    assert s["n_folds"] == 3
    assert s["mean"]["accuracy"] == pytest.approx(0.75)
    assert s["std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert s["values"]["accuracy"] == accs
    assert s["mean"]["per_genre.b.recall"] == pytest.approx(np.mean([1.0, 0.5, 0.5]))
    assert "confusion_matrix" not in s["mean"] and "n" in s["mean"]
    part = fold_summary([{"accuracy": 0.5, "x": 1.0}, {"accuracy": 0.7}])
    assert part["count"] == {"accuracy": 2, "x": 1} and part["std"]["x"] == 0.0
    json.dumps(s, allow_nan=False)
