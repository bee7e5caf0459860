"""Packed, memory-mapped examples: the cached entries of a track list in one ``.npy``, read with ``mmap_mode="r"``.

The per-track feature cache (:class:`~genrelab.features.cache.FeatureCache`) stays the source of truth
(resumable extraction, one entry per track); a pack is derived from it, so that a training set larger than
RAM trains from the page cache and no process ever holds an array of all examples::

    CACHE/<spec hash>/packs/<digest>.npy    the examples of every track, in the track list's order
    CACHE/<spec hash>/packs/<digest>.json   sidecar: digest, dtype, shape, size in bytes, CRC-32, tracks

``digest`` is a SHA-256 of the spec hash, the stored dtype and the exact list of (track key, entry size,
entry CRC-32) (from the cache's index): a pack is reused only for the identical list of identical entries;
any change (a track added, removed or reordered, an entry recomputed) gives another digest and a new pack.
The pack is written to a temporary file and renamed into place, its sidecar after it; it is trusted only
when the sidecar's digest matches and the file's ``.npy`` header, dtype, shape and size agree with the
sidecar (``verify=True`` also checks the CRC-32, reading the whole file): a truncated or garbled pack is
rebuilt, never read. Packs can be deleted at any time (they are rebuilt on the next run).

``dtype="uint8"`` stores colour-mapped image pixels quantised as an 8-bit PNG is
(:func:`genrelab.features.images.quantize`): 4x fewer bytes to read, copy and transfer.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.features.cache import FeatureCache, atomic_write_bytes, npy_problem, track_key
from genrelab.features.config import InputSpec
from genrelab.features.images import quantize
from genrelab.types import DataError, Track

PACK_DIR = "packs"
DTYPES = ("float32", "uint8")
_HEAD = 4096
_CHUNK = 16 << 20


def _entry(cache: FeatureCache, track: Track, spec: InputSpec) -> tuple[Path, dict[str, Any]] | str:
    """``(path, {key, bytes, crc32, shape})`` of a track's valid entry, or why there is none."""
    path = cache.path(track.track_id, spec)
    problem = cache.valid(path)
    if problem is not None:
        return f"{track.track_id}: feature cache entry {problem}"
    rec = cache.index(path.parent).get(path.stem)
    if rec is None or "crc32" not in rec or "shape" not in rec:  # written before the index existed
        data = path.read_bytes()
        rec = {"key": path.stem, "bytes": len(data), "crc32": zlib.crc32(data),
               "shape": list(np.load(path, mmap_mode="r").shape)}
    return path, rec


def entry_bytes(cache: FeatureCache, tracks: Sequence[Track], spec: InputSpec) -> int:
    """Bytes of the tracks' cached entries (float32), from the cache's index (0 for entries it does not list)."""
    d = cache.directory(spec)
    idx = cache.index(d)
    return sum(int(idx.get(track_key(t.track_id), {}).get("bytes", 0)) for t in tracks)


