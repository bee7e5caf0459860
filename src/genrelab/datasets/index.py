"""The track index every loader produces: tracks, their label set, and what was skipped and why."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from genrelab.types import DataError, LabelSet, Track

#: Columns a saved index always has, in this order; scalar ``extra`` entries follow.
INDEX_COLUMNS = ("track_id", "path", "label", "artist", "duration", "split", "source")


@dataclass
class DatasetIndex:
    """A dataset as a list of :class:`Track` records.

    ``labels`` defaults to the sorted labels seen. ``skipped`` counts what the loader left out and
    why (``{"no-audio": 3, "no-label": 1, "corrupt": 1}``); skipping is never silent. ``meta`` holds
    loader-specific facts (e.g. the feature ``columns`` of a table, the ``layout`` found).
    """

    name: str
    tracks: list[Track]
    labels: LabelSet | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    root: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels is None:
            self.labels = LabelSet.from_labels(t.label for t in self.tracks)
        seen: set[str] = set()
        dups = [t.track_id for t in self.tracks if t.track_id in seen or seen.add(t.track_id)]
        if dups:
            raise DataError(f"{self.name}: duplicate track ids {sorted(set(dups))[:5]}")
        self._by_id = {t.track_id: t for t in self.tracks}

    # -- access
    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._by_id

    def by_id(self, track_id: str) -> Track:
        try:
            return self._by_id[track_id]
        except KeyError:
            raise DataError(f"{self.name}: no track {track_id!r}") from None

    def get(self, track_id: str) -> Track | None:
        return self._by_id.get(track_id)

    @property
    def ids(self) -> list[str]:
        return [t.track_id for t in self.tracks]

    def subset(self, ids: Iterable[str] | Callable[[Track], bool], name: str | None = None) -> "DatasetIndex":
        """A new index with the given track ids (in this index's order) or the tracks a predicate keeps."""
        if callable(ids):
            keep = [t for t in self.tracks if ids(t)]
        else:
            wanted = set(ids)
            unknown = wanted - set(self._by_id)
            if unknown:
                raise DataError(f"{self.name}: unknown track ids {sorted(unknown)[:5]}")
            keep = [t for t in self.tracks if t.track_id in wanted]
        return DatasetIndex(name or self.name, keep, self.labels, dict(self.skipped), self.root, dict(self.meta))

    # -- summaries
    def label_counts(self) -> dict[str, int]:
        c = Counter(t.label for t in self.tracks if t.label)
        return {lab: c.get(lab, 0) for lab in self.labels}  # type: ignore[union-attr]

    def split_counts(self) -> dict[str, dict[str, int]]:
        """``{split: {label: count}}`` over the tracks' own (official) ``split`` field."""
        out: dict[str, dict[str, int]] = {}
        for t in self.tracks:
            if t.split:
                part = out.setdefault(t.split, {})
                part[t.label or ""] = part.get(t.label or "", 0) + 1
        return out

    def artists(self) -> dict[str, int]:
        """Tracks per known artist."""
        return dict(Counter(t.artist for t in self.tracks if t.artist))

    def duration_stats(self) -> dict[str, float]:
        d = np.array([t.duration for t in self.tracks if t.duration is not None and math.isfinite(t.duration)])
        if d.size == 0:
            return {"known": 0}
        return {"known": int(d.size), "total_s": float(d.sum()), "min_s": float(d.min()),
                "median_s": float(np.median(d)), "max_s": float(d.max())}

    def summary(self) -> dict[str, Any]:
        """Counts a person wants first: tracks, labels, artists, splits, durations, skipped."""
        return {
            "name": self.name,
            "tracks": len(self.tracks),
            "labels": self.label_counts(),
            "with_audio": sum(1 for t in self.tracks if t.path is not None),
            "artists_known": sum(1 for t in self.tracks if t.artist),
            "distinct_artists": len(self.artists()),
            "splits": {k: sum(v.values()) for k, v in sorted(self.split_counts().items())},
            "duration": self.duration_stats(),
            "skipped": dict(self.skipped),
        }

    # -- persistence
    def to_csv(self, path: str | Path) -> Path:
        """Write one row per track (scalar ``extra`` entries become extra columns; arrays are left out)."""
        path = Path(path)
        extra_cols: list[str] = []
        for t in self.tracks:
            for k, v in t.extra.items():
                if k not in extra_cols and k not in INDEX_COLUMNS and _scalar(v):
                    extra_cols.append(k)
        cols = list(INDEX_COLUMNS) + extra_cols
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for t in self.tracks:
                row = [t.track_id, "" if t.path is None else str(t.path), t.label or "", t.artist or "",
                       "" if t.duration is None else repr(float(t.duration)), t.split or "", t.source]
                row += [_cell(t.extra.get(k)) for k in extra_cols]
                w.writerow(row)
        tmp.replace(path)
        return path

    @classmethod
    def from_csv(cls, path: str | Path, name: str | None = None) -> "DatasetIndex":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"index file not found: {path}")
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "track_id" not in reader.fieldnames:
                raise DataError(f"{path}: not a genrelab index (no 'track_id' column)")
            tracks = []
            for row in reader:
                extra = {k: _parse(v) for k, v in row.items() if k not in INDEX_COLUMNS and v not in ("", None)}
                dur = row.get("duration") or ""
                tracks.append(Track(
                    track_id=row["track_id"], path=Path(row["path"]) if row.get("path") else None,
                    label=row.get("label") or None, artist=row.get("artist") or None,
                    duration=float(dur) if dur else None, split=row.get("split") or None,
                    source=row.get("source") or "", extra=extra,
                ))
        return cls(name or path.stem, tracks)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.generic))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def _parse(v: str) -> Any:
    """A number when the text is exactly how that number is written (so '000002' stays text)."""
    for cast in (int, float):
        try:
            x = cast(v)
        except ValueError:
            continue
        if _cell(x) == v:
            return x
    return v


class SkipLog:
    """Counts of what a loader left out, by reason, with the first few examples of each."""

    def __init__(self, keep: int = 20):
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self._keep = keep

    def add(self, reason: str, item: object = None, n: int = 1) -> None:
        """Count ``n`` under ``reason``; ``item`` (or a callable making it, called only when kept) is an example."""
        if n <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + n
        if item is not None:
            ex = self.examples.setdefault(reason, [])
            if len(ex) < self._keep:
                ex.append(str(item() if callable(item) else item))

    def probe(self, path: Path) -> tuple[bool, float | None]:
        """(usable, duration) of an audio file from its header alone; an unusable file is logged by problem."""
        from genrelab import audio
        from genrelab.types import AudioError

        try:
            return True, audio.info(path).duration
        except AudioError as exc:
            self.add(exc.problem.value, f"{path}: {exc.detail}")
            return False, None

    def into(self, meta: dict[str, Any]) -> dict[str, int]:
        """Store the examples in ``meta['skipped_examples']`` and return the counts."""
        if self.examples:
            meta["skipped_examples"] = self.examples
        return dict(self.counts)
