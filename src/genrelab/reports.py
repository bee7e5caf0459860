"""Comparison reports over many run directories: Markdown, CSV and one self-contained HTML page.

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

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from genrelab.evaluation.metrics import flatten_scalars
from genrelab.evaluation.record import HISTORY_FILE, METRICS_FILE
from genrelab.evaluation.record import RunRecord as StoredRecord
from genrelab.evaluation.record import load_record
from genrelab.fileio import atomic_write_text

__all__ = [
    "RunRecord", "find_run_dirs", "load_runs", "sort_records", "group_records",
    "to_markdown", "to_csv", "to_html", "write_report", "resolve_key", "natural_descending",
    "FORMATS", "MISSING",
]

MISSING = "—"
FORMATS = ("md", "csv", "html")
CONFIG_FILES = ("config.json", "resolved.yaml", "resolved.yml", "config.yaml")

#: Sort keys where smaller is better (sorted ascending by default).
LOWER_IS_BETTER = {"recall_variance", "recall_std", "log_loss", "train_time_s", "n_params", "epochs",
                   "best_epoch"}
#: Split methods that are leaky by construction (used when metrics.json does not say ``leaky``).
LEAKY_METHODS = {"random-segment", "segment-random", "random-segments"}
#: Text columns (sorted alphabetically).
TEXT_KEYS = {"run", "model", "optimizer", "split", "level", "dataset", "feature", "scheduler", "aggregation"}
_ALIASES = {
    "acc": "accuracy", "precision": "precision_macro", "recall": "recall_macro", "f1": "f1_macro",
    "time": "train_time_s", "processing_time": "train_time_s", "params": "n_params", "parameters": "n_params",
    "optimiser": "optimizer", "variance": "recall_variance", "recall_var": "recall_variance",
    "name": "run",
}


# --------------------------------------------------------------------------- records
def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(v: Any) -> int | None:
    x = _num(v)
    return None if x is None else int(round(x))


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


def _name_of(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, Mapping):
        for k in ("name", "type", "kind", "class"):
            if v.get(k):
                return str(v[k])
        return None
    return str(v)


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


# --------------------------------------------------------------------------- columns
def _pct(v: Any) -> str:
    x = _num(v)
    return MISSING if x is None else f"{100 * x:.1f}"


def _fmt_time(v: Any) -> str:
    x = _num(v)
    if x is None:
        return MISSING
    if x < 120:
        return f"{x:.1f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.2f} h"


def _fmt_int(v: Any) -> str:
    x = _int(v)
    return MISSING if x is None else f"{x:,}"


def _fmt_text(v: Any) -> str:
    return MISSING if v is None or v == "" else str(v)


def _fmt_param(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:g}"
    return v


def _fmt_var(v: Any) -> str:
    x = _num(v)
    return MISSING if x is None else f"{x:.4f}"


def _fmt_acc(r: RunRecord) -> str:
    acc = r.value("accuracy")
    if acc is None:
        return MISSING
    s = _pct(acc)
    sd = _num(r.fold_std.get("accuracy"))
    if sd is not None:
        s += f" ± {100 * sd:.1f}"
    ci = r.accuracy_ci()
    if ci is not None:
        s += f" ({100 * ci[0]:.1f}–{100 * ci[1]:.1f})"
    return s


@dataclass(frozen=True)
class Column:
    key: str  # sort key / CSV value key
    header: str
    fmt: Any  # callable(record) -> display text


def _fmt_epochs(r: RunRecord) -> str:
    s = _fmt_int(r.epochs)
    if r.best_epoch is not None:
        s += f" (best {r.best_epoch})"
    return s


def _columns(genres: Sequence[str], records: Sequence[RunRecord] = ()) -> list[Column]:
    """The table columns; ``LR``/``Batch``/``Scheduler`` only when some record has them."""
    cols = [
        Column("run", "Run", lambda r: _fmt_text(r.name)),
        Column("model", "Model", lambda r: _fmt_text(r.model)),
        Column("optimizer", "Optimiser", lambda r: _fmt_text(r.optimizer)),
    ]
    for key, header in (("lr", "LR"), ("batch_size", "Batch"), ("scheduler", "Scheduler")):
        if any(r.params.get(key) is not None for r in records):
            cols.append(Column(key, header, lambda r, key=key: _fmt_text(_fmt_param(r.params.get(key)))))
    cols += [
        Column("epochs", "Epochs", _fmt_epochs),
        Column("train_time_s", "Processing time", lambda r: _fmt_time(r.train_time_s)),
        Column("split", "Split", lambda r: r.split_label),
        Column("level", "Level", lambda r: r.level_label),
        Column("accuracy", "Accuracy % (95% CI)", _fmt_acc),
        Column("precision_macro", "Precision %", lambda r: _pct(r.value("precision_macro"))),
        Column("recall_macro", "Recall %", lambda r: _pct(r.value("recall_macro"))),
        Column("f1_macro", "F1 %", lambda r: _pct(r.value("f1_macro"))),
        Column("recall_variance", "Recall variance", lambda r: _fmt_var(r.value("recall_variance"))),
    ]
    for g in genres:
        cols.append(Column(f"recall[{g}]", f"Recall {g} %", lambda r, g=g: _pct(r.per_genre_recall().get(g))))
    cols.append(Column("n_params", "Parameters", lambda r: _fmt_int(r.n_params)))
    return cols


CSV_FIXED = [
    "run", "path", "model", "optimizer", "lr", "batch_size", "scheduler", "epochs", "best_epoch", "train_time_s",
    "n_params", "dataset", "feature", "split_method", "leaky", "level", "aggregation", "n", "n_folds",
    "accuracy", "accuracy_ci_low", "accuracy_ci_high", "accuracy_fold_std",
    "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "balanced_accuracy", "recall_variance", "log_loss", "inference_items_per_s",
]


# --------------------------------------------------------------------------- Markdown
def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _legend_lines(records: Sequence[RunRecord]) -> list[str]:
    lines = [
        "Accuracy, precision, recall and F1 in %; precision/recall/F1 are macro averages over genres. "
        "Accuracy shows the 95% bootstrap confidence interval (resampling tracks) when recorded, and "
        "± the standard deviation across folds for k-fold runs. Recall variance is the variance of the "
        "per-genre recalls (Sears). \"—\" = not recorded.",
        "**Split:** *leak-free* = no track (and, where stated, no artist) on both sides; *LEAKY* = e.g. a "
        "random split of segments, where segments of one track fall on both sides: such numbers overestimate "
        "accuracy and are only comparable with each other.",
        "**Level:** *segment* = every short segment scored on its own; *track* = one answer per track "
        "(mean of segment probabilities, or majority vote), or a model that sees the whole clip.",
    ]
    if any(r.leaky is True for r in records) and any(r.leaky is False for r in records):
        lines.append("**Warning:** this report holds both leaky and leak-free runs; compare numbers within a "
                     "table only.")
    return lines


def to_markdown(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None,
                title: str = "genrelab comparison report", skipped: Sequence[tuple[Path, str]] = ()) -> str:
    """The comparison as Markdown: one table per (split type, scoring level) group."""
    out = [f"# {title}", "", f"{len(records)} run(s); sorted by `{_resolve_key(sort)}`.", ""]
    for line in _legend_lines(records):
        out += [line, ""]
    if not records:
        out += ["No runs found.", ""]
    for grp in group_records(records, sort, descending) if records else []:
        cols = _columns(grp.genres(), grp.records)
        out += [f"## {grp.title}", "", f"Levels: {', '.join(grp.aggregation_labels)}.", ""]
        out.append("| " + " | ".join(_md_cell(c.header) for c in cols) + " |")
        out.append("|" + "|".join("---" if c.key in TEXT_KEYS else "---:" for c in cols) + "|")
        for r in grp.records:
            out.append("| " + " | ".join(_md_cell(c.fmt(r)) for c in cols) + " |")
        out.append("")
    if skipped:
        out += ["## Skipped (unreadable metrics.json)", ""]
        out += [f"- `{p}`: {why}" for p, why in skipped]
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- CSV
def csv_rows(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None
             ) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and raw (machine-readable) rows: fractions not percents, empty cell = missing."""
    genres: list[str] = []
    for r in records:
        for g in (r.labels or list(r.per_genre_recall())):
            if g not in genres:
                genres.append(g)
    header = CSV_FIXED + ["split_label", "level_label"] + [f"recall[{g}]" for g in genres]
    rows = []
    ordered = [r for g in group_records(records, sort, descending) for r in g.records] if records else []
    for r in ordered:
        ci = r.accuracy_ci()
        row: dict[str, Any] = {
            "run": r.name, "path": str(r.path), "model": r.model, "optimizer": r.optimizer,
            "lr": r.params.get("lr"), "batch_size": r.params.get("batch_size"), "scheduler": r.params.get("scheduler"),
            "epochs": r.epochs, "best_epoch": r.best_epoch, "train_time_s": r.train_time_s, "n_params": r.n_params,
            "dataset": r.params.get("dataset"), "feature": r.params.get("feature"),
            "split_method": r.split_method, "leaky": "" if r.leaky is None else str(r.leaky).lower(),
            "level": r.level, "aggregation": r.aggregation, "n": r.value("n"), "n_folds": r.n_folds,
            "accuracy_ci_low": ci[0] if ci else None, "accuracy_ci_high": ci[1] if ci else None,
            "accuracy_fold_std": r.fold_std.get("accuracy"),
            "inference_items_per_s": r.params.get("inference_items_per_s"),
            "split_label": r.split_label, "level_label": r.level_label,
        }
        for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                  "recall_weighted", "f1_weighted", "balanced_accuracy", "recall_variance", "log_loss"):
            row[k] = r.value(k)
        rec = r.per_genre_recall()
        for g in genres:
            row[f"recall[{g}]"] = rec.get(g)
        if isinstance(row["n"], float):
            row["n"] = int(row["n"])
        rows.append({k: ("" if v is None else v) for k, v in row.items()})
    return header, rows


