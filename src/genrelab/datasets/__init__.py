"""Dataset loaders: each turns a folder (or table) into a :class:`DatasetIndex` of tracks.

``load_dataset(kind, root, **opts)`` with ``kind`` one of ``gtzan``, ``fma``, ``folder``, ``table``
or ``auto`` (guess from what is under ``root``). Options go to the loader:
:func:`~genrelab.datasets.gtzan.load_gtzan`, :func:`~genrelab.datasets.fma.load_fma`,
:func:`~genrelab.datasets.folder.load_folder`, :func:`~genrelab.datasets.tables.load_table`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genrelab.datasets.index import DatasetIndex, SkipLog
from genrelab.types import DataError

KINDS = ("auto", "gtzan", "fma", "folder", "table")


def detect_kind(root: str | Path) -> str:
    """Guess the loader for ``root``: a CSV is a feature table, GTZAN and FMA by their layouts, else a folder."""
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "table"
        raise DataError(f"{root} is a file; give a dataset folder or a feature table (.csv)")
    if not root.is_dir():
        raise DataError(f"dataset root not found: {root}")
    from genrelab.datasets import gtzan

    try:
        gtzan.find_genre_root(root)
        return "gtzan"
    except DataError:
        pass
    fma_markers = ("fma_metadata", "fma_small", "fma_medium", "fma_large", "fma_full", "tracks.csv",
                   "track_genre_top.csv")
    if any((root / m).exists() for m in fma_markers):
        return "fma"
    return "folder"


def load_dataset(kind: str, root: str | Path, **opts: Any) -> DatasetIndex:
    """Index the dataset at ``root`` with the loader for ``kind`` (``auto`` guesses it)."""
    if kind not in KINDS:
        raise DataError(f"unknown dataset kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = detect_kind(root)
    if kind == "gtzan":
        from genrelab.datasets.gtzan import load_gtzan

        return load_gtzan(root, **opts)
    if kind == "fma":
        from genrelab.datasets.fma import load_fma

        return load_fma(root, **opts)
    if kind == "table":
        from genrelab.datasets.tables import load_table

        return load_table(root, **opts)
    from genrelab.datasets.folder import load_folder

    return load_folder(root, **opts)


__all__ = ["DatasetIndex", "SkipLog", "KINDS", "detect_kind", "load_dataset"]
