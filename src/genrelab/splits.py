"""Train/valid/test splits of a track index, saved as manifests, checked for leaks.

Every split assigns whole **tracks** to parts (never segments of one track to several parts), except
the explicitly leaky ``random-segment`` mode that reproduces the studies' protocol. Methods:

- ``stratified``: random by track, class proportions kept in every part;
- ``artist``: no artist on two sides (tracks with unknown artist are their own group), class
  proportions kept as well as whole artists allow;
- ``gtzan-filtered``: the published artist-filtered GTZAN split (Kereliuk & Sturm) from its three
  list files ``{train,valid,test}_filtered.txt``;
- ``fma-official``: FMA's ``set.split`` (``Track.split``);
- ``random-segment``: segments assigned at random (LEAKY: a track's segments land on both sides);
- k-fold variants of ``stratified`` and ``artist`` (:func:`kfold_splits`).

Ratios are given as numbers or a study preset: ``qin`` 80/20, ``sears`` 70/30, ``liu`` 80/10/10,
``sirek`` 60/20/20. Parts are named ``train, test`` (two parts) or ``train, valid, test`` (three).

A split is saved as a manifest CSV (``track_id,part,artist,label`` plus ``segment`` for the
segment mode) after ``#`` header lines holding the method, seed and allowed leaks, so a run can be
repeated exactly. :func:`check_leaks` refuses (``SplitLeakError``) a split with a track or a
known artist on two sides unless the split was made explicitly leaky (``allow``); every
constructor here and :meth:`Split.from_csv` run it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from genrelab.types import ConfigError, DataError, SplitLeakError, Track

PRESETS: dict[str, tuple[float, ...]] = {
    "qin": (0.8, 0.2),
    "sears": (0.7, 0.3),
    "liu": (0.8, 0.1, 0.1),
    "sirek": (0.6, 0.2, 0.2),
}
PART_NAMES: dict[int, tuple[str, ...]] = {1: ("all",), 2: ("train", "test"), 3: ("train", "valid", "test")}
PART_ORDER = ("train", "valid", "test")
METHODS = ("stratified", "artist", "gtzan-filtered", "fma-official", "random-segment")
LEAK_KINDS = frozenset({"track", "artist"})
GTZAN_LIST_FILES = {"train": "train_filtered.txt", "valid": "valid_filtered.txt", "test": "test_filtered.txt"}


class SplitRow(NamedTuple):
    track_id: str
    part: str
    artist: str | None = None
    label: str | None = None
    segment: int | None = None


@dataclass
class Split:
    """Rows ``(track_id, part, artist, label, segment)``; ``segment`` is None except in the leaky segment mode.

    ``allow`` names the leaks this split was explicitly made to have (``{"artist"}`` for a by-track
    split reproducing a study on GTZAN, ``{"track", "artist"}`` for random-segment); ``info`` holds
    counts such as tracks listed but absent (``missing``) or left out (``unassigned``).
    """

    rows: list[SplitRow]
    method: str
    seed: int | None = None
    allow: frozenset[str] = frozenset()
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.allow = frozenset(self.allow)
        unknown = self.allow - LEAK_KINDS
        if unknown:
            raise ConfigError(f"unknown leak kind(s) {sorted(unknown)}; known: {sorted(LEAK_KINDS)}")

    @property
    def leaky(self) -> bool:
        """True when tracks may be on two sides (the random-segment protocol)."""
        return "track" in self.allow

    @property
    def parts(self) -> list[str]:
        seen = list(dict.fromkeys(r.part for r in self.rows))
        return sorted(seen, key=lambda p: (PART_ORDER.index(p) if p in PART_ORDER else len(PART_ORDER), seen.index(p)))

    @property
    def segmented(self) -> bool:
        return any(r.segment is not None for r in self.rows)

    def assignment(self) -> dict[str, str]:
        """``{track_id: part}`` (only for track-level splits)."""
        if self.segmented:
            raise DataError(f"split '{self.method}' assigns segments, not tracks; use segment_assignment()")
        return {r.track_id: r.part for r in self.rows}

    def segment_assignment(self) -> dict[tuple[str, int], str]:
        """``{(track_id, segment): part}`` for the segment mode."""
        return {(r.track_id, -1 if r.segment is None else r.segment): r.part for r in self.rows}

    def ids(self, part: str) -> list[str]:
        """Track ids of one part (unique, in manifest order)."""
        if part not in self.parts:
            raise DataError(f"split '{self.method}' has no part {part!r}; parts: {', '.join(self.parts)}")
        return list(dict.fromkeys(r.track_id for r in self.rows if r.part == part))

    def tracks(self, index: Any, part: str) -> list[Track]:
        """The :class:`Track` records of one part, looked up in ``index`` (a DatasetIndex)."""
        return [index.by_id(tid) for tid in self.ids(part)]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{part: {label: rows}}``."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            part = out.setdefault(r.part, {})
            part[r.label or ""] = part.get(r.label or "", 0) + 1
        return {p: dict(sorted(out[p].items())) for p in self.parts}

    def sizes(self) -> dict[str, int]:
        c = Counter(r.part for r in self.rows)
        return {p: c[p] for p in self.parts}

    # -- persistence
    def to_csv(self, path: str | Path) -> Path:
        """Write the manifest (atomically): ``#`` header lines, then ``track_id,part,artist,label[,segment]``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            f.write("# genrelab split manifest\n")
            f.write(f"# method: {self.method}\n")
            f.write(f"# seed: {'' if self.seed is None else self.seed}\n")
            f.write(f"# allow: {','.join(sorted(self.allow))}\n")
            if self.info:
                f.write(f"# info: {json.dumps(self.info, sort_keys=True, default=str)}\n")
            w = csv.writer(f)
            cols = ["track_id", "part", "artist", "label"] + (["segment"] if self.segmented else [])
            w.writerow(cols)
            for r in self.rows:
                row = [r.track_id, r.part, r.artist or "", r.label or ""]
                if self.segmented:
                    row.append("" if r.segment is None else r.segment)
                w.writerow(row)
        tmp.replace(path)
        return path

    @classmethod
    def from_csv(cls, path: str | Path, check: bool = True) -> "Split":
        """Read a manifest written by :meth:`to_csv` (a plain ``track_id,part`` CSV works too)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"split manifest not found: {path}")
        header: dict[str, str] = {}
        lines: list[str] = []
        with open(path, encoding="utf-8", newline="") as f:
            for line in f:
                if line.startswith("#"):
                    key, _, value = line[1:].partition(":")
                    header[key.strip()] = value.strip()
                elif line.strip():
                    lines.append(line)
        reader = csv.DictReader(lines)
        if not reader.fieldnames or not {"track_id", "part"} <= set(reader.fieldnames):
            raise DataError(f"{path}: a split manifest needs 'track_id' and 'part' columns")
        rows = [
            SplitRow(r["track_id"], r["part"], r.get("artist") or None, r.get("label") or None,
                     int(r["segment"]) if r.get("segment") not in (None, "") else None)
            for r in reader
        ]
        seed = header.get("seed", "")
        split = cls(rows, header.get("method") or f"manifest:{path.name}", int(seed) if seed else None,
                    frozenset(a for a in header.get("allow", "").split(",") if a),
                    json.loads(header["info"]) if header.get("info") else {})
        if check:
            check_leaks(split)
        return split


# --------------------------------------------------------------------------- helpers
def resolve_ratios(ratios: str | Sequence[float], names: Sequence[str] | None = None) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Normalised ratios and part names from numbers or a preset name (qin, sears, liu, sirek)."""
    if isinstance(ratios, str):
        key = ratios.strip().lower()
        if key in PRESETS:
            r = PRESETS[key]
        else:
            try:
                r = tuple(float(x) for x in key.replace("/", ",").split(","))
            except ValueError:
                raise ConfigError(f"unknown split preset {ratios!r}; presets: {', '.join(PRESETS)}") from None
    else:
        r = tuple(float(x) for x in ratios)
    if not r or any(x < 0 for x in r) or sum(r) <= 0:
        raise ConfigError(f"invalid split ratios {ratios!r}")
    total = sum(r)
    r = tuple(x / total for x in r)
    if names is None:
        if len(r) not in PART_NAMES:
            raise ConfigError(f"{len(r)} ratios need explicit part names")
        names = PART_NAMES[len(r)]
    if len(names) != len(r) or len(set(names)) != len(names):
        raise ConfigError(f"part names {list(names)} do not match ratios {list(r)}")
    return r, tuple(names)


