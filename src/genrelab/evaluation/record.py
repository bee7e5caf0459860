"""The run record (``metrics.json``): one typed, versioned schema written by every trainer and read by reports.

:class:`RunRecord` is a frozen dataclass; ``genrelab train`` (torch and scikit-learn, single runs and
k-fold), ``genrelab evaluate`` and the recipe runner write it with :func:`write_record`, and
``genrelab report`` reads it with :func:`load_record`. The file format is ``genrelab-metrics/2``::

    {
      "schema": "genrelab-metrics/2",
      "run": "qin_mlp_lr1e-4",              # display name; default: the run directory's name
      "model": "qin_mlp",                   # registry name
      "optimizer": "adam", "lr": 0.0001, "batch_size": 32, "scheduler": "triangular2",
      "epochs": 50, "best_epoch": 42,       # epochs trained; epoch of the best monitored score (1-based)
      "monitor": "val_loss",                # what chose the best epoch (never a test score)
      "train_time_s": 123.4, "inference_items_per_s": 850.0, "n_params": 123456,
      "dataset": "gtzan-features", "feature": "mel", "seed": 0,
      "split": {"method": "artist-filtered", "leaky": false, "part": "test"},
      "level": "track", "aggregation": "mean",   # the level of "metrics"; null aggregation = nothing aggregated
      "labels": ["blues", "..."],
      "metrics": {...},                     # metrics.compute_metrics(...) of the scored part at "level"
      "ci": {"accuracy": {...}},            # bootstrap interval(s)
      "levels": {"segment": {...}, ...},    # the same part at the other levels
      "scores": {"train": {...}, "valid": {...}, "test": {...}},   # every part by role: accuracy,
                                            #   precision_macro, recall_macro, f1_macro, n, level (part_scores);
                                            #   train = fitted on, valid = model selection, test = the held-out
                                            #   scored part (its name in the split is split.part)
      "history": [{"epoch": 1, "train_loss": ..., "val_acc": ..., "test_acc": ...}, ...],
      "folds": {...}, "fold_accuracy": [...], "fold_epochs_to_best": [...],   # k-fold runs
      "extra": {...}                        # anything else (free form)
    }

``history`` holds one row per epoch (``HISTORY_COLUMNS`` plus ``lr``, ``time_s`` and, when the run
asked for a test curve, ``test_loss``/``test_acc``: test-part scores for plotting only, never used for
model selection or early stopping). scikit-learn runs have no history.

Upgrade path: :func:`load_record` (and :meth:`RunRecord.from_dict`) read ``genrelab-metrics/1`` files
and files without a schema (hand-written ones): the metrics may sit at the top level or only in a
k-fold summary, ``valid`` becomes ``scores["valid"]``, a model or optimiser given as ``{"name": ..}``
becomes its name, numbers given as strings become numbers and any other key is kept in ``extra``.
A ``genrelab-metrics/2`` file with an unknown key, or a newer schema, is refused (:class:`RecordError`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from genrelab.fileio import atomic_write_text
from genrelab.types import GenrelabError

__all__ = ["SCHEMA", "SCHEMA_V1", "METRICS_FILE", "HISTORY_FILE", "HISTORY_COLUMNS", "TEST_CURVE_COLUMNS",
           "RunRecord", "RecordError", "part_scores", "load_record", "write_record", "jsonable",
           "write_metrics_json", "read_metrics_json", "make_record"]

SCHEMA = "genrelab-metrics/2"
SCHEMA_V1 = "genrelab-metrics/1"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
#: The columns ``history.csv`` should have (extra columns are allowed and ignored by the plots).
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")
#: Per-epoch test-part columns, written only when a run asks for a test curve (plots only).
TEST_CURVE_COLUMNS = ("test_loss", "test_acc")
#: The scores kept for every part in ``RunRecord.scores``.
PART_SCORE_KEYS = ("accuracy", "precision_macro", "recall_macro", "f1_macro")


class RecordError(GenrelabError, ValueError):
    """A metrics.json that is not a run record (bad JSON, unknown schema, unknown keys)."""


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


def part_scores(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The per-part summary kept in ``RunRecord.scores``: accuracy, macro precision/recall/F1, n, level."""
    m = metrics or {}
    out = {k: number(m.get(k)) for k in PART_SCORE_KEYS}
    out["n"] = integer(m.get("n"))
    out["level"] = m.get("level")
    return out


