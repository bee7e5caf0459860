"""Comparison reports, part 2: :class:`~genrelab.reports.records.RunRecord` groups rendered as Markdown and
CSV (the HTML page is :mod:`genrelab.reports.htmlpage`), and all of them written to a folder, with a
study's own tables (:mod:`genrelab.reports.study`) when a layout is given."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable, Sequence

from genrelab.fileio import atomic_write_text
from genrelab.reports.columns import _columns, _legend_lines, _md_cell
from genrelab.reports.htmlpage import to_html
from genrelab.reports.layouts import Layout, get_layout
from genrelab.reports.records import FORMATS, TEXT_KEYS, RunRecord, _resolve_key, group_records, load_runs

__all__ = ["to_markdown", "to_csv", "csv_rows", "to_html", "write_report", "CSV_FIXED"]


CSV_FIXED = [
    "run", "path", "model", "optimizer", "lr", "batch_size", "scheduler", "epochs", "best_epoch", "train_time_s",
    "n_params", "dataset", "feature", "split_method", "leaky", "level", "aggregation", "n", "n_folds",
    "accuracy", "accuracy_ci_low", "accuracy_ci_high", "accuracy_fold_std",
    "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "balanced_accuracy", "recall_variance", "log_loss", "inference_items_per_s", "pretrained",
]


# --------------------------------------------------------------------------- Markdown

def to_markdown(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None,
                title: str = "genrelab comparison report", skipped: Sequence[tuple[Path, str]] = (),
                layout: Layout | None = None) -> str:
    """The comparison as Markdown: with ``layout``, the study's own tables first; then one table per
    (split type, scoring level) group."""
    out = [f"# {title}", "", f"{len(records)} run(s); sorted by `{_resolve_key(sort)}`.", ""]
    if layout is not None:
        from genrelab.reports.study import study_tables, tables_markdown

        out += [tables_markdown(layout, study_tables(layout, records)), "## All runs", ""]
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
            "pretrained": "" if r.pretrained is None else str(r.pretrained).lower(),
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
    study: str | Layout | None = None,
) -> dict[str, Path]:
    """Read runs (paths, or RunRecords already loaded) and write ``report.md``, ``report.csv`` and
    ``report.html`` (as ``formats`` asks) into ``out_dir``, the HTML's figures as PNG files beside it.
    ``study`` (a layout name such as ``"liu"``, or a :class:`Layout`) adds the study's own tables and
    figures. Returns ``{format: path}``. ``skipped`` (``(run_dir, reason)`` pairs) is listed in the report
    when records are passed in."""
    formats = [f.strip().lower() for f in formats if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown report format(s) {bad}; choose from {', '.join(FORMATS)}")
    layout = get_layout(study) if isinstance(study, str) else study
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
        atomic_write_text(written["md"], to_markdown(records, sort, descending, title, skipped, layout))
    if "csv" in formats:
        written["csv"] = out / "report.csv"
        atomic_write_text(written["csv"], to_csv(records, sort, descending))
    if "html" in formats:
        written["html"] = out / "report.html"
        page = to_html(records, sort, descending, title, skipped, plots=plots, layout=layout, image_dir=out)
        atomic_write_text(written["html"], page)
    return written
