"""The Kaggle "GTZAN features" tables: ``features_30_sec.csv`` and ``features_3_sec.csv``.

Both have the columns ``filename, length, <57 features>, label``. A 30-second row names a clip
(``blues.00000.wav``); a 3-second row names a segment of one (``blues.00000.3.wav`` is segment 3 of
track ``blues.00000``). Either way the index holds ONE track per clip, so splits stay by track:

- 30 s: ``track.extra`` holds one entry per feature column (and ``length``);
- 3 s: ``track.extra["features"]`` is a ``(n_segments, n_columns)`` float32 array in segment order
  and ``track.extra["segments"]`` the segment numbers.

``index.meta["columns"]`` lists the feature columns in table order. Rows with non-finite values or a
repeated file name are skipped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from genrelab.datasets.index import DatasetIndex, SkipLog
from genrelab.types import DataError, Track

NON_FEATURE_COLUMNS = ("filename", "length", "label")
KAGGLE_SAMPLE_RATE = 22050
_SEGMENT_ROW = re.compile(r"^(?P<track>.+?)\.(?P<seg>\d+)\.(?:wav|au)$")
_CLIP_ROW = re.compile(r"^(?P<track>.+?)\.(?:wav|au)$")


def parse_filename(name: str, segmented: bool) -> tuple[str, int | None]:
    """``blues.00000.3.wav`` -> (``blues.00000``, 3) when segmented; ``blues.00000.wav`` -> (``blues.00000``, None)."""
    m = (_SEGMENT_ROW if segmented else _CLIP_ROW).match(name.strip())
    if m is None:
        raise DataError(f"unexpected file name {name!r} in a feature table")
    return m["track"], (int(m["seg"]) if segmented else None)


def _is_segmented(names: pd.Series) -> bool:
    """3-second tables name segments: ``<genre>.<NNNNN>.<k>.wav`` (three dots)."""
    sample = names.head(50).astype(str)
    return bool(len(sample)) and all(n.count(".") >= 3 for n in sample)


def read_feature_table(path: str | Path) -> tuple[pd.DataFrame, list[str], bool]:
    """(rows with added ``track_id`` and ``segment`` columns, feature column names, segmented?)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature table not found: {path}")
    df = pd.read_csv(path)
    missing = [c for c in ("filename", "label") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: not a Kaggle GTZAN features table (no column(s) {missing})")
    columns = [c for c in df.columns if c not in NON_FEATURE_COLUMNS]
    non_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise DataError(f"{path}: non-numeric feature column(s) {non_numeric[:5]}")
    segmented = _is_segmented(df["filename"])
    parsed = [parse_filename(str(n), segmented) for n in df["filename"]]
    df = df.assign(track_id=[p[0] for p in parsed], segment=[p[1] for p in parsed])
    return df, columns, segmented


def load_table(
    path: str | Path, audio_root: str | Path | None = None, name: str | None = None,
    index_file: str | Path | None = None,
) -> DatasetIndex:
    """Index a Kaggle features table (30 s or 3 s, detected from the file names).

    ``audio_root`` (a GTZAN root) fills ``track.path`` for clips whose audio is there. Artists come
    from Sturm's ``GTZANindex.txt`` (``index_file``, or found beside the table), for artist-aware splits.
    """
    from genrelab.datasets.gtzan import INDEX_FILE, read_index_file

    path = Path(path)
    if index_file is None and (path.parent / INDEX_FILE).is_file():
        index_file = path.parent / INDEX_FILE
    artists = read_index_file(index_file) if index_file is not None else {}
    df, columns, segmented = read_feature_table(path)
    skips = SkipLog()
    values = df[columns].to_numpy(dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    for fname in df.loc[~finite, "filename"].tolist():
        skips.add("non-finite", fname)
    dup = df.duplicated("filename", keep="first").to_numpy()
    for fname in df.loc[dup & finite, "filename"].tolist():
        skips.add("duplicate", fname)
    keep = finite & ~dup
    df, values = df[keep], values[keep].astype(np.float32)

    audio_dir = _genre_root(audio_root) if audio_root is not None else None
    tracks: list[Track] = []
    groups: dict[str, list[int]] = {}
    for i, tid in enumerate(df["track_id"].tolist()):
        groups.setdefault(tid, []).append(i)
    labels = df["label"].astype(str).tolist()
    lengths = df["length"].tolist() if "length" in df.columns else [None] * len(df)
    segs = df["segment"].tolist()
    for tid, rows in groups.items():
        row_labels = {labels[i] for i in rows}
        if len(row_labels) > 1:
            skips.add("conflicting-labels", tid)
            continue
        label = row_labels.pop()
        extra: dict[str, Any]
        if segmented:
            rows = sorted(rows, key=lambda i: segs[i])
            extra = {"features": values[rows], "segments": tuple(int(segs[i]) for i in rows)}
            duration = None
        else:
            (i,) = rows
            extra = {c: float(v) for c, v in zip(columns, values[i])}
            duration = None
            if lengths[i] is not None:  # samples at the 22,050 Hz the Kaggle features were computed at
                extra["length"] = int(lengths[i])
                duration = int(lengths[i]) / KAGGLE_SAMPLE_RATE
        audio = _audio_path(audio_dir, label, tid)
        artist = artists.get(tid, (None, None))[0]
        tracks.append(Track(tid, audio, label, artist, duration, None, "table", extra))
    if not tracks:
        raise DataError(f"{path}: no usable rows; skipped: {skips.counts}")
    meta: dict[str, Any] = {"columns": columns, "segmented": segmented, "table": str(path),
                            "rows": int(keep.sum())}
    kind = "features_3_sec" if segmented else "features_30_sec"
    return DatasetIndex(name or kind, tracks, None, skips.into(meta), path.parent, meta)


def _genre_root(audio_root: str | Path) -> Path:
    from genrelab.datasets.gtzan import find_genre_root

    return find_genre_root(audio_root)


def _audio_path(audio_dir: Path | None, label: str, track_id: str) -> Path | None:
    if audio_dir is None:
        return None
    for ext in (".wav", ".au"):
        p = audio_dir / label / f"{track_id}{ext}"
        if p.is_file():
            return p
    return None


def segment_rows(index: DatasetIndex) -> Iterator[tuple[str, int, np.ndarray]]:
    """``(track_id, segment, feature_row)`` for every segment of a 3-second table index."""
    for t in index.tracks:
        feats = t.extra.get("features")
        if feats is None:
            raise DataError(f"{t.track_id}: not a segmented (3-second) table track")
        for seg, row in zip(t.extra["segments"], feats):
            yield t.track_id, int(seg), row
