"""Classic scikit-learn baselines (registry ``kind="sklearn"``) through the same ``train()`` entry.

Fit on the training part (examples flattened to vectors, normalised like the torch models); when
``config.sklearn["param_grid"]`` is given and there is a validation part, every combination is fitted
and the one with the best validation accuracy is kept (selection on valid, never on test); the
chosen model is scored on the test part and saved as a skops checkpoint.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.training.config import TrainConfig
from genrelab.training.data import PreparedData
from genrelab.training.finish import TrainInfo, finish_run, write_json
from genrelab.types import ConfigError


def _grid(param_grid: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    if not param_grid:
        return [{}]
    keys = sorted(param_grid)
    values = []
    for k in keys:
        v = param_grid[k]
        values.append(list(v) if isinstance(v, (list, tuple)) else [v])
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _make(entry: Any, n_classes: int, model_args: dict[str, Any], params: dict[str, Any], seed: int) -> Any:
    """A fresh estimator for one grid point: keys without ``__`` are the registry model's own
    arguments (``C``, ``n_neighbors``, ...); ``step__param`` keys go to ``set_params``."""
    ctor = {k: v for k, v in params.items() if "__" not in k}
    nested = {k: v for k, v in params.items() if "__" in k}
    try:
        model = entry.build(n_classes, **{**model_args, **ctor})
    except TypeError as exc:
        raise ConfigError(f"model {entry.name!r} does not take argument(s) {sorted(ctor)}: {exc}") from None
    seeds = {k: seed for k in model.get_params() if k == "random_state" or k.endswith("__random_state")}
    if seeds:
        model.set_params(**seeds)
    if nested:
        try:
            model.set_params(**nested)
        except ValueError as exc:
            raise ConfigError(f"invalid scikit-learn parameter(s) {sorted(nested)}: {exc}") from None
    return model


def train_sklearn(cfg: TrainConfig, entry: Any, data: PreparedData, run_dir: Path) -> Path:
    Xtr = data.train.X.reshape(len(data.train), -1)
    ytr = data.train.y
    grid = _grid((cfg.sklearn or {}).get("param_grid"))
    has_val = data.val is not None and len(data.val) > 0
    if len(grid) > 1 and not has_val:
        raise ConfigError("a scikit-learn param_grid needs a validation part to select on")
    t0 = time.perf_counter()
    rows = []
    best_model, best_acc, best_params = None, -1.0, {}
    for params in grid:
        model = _make(entry, len(data.labels), cfg.model_args, params, cfg.seed)
        model.fit(Xtr, ytr)
        acc = None
        if has_val:
            acc = float(np.mean(model.predict(data.val.X.reshape(len(data.val), -1)) == data.val.y))
        rows.append({"params": params, "val_acc": acc,
                     "train_acc": float(np.mean(model.predict(Xtr) == ytr))})
        if best_model is None or (acc is not None and acc > best_acc):
            best_model, best_acc, best_params = model, (acc if acc is not None else -1.0), params
    train_time = time.perf_counter() - t0
    write_json(run_dir / "selection.json", {"grid": rows, "selected": best_params})
    # no history.csv: a scikit-learn fit has no epochs (reports draw no training curves for it)
    info = TrainInfo(optimizer="-", epochs=None, train_time_s=train_time,
                     extra={"selected_params": best_params, "n_candidates": len(grid)})
    return finish_run(cfg, entry, data, run_dir, best_model, info)