def to_csv(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None) -> str:
    header, rows = csv_rows(records, sort, descending)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222;max-width:100%}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1em}th,td{border:1px solid #ddd;padding:3px 6px}
th{background:#f3f3f3;cursor:pointer;white-space:nowrap;position:sticky;top:0}th:hover{background:#e6e6e6}
td{white-space:nowrap}.plots{display:flex;flex-wrap:wrap;align-items:flex-start}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}.scroll{overflow-x:auto}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;margin-right:6px}
.leakfree{background:#d8f3dc;color:#1b4332}.leaky{background:#ffd6d6;color:#8b0000}.unknown{background:#eee;color:#555}
.level{background:#dbe9ff;color:#0b3d91}.warn{background:#fff3cd;border:1px solid #e0c060;padding:8px;margin:1em 0}
.legend{font-size:13px;color:#444}img{max-width:100%;height:auto;border:1px solid #eee;margin:4px}
details{margin:.4em 0}summary{cursor:pointer}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){th.addEventListener('click',function(){
    var dir=th.classList.contains('desc')?'asc':(th.classList.contains('asc')?'desc':(th.dataset.first||'desc'));
    Array.prototype.forEach.call(ths,function(h){h.classList.remove('asc','desc');});th.classList.add(dir);
    var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows),num=th.dataset.type==='num';
    rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
      if(x===''&&y==='')return 0;if(x==='')return 1;if(y==='')return -1;
      var c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return dir==='asc'?c:-c;});
    rows.forEach(function(r){tb.appendChild(r);});});});});