@dataclass(frozen=True)
class RunRecord:
    """One run's results (the contents of ``metrics.json``); see the module docstring for the fields."""

    run: str | None = None
    model: str | None = None
    level: str | None = None
    aggregation: str | None = None
    labels: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    ci: Mapping[str, Any] = field(default_factory=dict)
    levels: Mapping[str, Any] = field(default_factory=dict)
    split: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()
    optimizer: str | None = None
    lr: float | None = None
    batch_size: int | None = None
    scheduler: str | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    epochs_to_best: int | None = None
    monitor: str | None = None
    stopped_early: bool | None = None
    train_time_s: float | None = None
    inference_items_per_s: float | None = None
    n_params: int | None = None
    dataset: str | None = None
    feature: str | None = None
    seed: int | None = None
    checkpoint: str | None = None
    n_train_examples: int | None = None
    n_train_tracks: int | None = None
    folds: Mapping[str, Any] | None = None
    fold_accuracy: tuple[float | None, ...] | None = None
    fold_epochs_to_best: tuple[int | None, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- construction
    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], **fields: Any) -> "RunRecord":
        """A record whose ``level``, ``aggregation``, ``labels`` and ``ci`` default to those found in
        ``metrics`` (as :func:`~genrelab.evaluation.aggregate.evaluate_levels` sets them). Only the
        record's own fields are accepted (a misspelt key is a TypeError)."""
        m = dict(metrics)
        fields.setdefault("level", m.get("level"))
        fields.setdefault("aggregation", m.get("aggregation"))
        if "labels" in m:
            fields.setdefault("labels", tuple(m["labels"]))
        if m.get("ci"):
            fields.setdefault("ci", dict(m["ci"]))
        return cls(metrics=m, **fields)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        """Read a ``metrics.json`` object: ``genrelab-metrics/2`` as is; v1 and schema-less ones upgraded."""
        if not isinstance(data, Mapping):
            raise RecordError(f"a run record is a JSON object, not {type(data).__name__}")
        schema = data.get("schema")
        if schema == SCHEMA:
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(data) - known - {"schema"})
            if unknown:
                raise RecordError(f"unknown key(s) in a {SCHEMA} record: {', '.join(unknown)}")
            kw = {k: v for k, v in data.items() if k != "schema"}
            return cls(**_typed(kw))
        if schema not in (None, SCHEMA_V1):
            raise RecordError(f"unknown run-record schema {schema!r} (this genrelab reads {SCHEMA_V1} and {SCHEMA})")
        return cls(**_typed(_upgrade_v1(data)))

    def replace(self, **changes: Any) -> "RunRecord":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (``schema`` first; empty optional fields left out)."""
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.name not in ("level", "aggregation"):
                continue
            if isinstance(v, (Mapping, tuple)) and not v and f.name not in ("metrics", "levels"):
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return jsonable(out)


# --------------------------------------------------------------------------- reading and writing
def load_record(path: str | Path) -> RunRecord:
    """The run record in ``path`` (a ``metrics.json`` or a run directory holding one), upgraded to v2."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordError(f"{p}: invalid JSON ({exc})") from None
    try:
        return RunRecord.from_dict(data)
    except (RecordError, TypeError, ValueError) as exc:
        raise RecordError(f"{p}: {exc}") from None


def write_record(run_dir: str | Path, record: RunRecord, name: str = METRICS_FILE) -> Path:
    """Write ``record`` to ``run_dir/metrics.json`` atomically (NaN -> null); returns the path."""
    if not isinstance(record, RunRecord):
        raise TypeError(f"write_record takes a RunRecord, not {type(record).__name__}")
    text = json.dumps(record.to_dict(), indent=2, allow_nan=False)
    return atomic_write_text(Path(run_dir) / name, text + "\n")


def write_metrics_json(run_dir: str | Path, record: RunRecord | Mapping[str, Any], name: str = METRICS_FILE) -> Path:
    """Write a record; a plain dict (e.g. a hand-made v1 record) is read through :meth:`RunRecord.from_dict` first."""
    rec = record if isinstance(record, RunRecord) else RunRecord.from_dict(record)
    return write_record(run_dir, rec, name)


def read_metrics_json(path: str | Path) -> dict[str, Any]:
    """The v2 JSON object of a run record (a file or a run directory holding one)."""
    return load_record(path).to_dict()


def make_record(metrics: Mapping[str, Any], *, split_method: str | None = None, leaky: bool | None = None,
                **fields: Any) -> RunRecord:
    """:meth:`RunRecord.from_metrics` with the split given as ``split_method``/``leaky`` (only record fields accepted)."""
    split = dict(fields.pop("split", None) or {})
    if split_method is not None:
        split["method"] = split_method
    if leaky is not None:
        split["leaky"] = bool(leaky)
    return RunRecord.from_metrics(metrics, split=split, **fields)


