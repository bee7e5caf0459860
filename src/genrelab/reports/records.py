"""Comparison reports, part 1: run directories -> :class:`RunRecord` s, found, sorted and grouped.

(Rendering them as Markdown, CSV and HTML is :mod:`genrelab.reports.render`.)

A run directory is any folder holding a ``metrics.json`` (schema in :mod:`genrelab.evaluation.record`;
in short: ``model, optimizer, epochs, train_time_s, n_params, split: {method, leaky}, level,
aggregation, labels, metrics: compute_metrics(...), ci: {accuracy: {low, high}}``), optionally with
``config.json`` or ``resolved.yaml`` (fallback for model/optimiser/epochs/split) and ``history.csv``
(per-epoch curves). Every field is optional: a missing one shows as "—" (empty in the CSV).

Rows are grouped by split type (leak-free, leaky, unknown) and scoring level (track, segment), so
numbers that cannot be compared never share a table, and every table says which split and level it
is. Within a group, rows are sorted by any metric (``accuracy``, ``f1``, ``recall_variance``,
``recall[blues]``, ``per_genre.blues.f1``, ``n_params``, ...).

This module reads files only; it never imports :mod:`genrelab.models`.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from genrelab.evaluation.metrics import flatten_scalars
from genrelab.evaluation.record import HISTORY_FILE, METRICS_FILE
from genrelab.evaluation.record import RunRecord as StoredRecord
from genrelab.evaluation.record import load_record
from genrelab.evaluation.record import number as _num, integer as _int, name_of as _name_of


MISSING = "—"
FORMATS = ("md", "csv", "html")
CONFIG_FILES = ("config.json", "resolved.yaml", "resolved.yml", "config.yaml")

#: Sort keys where smaller is better (sorted ascending by default).
LOWER_IS_BETTER = {"recall_variance", "recall_std", "log_loss", "train_time_s", "n_params", "epochs",
                   "best_epoch"}
#: Split methods that are leaky by construction (used when metrics.json does not say ``leaky``).
LEAKY_METHODS = {"random-segment", "segment-random", "random-segments"}
#: Text columns (sorted alphabetically).
TEXT_KEYS = {"run", "model", "optimizer", "split", "level", "dataset", "feature", "scheduler", "aggregation",
             "pretrained"}
_ALIASES = {
    "acc": "accuracy", "precision": "precision_macro", "recall": "recall_macro", "f1": "f1_macro",
    "time": "train_time_s", "processing_time": "train_time_s", "params": "n_params", "parameters": "n_params",
    "optimiser": "optimizer", "variance": "recall_variance", "recall_var": "recall_variance",
    "name": "run",
}


# --------------------------------------------------------------------------- records
def _find(cfg: Any, keys: Sequence[str], depth: int = 0) -> Any:
    """The first value of any of ``keys`` in a nested dict (breadth first, shallow keys win)."""
    if not isinstance(cfg, Mapping) or depth > 4:
        return None
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    for v in cfg.values():
        if isinstance(v, Mapping):
            found = _find(v, keys, depth + 1)
            if found is not None:
                return found
    return None


def _read_config(run_dir: Path) -> dict[str, Any]:
    for name in CONFIG_FILES:
        p = run_dir / name
        if not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8")
            if p.suffix == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception:  # a broken config is not worth losing the run over
            continue
        if isinstance(data, dict):
            return data
    return {}


def _count_history_rows(path: Path) -> int | None:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return sum(1 for _ in csv.DictReader(f))
    except OSError:
        return None


def _ci_pair(ci: Any) -> tuple[float, float] | None:
    if isinstance(ci, Mapping):
        lo, hi = _num(ci.get("low", ci.get("lower"))), _num(ci.get("high", ci.get("upper")))
    elif isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = _num(ci[0]), _num(ci[1])
    else:
        return None
    return None if lo is None or hi is None else (lo, hi)


@dataclass
class RunRecord:
    """One run as the report sees it (one scoring level of it)."""

    path: Path
    name: str
    model: str | None = None
    optimizer: str | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    train_time_s: float | None = None
    n_params: int | None = None
    split_method: str | None = None
    leaky: bool | None = None
    level: str | None = None
    aggregation: str | None = None
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    fold_std: dict[str, float] = field(default_factory=dict)
    n_folds: int | None = None
    params: dict[str, Any] = field(default_factory=dict)  # lr, batch_size, scheduler, dataset, feature, ...
    history_path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the run's config.json / resolved.yaml (may be empty)

    # -- construction
    @classmethod
    def from_dir(cls, path: str | Path) -> "RunRecord":
        """Read ``path/metrics.json`` (+ config and history when present). ``path`` may be the file itself."""
        p = Path(path)
        if p.is_file():
            p = p.parent
        return cls.from_dict(load_record(p), p, config=_read_config(p))

    @classmethod
    def from_dict(cls, data: "StoredRecord | Mapping[str, Any]", path: str | Path = ".",
                  config: Mapping[str, Any] | None = None) -> "RunRecord":
        """A report row from a run record (a dict is read, and v1 upgraded, by :meth:`StoredRecord.from_dict`);
        ``config`` (the run's config.json / resolved.yaml) fills what the record lacks."""
        p = Path(path)
        cfg = dict(config or {})
        rec = data if isinstance(data, StoredRecord) else StoredRecord.from_dict(data)
        metrics = dict(rec.metrics)
        fold_std: dict[str, float] = {}
        n_folds = None
        if isinstance(rec.folds, Mapping) and isinstance(rec.folds.get("mean"), Mapping):
            n_folds = _int(rec.folds.get("n_folds"))
            fold_std = {k: v for k, v in rec.folds.get("std", {}).items() if _num(v) is not None}
        split: Mapping[str, Any] = rec.split
        if not split:
            cs = _find(cfg, ("split",))
            split = cs if isinstance(cs, Mapping) else ({"method": str(cs)} if cs else {})
        leaky = split.get("leaky")
        if leaky is None and str(split.get("method", "")).lower().replace("_", "-") in LEAKY_METHODS:
            leaky = True
        history = p / HISTORY_FILE
        history_path = history if history.is_file() else None
        epochs = rec.epochs
        if epochs is None:
            epochs = _int(_find(cfg, ("epochs", "max_epochs")))
        if epochs is None and history_path is not None:
            epochs = _count_history_rows(history_path)
        params = {}
        for k in ("lr", "batch_size", "scheduler", "dataset", "feature", "seed", "inference_items_per_s"):
            v = getattr(rec, k)
            if v is None and k in ("lr", "batch_size", "scheduler"):
                v = _find(cfg, (k,))
            if v is not None and not isinstance(v, Mapping):
                params[k] = v
        return cls(
            path=p,
            name=str(rec.run or p.name),
            model=rec.model or _name_of(_find(cfg, ("model",))),
            optimizer=rec.optimizer or _name_of(_find(cfg, ("optimizer", "optimiser"))),
            epochs=epochs,
            best_epoch=rec.best_epoch,
            train_time_s=rec.train_time_s,
            n_params=rec.n_params,
            split_method=_name_of(split.get("method") or split.get("name")) if split else None,
            leaky=None if leaky is None else bool(leaky),
            level=rec.level,
            aggregation=rec.aggregation,
            labels=list(rec.labels),
            metrics=metrics,
            ci=dict(rec.ci),
            fold_std=fold_std,
            n_folds=n_folds,
            params=params,
            history_path=history_path,
            raw=rec.to_dict(),
            config=cfg,
        )

    def other_levels(self) -> list["RunRecord"]:
        """The same run scored at the other levels listed under ``"levels"`` in metrics.json."""
        out = []
        levels = self.raw.get("levels")
        if not isinstance(levels, Mapping):
            return out
        for key, m in levels.items():
            if not isinstance(m, Mapping):
                continue
            level = m.get("level") or ("segment" if str(key).startswith("segment") else "track")
            agg = m.get("aggregation")
            if level == self.level and agg == self.aggregation:
                continue
            out.append(replace(self, level=level, aggregation=agg, metrics=dict(m), ci=dict(m.get("ci") or {}),
                               fold_std={}, labels=list(m.get("labels") or self.labels)))
        return out

    # -- labels
    @property
    def split_label(self) -> str:
        method = self.split_method
        if self.leaky is True:
            return f"LEAKY ({method or 'random-segment'})"
        if self.leaky is False:
            return f"leak-free ({method})" if method else "leak-free"
        return f"unknown ({method})" if method else "unknown"

    @property
    def level_label(self) -> str:
        if self.level == "segment":
            return "segment"
        if self.level == "track":
            if self.aggregation == "mean":
                return "track (mean of segments)"
            if self.aggregation == "vote":
                return "track (majority vote)"
            return "track"
        return str(self.level) if self.level else "unknown"

    # -- values
    @property
    def model_args(self) -> dict[str, Any]:
        """The model's constructor arguments as the run's config gave them (``{}`` when unknown)."""
        args = _find(self.config, ("model_args",))
        return dict(args) if isinstance(args, Mapping) else {}

    @property
    def pretrained(self) -> bool | str | None:
        """Whether the run started from pretrained (ImageNet) weights: the record's ``pretrained`` (or
        ``extra.pretrained``), else the config's ``pretrained`` / ``pretrained_weights``; ``None`` = not said."""
        for src in (self.raw, self.raw.get("extra") or {}):
            if isinstance(src, Mapping) and src.get("pretrained") is not None:
                return src["pretrained"]
        v = _find(self.config, ("pretrained",))
        if v is not None:
            return v
        return True if _find(self.config, ("pretrained_weights",)) else None

    @property
    def history(self) -> Any:
        """The per-epoch history: ``history.csv`` when present, else the record's ``history`` rows."""
        return self.history_path if self.history_path is not None else list(self.raw.get("history") or [])

    def per_genre_recall(self) -> dict[str, float | None]:
        pg = self.metrics.get("per_genre") or {}
        return {g: _num((v or {}).get("recall")) for g, v in pg.items() if isinstance(v, Mapping)}

    def accuracy_ci(self) -> tuple[float, float] | None:
        return _ci_pair(self.ci.get("accuracy")) if isinstance(self.ci, Mapping) else None

    def value(self, key: str) -> Any:
        """The value of a column or metric (``None`` when missing); see the module docstring for keys."""
        key = _ALIASES.get(key, key)
        if key in ("run",):
            return self.name
        if key in ("model", "optimizer", "epochs", "best_epoch", "train_time_s", "n_params", "level",
                   "aggregation", "split_method", "leaky", "n_folds"):
            return getattr(self, key)
        if key == "split":
            return self.split_label
        if key == "pretrained":
            v = self.pretrained
            if isinstance(v, bool):
                return "yes" if v else "no"
            return None if v is None else str(v)
        if key in self.params:
            return self.params[key]
        if key in ("ci_low", "accuracy_ci_low", "ci_high", "accuracy_ci_high"):
            ci = self.accuracy_ci()
            return None if ci is None else ci[0 if key.endswith("low") else 1]
        if key.startswith("recall[") and key.endswith("]"):
            return self.per_genre_recall().get(key[7:-1])
        v = self.metrics.get(key)
        if v is not None and not isinstance(v, (Mapping, list)):
            return _num(v)
        flat = flatten_scalars(self.metrics)
        return flat.get(key)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.name, "path": str(self.path), "model": self.model, "optimizer": self.optimizer,
                "epochs": self.epochs, "split": self.split_label, "level": self.level_label,
                "accuracy": self.value("accuracy")}


