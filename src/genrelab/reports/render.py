"""Comparison reports, part 2: :class:`~genrelab.reports.records.RunRecord` groups rendered as Markdown, CSV
and one self-contained HTML page (plots inline), and written to a folder."""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from genrelab.fileio import atomic_write_text
from genrelab.reports.records import (
    FORMATS,
    Group,
    LOWER_IS_BETTER,
    MISSING,
    RunRecord,
    TEXT_KEYS,
    _int,
    _num,
    _resolve_key,
    group_records,
    load_runs,
)


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
