"""On-disk feature cache: compute a dataset's features once, reuse them for every run.

Layout::

    ROOT/<spec hash>/spec.json          the InputSpec (feature config + framing) that produced the entries
    ROOT/<spec hash>/<track key>.npy    model-ready examples of one track, ``spec.examples(audio)``

    ROOT/<spec hash>/index.jsonl        one line per written entry: key, size in bytes, CRC-32 of the file

The directory is keyed by :meth:`InputSpec.hash`, so changing any parameter of the feature or of
the framing never reuses stale data. Each entry is written to a temporary file in the same
directory and renamed into place (``os.replace``), so a killed process leaves only complete entries;
its index line is appended afterwards (one ``write`` on an ``O_APPEND`` file, so concurrent workers
never interleave lines). Entries are not fsync'ed one by one (that cost more than computing a mel
spectrogram): what an OS crash or a full disk can leave behind (a zero-byte, truncated or garbled
file) is caught by validation instead:

- cheap check (every resume, :meth:`FeatureCache.valid`): the ``.npy`` header parses, holds float32,
  and the file size equals header + ``prod(shape) * 4`` and the size recorded in the index;
- full check (every read, :meth:`FeatureCache.get`, and ``compute_all(verify=True)``): the CRC-32
  of the file equals the index's.

An entry that fails either check counts as missing: it is recomputed and rewritten.
:meth:`FeatureCache.compute_all` skips the valid entries (resumable), computes the rest in worker
processes with a progress bar, and reports files that fail instead of stopping.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from genrelab.features.config import FeatureConfig, InputSpec
from genrelab.features.workers import mp_context, worker_pool  # noqa: F401 (re-exported: see __all__)
from genrelab.types import Track

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TMP_MARK = ".tmp-"
_INDEX = "index.jsonl"
#: temporary files older than this whose writer is on another machine (a cache shared over a network file system)
#: are taken as left by a killed writer
_FOREIGN_TMP_AGE_S = 24 * 3600


def _host() -> str:
    import socket

    return _SAFE.sub("_", socket.gethostname())[:40] or "host"


def _tmp_name(path: Path) -> str:
    """``<stem>.tmp-<pid>-<host>-<ns><suffix>``: unique across processes and machines sharing the folder."""
    return f"{path.stem}{_TMP_MARK}{os.getpid()}-{_host()}-{time.monotonic_ns()}{path.suffix}"


def _as_spec(spec: InputSpec | FeatureConfig) -> InputSpec:
    return spec if isinstance(spec, InputSpec) else InputSpec(feature=spec)


def _as_track(t: Track | str | Path) -> Track:
    if isinstance(t, Track):
        return t
    p = Path(t)
    return Track(track_id=p.stem, path=p, label=None)


def track_key(track_id: str) -> str:
    """File-system safe, collision-free name for a track id."""
    safe = _SAFE.sub("_", track_id).strip("._") or "track"
    if safe != track_id:
        safe = f"{safe[:80]}-{hashlib.sha1(track_id.encode()).hexdigest()[:8]}"
    return safe


def npy_bytes(arr: np.ndarray) -> bytes:
    """The ``.npy`` file of ``arr`` as bytes (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename)."""
    tmp = path.with_name(_tmp_name(path))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_save_npy(path: Path, arr: np.ndarray, fsync: bool = True) -> None:
    """Write ``arr`` to ``path`` atomically (temporary file in the same folder + rename)."""
    atomic_write_bytes(path, npy_bytes(arr), fsync=fsync)


def npy_problem(head: bytes, size: int, dtype: np.dtype | None = np.dtype(np.float32)) -> str | None:
    """Why ``.npy`` bytes starting with ``head`` (at least the header) and ``size`` bytes long are not a
    complete array file (of ``dtype``), or None when they are."""
    from numpy.lib import format as npf

    if size == 0:
        return "zero bytes"
    bio = io.BytesIO(head)
    try:
        version = npf.read_magic(bio)
        read_header = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
        shape, _fortran, dt = read_header(bio)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a broken header
        return f"unreadable .npy header ({type(exc).__name__})"
    if dt.hasobject or (dtype is not None and dt != dtype):
        return f"dtype {dt}, expected {dtype}"
    expected = bio.tell() + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if size != expected:
        return f"{size} bytes, the header's shape {tuple(shape)} needs {expected}"
    return None


_HEAD_BYTES = 4096  # .npy headers of genrelab's arrays are 128 bytes; numpy allows up to 64 KiB (v2)


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode(), fsync=False)


@dataclass
class CacheReport:
    """What :meth:`FeatureCache.compute_all` did."""

    total: int = 0
    computed: int = 0
    cached: int = 0
    failed: int = 0
    repaired: int = 0  # entries found broken (zero bytes, truncated, corrupt) and recomputed
    stages: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage, all workers (pipeline.STAGES)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (track_id, message)
    seconds: float = 0.0
    directory: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        broken = f" ({self.repaired} broken entries recomputed)" if self.repaired else ""
        return (f"{self.total} tracks: {self.computed} computed{broken}, {self.cached} already cached, "
                f"{self.failed} failed ({self.seconds:.1f} s) -> {self.directory}")

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "computed": self.computed, "cached": self.cached, "failed": self.failed,
                "repaired": self.repaired, "stage_cpu_seconds": dict(self.stages),
                "errors": [{"track_id": t, "error": e} for t, e in self.errors], "seconds": self.seconds,
                "directory": self.directory}


class FeatureCache:
    """Feature cache under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._index: dict[Path, dict[str, dict[str, Any]]] = {}  # directory -> key -> latest index record

    # -- layout
    def directory(self, spec: InputSpec | FeatureConfig) -> Path:
        spec = _as_spec(spec)
        d = self.root / spec.hash()
        d.mkdir(parents=True, exist_ok=True)
        meta = d / "spec.json"
        if not meta.exists():
            _atomic_write_text(meta, json.dumps(spec.to_dict(), indent=2, sort_keys=True) + "\n")
        return d

    def path(self, track_id: str, spec: InputSpec | FeatureConfig) -> Path:
        return self.directory(spec) / f"{track_key(track_id)}.npy"

    def has(self, track_id: str, spec: InputSpec | FeatureConfig) -> bool:
        """True when a valid entry exists (cheap check: header, size, index size)."""
        return self.valid(self.path(track_id, spec)) is None

    # -- index + validation
    def index(self, directory: Path, reload: bool = False) -> dict[str, dict[str, Any]]:
        """``key -> latest record`` of ``directory/index.jsonl`` (unparsable lines, e.g. a cut-short last
        line, are ignored)."""
        if reload or directory not in self._index:
            recs: dict[str, dict[str, Any]] = {}
            try:
                text = (directory / _INDEX).read_text(errors="replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                try:
                    r = json.loads(line)
                    recs[str(r["key"])] = r
                except (ValueError, KeyError, TypeError):
                    continue
            self._index[directory] = recs
        return self._index[directory]

    def _record(self, path: Path, reload: bool = False) -> dict[str, Any] | None:
        return self.index(path.parent, reload=reload).get(path.stem)

    def valid(self, path: Path, verify: bool = False) -> str | None:
        """Why the entry at ``path`` cannot be used (missing, zero bytes, truncated, wrong dtype, size or
        checksum unlike its index record), or None when it is sound. ``verify`` also checks the CRC-32
        (reads the whole file)."""
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                data = f.read() if verify else f.read(_HEAD_BYTES)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        return self._check(path, data, size, full=verify)

    def _check(self, path: Path, data: bytes, size: int, full: bool) -> str | None:
        problem = npy_problem(data[:_HEAD_BYTES], size)
        if problem is not None:
            return problem
        for reload in (False, True):  # another process may have written the entry after our index was read
            rec = self._record(path, reload=reload)
            if rec is None:
                if reload:
                    return None  # written before the index existed (or killed before its line): header checks only
                continue
            ok = int(rec.get("bytes", -1)) == size and (not full or int(rec.get("crc32", -1)) == zlib.crc32(data))
            if ok:
                return None
        return "size or checksum differs from the index (corrupt entry)"

    def entries(self, spec: InputSpec | FeatureConfig) -> list[Path]:
        """Complete entries of ``spec`` (temporary files of interrupted writes are not entries)."""
        return sorted(p for p in self.directory(spec).glob("*.npy") if _TMP_MARK not in p.name)

    # -- read / write
    def get(self, track_id: str, spec: InputSpec | FeatureConfig) -> np.ndarray | None:
        """The cached examples, or None when the entry is missing or fails validation (full check)."""
        p = self.path(track_id, spec)
        try:
            data = p.read_bytes()
        except OSError:
            return None
        if self._check(p, data, len(data), full=True) is not None:
            return None  # a broken entry counts as missing: it will be recomputed and rewritten
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError):  # pragma: no cover - the checks above make this unlikely
            return None

    def put(self, track_id: str, spec: InputSpec | FeatureConfig, arr: np.ndarray) -> Path:
        """Store ``arr`` (float32) atomically and append its index record."""
        p = self.path(track_id, spec)
        data = npy_bytes(np.asarray(arr, dtype=np.float32))
        atomic_write_bytes(p, data, fsync=False)
        rec = {"key": p.stem, "bytes": len(data), "crc32": zlib.crc32(data), "shape": list(np.shape(arr))}
        _append_line(p.parent / _INDEX, json.dumps(rec, separators=(",", ":")))
        self._index.setdefault(p.parent, {})[p.stem] = rec
        return p

    def get_or_compute(self, track: Track | str | Path, spec: InputSpec | FeatureConfig) -> np.ndarray:
        """Cached examples of ``track`` (``spec.examples(audio)``), computing and storing them if absent."""
        track, spec = _as_track(track), _as_spec(spec)
        hit = self.get(track.track_id, spec)
        if hit is not None:
            return hit
        arr = compute_track(track, spec)
        self.put(track.track_id, spec, arr)
        return arr

    def clean_temporary(self, spec: InputSpec | FeatureConfig) -> int:
        """Remove temporary files left by killed writers: this machine's whose process is gone, and other
        machines' (a cache shared by several nodes) older than a day."""
        n = 0
        host = _host()
        for p in self.directory(spec).glob(f"*{_TMP_MARK}*"):
            m = re.search(re.escape(_TMP_MARK) + r"(\d+)-(?:(.+)-)?\d+", p.name)
            pid = int(m.group(1)) if m else -1
            if m and m.group(2) and m.group(2) != host:  # another node's writer: its pid means nothing here
                try:
                    stale = time.time() - p.stat().st_mtime > _FOREIGN_TMP_AGE_S
                except OSError:
                    continue
                if stale:
                    p.unlink(missing_ok=True)
                    n += 1
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                p.unlink(missing_ok=True)
                n += 1
        return n

    # -- bulk
    def plan(self, tracks: Iterable[Track | str | Path], spec: InputSpec | FeatureConfig,
             verify: bool = False) -> tuple[list[Track], CacheReport]:
        """The tracks whose entry is missing or broken, and a report counting the valid (``cached``) and broken
        (``repaired``) ones; removes dead writers' temporary files first. ``verify``: check checksums too."""
        spec = _as_spec(spec)
        d = self.directory(spec)
        self.clean_temporary(spec)
        tracks = [_as_track(t) for t in tracks]
        report = CacheReport(total=len(tracks), directory=str(d))
        todo = []
        self.index(d, reload=True)
        for t in tracks:
            problem = self.valid(d / f"{track_key(t.track_id)}.npy", verify=verify)
            if problem is None:
                report.cached += 1
            else:
                todo.append(t)
                if problem != "missing":
                    report.repaired += 1
        return todo, report

    def compute_all(self, tracks: Iterable[Track | str | Path], spec: InputSpec | FeatureConfig,
                    workers: int = 1, progress: bool = True, verify: bool = False,
                    runtime: Any = None) -> CacheReport:
        """Compute every missing or broken entry (``workers`` processes); valid entries are skipped.

        ``runtime``: a :class:`genrelab.runtime.Runtime`; features run on its ``device`` (None: each feature's
        default, CUDA when present). The command line passes ``Runtime.from_env()``.

        ``verify``: check existing entries' checksums too (reads every entry), not only their size.
        A track that fails (undecodable audio, too short, ...) is reported in the returned
        :class:`CacheReport` and skipped; the run always finishes.
        """
        t0 = time.perf_counter()
        spec = _as_spec(spec)
        tracks = [_as_track(t) for t in tracks]
        todo, report = self.plan(tracks, spec, verify=verify)
        d = Path(report.directory)
        from genrelab.features import pipeline

        with _progress_bar(progress) as bar:
            task = bar.add_task(f"{spec.feature.kind} features", total=len(tracks), completed=report.cached) \
                if bar else None

            def done(track_id: str, err: str | None) -> None:
                if err is None:
                    report.computed += 1
                else:
                    report.failed += 1
                    report.errors.append((track_id, err))
                if bar:
                    bar.advance(task)

            pipeline.run(str(self.root), spec, todo, workers, done, report.stages, type(self), runtime=runtime)
        self.index(d, reload=True)  # the workers' records, for the reads that follow
        report.seconds = time.perf_counter() - t0
        return report


def compute_track(track: Track, spec: InputSpec) -> np.ndarray:
    """``spec.examples`` of a track's decoded audio (float32)."""
    from genrelab.features.pipeline import decode

    return np.asarray(spec.examples(decode(track, spec)), dtype=np.float32)


def _append_line(path: Path, line: str) -> None:
    """Append one line with a single ``write`` on an ``O_APPEND`` descriptor (atomic among processes)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie (killed, not yet reaped: in a container whose first process
    does not reap orphans it stays one) has stopped writing, so it counts as gone."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):  # no /proc (not Linux), or it exited meanwhile
        return True


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _progress_bar(enabled: bool):
    if not enabled:
        return _NoBar()
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=False)


__all__ = ["FeatureCache", "CacheReport", "compute_track", "track_key", "atomic_save_npy", "atomic_write_bytes",
           "npy_bytes", "npy_problem", "mp_context", "worker_pool"]
