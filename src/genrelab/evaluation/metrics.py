"""Classification metrics as one JSON-serialisable dict, bootstrap confidence intervals and k-fold summaries.

Everything here is a leaf: numpy and scikit-learn only.

:func:`compute_metrics` returns (all numbers are plain Python ``float``/``int``)::

    {
      "n": 290,                                 # number of scored items (tracks or segments)
      "labels": ["blues", ...],                 # class order of every list/matrix below
      "accuracy": 0.71,
      "balanced_accuracy": 0.69,                # = mean recall over the genres present in y_true
      "precision_macro": ..., "recall_macro": ..., "f1_macro": ...,
      "precision_weighted": ..., "recall_weighted": ..., "f1_weighted": ...,
      "recall_variance": 0.012,                 # Sears' "variance of recall" (see below)
      "recall_std": 0.11,
      "per_genre": {"blues": {"precision": .., "recall": .., "f1": .., "support": 29}, ...},
      "confusion_matrix": [[...], ...],         # counts, rows = true, columns = predicted
      "confusion_matrix_normalized": [[...]],   # rows divided by their sum (a row of zeros when support is 0)
      "classification_report": "...",           # scikit-learn's text report
      # only when probabilities are given:
      "top_k_accuracy": {"2": 0.85, "3": 0.91}, # for each k < number of classes
      "log_loss": 0.93
    }

Labels absent from ``y_true``/``y_pred`` are kept (stable order given by ``labels``) and scored
with ``zero_division=0``. Macro averages are scikit-learn's: over all ``labels``, so a genre with
no support in ``y_true`` counts as recall 0 (scikit-learn behaviour). ``recall_variance`` is the
population variance (ddof=0) of the per-genre recalls over the genres that *are* present in
``y_true`` (a recall is undefined for a genre with no examples).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "compute_metrics",
    "encode_labels",
    "bootstrap_ci",
    "fold_summary",
    "flatten_scalars",
    "SCALAR_METRICS",
]

#: The top-level scalar metrics of :func:`compute_metrics` (useful as column names and sort keys).
SCALAR_METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy",
    "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted",
    "recall_variance", "recall_std", "log_loss",
)


# --------------------------------------------------------------------------- label encoding
def encode_labels(
    y: Sequence[Any] | np.ndarray, labels: Sequence[str] | None
) -> np.ndarray:
    """Map ``y`` to integer indices into ``labels``.

    ``y`` may hold label names (strings) or integer indices already. Raises ``ValueError`` for a
    name not in ``labels`` or an index out of range.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
        if labels is not None and (out.min() < 0 or out.max() >= len(labels)):
            raise ValueError(f"label index out of range 0..{len(labels) - 1}: {out.min()}..{out.max()}")
        return out
    if arr.dtype.kind == "f" and np.all(np.equal(np.mod(arr, 1), 0)):
        return encode_labels(arr.astype(np.int64), labels)
    if labels is None:
        raise ValueError("labels are required when y holds names")
    index = {str(name): i for i, name in enumerate(labels)}
    try:
        return np.fromiter((index[str(v)] for v in arr), dtype=np.int64, count=arr.size)
    except KeyError as exc:
        raise ValueError(f"unknown label {exc.args[0]!r}; known: {', '.join(map(str, labels))}") from None


def _resolve_labels(y_true, y_pred, proba, labels) -> list[str]:
    if labels is not None:
        return [str(x) for x in labels]
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.dtype.kind in "iuf" and (p.size == 0 or p.dtype.kind in "iuf"):
        n = 0
        if t.size:
            n = max(n, int(np.max(t)) + 1)
        if p.size:
            n = max(n, int(np.max(p)) + 1)
        if proba is not None:
            n = max(n, np.asarray(proba).shape[1])
        return [str(i) for i in range(n)]
    return sorted({str(v) for v in t.tolist()} | {str(v) for v in p.tolist()})


def _f(x: Any) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


