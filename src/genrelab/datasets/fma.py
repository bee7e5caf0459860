"""FMA, the Free Music Archive dataset (Defferrard et al. 2017).

Layout under ``root``::

    fma_metadata/tracks.csv        official metadata, THREE header rows (top level, field, index name)
    fma_small/NNN/NNNNNN.mp3       8,000 clips of 30 s (also fma_medium, fma_large, fma_full)

Labels are ``track.genre_top``; ``set.split`` (training/validation/test, stored as train/valid/test)
and ``set.subset`` (small, medium, large; each subset contains the smaller ones) come from the
official table. A plain CSV with a track id and a genre column (``track_id,genre_top[,path]``, as
``labels.csv`` or ``track_genre_top.csv``) works too. Tracks without audio or without a label are
skipped and counted, never fatal.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pandas as pd

from genrelab.datasets.index import DatasetIndex, SkipLog
from genrelab.types import DataError, Track

SUBSETS = ("small", "medium", "large", "full")
#: FMA's official split names -> genrelab part names.
SPLIT_NAMES = {"training": "train", "validation": "valid", "test": "test"}
#: (top, field) columns read from tracks.csv, and the name each gets.
TRACKS_COLUMNS = {
    ("track", "genre_top"): "genre_top",
    ("set", "split"): "split",
    ("set", "subset"): "subset",
    ("artist", "name"): "artist",
    ("artist", "id"): "artist_id",
    ("track", "title"): "title",
    ("track", "duration"): "full_duration",
}
_PLAIN_LABEL_FILES = ("labels.csv", "track_genre_top.csv")
_GENRE_COLUMNS = ("genre_top", "genre", "label")


def track_path(audio_dir: Path, track_id: int | str) -> Path:
    """``audio_dir/NNN/NNNNNN.mp3`` for a track id (the official layout)."""
    tid = f"{int(track_id):06d}"
    return audio_dir / tid[:3] / f"{tid}.mp3"


def read_tracks_csv(path: str | Path) -> pd.DataFrame:
    """The columns genrelab needs from the official ``tracks.csv``, indexed by integer track id.

    Reads only the needed columns (the real file is ~250 MB with 50+ columns). Columns absent from
    the file are absent from the result, except that ``genre_top`` is required.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            top, sub, third = next(reader), next(reader), next(reader)
        except StopIteration:
            raise DataError(f"{path}: fewer than three header rows; not FMA's tracks.csv") from None
    if not third or third[0].strip() != "track_id":
        raise DataError(f"{path}: the third header row should start with 'track_id' (FMA's tracks.csv layout)")
    # the top-level header is written once per group in some copies and repeated in others
    filled, last = [], ""
    for name in top:
        last = name or last
        filled.append(last)
    positions: dict[int, str] = {}
    for i, (a, b) in enumerate(zip(filled, sub)):
        if (a, b) in TRACKS_COLUMNS:
            positions[i] = TRACKS_COLUMNS[(a, b)]
    if "genre_top" not in positions.values():
        raise DataError(f"{path}: no ('track', 'genre_top') column")
    usecols = [0, *sorted(positions)]
    df = pd.read_csv(path, skiprows=3, header=None, usecols=usecols, dtype=str, keep_default_na=False)
    df.columns = ["track_id"] + [positions[i] for i in sorted(positions)]
    df["track_id"] = df["track_id"].astype(int)
    return df.set_index("track_id")


