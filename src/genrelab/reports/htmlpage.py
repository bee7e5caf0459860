"""The HTML report: a jinja2 template (``templates/report.html.j2``, autoescaped) filled with the comparison
groups, a study's own tables and figures, and each run's confusion matrix and curves.

Figures are PNG files written beside the HTML and referenced by name (``image_dir``, as
:func:`~genrelab.reports.render.write_report` does), or, without ``image_dir``, embedded as data URIs so
the page stands alone.
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
from pathlib import Path
from typing import Any, Sequence

from genrelab.reports.records import LOWER_IS_BETTER, TEXT_KEYS, RunRecord, _resolve_key, group_records

__all__ = ["to_html", "ImageSink"]


class ImageSink:
    """Turns figures into ``<img>`` sources: PNG files in ``image_dir`` (unique names) or data URIs."""

    def __init__(self, image_dir: str | Path | None, dpi: int = 80):
        self.dir = Path(image_dir) if image_dir is not None else None
        self.dpi = dpi
        self.names: set[str] = set()
        self.written: list[Path] = []

    def __call__(self, fig: Any, stem: str, alt: str, caption: str = "") -> dict[str, str]:
        from genrelab.evaluation import plots

        if self.dir is None:
            src = "data:image/png;base64," + base64.b64encode(plots.png_bytes(fig, self.dpi)).decode("ascii")
        else:
            base = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.").lower()[:120] or "figure"
            name, k = f"{base}.png", 1
            while name in self.names:
                k += 1
                name = f"{base}-{k}.png"
            self.names.add(name)
            self.written.append(plots.save_png(fig, self.dir / name, self.dpi))
            src = name
        return {"src": src, "alt": alt, "caption": caption}


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("genrelab.reports", "templates"),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              trim_blocks=False, lstrip_blocks=False)


def _md_inline(text: str):
    """Escape, then turn the legend's **bold** and *italic* into tags (safe for the template)."""
    from markupsafe import Markup, escape

    s = str(escape(text))
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"\*(.+?)\*", r"<i>\1</i>", s)
    return Markup(s)


def _sort_value(r: RunRecord, key: str) -> str:
    v = r.value(key)
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return repr(float(v))
    return str(v).lower()


def _group_plots(grp: Any, sink: ImageSink, max_models: int) -> list[dict[str, str]]:
    from genrelab.evaluation import plots

    out = []
    recs = [r for r in grp.records if r.value("accuracy") is not None][:max_models]
    if recs:
        fig = plots.comparison_figure([r.name for r in recs], [r.value("accuracy") for r in recs], "accuracy",
                                      ci=[r.accuracy_ci() for r in recs],
                                      title=f"accuracy (95% CI) — {grp.short_title}")
        out.append(sink(fig, f"accuracy-{grp.anchor}", f"accuracy comparison, {grp.title}"))
    rec_g = {r.name: r.per_genre_recall() for r in grp.records[:max_models] if r.per_genre_recall()}
    if rec_g:
        fig = plots.per_genre_recall_figure(rec_g, grp.genres(), title=f"per-genre recall — {grp.short_title}")
        out.append(sink(fig, f"recall-{grp.anchor}", f"per-genre recall, {grp.title}"))
    return out


def _run_plots(r: RunRecord, sink: ImageSink) -> dict[str, Any]:
    from genrelab.reports.study import run_figures

    figs = run_figures(r)
    images = [sink(fig, f"run-{r.name}-{kind}",
                   f"{'confusion matrix (counts)' if kind == 'confusion' else 'training history'} of {r.name}")
              for kind, fig in figs]
    return {"name": r.name, "images": images, "has_history": any(k == "history" for k, _ in figs)}


def _group_context(grp: Any, sort: str, descending: bool | None, sink: ImageSink | None, max_models: int,
                   max_run_plots: int) -> dict[str, Any]:
    from genrelab.reports.columns import _columns

    cols = _columns(grp.genres(), grp.records)
    columns = []
    for c in cols:
        key = _resolve_key(c.key)
        first = "asc" if key in TEXT_KEYS or key in LOWER_IS_BETTER else "desc"
        sorted_cls = ""
        if key == _resolve_key(sort):
            d = descending if descending is not None else first == "desc"
            sorted_cls = "desc" if d else "asc"
        columns.append({"key": c.key, "header": c.header, "type": "text" if key in TEXT_KEYS else "num",
                        "first": first, "sorted": sorted_cls})
    rows = []
    for r in grp.records:
        row = []
        for c in cols:
            key = _resolve_key(c.key)
            row.append({"text": c.fmt(r), "num": key not in TEXT_KEYS, "v": _sort_value(r, key),
                        "badge": key == "split", "leaky": r.leaky})
        rows.append(row)
    ctx: dict[str, Any] = {
        "anchor": grp.anchor, "leaky": grp.leaky, "split_title": grp.split_title,
        "split_short": grp.split_title.split(" (")[0], "level_title": grp.level_title, "n": len(grp.records),
        "levels": ", ".join(grp.aggregation_labels), "columns": columns, "rows": rows, "plots": [],
        "run_plots": [],
    }
    if sink is not None:
        ctx["plots"] = _group_plots(grp, sink, max_models)
        ctx["run_plots"] = [p for p in (_run_plots(r, sink) for r in grp.records[:max_run_plots]) if p["images"]]
    return ctx


def _study_context(layout: Any, records: Sequence[RunRecord], sink: ImageSink | None) -> dict[str, Any]:
    from genrelab.reports.study import study_figures, study_tables

    figures = []
    if sink is not None:
        figures = [sink(f.figure, f.slug, f.caption, f.caption) for f in study_figures(layout, records)]
    return {"name": layout.name, "title": layout.title, "note": layout.note,
            "tables": study_tables(layout, records), "figures": figures}


def to_html(records: Sequence[RunRecord], sort: str = "accuracy", descending: bool | None = None,
            title: str = "genrelab comparison report", skipped: Sequence[tuple[Path, str]] = (),
            plots: bool = True, max_models_in_plots: int = 15, max_run_plots: int = 10, dpi: int = 80,
            layout: Any = None, image_dir: str | Path | None = None) -> str:
    """The HTML page: per group (split type x level) a sortable table (click a header), accuracy and
    per-genre-recall bars, and each of the best ``max_run_plots`` runs' confusion matrix (counts) and
    curves; with ``layout`` (a :class:`~genrelab.reports.layouts.Layout`) first the study's own tables and
    figures. PNGs go to ``image_dir`` (referenced by file name) or, without it, are embedded."""
    from genrelab.reports.columns import _legend_lines

    sink = ImageSink(image_dir, dpi) if plots else None
    groups = group_records(records, sort, descending) if records else []
    ctx = {
        "title": title, "n_runs": len(records), "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "sort": _resolve_key(sort),
        "mixed": any(r.leaky is True for r in records) and any(r.leaky is False for r in records),
        "legend": [_md_inline(line) for line in _legend_lines([])],
        "groups": [_group_context(g, sort, descending, sink, max_models_in_plots, max_run_plots) for g in groups],
        "study": _study_context(layout, records, sink) if layout is not None else None,
        "skipped": [(str(p), why) for p, why in skipped],
    }
    return _environment().get_template("report.html.j2").render(**ctx)
