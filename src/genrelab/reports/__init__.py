"""Comparison reports over many run directories: Markdown, CSV and one self-contained HTML page.

- :mod:`~genrelab.reports.records` — run directories -> :class:`RunRecord` (``metrics.json`` plus optional
  ``config.json``/``resolved.yaml``/``history.csv``), ``find_run_dirs``, ``load_runs``, ``sort_records``,
  ``group_records`` (by split type and scoring level, so numbers that cannot be compared never share a table);
- :mod:`~genrelab.reports.render` — ``to_markdown``, ``to_csv``, ``write_report``; :mod:`~genrelab.reports.htmlpage`
  — ``to_html`` (a jinja2 template, ``templates/report.html.j2``; figures as PNG files beside the page);
- :mod:`~genrelab.reports.layouts` — each study's report layout as data (``LAYOUTS``: sears, liu, qin, hoang,
  sirek), filled by :mod:`~genrelab.reports.study` (``study_tables``, ``study_figures``) from the fields of
  :mod:`~genrelab.reports.fields`.

Reports read files only; they never import :mod:`genrelab.models`.
"""

from genrelab.reports.records import (
    FORMATS,
    MISSING,
    Group,
    RunRecord,
    find_run_dirs,
    group_records,
    load_runs,
    natural_descending,
    resolve_key,
    sort_records,
)
from genrelab.reports.htmlpage import to_html
from genrelab.reports.layouts import LAYOUTS, Layout, get_layout
from genrelab.reports.render import to_csv, to_markdown, write_report
from genrelab.reports.study import run_figures, study_figures, study_tables, tables_markdown

__all__ = [
    "RunRecord", "Group", "find_run_dirs", "load_runs", "sort_records", "group_records",
    "to_markdown", "to_csv", "to_html", "write_report", "resolve_key", "natural_descending",
    "FORMATS", "MISSING", "LAYOUTS", "Layout", "get_layout", "study_tables", "study_figures", "run_figures",
    "tables_markdown",
]