# --------------------------------------------------------------------------- helpers
def number(v: Any) -> float | None:
    """``v`` as a finite float, or None (bools, text and NaN/inf are None)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def integer(v: Any) -> int | None:
    """``v`` rounded to an int, or None."""
    x = number(v)
    return None if x is None else int(round(x))


def name_of(v: Any) -> str | None:
    """A name from a value or a config mapping (its name/type/kind/class)."""
    if v is None:
        return None
    if isinstance(v, Mapping):
        for k in ("name", "type", "kind", "class"):
            if v.get(k):
                return str(v[k])
        return None
    return str(v)


_FLOATS = ("lr", "train_time_s", "inference_items_per_s")
_INTS = ("batch_size", "epochs", "best_epoch", "epochs_to_best", "n_params", "seed", "n_train_examples",
         "n_train_tracks")
_TEXTS = ("run", "model", "optimizer", "scheduler", "dataset", "feature", "monitor", "checkpoint", "level",
          "aggregation")


def _typed(kw: dict[str, Any]) -> dict[str, Any]:
    """Field values in their declared types (tuples for sequences, numbers for numbers)."""
    out = dict(kw)
    for k in _FLOATS:
        if k in out:
            out[k] = number(out[k])
    for k in _INTS:
        if k in out:
            out[k] = integer(out[k])
    for k in _TEXTS:
        if k in out:
            out[k] = name_of(out[k])
    for k in ("labels", "history", "fold_accuracy", "fold_epochs_to_best"):
        if out.get(k) is not None:
            out[k] = tuple(out[k])
    if out.get("labels"):
        out["labels"] = tuple(str(x) for x in out["labels"])
    for k in ("metrics", "ci", "levels", "split", "scores", "extra"):
        if k in out:
            out[k] = dict(out[k]) if isinstance(out[k], Mapping) else {}
    if "stopped_early" in out and out["stopped_early"] is not None:
        out["stopped_early"] = bool(out["stopped_early"])
    return out


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        parts = str(k).split(".")
        d = out
        for part in parts[:-1]:
            d = d.setdefault(part, {})
            if not isinstance(d, dict):
                break
        else:
            d[parts[-1]] = v
    return out


_V1_METRIC_KEYS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "per_genre", "recall_variance")


def _upgrade_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ``genrelab-metrics/1`` (or schema-less) object as v2 field values."""
    d = {k: v for k, v in data.items() if k != "schema"}
    known = {f.name for f in dataclasses.fields(RunRecord)}
    metrics = d.pop("metrics", None)
    folds = d.get("folds")
    if not isinstance(metrics, Mapping) and isinstance(folds, Mapping) and isinstance(folds.get("mean"), Mapping):
        metrics = _unflatten(folds["mean"])
    if not isinstance(metrics, Mapping):
        metrics = {k: d.pop(k) for k in _V1_METRIC_KEYS if k in d}
    metrics = dict(metrics)
    split = d.pop("split", None)
    if not isinstance(split, Mapping):
        split = {"method": str(split)} if split else {}
    ci = d.pop("ci", None)
    if not isinstance(ci, Mapping):
        ci = metrics.get("ci") if isinstance(metrics.get("ci"), Mapping) else {}
    labels = d.pop("labels", None) or metrics.get("labels") or list((metrics.get("per_genre") or {}).keys())
    run = d.pop("run", None) or d.pop("name", None)
    out: dict[str, Any] = {
        "run": run, "metrics": metrics, "split": dict(split), "ci": dict(ci), "labels": labels,
        "level": d.pop("level", None) or metrics.get("level"),
        "aggregation": d.pop("aggregation", metrics.get("aggregation")),
    }
    scores: dict[str, Any] = dict(d.pop("scores", None) or {})
    valid = d.pop("valid", None)
    if isinstance(valid, Mapping) and "valid" not in scores:
        scores["valid"] = part_scores(valid)
    if metrics and any(k in metrics for k in PART_SCORE_KEYS):
        part = split.get("part") or "test"
        scores.setdefault(str(part), part_scores({**metrics, "level": out["level"]}))
    if scores:
        out["scores"] = scores
    extra = dict(d.pop("extra", None) or {}) if isinstance(d.get("extra", {}), Mapping) else {"extra": d.pop("extra")}
    for k, v in d.items():
        if k in known:
            out[k] = v
        else:
            extra[k] = v
    if extra:
        out["extra"] = extra
    if not isinstance(out.get("levels", {}), Mapping):
        out["levels"] = {}
    if out.get("folds") is not None and not isinstance(out["folds"], Mapping):
        out["extra"] = {**out.get("extra", {}), "folds": out.pop("folds")}
    return out