# --------------------------------------------------------------------------- metrics
def compute_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray | None = None,
    proba: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    top_k: Iterable[int] = (2, 3),
) -> dict[str, Any]:
    """Score predictions; returns the JSON-serialisable dict described in the module docstring.

    ``y_true`` and ``y_pred`` hold label names or integer indices into ``labels``. ``y_pred`` may be
    None when ``proba`` (shape ``(n, len(labels))``) is given: it is then ``argmax(proba)``.
    """
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    if y_pred is None and proba is None:
        raise ValueError("give y_pred, proba or both")
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2:
            raise ValueError(f"proba must be 2-D (n, classes), got shape {proba.shape}")
    if y_pred is None:
        y_pred = np.argmax(proba, axis=1)
    names = _resolve_labels(y_true, y_pred, proba, labels)
    C = len(names)
    t = encode_labels(y_true, names)
    p = encode_labels(y_pred, names)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    if proba is not None and proba.shape != (t.size, C):
        raise ValueError(f"proba shape {proba.shape} does not match ({t.size}, {C})")
    n = int(t.size)
    idx = list(range(C))
    out: dict[str, Any] = {"n": n, "labels": names}
    if n == 0:
        out.update({k: float("nan") for k in SCALAR_METRICS if k != "log_loss"})
        out["per_genre"] = {g: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for g in names}
        out["confusion_matrix"] = [[0] * C for _ in range(C)]
        out["confusion_matrix_normalized"] = [[0.0] * C for _ in range(C)]
        out["classification_report"] = ""
        return out

    out["accuracy"] = _f(np.mean(t == p))
    for avg in ("macro", "weighted"):
        pr, rc, f1, _ = precision_recall_fscore_support(t, p, labels=idx, average=avg, zero_division=0)
        out[f"precision_{avg}"] = _f(pr)
        out[f"recall_{avg}"] = _f(rc)
        out[f"f1_{avg}"] = _f(f1)
    pr, rc, f1, sup = precision_recall_fscore_support(t, p, labels=idx, average=None, zero_division=0)
    present = sup > 0
    out["balanced_accuracy"] = _f(np.mean(rc[present])) if present.any() else float("nan")
    out["recall_variance"] = _f(np.var(rc[present])) if present.any() else float("nan")
    out["recall_std"] = _f(np.std(rc[present])) if present.any() else float("nan")
    out["per_genre"] = {
        g: {"precision": _f(pr[i]), "recall": _f(rc[i]), "f1": _f(f1[i]), "support": int(sup[i])}
        for i, g in enumerate(names)
    }
    cm = confusion_matrix(t, p, labels=idx)
    rows = cm.sum(axis=1, keepdims=True)
    cmn = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    out["confusion_matrix"] = cm.astype(int).tolist()
    out["confusion_matrix_normalized"] = [[float(v) for v in row] for row in cmn]
    out["classification_report"] = classification_report(
        t, p, labels=idx, target_names=names, zero_division=0, digits=3
    )
    if proba is not None:
        topk: dict[str, float] = {}
        for k in sorted(set(int(k) for k in top_k)):
            if 1 <= k < C:
                if C == 2:  # scikit-learn's binary form wants the positive-class score
                    topk[str(k)] = _f(top_k_accuracy_score(t, proba[:, 1], k=k, labels=idx))
                else:
                    topk[str(k)] = _f(top_k_accuracy_score(t, proba, k=k, labels=idx))
        out["top_k_accuracy"] = topk
        q = np.clip(proba, 0.0, None)
        s = q.sum(axis=1, keepdims=True)
        q = np.divide(q, s, out=np.full_like(q, 1.0 / C), where=s > 0)
        q = np.clip(q, 1e-15, 1.0)
        q = q / q.sum(axis=1, keepdims=True)
        out["log_loss"] = _f(log_loss(t, q, labels=idx))
    return out


