"""Any folder-per-label collection: ``<root>/<label>/**/*.<audio>``.

The label is the first folder below ``root``; files deeper down keep that label. Track ids are the
file stems when they are unique, else the path below ``root`` without its extension. Audio files
lying directly in ``root`` have no label: they are skipped and counted.
"""

from __future__ import annotations

from pathlib import Path

from genrelab.audio import iter_audio_files
from genrelab.datasets.index import DatasetIndex, SkipLog
from genrelab.types import DataError, Track


def load_folder(root: str | Path, probe: bool = True, name: str | None = None) -> DatasetIndex:
    """Index ``root/<label>/...`` audio files; ``probe`` reads durations and drops unusable files (counted)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder not found: {root}")
    skips = SkipLog()
    found: list[tuple[Path, str]] = []
    for p in iter_audio_files(root):
        rel = p.relative_to(root)
        if len(rel.parts) < 2:
            skips.add("no-label", p)
            continue
        found.append((p, rel.parts[0]))
    stems = [p.stem for p, _ in found]
    unique = len(set(stems)) == len(stems)
    tracks: list[Track] = []
    for p, label in found:
        ok, duration = skips.probe(p) if probe else (True, None)
        if not ok:
            continue
        tid = p.stem if unique else p.relative_to(root).with_suffix("").as_posix()
        tracks.append(Track(tid, p, label, None, duration, None, "folder"))
    if not tracks:
        raise DataError(f"no labelled audio under {root}: expected <root>/<label>/<file>.<audio>; skipped: {skips.counts}")
    meta: dict = {}
    return DatasetIndex(name or root.name, tracks, None, skips.into(meta), root, meta)
