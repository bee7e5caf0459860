"""Calibration of class probabilities: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks"), the expected calibration error and a reliability diagram.

Temperature scaling divides the log-probabilities of every answer by one number ``T`` and renormalises
(``softmax(log p / T)``): the ranking, hence the accuracy, is unchanged; ``T > 1`` softens an overconfident
model. ``T`` is fitted by minimising the negative log-likelihood of *held-out* predictions (for the shipped
model: leave-one-artist-out, see ``benchmarks/listener_models.py``). Numpy only at import; fitting uses scipy,
the diagram matplotlib, both imported when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

#: Smallest probability used before taking logs (a zero stays (nearly) zero after scaling).
_EPS = 1e-12


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)`` row by row (``(n, C)`` or ``(C,)``); ``temperature == 1`` is a no-op."""
    p = np.asarray(proba, dtype=np.float64)
    if temperature == 1.0:
        return p
    z = np.log(np.clip(p, _EPS, 1.0)) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _index(y: Sequence, labels: Sequence[str] | None) -> np.ndarray:
    if labels is None:
        return np.asarray(y, dtype=int)
    pos = {lab: i for i, lab in enumerate(labels)}
    return np.array([pos[v] for v in y], dtype=int)


def nll(proba: np.ndarray, y: Sequence, labels: Sequence[str] | None = None) -> float:
    """Mean negative log-likelihood of the true classes ``y`` (indices, or names with ``labels``)."""
    p = np.asarray(proba, dtype=np.float64)
    idx = _index(y, labels)
    return float(-np.log(np.clip(p[np.arange(len(idx)), idx], _EPS, 1.0)).mean())


def fit_temperature(proba: np.ndarray, y: Sequence, labels: Sequence[str] | None = None,
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the NLL of held-out probabilities ``proba`` ``(n, C)`` for true classes ``y``."""
    from scipy.optimize import minimize_scalar

    idx = _index(y, labels)
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(lambda lt: nll(apply_temperature(proba, float(np.exp(lt))), idx),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def reliability_bins(proba: np.ndarray, y: Sequence, labels: Sequence[str] | None = None,
                     n_bins: int = 10) -> list[tuple[float, float, float, int]]:
    """Top-label reliability: for each of ``n_bins`` equal-width confidence bins that holds predictions,
    ``(bin centre, mean confidence, accuracy, count)``."""
    p = np.asarray(proba, dtype=np.float64)
    idx = _index(y, labels)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    correct = pred == idx
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            out.append(((b + 0.5) / n_bins, float(conf[m].mean()), float(correct[m].mean()), int(m.sum())))
    return out


def expected_calibration_error(proba: np.ndarray, y: Sequence, labels: Sequence[str] | None = None,
                               n_bins: int = 10) -> float:
    """ECE (Naeini et al. 2015; Guo et al. 2017): the count-weighted mean of |accuracy - confidence| over
    ``n_bins`` equal-width bins of the top-label confidence."""
    bins = reliability_bins(proba, y, labels, n_bins)
    n = sum(b[3] for b in bins)
    return float(sum(b[3] * abs(b[2] - b[1]) for b in bins) / max(n, 1))


def reliability_diagram(curves: dict[str, tuple[np.ndarray, Sequence]], path: str | Path,
                        labels: Sequence[str] | None = None, n_bins: int = 10, title: str = "") -> Path:
    """A PNG reliability diagram: accuracy against confidence per bin for each ``name -> (proba, y)``
    (e.g. before and after calibration), ECE in the legend, the diagonal for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for name, (proba, y) in curves.items():
        bins = reliability_bins(proba, y, labels, n_bins)
        ece = expected_calibration_error(proba, y, labels, n_bins)
        ax.plot([b[1] for b in bins], [b[2] for b in bins], marker="o", label=f"{name} (ECE {ece:.3f})")
        for b in bins:
            ax.annotate(str(b[3]), (b[1], b[2]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (top probability)", ylabel="accuracy",
           title=title or "reliability (numbers: predictions per bin)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["apply_temperature", "fit_temperature", "nll", "expected_calibration_error", "reliability_bins",
           "reliability_diagram"]