"""


def _badge_split(leaky: bool | None, text: str) -> str:
    cls = {True: "leaky", False: "leakfree", None: "unknown"}[leaky]
    return f'<span class="badge {cls}">{html.escape(text)}</span>'


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _sort_value(r: RunRecord, key: str) -> str:
    v = r.value(key)
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return repr(float(v))
    return str(v).lower()


def _group_plots(grp: Group, max_models: int, dpi: int) -> list[str]:
    """Comparison bars and per-genre recall bars for a group (best ``max_models`` runs)."""
    from genrelab.evaluation import plots

    parts = []
    recs = [r for r in grp.records if r.value("accuracy") is not None][:max_models]
    if recs:
        names = [f"{r.name}" for r in recs]
        fig = plots.comparison_figure(names, [r.value("accuracy") for r in recs], "accuracy",
                                      ci=[r.accuracy_ci() for r in recs],
                                      title=f"accuracy (95% CI) — {grp.short_title}")
        parts.append(_img(plots.png_bytes(fig, dpi), f"accuracy comparison, {grp.title}"))
    rec_g = {r.name: r.per_genre_recall() for r in grp.records[:max_models] if r.per_genre_recall()}
    if rec_g:
        genres = grp.genres()
        fig = plots.per_genre_recall_figure(rec_g, genres, title=f"per-genre recall — {grp.short_title}")
        parts.append(_img(plots.png_bytes(fig, dpi), f"per-genre recall, {grp.title}"))
    return parts


def _run_plots(r: RunRecord, dpi: int) -> list[str]:
    from genrelab.evaluation import plots

    parts = []
    cm = r.metrics.get("confusion_matrix")
    labels = r.metrics.get("labels") or r.labels
    if isinstance(cm, list) and labels and len(cm) == len(labels):
        try:
            fig = plots.confusion_figure(cm, labels, normalize=True, size=(6, 5),
                                         title=f"{r.name}: confusion (row-normalised)")
            parts.append(_img(plots.png_bytes(fig, dpi), f"confusion matrix of {r.name}"))
        except (ValueError, TypeError):
            pass
    if r.history_path is not None:
        try:
            fig = plots.history_figure(r.history_path, title=f"{r.name}: training history", size=(9, 3.5))
            parts.append(_img(plots.png_bytes(fig, dpi), f"training history of {r.name}"))
        except (OSError, ValueError, KeyError):
            pass
    return parts


def to_html(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None,
            title: str = "genrelab comparison report", skipped: Sequence[tuple[Path, str]] = (),
            plots: bool = True, max_models_in_plots: int = 15, max_run_plots: int = 10, dpi: int = 80) -> str:
    """One self-contained HTML page (no external assets): per group, a sortable table (click a header),
    the accuracy-comparison and per-genre-recall plots, and each of the best ``max_run_plots`` runs'
    confusion matrix and training curves, all embedded as base64 PNG."""
    e = html.escape
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    o = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
         f"<h1>{e(title)}</h1>",
         f'<p class="legend">{len(records)} run(s), generated {e(now)}; tables sorted by '
         f"<code>{e(_resolve_key(sort))}</code> (click a column header to re-sort).</p>"]
    groups = group_records(records, sort, descending) if records else []
    if groups:
        o.append("<p>")
        for g in groups:
            o.append(f'<a href="#{g.anchor}">{_badge_split(g.leaky, g.split_title.split(" (")[0])}'
                     f'<span class="badge level">{e(g.level_title)}</span></a> '
                     f'({len(g.records)} run{"s" if len(g.records) != 1 else ""})<br>')
        o.append("</p>")
    if any(r.leaky is True for r in records) and any(r.leaky is False for r in records):
        o.append('<div class="warn"><b>Leaky and leak-free runs are both present.</b> Scores on leaky splits '
                 "(segments of one track, or one artist, on both sides) overestimate accuracy: compare numbers "
                 "within one table only.</div>")
    o.append('<div class="legend"><ul>' + "".join(f"<li>{_md_inline(line)}</li>" for line in _legend_lines([]))
             + "</ul></div>")
    if not records:
        o.append("<p>No runs found.</p>")
    for grp in groups:
        cols = _columns(grp.genres(), grp.records)
        o.append(f'<h2 id="{grp.anchor}">{_badge_split(grp.leaky, grp.split_title)}'
                 f'<span class="badge level">{e(grp.level_title)}</span></h2>')
        o.append(f"<p>Levels in this table: {e(', '.join(grp.aggregation_labels))}.</p>")
        o.append('<div class="scroll"><table class="sortable"><thead><tr>')
        for c in cols:
            key = _resolve_key(c.key)
            typ = "text" if key in TEXT_KEYS else "num"
            first = "asc" if key in TEXT_KEYS or key in LOWER_IS_BETTER else "desc"
            cls = ""
            if key == _resolve_key(sort):
                d = descending if descending is not None else first == "desc"
                cls = f' class="{"desc" if d else "asc"}"'
            o.append(f'<th data-type="{typ}" data-first="{first}" data-key="{e(c.key)}"{cls}>{e(c.header)}</th>')
        o.append("</tr></thead><tbody>")
        for r in grp.records:
            o.append("<tr>")
            for c in cols:
                key = _resolve_key(c.key)
                text = c.fmt(r)
                num = key not in TEXT_KEYS
                cell = e(text)
                if key == "split":
                    cell = _badge_split(r.leaky, text)
                o.append(f'<td{" class=num" if num else ""} data-v="{e(_sort_value(r, key))}">{cell}</td>')
            o.append("</tr>")
        o.append("</tbody></table></div>")
        if plots:
            o.append('<div class="plots">' + "".join(_group_plots(grp, max_models_in_plots, dpi)) + "</div>")
            for r in grp.records[:max_run_plots]:
                imgs = _run_plots(r, dpi)
                if imgs:
                    o.append(f"<details><summary>{e(r.name)} — confusion matrix and curves</summary>"
                             + "".join(imgs) + "</details>")
    if skipped:
        o.append("<h2>Skipped (unreadable metrics.json)</h2><ul>")
        o += [f"<li><code>{e(str(p))}</code>: {e(why)}</li>" for p, why in skipped]
        o.append("</ul>")
    o.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(o)


def _md_inline(text: str) -> str:
    """Escape, then turn the legend's **bold** and *italic* into tags."""
    import re

    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"\*(.+?)\*", r"<i>\1</i>", s)
    return s


