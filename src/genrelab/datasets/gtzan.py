"""GTZAN (Tzanetakis & Cook 2002): 10 genres x 100 clips of 30 s.

Two layouts are recognised under ``root`` (or ``root`` itself being the genre folder):

- Kaggle: ``genres_original/<genre>/<genre>.000NN.wav`` (often below a ``Data/`` folder);
- original: ``genres/<genre>/<genre>.000NN.au``.

Track ids are the file stems (``blues.00000``) and labels the folder names. Artist and title come
from Sturm's ``GTZANindex.txt`` (lines ``blues.00000.wav ::: John Lee Hooker ::: One Bourbon ...``)
when it is given or found in/near the root; clips it lists without an artist keep ``artist=None``.
"""

from __future__ import annotations

import re
from pathlib import Path

from genrelab.audio import is_audio_path
from genrelab.datasets.index import DatasetIndex, SkipLog
from genrelab.types import GTZAN_GENRES, DataError, LabelSet, Track

INDEX_FILE = "GTZANindex.txt"
_LAYOUTS = ("genres_original", "genres", "Data/genres_original", "data/genres_original", "gtzan/genres_original",
            "gtzan/genres")
_CLIP = re.compile(r"^(?P<genre>[a-z]+)\.(?P<num>\d{5})$")


def find_genre_root(root: str | Path) -> Path:
    """The folder holding one sub-folder per genre."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"GTZAN root not found: {root}")
    for rel in _LAYOUTS:
        cand = root / rel
        if cand.is_dir() and _genre_dirs(cand):
            return cand
    if _genre_dirs(root):
        return root
    raise DataError(
        f"no GTZAN layout under {root}: expected genres_original/<genre>/<genre>.000NN.wav (Kaggle) "
        "or genres/<genre>/<genre>.000NN.au (original)"
    )


def _genre_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name in GTZAN_GENRES)


def find_index_file(root: Path, genre_root: Path) -> Path | None:
    """``GTZANindex.txt`` in the root, the genre folder's parent, or one or two levels above the root."""
    candidates = [root, genre_root.parent, genre_root, root.parent, root.parent.parent]
    for folder in candidates:
        for name in (INDEX_FILE, INDEX_FILE.lower()):
            p = folder / name
            if p.is_file():
                return p
    return None


def read_index_file(path: str | Path) -> dict[str, tuple[str | None, str | None]]:
    """``{track_id: (artist, title)}`` from Sturm's GTZANindex.txt (empty fields become None)."""
    out: dict[str, tuple[str | None, str | None]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#") or ":::" not in line:
                continue
            parts = [p.strip() for p in line.rstrip("\n").split(":::")]
            name = parts[0]
            artist = parts[1] if len(parts) > 1 and parts[1] else None
            title = parts[2] if len(parts) > 2 and parts[2] else None
            out[Path(name).stem if name.endswith((".wav", ".au")) else name] = (artist, title)
    if not out:
        raise DataError(f"{path}: no 'file ::: artist ::: title' lines")
    return out


def load_gtzan(
    root: str | Path,
    index_file: str | Path | None = None,
    probe: bool = True,
    genres: tuple[str, ...] | None = None,
) -> DatasetIndex:
    """Index a GTZAN copy.

    ``probe`` reads each file's header for its duration (cheap) and leaves out, counted by problem,
    files whose header proves them unusable (empty, not audio, truncated). ``genres`` restricts
    the labels (default: the ten GTZAN genres present).
    """
    root = Path(root)
    genre_root = find_genre_root(root)
    if index_file is not None:
        index_path: Path | None = Path(index_file)
        if not index_path.is_file():
            raise DataError(f"GTZAN index file not found: {index_path}")
    else:
        index_path = find_index_file(root, genre_root)
    artists = read_index_file(index_path) if index_path else {}
    skips = SkipLog()
    tracks: list[Track] = []
    wanted = tuple(genres) if genres else GTZAN_GENRES
    for gdir in _genre_dirs(genre_root):
        genre = gdir.name
        if genre not in wanted:
            continue
        for p in sorted(gdir.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            if not is_audio_path(p):
                skips.add("not-audio-name", p)
                continue
            m = _CLIP.match(p.stem)
            if m is None or m["genre"] != genre:
                skips.add("unexpected-name", p)
                continue
            ok, duration = skips.probe(p) if probe else (True, None)
            if not ok:
                continue
            artist, title = artists.get(p.stem, (None, None))
            extra = {"title": title} if title else {}
            tracks.append(Track(p.stem, p, genre, artist, duration, None, "gtzan", extra))
    if not tracks:
        raise DataError(f"no GTZAN clips found under {genre_root}")
    labels = LabelSet([g for g in wanted if any(t.label == g for t in tracks)])
    meta = {"layout": genre_root.name, "genre_root": str(genre_root),
            "index_file": str(index_path) if index_path else None}
    return DatasetIndex("gtzan", tracks, labels, skips.into(meta), root, meta)