def _allocate(n: int, ratios: Sequence[float]) -> list[int]:
    """Integer counts summing to ``n`` closest to ``n * ratios`` (largest remainder, ties to earlier parts)."""
    exact = [n * r for r in ratios]
    counts = [int(np.floor(x)) for x in exact]
    order = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _as_tracks(tracks: Any) -> list[Track]:
    out = list(tracks.tracks if hasattr(tracks, "tracks") else tracks)
    if not out:
        raise DataError("no tracks to split")
    missing = [t.track_id for t in out if not t.label]
    if missing:
        raise DataError(f"{len(missing)} track(s) have no label (e.g. {missing[:3]}); splits are stratified by label")
    return out


def _group_of(t: Track) -> str:
    """Artist-grouping key: the artist when known, else the track itself."""
    return f"artist:{t.artist}" if t.artist else f"track:{t.track_id}"


def _row(t: Track, part: str, segment: int | None = None) -> SplitRow:
    return SplitRow(t.track_id, part, t.artist, t.label, segment)


def _finish(split: Split) -> Split:
    check_leaks(split)
    return split


# --------------------------------------------------------------------------- methods
def stratified_split(
    tracks: Any, ratios: str | Sequence[float] = "qin", seed: int = 0, names: Sequence[str] | None = None,
    allow_artist_leak: bool = False,
) -> Split:
    """Random split **by track**, the label proportions kept in every part.

    When artists are known and land on two sides, :func:`check_leaks` refuses the result unless
    ``allow_artist_leak`` (the studies' by-track protocol on GTZAN); use :func:`artist_split` instead.
    """
    tracks = _as_tracks(tracks)
    r, names = resolve_ratios(ratios, names)
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[Track]] = defaultdict(list)
    for t in sorted(tracks, key=lambda t: t.track_id):
        by_label[t.label].append(t)  # type: ignore[index]
    part_of: dict[str, str] = {}
    for label in sorted(by_label):
        group = by_label[label]
        order = rng.permutation(len(group))
        start = 0
        for name, n in zip(names, _allocate(len(group), r)):
            for i in order[start:start + n]:
                part_of[group[i].track_id] = name
            start += n
    rows = [_row(t, part_of[t.track_id]) for t in tracks]
    method = "stratified-by-track" + (" (artist leak allowed)" if allow_artist_leak else "")
    return _finish(Split(rows, method, seed, frozenset({"artist"}) if allow_artist_leak else frozenset(),
                         {"ratios": list(r)}))


