"""The ``metrics.json`` file of a run directory: its schema, a builder and an atomic writer.

Training (``genrelab train``), ``genrelab evaluate`` and the recipe runner write this file;
``genrelab report`` (:mod:`genrelab.reports`) reads it. Every key is optional for the reader
(missing values show as "—" in reports), but writers should fill what they know::

    {
      "schema": "genrelab-metrics/1",
      "run": "qin_mlp_lr1e-4",              # display name; default: the run directory's name
      "model": "qin_mlp",                   # registry name
      "optimizer": "adam",                  # Adam, AdamW, RMSprop, SGD, Adadelta, or "-" for scikit-learn
      "lr": 0.0001, "batch_size": 32,       # optional hyperparameters shown in reports
      "scheduler": "triangular2",           # optional
      "epochs": 50,                         # epochs actually trained
      "best_epoch": 42,                     # epoch of the best validation score (1-based)
      "train_time_s": 123.4,                # training wall time
      "inference_items_per_s": 850.0,       # optional throughput (items = the scored level's items)
      "n_params": 123456,                   # timing.count_parameters(model)
      "dataset": "gtzan-features",          # optional
      "feature": "mel",                     # optional
      "seed": 0,                            # optional
      "split": {"method": "artist-filtered",  # free text: artist-filtered, artist-grouped, random-track,
                "leaky": false,             #   random-segment, official, kfold ...; leaky = the same track
                "part": "test"},            #   (or artist) can be on both sides; part = the scored part
      "level": "track",                     # "segment" | "track": the level of "metrics" below
      "aggregation": "mean",                # "mean" | "vote" | null (segment level, or one item per track)
      "labels": ["blues", "..."],
      "metrics": {...},                     # metrics.compute_metrics(...) at "level"
      "ci": {"accuracy": {...}},            # metrics.bootstrap_ci(...) (low/high/estimate/alpha...)
      "levels": {"segment": {...}, "track_vote": {...}},  # optional: other levels (evaluate_levels output)
      "folds": {...},                       # optional: metrics.fold_summary(...) of a k-fold run
      "extra": {...}                        # anything else
    }

A run directory may also hold ``config.json`` or ``resolved.yaml`` (the resolved run config: the
report falls back to it for model, optimiser, epochs and split) and ``history.csv`` (one row per
epoch, columns ``epoch, train_loss, val_loss, train_acc, val_acc`` [+ anything else, e.g. ``lr``],
see :func:`genrelab.evaluation.plots.history_figure`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from genrelab.fileio import atomic_write_text

__all__ = ["SCHEMA", "METRICS_FILE", "HISTORY_FILE", "HISTORY_COLUMNS", "make_record", "jsonable",
           "write_metrics_json", "read_metrics_json"]

SCHEMA = "genrelab-metrics/1"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
#: The columns ``history.csv`` should have (extra columns are allowed and ignored by the plots).
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON accepts: numpy scalars/arrays to Python, NaN/inf to None, paths to str."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def make_record(
    metrics: Mapping[str, Any],
    *,
    model: str | None = None,
    level: str | None = None,
    aggregation: str | None = None,
    split_method: str | None = None,
    leaky: bool | None = None,
    ci: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Assemble a ``metrics.json`` dict. ``level``/``aggregation``/``ci``/``labels`` default to the
    values found in ``metrics`` (as :func:`~genrelab.evaluation.aggregate.evaluate_levels` sets them);
    any other keyword becomes a top-level key (``optimizer=``, ``epochs=``, ``train_time_s=``, ...)."""
    m = dict(metrics)
    rec: dict[str, Any] = {"schema": SCHEMA}
    if model is not None:
        rec["model"] = model
    split = dict(fields.pop("split", None) or {})
    if split_method is not None:
        split["method"] = split_method
    if leaky is not None:
        split["leaky"] = bool(leaky)
    if split:
        rec["split"] = split
    rec["level"] = level or m.get("level")
    rec["aggregation"] = aggregation if aggregation is not None else m.get("aggregation")
    if "labels" in m:
        rec["labels"] = list(m["labels"])
    rec.update(fields)
    rec["metrics"] = m
    the_ci = ci if ci is not None else m.get("ci")
    if the_ci:
        rec["ci"] = dict(the_ci)
    return rec


def write_metrics_json(run_dir: str | Path, record: Mapping[str, Any], name: str = METRICS_FILE) -> Path:
    """Write ``record`` (NaN -> null) to ``run_dir/metrics.json`` atomically; returns the path."""
    text = json.dumps(jsonable(record), indent=2, allow_nan=False)
    return atomic_write_text(Path(run_dir) / name, text + "\n")


def read_metrics_json(path: str | Path) -> dict[str, Any]:
    """Read a ``metrics.json`` (a file or a run directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS_FILE
    with open(p, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object")
    return data
