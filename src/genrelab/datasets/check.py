"""Health check of an audio collection: decode every file, report what is wrong. Reads only.

Each file is streamed block by block at its native rate (bounded memory, even for hour-long mixes)
and reported as ``ok`` or with one problem: ``missing``, ``empty``, ``not-audio``, ``corrupt``
(including truncation), ``too-short``, ``silent``, ``non-finite``, ``unsupported`` (an m4a without
ffmpeg), or ``duplicate`` (same bytes as another file, by SHA-1).

Where the collection ships a ``sha1sum``-style list (FMA's ``fma_small/checksums``), every listed
file's SHA-1 is compared with it too: a mismatch is reported as ``corrupt``.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from genrelab import audio
from genrelab.types import AudioError, AudioProblem

OK = "ok"
DUPLICATE = "duplicate"


@dataclass
class FileReport:
    path: str
    status: str = OK
    detail: str = ""
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str = ""
    size: int = 0
    sha1: str = ""
    duplicate_of: str = ""
    checksum: str = ""  # "match" / "mismatch" against a shipped checksums list, "" when not listed

    @property
    def ok(self) -> bool:
        return self.status == OK


def check_file(path: str | Path, min_seconds: float = 1.0, block_seconds: float = 30.0) -> FileReport:
    """Decode ``path`` completely (streamed) and report its first problem, if any."""
    path = Path(path)
    rep = FileReport(str(path))
    try:
        rep.size = path.stat().st_size
        if rep.size and path.is_file():
            rep.sha1 = audio.file_hash(path)
    except OSError as exc:
        if path.exists():
            rep.status, rep.detail = AudioProblem.NOT_AUDIO.value, f"cannot be read: {exc.strerror or exc}"
            return rep
    try:
        info = audio.info(path)
        rep.sample_rate, rep.channels, rep.format = info.sample_rate, info.channels, info.format
        n, peak = 0, 0.0
        for block in audio.stream(path, None, block_seconds=block_seconds):
            n += block.size
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
        rep.duration = n / info.sample_rate
        if n == 0:
            raise AudioError(path, AudioProblem.EMPTY, "no samples decoded")
        if rep.duration < min_seconds:
            raise AudioError(path, AudioProblem.TOO_SHORT, f"{rep.duration:.2f} s, needs at least {min_seconds:g} s")
        if peak < audio.SILENCE_PEAK:
            raise AudioError(path, AudioProblem.SILENT, f"peak {peak:.2g}: all samples are (near) zero")
    except AudioError as exc:
        rep.status, rep.detail = exc.problem.value, exc.detail
    except Exception as exc:  # a decoder failure nobody anticipated is still a report, not a crash
        rep.status, rep.detail = AudioProblem.CORRUPT.value, f"{type(exc).__name__}: {exc}"
    return rep


def mark_duplicates(reports: list[FileReport]) -> None:
    """Files with the same non-empty content: every one after the first (by path) is a duplicate."""
    groups: dict[str, list[FileReport]] = defaultdict(list)
    for r in reports:
        if r.sha1 and r.size:
            groups[r.sha1].append(r)
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r.path)
        first = group[0]
        for r in group[1:]:
            r.duplicate_of = first.path
            if r.ok:
                r.status, r.detail = DUPLICATE, f"same bytes as {first.path}"


CHECKSUM_FILES = ("checksums", "SHA1SUMS", "sha1sums.txt")


def find_checksums(root: str | Path) -> dict[str, tuple[str, str]]:
    """``{resolved file path: (sha1, list file)}`` from every sha1sum-style list under ``root``."""
    root = Path(root)
    out: dict[str, tuple[str, str]] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name not in CHECKSUM_FILES:
                continue
            listing = Path(dirpath) / name
            try:
                lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                digest, _, rel = line.strip().partition(" ")
                rel = rel.strip().lstrip("*")
                if len(digest) == 40 and rel:
                    out[str((listing.parent / rel).resolve())] = (digest.lower(), str(listing))
    return out


def compare_checksums(reports: list[FileReport], checksums: dict[str, tuple[str, str]]) -> None:
    """Mark each listed file ``match`` or ``mismatch``; a mismatching healthy-looking file is corrupt."""
    for r in reports:
        listed = checksums.get(str(Path(r.path).resolve()))
        if listed is None or not r.sha1:
            continue
        expected, listing = listed
        r.checksum = "match" if r.sha1 == expected else "mismatch"
        if r.checksum == "mismatch" and r.status in (OK, DUPLICATE):
            r.status, r.detail = AudioProblem.CORRUPT.value, f"SHA-1 differs from the one listed in {listing}"


def check_files(
    paths: Iterable[str | Path], min_seconds: float = 1.0, jobs: int | None = None,
    on_done: Callable[[FileReport], None] | None = None, checksums: dict[str, tuple[str, str]] | None = None,
) -> list[FileReport]:
    """Check every file (in ``jobs`` worker processes; 1 = in this process), then mark duplicates and
    compare with ``checksums`` (from :func:`find_checksums`).

    Reports come back in the order of ``paths``. ``on_done`` is called as each file finishes.
    """
    paths = [str(p) for p in paths]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths) or 1))
    results: dict[str, FileReport] = {}
    if jobs == 1:
        for p in paths:
            results[p] = check_file(p, min_seconds)
            if on_done:
                on_done(results[p])
    else:
        import multiprocessing as mp

        # spawn: workers start clean (no inherited threads from torch/BLAS, which fork can deadlock)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(check_file, p, min_seconds): p for p in paths}
            for fut in as_completed(futures):
                p = futures[fut]
                try:
                    rep = fut.result()
                except BrokenProcessPool:
                    rep = FileReport(p, AudioProblem.CORRUPT.value, "the decoder crashed its worker process")
                results[p] = rep
                if on_done:
                    on_done(rep)
    reports = [results[p] for p in paths]
    mark_duplicates(reports)
    if checksums:
        compare_checksums(reports, checksums)
    return reports


def summarize(reports: list[FileReport]) -> dict[str, int]:
    """Files per status (``ok`` first)."""
    c = Counter(r.status for r in reports)
    return {OK: c.pop(OK, 0), **dict(sorted(c.items()))}


def write_csv(reports: list[FileReport], path: str | Path) -> Path:
    """One row per file: every :class:`FileReport` field."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    names = [f.name for f in fields(FileReport)]
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        for r in reports:
            row = asdict(r)
            row["duration"] = "" if r.duration is None else f"{r.duration:.3f}"
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    tmp.replace(path)
    return path