def packed_examples(cache: FeatureCache, tracks: Sequence[Track], label_index: Any, spec: InputSpec, *,
                    dtype: str = "float32", on_error: str = "raise", verify: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``(X memory-mapped, y, example track ids, skipped)`` of ``tracks``' cached entries (computed beforehand).

    ``label_index(label) -> int``; ``on_error="skip"``: tracks without a valid entry are left out (and listed),
    else they raise :class:`DataError`."""
    if dtype not in DTYPES:
        raise DataError(f"pack dtype must be one of {DTYPES}, got {dtype!r}")
    entries, ys, ids, skipped = [], [], [], []
    for t in tracks:
        if t.label is None:
            raise DataError(f"{t.track_id}: no label")
        got = _entry(cache, t, spec)
        if isinstance(got, str):
            if on_error == "skip":
                skipped.append(got)
                continue
            raise DataError(got)
        entries.append(got)
        n = int(got[1]["shape"][0])
        ys.extend([label_index(t.label)] * n)
        ids.extend([str((t.extra or {}).get("original_id", t.track_id))] * n)
    if not entries:
        raise DataError(f"no examples built from {len(tracks)} track(s)" + (f"; skipped: {skipped[:3]}" if skipped else ""))
    shapes = {tuple(rec["shape"][1:]) for _, rec in entries}
    if len(shapes) > 1:
        raise DataError(f"tracks give examples of different shapes {sorted(shapes)}; set clip_seconds/n_segments")
    shape = (len(ys), *shapes.pop())
    digest = hashlib.sha256(json.dumps(
        [spec.hash(), dtype, [(rec["key"], int(rec["bytes"]), int(rec["crc32"])) for _, rec in entries]]).encode()
    ).hexdigest()
    pack = cache.directory(spec) / PACK_DIR / f"{digest[:32]}.npy"
    if pack_problem(pack, digest, shape, dtype, verify=verify) is not None:
        write_pack(pack, entries, shape, dtype, digest, spec)
    X = np.load(pack, mmap_mode="r", allow_pickle=False)
    return X, np.asarray(ys, dtype=np.int64), ids, skipped


def sidecar_path(pack: Path) -> Path:
    return pack.with_suffix(".json")


def pack_problem(pack: Path, digest: str, shape: tuple[int, ...], dtype: str, verify: bool = False) -> str | None:
    """Why the pack at ``pack`` cannot be used for ``digest`` (missing, stale, truncated, corrupt), or None."""
    try:
        meta = json.loads(sidecar_path(pack).read_text())
        size = pack.stat().st_size
        with open(pack, "rb") as f:
            head = f.read(_HEAD)
    except (OSError, ValueError):
        return "missing"
    if meta.get("digest") != digest or meta.get("dtype") != dtype or list(meta.get("shape", ())) != list(shape):
        return "stale (another track list, entry or dtype)"
    problem = npy_problem(head, size, np.dtype(dtype))
    if problem is not None or size != int(meta.get("bytes", -1)):
        return problem or "size differs from the sidecar"
    if verify and _file_crc(pack) != int(meta.get("crc32", -1)):
        return "checksum differs from the sidecar"
    return None


def write_pack(pack: Path, entries: Sequence[tuple[Path, dict[str, Any]]], shape: tuple[int, ...], dtype: str,
               digest: str, spec: InputSpec) -> None:
    """Concatenate the cache entries ``(path, index record)`` into ``pack`` (temporary file + rename), then its
    sidecar; one entry in memory at a time, each checked against its record's CRC-32."""
    from numpy.lib.format import open_memmap

    pack.parent.mkdir(parents=True, exist_ok=True)
    tmp = pack.with_name(f"{pack.stem}.tmp-{os.getpid()}-{os.urandom(4).hex()}.npy")
    try:
        out = open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=shape)
        at = 0
        for p, rec in entries:
            arr = _read_entry(p, rec)
            out[at:at + len(arr)] = quantize(arr) if dtype == "uint8" else arr
            at += len(arr)
        if at != shape[0]:
            raise DataError(f"{pack}: entries changed while packing ({at} examples, expected {shape[0]})")
        out.flush()
        del out
        meta = {"digest": digest, "dtype": dtype, "shape": list(shape), "bytes": tmp.stat().st_size,
                "crc32": _file_crc(tmp), "tracks": len(entries), "spec": spec.hash()}
        os.replace(tmp, pack)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write_bytes(sidecar_path(pack), (json.dumps(meta, indent=1) + "\n").encode(), fsync=False)


def _read_entry(path: Path, rec: dict[str, Any]) -> np.ndarray:
    import io

    data = path.read_bytes()
    if len(data) != int(rec["bytes"]) or zlib.crc32(data) != int(rec["crc32"]):
        raise DataError(f"{path}: feature cache entry changed while packing (size or checksum)")
    return np.load(io.BytesIO(data), allow_pickle=False)


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def ram_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


#: ``mmap="auto"`` maps the examples when they would take more than this fraction of RAM
AUTO_RAM_FRACTION = 0.25


def want_mmap(setting: Any, nbytes: int) -> bool:
    """Resolve ``data.mmap`` (``auto``/true/false) for examples of ``nbytes`` bytes."""
    if isinstance(setting, str) and setting.lower() == "auto":
        ram = ram_bytes()
        return bool(ram) and nbytes > AUTO_RAM_FRACTION * ram
    return bool(setting)


__all__ = ["packed_examples", "pack_problem", "write_pack", "entry_bytes", "want_mmap", "ram_bytes",
           "AUTO_RAM_FRACTION", "PACK_DIR"]