# --------------------------------------------------------------------------- writing
def write_report(
    runs: Iterable[str | Path] | Sequence[RunRecord],
    out_dir: str | Path,
    sort: str = "accuracy",
    formats: Iterable[str] = FORMATS,
    descending: bool | None = None,
    all_levels: bool = False,
    title: str = "genrelab comparison report",
    plots: bool = True,
    skipped: Sequence[tuple[Path, str]] = (),
) -> dict[str, Path]:
    """Read runs (paths, or RunRecords already loaded) and write ``report.md``, ``report.csv`` and
    ``report.html`` (as ``formats`` asks) into ``out_dir``. Returns ``{format: path}``. ``skipped``
    (``(run_dir, reason)`` pairs) is listed in the report when records are passed in."""
    formats = [f.strip().lower() for f in formats if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown report format(s) {bad}; choose from {', '.join(FORMATS)}")
    runs = list(runs)
    skipped = list(skipped)
    if runs and all(isinstance(r, RunRecord) for r in runs):
        records = list(runs)  # type: ignore[arg-type]
    else:
        records, skipped = load_runs(runs, all_levels=all_levels)  # type: ignore[arg-type]
    if records:
        group_records(records, sort, descending)  # fail on an unknown sort key before writing anything
    out = Path(out_dir)
    written: dict[str, Path] = {}
    if "md" in formats:
        written["md"] = out / "report.md"
        atomic_write_text(written["md"], to_markdown(records, sort, descending, title, skipped))
    if "csv" in formats:
        written["csv"] = out / "report.csv"
        atomic_write_text(written["csv"], to_csv(records, sort, descending))
    if "html" in formats:
        written["html"] = out / "report.html"
        atomic_write_text(written["html"], to_html(records, sort, descending, title, skipped, plots=plots))
    return written
