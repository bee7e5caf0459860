"""A study's own tables and figures from a :class:`~genrelab.reports.layouts.Layout` and report records.

:func:`study_tables` gives one :class:`StudyTable` per table spec and protocol present (the study's leaky
split and the leak-free one never share a table); :func:`study_figures` the matplotlib figures
(per-run train/validation(/test) curves and overlays across runs); :func:`run_figures` one run's
confusion matrix (counts in the cells) and, for runs with a per-epoch history (not scikit-learn runs),
its curves. :func:`tables_markdown` prints the tables as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from genrelab.reports.columns import _md_cell
from genrelab.reports.fields import field_text, field_value, format_value, own_name, selects, sort_key
from genrelab.reports.layouts import FigureSpec, Layout, TableSpec
from genrelab.reports.records import MISSING, RunRecord

__all__ = ["StudyTable", "StudyFigure", "study_tables", "study_figures", "run_figures", "tables_markdown",
           "primary_records"]

_COLUMN_LABELS = {f"{p}_{m}": f"{pn} {mn}" for p, pn in (("train", "training"), ("val", "validation"), ("test", "test"))
                  for m, mn in (("acc", "accuracy"), ("loss", "loss"))}


@dataclass
class StudyTable:
    id: str
    title: str
    protocol: str
    leaky: bool | None
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    runs: list[str] = field(default_factory=list)  # the runs behind the rows (own names)

    @property
    def caption(self) -> str:
        return f"{self.id}: {self.title} — {self.protocol}"


@dataclass
class StudyFigure:
    id: str
    title: str
    figure: Any  # matplotlib Figure
    slug: str  # file-name stem

    @property
    def caption(self) -> str:
        return f"{self.id}: {self.title}"


def primary_records(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One record per run directory (the headline level; ``--all-levels`` extras are dropped)."""
    seen: set[str] = set()
    out = []
    for r in records:
        key = str(r.path)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _ordered(records: Sequence[RunRecord], spec_order: Sequence[str], defaults: dict) -> list[RunRecord]:
    return sorted(records, key=lambda r: (*(sort_key(field_value(r, k, defaults)) for k in spec_order),
                                          own_name(r)))


def _variant(r: RunRecord) -> str:
    """The recipe's split variant of a run (``study``, ``leakfree``, ...; the part before ``/``), or ``""``."""
    name = str(r.name).replace("\\", "/")
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _protocol_label(variant: str, leaky: bool | None) -> str:
    split = {True: "LEAKY split", False: "leak-free split", None: "split unknown"}[leaky]
    if variant == "study":
        return f"study protocol ({split})"
    if variant == "" or (variant == "leakfree" and leaky is False):
        return split
    return f"{variant} ({split})"


def _by_protocol(records: Sequence[RunRecord]) -> list[tuple[bool | None, str, str, list[RunRecord]]]:
    """Runs grouped by protocol: the leaky flag and the recipe's split variant (the study's own split
    may be leak-free, as FMA's official one is, and still differ from our leak-free one). Returns
    ``(leaky, label, slug, records)``, leaky first."""
    groups: dict[tuple[bool | None, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.leaky, _variant(r)), []).append(r)
    order = {True: 0, False: 1, None: 2}
    out = []
    for leaky, variant in sorted(groups, key=lambda k: (order[k[0]], k[1] != "study", k[1])):
        slug = variant or {True: "leaky", False: "leakfree", None: "unknown"}[leaky]
        out.append((leaky, _protocol_label(variant, leaky), slug, groups[(leaky, variant)]))
    return out


def _support(r: RunRecord, genre: str) -> int | None:
    """The number of scored test examples of ``genre`` (``None`` when not recorded)."""
    n = ((r.metrics.get("per_genre") or {}).get(genre) or {}).get("support")
    try:
        return None if n is None else int(n)
    except (TypeError, ValueError):
        return None


def _table(spec: TableSpec, recs: list[RunRecord], defaults: dict) -> tuple[list[str], list[list[str]]]:
    if spec.kind == "runs":
        return [c.header for c in spec.columns], [[field_text(r, c.key, defaults) for c in spec.columns]
                                                  for r in recs]
    if spec.kind == "pivot":
        found = sorted({field_value(r, spec.pivot_col, defaults) for r in recs}, key=sort_key)
        col_vals: list[Any] = list(spec.pivot_values) + [v for v in found if v not in spec.pivot_values]
        cells: dict[tuple, dict[Any, list[str]]] = {}
        for r in recs:
            rk = tuple(field_text(r, c.key, defaults) for c in spec.pivot_rows)
            cv = field_value(r, spec.pivot_col, defaults)
            cells.setdefault(rk, {}).setdefault(cv, []).append(field_text(r, spec.value, defaults))
        what = spec.pivot_col_header or spec.pivot_col
        headers = [c.header for c in spec.pivot_rows] + [f"{what} {format_value(v)}" for v in col_vals]
        rows = [list(rk) + [" / ".join(cells[rk].get(v, [])) or MISSING for v in col_vals] for rk in cells]
        return headers, rows
    if spec.kind == "genres":
        genres: list[str] = []
        for r in recs:
            for g in (r.labels or list(r.per_genre_recall())):
                if g not in genres:
                    genres.append(g)
        headers = ["Genre", "Test Samples"] + [f"{own_name(r)} %" for r in recs]
        rows = []
        for g in genres:
            support: list[str] = []
            for r in recs:
                n = _support(r, g)
                if n is not None and str(n) not in support:
                    support.append(str(n))
            rows.append([g, " / ".join(support) or MISSING]
                        + [format_value(r.per_genre_recall().get(g) if _support(r, g) != 0 else None, percent=True)
                           for r in recs])  # a genre absent from the test part has no accuracy: "—"
        return headers, rows
    raise ValueError(f"{spec.id}: unknown table kind {spec.kind!r} (runs, pivot or genres)")


