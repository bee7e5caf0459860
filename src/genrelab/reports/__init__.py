"""Comparison reports over many run directories: Markdown, CSV and one self-contained HTML page.

- :mod:`~genrelab.reports.records` — run directories -> :class:`RunRecord` (``metrics.json`` plus optional
  ``config.json``/``resolved.yaml``/``history.csv``), ``find_run_dirs``, ``load_runs``, ``sort_records``,
  ``group_records`` (by split type and scoring level, so numbers that cannot be compared never share a table);
- :mod:`~genrelab.reports.render` — ``to_markdown``, ``to_csv``, ``to_html``, ``write_report``.

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
from genrelab.reports.render import to_csv, to_html, to_markdown, write_report

__all__ = [
    "RunRecord", "Group", "find_run_dirs", "load_runs", "sort_records", "group_records",
    "to_markdown", "to_csv", "to_html", "write_report", "resolve_key", "natural_descending",
    "FORMATS", "MISSING",
]
