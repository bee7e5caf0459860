"""Timing and size helpers: a wall-clock timer, inference throughput and parameter counts.

No heavy imports: torch modules and scikit-learn estimators are recognised by duck typing.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

__all__ = ["Timer", "throughput", "count_parameters"]


class Timer:
    """Wall-clock timer (``time.perf_counter``); ``elapsed`` is live inside the block, final after it.

    >>> with Timer() as t:
    ...     pass
    >>> t.elapsed >= 0
    True
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.end = None
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end = time.perf_counter()

    @property
    def elapsed(self) -> float:
        if self.start is None:
            return 0.0
        return (self.end if self.end is not None else time.perf_counter()) - self.start


def _n_items(batch: Any) -> int:
    shape = getattr(batch, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(batch)


def throughput(
    fn: Callable[[Any], Any],
    batch: Any,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
) -> float:
    """Items per second of ``fn(batch)``: ``len(batch) * repeats / total time``, after ``warmup`` calls.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before reading the clock, for asynchronous
    devices. The number of items is ``batch.shape[0]`` or ``len(batch)``.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    n = _n_items(batch)
    for _ in range(max(0, warmup)):
        fn(batch)
    if sync:
        sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(batch)
    if sync:
        sync()
    dt = time.perf_counter() - t0
    return float(n * repeats / dt) if dt > 0 else float("inf")


# --------------------------------------------------------------------------- parameter counting
_NOT_PARAMETERS = {
    "classes_", "n_features_in_", "feature_names_in_", "n_iter_", "n_outputs_", "n_layers_",
    "loss_curve_", "validation_scores_", "best_loss_", "best_validation_score_", "t_", "loss_",
    "support_", "n_support_", "fit_status_", "shape_fit_", "n_samples_fit_", "effective_metric_",
    "effective_metric_params_", "outputs_2d_", "out_activation_", "estimators_samples_",
    "oob_score_", "oob_decision_function_", "train_score_", "n_estimators_", "n_classes_",
    "max_features_", "feature_importances_", "n_trees_per_iteration_", "do_early_stopping_",
    "init_", "named_estimators_", "le_", "label_binarizer_", "_label_binarizer",
}


def _count_sklearn(est: Any, _depth: int = 0) -> int:
    if _depth > 20:
        return 0
    if hasattr(est, "steps") and isinstance(getattr(est, "steps"), list):  # Pipeline
        return sum(_count_sklearn(step, _depth + 1) for _, step in est.steps if step not in (None, "passthrough"))
    tree = getattr(est, "tree_", None)
    if tree is not None and hasattr(tree, "node_count"):
        # a tree: one threshold + feature per split node, the class values at the leaves
        n_leaves = int(getattr(tree, "n_leaves", 0))
        n_split = int(tree.node_count) - n_leaves
        per_leaf = int(np.prod(tree.value.shape[1:])) if hasattr(tree, "value") else 1
        return 2 * n_split + per_leaf * n_leaves
    total = 0
    for name, value in vars(est).items():
        if name in _NOT_PARAMETERS:
            continue
        if name == "_fit_X" or (name.endswith("_") and not name.startswith("__")):
            total += _count_value(value, _depth)
    return total


def _count_value(value: Any, depth: int) -> int:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return sum(_count_value(v, depth + 1) for v in value.ravel())
        if value.dtype.kind in "fc":
            return int(value.size)
        return 0
    if isinstance(value, (list, tuple)):
        return sum(_count_value(v, depth + 1) for v in value)
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return _count_sklearn(value, depth + 1)
    return 0


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameters of a torch module, or of fitted numbers of a scikit-learn estimator.

    * torch ``nn.Module``: ``sum(p.numel())`` over ``parameters()`` (``trainable_only``: those with
      ``requires_grad``).
    * scikit-learn: the float arrays it learnt (attributes ending in ``_`` such as ``coef_``,
      ``coefs_``, ``support_vectors_``, ``theta_``; a kNN's stored training data), recursing into
      pipelines and ensembles; a decision tree counts 2 per split node plus its leaf values. This is
      an honest size figure, not a standard: documented so tables can say what it means.
    * an object with ``n_params`` (int attribute) returns it.
    """
    params = getattr(model, "parameters", None)
    if callable(params) and hasattr(model, "state_dict"):
        return int(sum(p.numel() for p in params() if (p.requires_grad or not trainable_only)))
    n = getattr(model, "n_params", None)
    if isinstance(n, int):
        return n
    if hasattr(model, "get_params"):
        return int(_count_sklearn(model))
    raise TypeError(f"cannot count parameters of {type(model).__name__}")