def study_tables(layout: Layout, records: Sequence[RunRecord]) -> list[StudyTable]:
    """The layout's tables filled from ``records`` (specs no run matches are left out)."""
    defaults = dict(layout.defaults)
    recs_all = primary_records(records)
    out = []
    for spec in layout.tables:
        chosen = [r for r in recs_all if selects(r, spec.select)]
        for leaky, label, _, recs in _by_protocol(chosen):
            recs = _ordered(recs, spec.order, defaults)
            headers, rows = _table(spec, recs, defaults)
            out.append(StudyTable(spec.id, spec.title, label, leaky, headers, rows, spec.note,
                                  [own_name(r) for r in recs]))
    return out


def _slug(*parts: Any) -> str:
    import re

    s = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-").lower() or "figure"


def _figures_for(spec: FigureSpec, layout: Layout, label: str, prot: str, recs: list[RunRecord],
                 dpi_size: tuple[float, float]) -> list[StudyFigure]:
    from genrelab.evaluation import plots

    defaults = dict(layout.defaults)
    recs = [r for r in recs if all(field_text(r, k, defaults) == v for k, v in spec.where.items())]
    recs = [r for r in recs if plots.has_curves(r.history)]
    out = []
    if spec.kind == "curves":
        for r in recs[: spec.max_runs]:
            fig = plots.history_figure(r.history, title=f"{spec.id} · {own_name(r)} — {label}", size=dpi_size)
            out.append(StudyFigure(spec.id, f"{spec.title}: {own_name(r)} — {label}", fig,
                                   _slug(layout.name, spec.id, prot, own_name(r))))
        return out
    if spec.kind == "overlay":
        facets: dict[tuple, list[RunRecord]] = {}
        for r in (r for r in recs if plots.has_curves(r.history, [spec.column])):  # nothing to draw: no figure
            facets.setdefault(tuple(field_text(r, k, defaults) for k in spec.facet), []).append(r)
        for fk, frs in facets.items():
            series: dict[str, Any] = {}
            for r in frs:
                name = ", ".join(f"{k.replace('_', ' ')} {field_text(r, k, defaults)}" for k in spec.series)
                if name in series or not name:
                    name = f"{name} ({own_name(r)})" if name else own_name(r)
                series[name] = r.history
            facet = ", ".join(fk)
            title = f"{spec.id}: {spec.title}" + (f" — {facet}" if facet else "") + f" — {label}"
            fig = plots.overlay_figure(series, spec.column, title=title,
                                       ylabel=_COLUMN_LABELS.get(spec.column, spec.column))
            out.append(StudyFigure(spec.id, title.split(": ", 1)[1], fig, _slug(layout.name, spec.id, prot, facet)))
        return out
    raise ValueError(f"{spec.id}: unknown figure kind {spec.kind!r} (curves or overlay)")


def study_figures(layout: Layout, records: Sequence[RunRecord], size: tuple[float, float] = (9, 3.5)
                  ) -> list[StudyFigure]:
    """The layout's figures (one set per protocol present), runs in table order."""
    defaults = dict(layout.defaults)
    recs_all = primary_records(records)
    out: list[StudyFigure] = []
    for spec in layout.figures:
        chosen = _ordered([r for r in recs_all if selects(r, spec.select)], (*spec.facet, *spec.series), defaults)
        for _, label, prot, recs in _by_protocol(chosen):
            out += _figures_for(spec, layout, label, prot, recs, size)
    return out


def run_figures(r: RunRecord) -> list[tuple[str, Any]]:
    """``(kind, Figure)`` pairs for one run: ``confusion`` (counts in the cells) when the record has a
    confusion matrix, and ``history`` only when the run has per-epoch curves (scikit-learn runs have none)."""
    from genrelab.evaluation import plots

    out = []
    cm = r.metrics.get("confusion_matrix")
    labels = r.metrics.get("labels") or r.labels
    if isinstance(cm, list) and labels and len(cm) == len(labels):
        try:
            out.append(("confusion", plots.confusion_figure(cm, labels, normalize=False, size=(6, 5),
                                                            title=f"{r.name}: confusion matrix (counts)")))
        except (ValueError, TypeError):
            pass
    if plots.has_curves(r.history):
        out.append(("history", plots.history_figure(r.history, title=f"{r.name}: training history", size=(9, 3.5))))
    return out



def tables_markdown(layout: Layout, tables: Sequence[StudyTable]) -> str:
    """The study's tables as Markdown (a heading and the layout's note first)."""
    out = [f"## {layout.title}", ""]
    if layout.note:
        out += [layout.note, ""]
    if not tables:
        out += [f"No run matches a table of the {layout.name} layout (runs are matched by name, e.g. t1-*).", ""]
    for t in tables:
        out += [f"### {t.caption}", ""]
        if t.note:
            out += [t.note, ""]
        out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
        out.append("")
    return "\n".join(out)