def artist_split(
    tracks: Any, ratios: str | Sequence[float] = "qin", seed: int = 0, names: Sequence[str] | None = None,
) -> Split:
    """Split whole artists (unknown artist: the track is its own group), keeping label proportions close.

    Groups are placed greedily, biggest first (ties in seeded random order), each into the part
    where it least increases the squared relative error of the per-label and total counts.
    """
    tracks = _as_tracks(tracks)
    r, names = resolve_ratios(ratios, names)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        groups[_group_of(t)].append(t)
    keys = sorted(groups)
    keys = [keys[i] for i in rng.permutation(len(keys))]
    keys.sort(key=lambda k: -len(groups[k]))  # stable: random order among equal sizes
    labels = sorted({t.label for t in tracks})  # type: ignore[type-var]
    li = {lab: i for i, lab in enumerate(labels)}
    n_label = np.zeros(len(labels))
    for t in tracks:
        n_label[li[t.label]] += 1
    target = np.outer(r, n_label)  # (parts, labels)
    target_total = target.sum(axis=1)
    current = np.zeros_like(target)
    part_of: dict[str, str] = {}
    for k in keys:
        c = np.zeros(len(labels))
        for t in groups[k]:
            c[li[t.label]] += 1
        best, best_cost = 0, np.inf
        for p in range(len(r)):
            if r[p] == 0:
                continue
            before = ((current[p] - target[p]) ** 2 / np.maximum(target[p], 1)).sum() \
                + (current[p].sum() - target_total[p]) ** 2 / max(target_total[p], 1)
            after = ((current[p] + c - target[p]) ** 2 / np.maximum(target[p], 1)).sum() \
                + (current[p].sum() + c.sum() - target_total[p]) ** 2 / max(target_total[p], 1)
            cost = after - before
            if cost < best_cost - 1e-12:
                best, best_cost = p, cost
        current[best] += c
        for t in groups[k]:
            part_of[t.track_id] = names[best]
    rows = [_row(t, part_of[t.track_id]) for t in tracks]
    known = sum(1 for t in tracks if t.artist)
    return _finish(Split(rows, "artist-grouped", seed, frozenset(),
                         {"ratios": list(r), "groups": len(groups), "tracks_with_artist": known}))