# --------------------------------------------------------------------------- discovery
def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories under ``paths``: each path is a run directory, a ``metrics.json`` file, or a parent
    searched recursively. A directory holding ``metrics.json`` is a run and is not searched further (its
    sub-folders are its parts, e.g. folds or checkpoints). Hidden folders are skipped. Sorted, no duplicates."""
    found: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.name == METRICS_FILE:
            found.setdefault(str(p.parent.resolve()), p.parent)
            continue
        if not p.is_dir():
            raise FileNotFoundError(f"no such run directory: {p}")
        for root, dirs, files in os.walk(p):
            if METRICS_FILE in files:
                found.setdefault(str(Path(root).resolve()), Path(root))
                dirs[:] = []
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return [found[k] for k in sorted(found)]


def load_runs(paths: Iterable[str | Path], all_levels: bool = False) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
    """Read every run under ``paths``. Returns ``(records, skipped)`` where ``skipped`` lists
    ``(run_dir, reason)`` for unreadable ``metrics.json`` files. With ``all_levels`` each run also
    contributes one record per extra level stored under ``"levels"``."""
    records: list[RunRecord] = []
    skipped: list[tuple[Path, str]] = []
    for d in find_run_dirs(paths):
        try:
            rec = RunRecord.from_dir(d)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            skipped.append((d, f"{type(exc).__name__}: {exc}"))
            continue
        records.append(rec)
        if all_levels:
            records.extend(rec.other_levels())
    return records, skipped


# --------------------------------------------------------------------------- sorting and grouping
def _resolve_key(key: str) -> str:
    return _ALIASES.get(key, key)


resolve_key = _resolve_key


def natural_descending(key: str) -> bool:
    """Whether ``key`` sorts best-first descending (scores) rather than ascending (text, costs, variance)."""
    key = _resolve_key(key)
    return not (key in TEXT_KEYS or key in LOWER_IS_BETTER)


def sort_records(records: Sequence[RunRecord], key: str = "accuracy", descending: bool | None = None,
                 strict: bool = True) -> list[RunRecord]:
    """Sorted copy. Scores sort best first: descending, except ``LOWER_IS_BETTER`` keys (ascending) and
    text keys (alphabetical); ``descending`` overrides. Missing values always go last. With ``strict``, a
    key that no record has raises ``ValueError``."""
    key = _resolve_key(key)
    vals = [r.value(key) for r in records]
    if strict and records and all(v is None for v in vals):
        raise ValueError(f"unknown sort key {key!r}: no run has it (try accuracy, precision, recall, f1, "
                         f"recall_variance, train_time_s, n_params, epochs, model, recall[<genre>])")
    text = key in TEXT_KEYS or any(isinstance(v, str) for v in vals)
    if descending is None:
        descending = not text and key not in LOWER_IS_BETTER
    present = [(v, i) for i, v in enumerate(vals) if v is not None]
    missing = [i for i, v in enumerate(vals) if v is None]
    if text:
        present.sort(key=lambda t: (str(t[0]).lower(), t[1]), reverse=descending)
    else:
        present.sort(key=lambda t: (float(t[0]), -t[1] if descending else t[1]), reverse=descending)
    return [records[i] for _, i in present] + [records[i] for i in missing]


_SPLIT_ORDER = {False: 0, True: 1, None: 2}
_LEVEL_ORDER = {"track": 0, "segment": 1}


@dataclass
class Group:
    leaky: bool | None
    level: str | None
    aggregation_labels: list[str]
    records: list[RunRecord]

    @property
    def split_title(self) -> str:
        if self.leaky is True:
            return "LEAKY split (random-segment or track-level leak: one track or artist on both sides)"
        if self.leaky is False:
            return "Leak-free split"
        return "Split type unknown"

    @property
    def level_title(self) -> str:
        if self.level == "segment":
            return "segment-level scores"
        if self.level == "track":
            return "track-level scores"
        return "scoring level unknown"

    @property
    def title(self) -> str:
        return f"{self.split_title} · {self.level_title}"

    @property
    def short_title(self) -> str:
        split = {True: "LEAKY split", False: "leak-free split", None: "split unknown"}[self.leaky]
        return f"{split} · {self.level or 'level unknown'} level"

    @property
    def anchor(self) -> str:
        s = {True: "leaky", False: "leakfree", None: "unknownsplit"}[self.leaky]
        return f"{s}-{self.level or 'unknownlevel'}"

    def genres(self) -> list[str]:
        out: list[str] = []
        for r in self.records:
            for g in (r.labels or list(r.per_genre_recall())):
                if g not in out:
                    out.append(g)
        return out


def group_records(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None
                  ) -> list[Group]:
    """Records grouped by (leaky, level): leak-free first, track before segment; each group sorted."""
    buckets: dict[tuple[bool | None, str | None], list[RunRecord]] = {}
    for r in records:
        level = r.level if r.level in ("track", "segment") else None
        buckets.setdefault((r.leaky, level), []).append(r)
    # validate the key over all records once, so a typo fails loudly even if one group lacks it
    sort_records(records, sort, descending, strict=True)
    groups = []
    for (leaky, level) in sorted(buckets, key=lambda k: (_SPLIT_ORDER[k[0]], _LEVEL_ORDER.get(k[1] or "", 2))):
        recs = sort_records(buckets[(leaky, level)], sort, descending, strict=False)
        aggs = sorted({r.level_label for r in recs})
        groups.append(Group(leaky, level, aggs, recs))
    return groups