def read_plain_labels(path: str | Path) -> pd.DataFrame:
    """A ``track_id,genre`` CSV (extra columns such as ``path``, ``split``, ``artist`` are kept)."""
    path = Path(path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed")]
    if "track_id" not in df.columns:
        if not unnamed:
            raise DataError(f"{path}: no 'track_id' column")
        df = df.rename(columns={unnamed[0]: "track_id"})
    else:
        df = df.drop(columns=unnamed)
    genre = next((c for c in _GENRE_COLUMNS if c in df.columns), None)
    if genre is None:
        raise DataError(f"{path}: no genre column (one of {', '.join(_GENRE_COLUMNS)})")
    df = df.rename(columns={genre: "genre_top"})
    try:
        df["track_id"] = df["track_id"].astype(int)
    except ValueError as exc:
        raise DataError(f"{path}: track ids must be integers ({exc})") from None
    return df.set_index("track_id")


def _find_metadata(root: Path) -> tuple[Path, str]:
    for cand in (root / "fma_metadata" / "tracks.csv", root / "tracks.csv"):
        if cand.is_file():
            return cand, "tracks"
    for name in _PLAIN_LABEL_FILES:
        for cand in (root / name, root / "fma_metadata" / name):
            if cand.is_file():
                return cand, "plain"
    raise DataError(
        f"no FMA metadata under {root}: expected fma_metadata/tracks.csv or a track_id,genre CSV "
        f"({', '.join(_PLAIN_LABEL_FILES)}); pass metadata=PATH"
    )


def _find_audio_dir(root: Path, subset: str | None) -> Path | None:
    if subset:
        cand = root / f"fma_{subset}"
        if not cand.is_dir():
            raise DataError(f"no {cand.name} folder under {root} (pass audio_dir=... if the audio is elsewhere)")
        return cand
    for s in SUBSETS:
        cand = root / f"fma_{s}"
        if cand.is_dir():
            return cand
    if any(p.is_dir() and p.name.isdigit() and len(p.name) == 3 for p in root.iterdir()):
        return root
    return None


def _clean(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def load_fma(
    root: str | Path,
    subset: str | None = None,
    metadata: str | Path | None = None,
    audio_dir: str | Path | None = None,
    probe: bool = True,
) -> DatasetIndex:
    """Index an FMA copy.

    ``subset`` (small/medium/large/full) picks ``fma_<subset>`` and, with the official table, the
    tracks of that subset (default: the first ``fma_*`` folder present). ``metadata`` overrides the
    label file (official ``tracks.csv`` or a plain CSV), ``audio_dir`` the audio folder. ``probe``
    reads each file's header for its duration and leaves out, counted, files that prove unusable.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"FMA root not found: {root}")
    if subset is not None and subset not in SUBSETS:
        raise DataError(f"unknown FMA subset {subset!r}; one of {', '.join(SUBSETS)}")
    if metadata is not None:
        meta_path = Path(metadata)
        if not meta_path.is_file():
            raise DataError(f"FMA metadata not found: {meta_path}")
        kind = _metadata_kind(meta_path)
    else:
        meta_path, kind = _find_metadata(root)
    adir = Path(audio_dir) if audio_dir is not None else _find_audio_dir(root, subset)
    if subset is None and adir is not None and adir.name.startswith("fma_") and adir.name[4:] in SUBSETS:
        subset = adir.name[4:]
    df = read_tracks_csv(meta_path) if kind == "tracks" else read_plain_labels(meta_path)

    skips = SkipLog()
    meta: dict[str, Any] = {"metadata": str(meta_path), "metadata_kind": kind,
                            "audio_dir": str(adir) if adir else None, "subset": subset}
    listed = set(df.index.tolist())
    if kind == "tracks" and "subset" in df.columns and subset and subset != "full":
        rank = {s: i for i, s in enumerate(SUBSETS)}
        keep = df["subset"].map(lambda s: rank.get(s, 99) <= rank[subset])
        meta["other_subsets"] = int((~keep).sum())
        df = df[keep]

    # one directory listing instead of a stat per metadata row (tracks.csv lists 106,574 tracks)
    on_disk: dict[int, Path] = {}
    if adir is not None and adir.is_dir():
        for p in adir.glob("[0-9][0-9][0-9]/*.mp3"):
            if p.stem.isdigit():
                on_disk[int(p.stem)] = p
    in_subset = set(df.index.tolist())
    # vectorised pre-filter: tracks.csv lists 106,574 tracks, most of them without local audio
    no_label = df["genre_top"].str.strip() == ""
    _skip_rows(skips, "no-label", df.index[no_label], lambda tid: f"{tid:06d}")
    df = df[~no_label]
    if "path" in df.columns and (df["path"].str.strip() != "").any():
        paths = [_resolve(r, (meta_path.parent, root, adir)) if r.strip() else on_disk.get(t)
                 for t, r in zip(df.index.tolist(), df["path"].tolist())]
    else:
        paths = [on_disk.get(t) for t in df.index.tolist()]
    has_audio = [p is not None and p.is_file() for p in paths]
    missing = [t for t, ok in zip(df.index.tolist(), has_audio) if not ok]
    _skip_rows(skips, "no-audio", missing, lambda tid: track_path(adir, tid) if adir else f"{tid:06d}")
    df = df[has_audio]
    paths = [p for p, ok in zip(paths, has_audio) if ok]

    tracks: list[Track] = []
    for tid, path, row in zip(df.index.tolist(), paths, df.to_dict("records")):
        ok, duration = skips.probe(path) if probe else (True, None)
        if not ok:
            continue
        split = _clean(row.get("split"))
        extra: dict[str, Any] = {}
        for key in ("subset", "title", "artist_id", "full_duration"):
            val = _clean(row.get(key))
            if val is not None:
                extra[key] = val
        tracks.append(Track(f"{int(tid):06d}", path, _clean(row["genre_top"]), _clean(row.get("artist")), duration,
                            SPLIT_NAMES.get(split, split) if split else None, "fma", extra))
    for tid in sorted(set(on_disk) - in_subset):
        skips.add("not-in-metadata" if tid not in listed else "other-subset", on_disk[tid])
    if not tracks:
        raise DataError(
            f"no usable FMA tracks under {root} (metadata {meta_path.name}, audio {adir}); skipped: {skips.counts}"
        )
    tracks.sort(key=lambda t: t.track_id)
    return DatasetIndex(f"fma_{subset}" if subset else "fma", tracks, None, skips.into(meta), root, meta)


def _metadata_kind(path: Path) -> str:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        rows = [next(reader, []) for _ in range(3)]
    if rows[2] and rows[2][0].strip() == "track_id" and "genre_top" in rows[1]:
        return "tracks"
    return "plain"


def _skip_rows(skips: SkipLog, reason: str, ids, describe) -> None:
    ids = list(ids)
    for tid in ids[:20]:
        skips.add(reason, describe(int(tid)))
    skips.add(reason, n=len(ids) - min(len(ids), 20))


def _resolve(rel: str, bases: tuple[Path | None, ...]) -> Path:
    """A path from a label file: absolute, or relative to the first base where it exists."""
    p = Path(rel)
    if p.is_absolute():
        return p
    for base in bases:
        if base is not None and (base / p).is_file():
            return base / p
    return bases[0] / p  # type: ignore[operator]
