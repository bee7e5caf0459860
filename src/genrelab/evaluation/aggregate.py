"""Segment -> track aggregation, and scoring at both levels.

A model that classifies short segments (e.g. 3 s) gives one probability row per segment; a track's
answer combines its segments:

* ``"mean"``: the mean of the segment probabilities (the default, and what inference uses);
* ``"vote"``: each segment votes for its argmax; the track row is the vote share. Ties between
  classes with the same number of votes are broken by the mean probability: the returned row is
  ``(votes + 1e-6 * mean_proba) / sum``, so its argmax is the tie-broken winner while the
  values stay the vote shares to within 1e-6.

Every metrics dict produced here says which level it is: ``"level": "segment" | "track"`` and
``"aggregation": None | "mean" | "vote"``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from genrelab.evaluation.metrics import bootstrap_ci, compute_metrics, encode_labels

__all__ = ["AGGREGATIONS", "aggregate_tracks", "track_labels", "evaluate_levels"]

AGGREGATIONS = ("mean", "vote")
_TIE_EPS = 1e-6


def _group(track_ids: Sequence[Any] | np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Unique ids in first-seen order and, for each item, the index of its id in that list."""
    ids = list(track_ids.tolist() if isinstance(track_ids, np.ndarray) else track_ids)
    order: dict[Any, int] = {}
    inverse = np.empty(len(ids), dtype=np.int64)
    for i, tid in enumerate(ids):
        j = order.get(tid)
        if j is None:
            j = order[tid] = len(order)
        inverse[i] = j
    return list(order), inverse


def aggregate_tracks(
    proba: np.ndarray, track_ids: Sequence[Any] | np.ndarray, method: str = "mean"
) -> tuple[list[Any], np.ndarray]:
    """Combine segment probabilities ``(n_seg, C)`` into track rows.

    Returns ``(ids, track_proba)``: the unique track ids in first-seen order and an array of shape
    ``(n_tracks, C)`` whose rows sum to 1 (for ``"mean"``, when the segment rows do).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be (n_segments, classes), got shape {proba.shape}")
    if len(track_ids) != proba.shape[0]:
        raise ValueError(f"{len(track_ids)} track ids for {proba.shape[0]} segments")
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}; use one of {AGGREGATIONS}")
    ids, inv = _group(track_ids)
    T, C = len(ids), proba.shape[1]
    counts = np.bincount(inv, minlength=T).astype(np.float64)
    sums = np.zeros((T, C))
    np.add.at(sums, inv, proba)
    mean = sums / np.maximum(counts, 1)[:, None]
    if method == "mean":
        return ids, mean
    votes = np.zeros((T, C))
    np.add.at(votes, (inv, np.argmax(proba, axis=1)), 1.0)
    score = votes + _TIE_EPS * mean
    return ids, score / score.sum(axis=1, keepdims=True)


def track_labels(labels: Sequence[Any] | np.ndarray, track_ids: Sequence[Any] | np.ndarray) -> np.ndarray:
    """The label of each unique track (first-seen order); raises ``ValueError`` if a track's segments disagree."""
    ids, inv = _group(track_ids)
    lab = np.asarray(labels)
    if lab.shape[0] != inv.shape[0]:
        raise ValueError(f"{lab.shape[0]} labels for {inv.shape[0]} segments")
    first = np.full(len(ids), -1, dtype=np.int64)
    for i, j in enumerate(inv):
        if first[j] < 0:
            first[j] = i
    out = lab[first]
    bad = np.flatnonzero(out[inv] != lab)
    if bad.size:
        tid = ids[inv[bad[0]]]
        raise ValueError(f"track {tid!r} has segments with different labels")
    return out


def evaluate_levels(
    y_true: Sequence[Any] | np.ndarray,
    proba: np.ndarray,
    track_ids: Sequence[Any] | np.ndarray,
    labels: Sequence[str],
    methods: Sequence[str] | str = ("mean", "vote"),
    ci: bool = True,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Segment-level and track-level metrics of one set of segment predictions.

    Returns ``{"segment": m, "track": m_first_method, "track_<other>": m_other...}``: with the default
    ``methods=("mean", "vote")`` that is ``{"segment", "track" (mean), "track_vote"}``. Each value is a
    :func:`~genrelab.evaluation.metrics.compute_metrics` dict plus ``"level"``, ``"aggregation"``,
    ``"n_tracks"`` and, when ``ci``, ``"ci": {"accuracy": bootstrap_ci(...)}``. The bootstrap always
    resamples tracks: segment-level intervals resample whole tracks with their segments.
    """
    if isinstance(methods, str):
        methods = (methods,)
    proba = np.asarray(proba, dtype=np.float64)
    y = encode_labels(y_true, labels)
    ids_list, inv = _group(track_ids)
    out: dict[str, dict[str, Any]] = {}

    seg_pred = np.argmax(proba, axis=1)
    seg = compute_metrics(y, seg_pred, proba=proba, labels=labels)
    seg.update(level="segment", aggregation=None, n_tracks=len(ids_list))
    if ci:
        seg["ci"] = {"accuracy": bootstrap_ci(y, seg_pred, n_boot=n_boot, alpha=alpha, seed=seed, groups=inv)}
    out["segment"] = seg

    y_track = track_labels(y, track_ids)
    for i, method in enumerate(methods):
        _, tp = aggregate_tracks(proba, track_ids, method)
        pred = np.argmax(tp, axis=1)
        m = compute_metrics(y_track, pred, proba=tp, labels=labels)
        m.update(level="track", aggregation=method, n_tracks=len(ids_list))
        if ci:
            m["ci"] = {"accuracy": bootstrap_ci(y_track, pred, n_boot=n_boot, alpha=alpha, seed=seed)}
        out["track" if i == 0 else f"track_{method}"] = m
    return out