# --------------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval, by default on accuracy.

    Items (tracks) are resampled with replacement ``n_boot`` times with ``numpy.random.default_rng(seed)``,
    so the result is deterministic for a given seed. With ``groups`` (e.g. the track id of each
    segment) whole groups are resampled instead (a cluster bootstrap), which is what segment-level
    scores need because the segments of one track are not independent.

    ``metric(y_true, y_pred) -> float`` replaces accuracy (slower: one call per resample).
    Returns ``{"metric", "estimate", "low", "high", "alpha", "confidence", "n_boot", "seed",
    "n", "unit", "method": "percentile"}``.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    n = int(t.size)
    rng = np.random.default_rng(seed)
    name = "accuracy" if metric is None else getattr(metric, "__name__", "metric")
    base = {"metric": name, "alpha": float(alpha), "confidence": float(1 - alpha), "n_boot": int(n_boot),
            "seed": int(seed), "n": n, "unit": "item" if groups is None else "group", "method": "percentile"}
    if n == 0:
        return {**base, "estimate": float("nan"), "low": float("nan"), "high": float("nan")}

    if groups is None:
        gid = np.arange(n)
        n_groups = n
    else:
        g = np.asarray(groups)
        if g.shape != t.shape:
            raise ValueError("groups must have one entry per item")
        _, gid = np.unique(g, return_inverse=True)
        gid = gid.reshape(-1)
        n_groups = int(gid.max()) + 1
    base["n_groups"] = n_groups

    if metric is None:
        correct = (t == p).astype(np.float64)
        estimate = float(correct.mean())
        g_correct = np.bincount(gid, weights=correct, minlength=n_groups)
        g_count = np.bincount(gid, minlength=n_groups).astype(np.float64)
        stats = np.empty(n_boot)
        chunk = max(1, int(2_000_000 // max(n_groups, 1)))
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            draw = rng.integers(0, n_groups, size=(stop - start, n_groups))
            stats[start:stop] = g_correct[draw].sum(axis=1) / g_count[draw].sum(axis=1)
    else:
        estimate = float(metric(t, p))
        members = [np.flatnonzero(gid == k) for k in range(n_groups)] if groups is not None else None
        stats = np.empty(n_boot)
        for b in range(n_boot):
            draw = rng.integers(0, n_groups, size=n_groups)
            sel = draw if members is None else np.concatenate([members[k] for k in draw])
            stats[b] = float(metric(t[sel], p[sel]))
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return {**base, "estimate": estimate, "low": float(low), "high": float(high),
            "std": float(np.std(stats, ddof=1)) if n_boot > 1 else 0.0}


# --------------------------------------------------------------------------- k-fold summary
def flatten_scalars(d: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, float]:
    """Every numeric leaf of a nested dict as ``{"a.b.c": value}`` (lists, strings and bools skipped)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten_scalars(v, key, sep))
        elif isinstance(v, bool) or v is None:
            continue
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[key] = float(v)
    return out


def fold_summary(folds: Sequence[Mapping[str, Any]], ddof: int = 1) -> dict[str, Any]:
    """Mean and standard deviation across folds of every scalar metric.

    ``folds`` are :func:`compute_metrics` dicts (or any nested dicts). Nested scalars are keyed by
    dotted paths (``"per_genre.blues.recall"``, ``"top_k_accuracy.3"``). The standard deviation is
    the sample one (``ddof=1``) unless ``ddof`` says otherwise; with one fold it is 0. A metric
    missing (or NaN) in some folds is summarised over the folds that have it; ``count`` says how many.

    Returns ``{"n_folds": k, "mean": {key: ..}, "std": {key: ..}, "count": {key: ..}, "values": {key: [..]}}``
    where the top-level ``mean``/``std`` keep the order of first appearance.
    """
    flat = [flatten_scalars(f) for f in folds]
    keys: list[str] = []
    seen: set[str] = set()
    for f in flat:
        for k in f:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    count: dict[str, int] = {}
    values: dict[str, list[float]] = {}
    for k in keys:
        vals = [f[k] for f in flat if k in f and not math.isnan(f[k])]
        values[k] = vals
        count[k] = len(vals)
        if not vals:
            mean[k] = std[k] = float("nan")
            continue
        arr = np.asarray(vals, dtype=np.float64)
        mean[k] = float(arr.mean())
        std[k] = float(arr.std(ddof=ddof)) if arr.size > ddof else 0.0
    return {"n_folds": len(folds), "ddof": ddof, "mean": mean, "std": std, "count": count, "values": values}
