"""Resumable HTTP downloads with checksum verification (a leaf module: every layer may use it).

:func:`fetch` downloads a URL to ``<dest>.part`` and resumes from there with an HTTP ``Range`` request,
after a dropped connection (retried at once) or in a later run; only a file whose checksum matches is
renamed to ``<dest>``. A checksum mismatch is refused: the bad file is deleted (resuming it could never fix
it) and :class:`DownloadError` says what was expected and what arrived. Used by the dataset downloads
(:mod:`genrelab.datasets.download`) and the musicnn wheel (:mod:`genrelab.musicnn.wheel`).
"""

from __future__ import annotations

import errno
import hashlib
import socket
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Callable

from genrelab.types import DataError

USER_AGENT = "genrelab/0.1 (+download)"
_LOCAL_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EISDIR, errno.EDQUOT}
CHUNK = 1 << 20

class DownloadError(DataError):
    """A download that failed, or whose checksum did not match."""


Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def hash_file(path: Path, checksum: str) -> str:
    """Hex digest of ``path`` with the algorithm named in ``checksum`` (``sha1:...``)."""
    algorithm = checksum.split(":", 1)[0] if ":" in checksum else "sha1"
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while data := f.read(CHUNK):
            h.update(data)
    return h.hexdigest()


def verify(path: Path, checksum: str | None) -> tuple[bool, str]:
    """(matches, actual digest); a missing checksum matches anything."""
    if not checksum:
        return True, ""
    expected = checksum.split(":", 1)[-1].lower()
    actual = hash_file(path, checksum)
    return actual == expected, actual


def fetch(url: str, dest: Path, *, checksum: str | None = None, progress: Progress | None = None,
          retries: int = 5, timeout: float = 30.0, backoff: float = 0.5) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial file; verify ``checksum``.

    A dropped connection is retried (``retries`` times) from where it stopped; a later call resumes
    from the kept ``.part`` file. Returns ``dest``. Raises :class:`DownloadError`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            done = _fetch_once(url, part, have, progress, timeout)
        except (urllib.error.URLError, HTTPException, ConnectionError, socket.timeout, TimeoutError, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code not in (408, 429, 500, 502, 503, 504):
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            if getattr(exc, "errno", None) in _LOCAL_ERRNOS:  # our disk, not the network: retrying won't help
                raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
            failures += 1
            if failures > retries:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: download interrupted ({exc}); {kept:,} bytes kept in {part}, run again to resume"
                ) from None
            time.sleep(backoff * failures)
            continue
        if done:
            break
        failures += 1  # the server closed early without an error: resume
        if failures > retries:
            kept = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"{url}: the server keeps closing the connection early; {kept:,} bytes kept in {part}, "
                "run again to resume"
            )
        time.sleep(backoff * failures)
    ok, actual = verify(part, checksum)
    if not ok:
        size = part.stat().st_size
        part.unlink()
        algorithm = checksum.split(":", 1)[0] if checksum and ":" in checksum else "sha1"
        raise DownloadError(
            f"{url}: checksum mismatch, expected {checksum}, got {algorithm}:{actual} ({size:,} bytes); "
            "the file was deleted and nothing was extracted"
        )
    part.replace(dest)
    return dest


def _fetch_once(url: str, part: Path, have: int, progress: Progress | None, timeout: float) -> bool:
    """One HTTP request appending to ``part`` from byte ``have``; True when the file is complete."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is already whole
            return True
        raise
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        if have and status == 206:
            mode, start = "ab", have
            total = _total_from_range(resp.headers.get("Content-Range"), have, length)
        else:  # 200: the server ignored the range (or nothing was there): start over
            mode, start = "wb", 0
            total = int(length) if length is not None else None
        expected_body = int(length) if length is not None else None
        received = 0
        with open(part, mode) as f:
            if progress:
                progress(start, total)
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                if progress:
                    progress(start + received, total)
    if expected_body is not None and received < expected_body:
        return False
    return True


def _total_from_range(content_range: str | None, have: int, length: str | None) -> int | None:
    # "bytes 100-999/1000"
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1].strip()
        if tail.isdigit():
            return int(tail)
    return have + int(length) if length is not None else None