def kfold_splits(tracks: Any, k: int = 5, seed: int = 0, grouped: bool = False,
                 allow_artist_leak: bool = False) -> list[Split]:
    """``k`` train/test splits covering every track once as test.

    ``grouped=False``: scikit-learn ``StratifiedKFold`` by track (known artists crossing folds are
    refused unless ``allow_artist_leak``); ``grouped=True``: ``StratifiedGroupKFold`` with artist
    groups (unknown artist: the track alone), so no artist is in train and test of a fold.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    tracks = _as_tracks(tracks)
    if k < 2:
        raise ConfigError("k-fold needs k >= 2")
    y = [t.label for t in tracks]
    if grouped:
        groups = [_group_of(t) for t in tracks]
        if len(set(groups)) < k:
            raise DataError(f"only {len(set(groups))} artist groups, fewer than k={k} folds")
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(tracks, y, groups)
        base = "artist-grouped-kfold"
    else:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(tracks, y)
        base = "stratified-kfold"
    out = []
    for i, (_train, test) in enumerate(folds):
        test_set = set(int(j) for j in test)
        rows = [_row(t, "test" if j in test_set else "train") for j, t in enumerate(tracks)]
        leak = allow_artist_leak and not grouped
        method = f"{base} k={k} fold={i}" + (" (artist leak allowed)" if leak else "")
        out.append(_finish(Split(rows, method, seed, frozenset({"artist"}) if leak else frozenset(),
                                 {"k": k, "fold": i})))
    return out


def read_gtzan_lists(lists: str | Path) -> dict[str, list[str]]:
    """``{part: [track_id, ...]}`` from the three ``*_filtered.txt`` files (rows ``blues/blues.00029.wav``).

    ``lists`` is the folder holding them (or a GTZAN root with a ``splits/`` folder).
    """
    folder = Path(lists)
    if not (folder / GTZAN_LIST_FILES["train"]).is_file() and (folder / "splits" / GTZAN_LIST_FILES["train"]).is_file():
        folder = folder / "splits"
    out: dict[str, list[str]] = {}
    for part, name in GTZAN_LIST_FILES.items():
        p = folder / name
        if not p.is_file():
            raise DataError(f"GTZAN split list not found: {p} (need {', '.join(GTZAN_LIST_FILES.values())})")
        ids = []
        for line in p.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                ids.append(Path(line).stem if line.endswith((".wav", ".au")) else Path(line).name)
        out[part] = ids
    return out


def gtzan_filtered_split(index: Any, lists: str | Path) -> Split:
    """The published artist-filtered GTZAN split (Kereliuk & Sturm: 443/197/290 clips).

    Clips listed but absent from ``index`` are counted in ``info['missing']`` (per part), not fatal;
    clips of the index that no list names (the fault-filtered ones) in ``info['unassigned']``.
    """
    lists_by_part = read_gtzan_lists(lists)
    owner: dict[str, str] = {}
    for part, ids in lists_by_part.items():
        for tid in ids:
            if tid in owner and owner[tid] != part:
                raise SplitLeakError(f"GTZAN lists put track {tid} in both {owner[tid]} and {part}")
            owner[tid] = part
    rows, missing = [], {p: 0 for p in lists_by_part}
    for part, ids in lists_by_part.items():
        for tid in dict.fromkeys(ids):
            t = index.get(tid) if hasattr(index, "get") else None
            if t is None:
                missing[part] += 1
                continue
            rows.append(_row(t, part))
    if not rows:
        raise DataError("no track of the GTZAN split lists is in the index")
    unassigned = sum(1 for t in index.tracks if t.track_id not in owner)
    info = {"missing": missing, "unassigned": unassigned, "listed": {p: len(v) for p, v in lists_by_part.items()}}
    return _finish(Split(rows, "gtzan-artist-filtered (Kereliuk & Sturm)", None, frozenset(), info))


def fma_official_split(index: Any) -> Split:
    """FMA's official split from ``Track.split`` (train/valid/test); tracks without one are counted."""
    tracks = list(index.tracks if hasattr(index, "tracks") else index)
    rows = [_row(t, t.split) for t in tracks if t.split]
    if not rows:
        raise DataError("no track has an official split; FMA's split comes from fma_metadata/tracks.csv (set.split)")
    return _finish(Split(rows, "fma-official", None, frozenset(), {"unassigned": len(tracks) - len(rows)}))


def random_segment_split(
    tracks: Any, ratios: str | Sequence[float] = "sears", seed: int = 0, n_segments: int | dict[str, int] = 10,
    names: Sequence[str] | None = None,
) -> Split:
    """LEAKY: the studies' protocol of shuffling all **segments** and cutting them by ratio.

    Segments of one track land on both sides, so test accuracy is inflated; kept only to reproduce
    published numbers. ``n_segments`` is a count per track, a ``{track_id: count}`` dict, or taken
    from ``track.extra['segments']`` (3-second feature tables) when the track has it.
    """
    tracks = _as_tracks(tracks)
    r, names = resolve_ratios(ratios, names)
    keys: list[tuple[Track, int]] = []
    for t in tracks:
        if "segments" in t.extra:
            segs = [int(s) for s in t.extra["segments"]]
        else:
            n = n_segments.get(t.track_id, 0) if isinstance(n_segments, dict) else int(n_segments)
            segs = list(range(n))
        keys.extend((t, s) for s in segs)
    if not keys:
        raise DataError("no segments to split")
    order = np.random.default_rng(seed).permutation(len(keys))
    counts = _allocate(len(keys), r)
    part_at = np.empty(len(keys), dtype=object)
    start = 0
    for name, n in zip(names, counts):
        part_at[order[start:start + n]] = name
        start += n
    rows = [_row(t, str(part_at[i]), s) for i, (t, s) in enumerate(keys)]
    method = "random-segment (LEAKY: segments of one track on both sides; reproduces the studies only)"
    return _finish(Split(rows, method, seed, LEAK_KINDS, {"ratios": list(r)}))


def make_split(index: Any, method: str = "stratified", ratios: str | Sequence[float] = "qin", seed: int = 0,
               **opts: Any) -> Split:
    """One entry point for recipes and the CLI: ``method`` is one of :data:`METHODS`."""
    if method == "stratified":
        return stratified_split(index, ratios, seed, **opts)
    if method == "artist":
        return artist_split(index, ratios, seed, **opts)
    if method == "gtzan-filtered":
        if "lists" not in opts:
            raise ConfigError("gtzan-filtered needs lists=<folder with train/valid/test_filtered.txt>")
        return gtzan_filtered_split(index, opts["lists"])
    if method == "fma-official":
        return fma_official_split(index)
    if method == "random-segment":
        return random_segment_split(index, ratios, seed, **opts)
    raise ConfigError(f"unknown split method {method!r}; one of {', '.join(METHODS)}")


# --------------------------------------------------------------------------- leak check
def check_leaks(split: Split, index: Any = None, allow: Iterable[str] | None = None) -> dict[str, int]:
    """Refuse a split with a track, or a known artist, on two sides.

    Artists come from the manifest rows, else from ``index``. ``allow`` defaults to the leaks the
    split was explicitly made with (``split.allow``). Returns counts (tracks, artists, parts) when clean.
    """
    allowed = frozenset(split.allow if allow is None else allow)
    parts_of_track: dict[str, set[str]] = defaultdict(set)
    parts_of_artist: dict[str, set[str]] = defaultdict(set)
    tracks_of_artist: dict[str, dict[str, str]] = defaultdict(dict)
    for r in split.rows:
        parts_of_track[r.track_id].add(r.part)
        artist = r.artist
        if artist is None and index is not None:
            t = index.get(r.track_id) if hasattr(index, "get") else None
            artist = t.artist if t is not None else None
        if artist:
            parts_of_artist[artist].add(r.part)
            tracks_of_artist[artist].setdefault(r.part, r.track_id)
    if "track" not in allowed:
        for tid, parts in parts_of_track.items():
            if len(parts) > 1:
                raise SplitLeakError(
                    f"split '{split.method}' puts track {tid!r} in {' and '.join(sorted(parts))}; "
                    "a track (or its segments) must stay on one side"
                )
    if "artist" not in allowed:
        for artist, parts in sorted(parts_of_artist.items()):
            if len(parts) > 1:
                where = ", ".join(f"{p}: {tid}" for p, tid in sorted(tracks_of_artist[artist].items()))
                raise SplitLeakError(
                    f"split '{split.method}' puts artist {artist!r} on {len(parts)} sides ({where}); "
                    "use the artist-grouped split, or allow the artist leak explicitly to reproduce a study"
                )
    return {"tracks": len(parts_of_track), "artists": len(parts_of_artist), "parts": len(split.parts)}
