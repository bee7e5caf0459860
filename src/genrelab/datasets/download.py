"""Download the public datasets: resumable HTTP, checksum verification, extraction.

Every URL and checksum lives in :data:`ARCHIVES` (the one place to change them). A download goes
to ``<dest>/<file>.part`` and resumes from there with an HTTP ``Range`` request, after a dropped
connection (retried at once) or in a later run; only a file whose checksum matches is renamed to
``<dest>/<file>`` and extracted (the HTTP part is :mod:`genrelab.httpfetch`). A checksum mismatch is
refused: the bad file is deleted (resuming it could never fix it) and :class:`DownloadError` says what was
expected and what arrived.

``GENRELAB_MIRROR=<base URL>`` fetches every archive as ``<base URL>/<file name>`` instead (a local
mirror, or the test server); tests can also pass their own table to :func:`download`.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from genrelab.httpfetch import DownloadError, Progress, fetch, hash_file, verify  # noqa: F401  (re-exported)

MIRROR_ENV = "GENRELAB_MIRROR"


@dataclass(frozen=True)
class Archive:
    """One downloadable archive. ``checksum`` is ``"<algorithm>:<hex>"`` (sha1, md5, sha256) or None."""

    name: str
    urls: tuple[str, ...]
    filename: str
    checksum: str | None
    description: str
    extracts_to: str = ""
    approx_size: str = ""


#: The public archives. GTZAN: the original Marsyas/UVic archive (md5 as published by mirdata's
#: loader) with the Hugging Face copy of the same file as a fallback. FMA: the official archives
#: and the sha1 sums listed in the FMA README (github.com/mdeff/fma).
ARCHIVES: dict[str, Archive] = {
    "gtzan": Archive(
        "gtzan",
        ("http://opihi.cs.uvic.ca/sound/genres.tar.gz",
         "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz"),
        "genres.tar.gz", "md5:5b3d6dddb579ab49814ab86dba69e7c7",
        "GTZAN genre collection: 1000 x 30 s .au clips, 10 genres (original layout genres/<genre>/)",
        "genres", "1.2 GB"),
    "fma-metadata": Archive(
        "fma-metadata", ("https://os.unil.cloud.switch.ch/fma/fma_metadata.zip",), "fma_metadata.zip",
        "sha1:f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
        "FMA metadata: tracks.csv, genres.csv, features.csv, echonest.csv", "fma_metadata", "342 MB"),
    "fma-small": Archive(
        "fma-small", ("https://os.unil.cloud.switch.ch/fma/fma_small.zip",), "fma_small.zip",
        "sha1:ade154f733639d52e35e32f5593efe5be76c6d70",
        "FMA small: 8,000 clips of 30 s, 8 balanced genres", "fma_small", "7.2 GB"),
    "fma-medium": Archive(
        "fma-medium", ("https://os.unil.cloud.switch.ch/fma/fma_medium.zip",), "fma_medium.zip",
        "sha1:c67b69ea232021025fca9231fc1c7c1a063ab50b",
        "FMA medium: 25,000 clips of 30 s, 16 unbalanced genres", "fma_medium", "22 GB"),
    "fma-large": Archive(
        "fma-large", ("https://os.unil.cloud.switch.ch/fma/fma_large.zip",), "fma_large.zip",
        "sha1:497109f4dd721066b5ce5e5f250ec604dc78939e",
        "FMA large: 106,574 clips of 30 s, 161 unbalanced genres", "fma_large", "93 GB"),
    "fma-full": Archive(
        "fma-full", ("https://os.unil.cloud.switch.ch/fma/fma_full.zip",), "fma_full.zip",
        "sha1:0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
        "FMA full: 106,574 untrimmed tracks, 161 unbalanced genres", "fma_full", "879 GB"),
}

def resolve(name: str, archives: dict[str, Archive] | None = None, url: str | None = None,
            checksum: str | None = None) -> Archive:
    """The archive called ``name`` with the mirror (``GENRELAB_MIRROR``) and overrides applied."""
    table = ARCHIVES if archives is None else archives
    if name not in table:
        raise DownloadError(f"unknown dataset {name!r}; one of {', '.join(table)}")
    arch = table[name]
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        arch = replace(arch, urls=(mirror.rstrip("/") + "/" + arch.filename,))
    if url:
        arch = replace(arch, urls=(url,))
    if checksum is not None:
        arch = replace(arch, checksum=checksum or None)
    return arch


def extract(archive: Path, dest: Path) -> list[str]:
    """Extract a zip or tar archive into ``dest`` (refusing members that would land outside it).

    Returns the top-level names it created.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    tops: set[str] = set()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for member in z.infolist():
                _check_member(member.filename, root, archive)
                tops.add(member.filename.split("/", 1)[0])
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            for member in members:
                _check_member(member.name, root, archive)
                if member.issym() or member.islnk():
                    _check_member(os.path.join(os.path.dirname(member.name), member.linkname), root, archive)
                tops.add(member.name.lstrip("./").split("/", 1)[0])
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                t.extractall(dest, members=members)
    else:
        raise DownloadError(f"{archive}: neither a zip nor a tar archive")
    return sorted(n for n in tops if n)


def _check_member(name: str, root: Path, archive: Path) -> None:
    target = (root / name).resolve()
    if os.path.isabs(name) or not (target == root or root in target.parents):
        raise DownloadError(f"{archive}: member {name!r} would extract outside {root}; refused")


@dataclass
class DownloadResult:
    archive: Path
    extracted: list[str]
    skipped_download: bool
    skipped_extract: bool


def download(name: str, dest: str | Path, *, archives: dict[str, Archive] | None = None, url: str | None = None,
             checksum: str | None = None, do_extract: bool = True, keep_archive: bool = True,
             progress: Progress | None = None, retries: int = 5, timeout: float = 30.0,
             backoff: float = 0.5) -> DownloadResult:
    """Download (resuming), verify and extract the archive ``name`` into ``dest``.

    An archive already there with the right checksum is not fetched again, and one already
    extracted (a ``.<file>.extracted`` marker) is not extracted again. URLs are tried in order.
    """
    arch = resolve(name, archives, url, checksum)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / arch.filename
    marker = dest / f".{arch.filename}.extracted"
    tops = marker.read_text().split() if marker.is_file() else []
    done = bool(tops) and all((dest / t).exists() for t in tops)  # extracted before, still there
    if done and not target.exists():
        return DownloadResult(target, tops, True, True)
    skipped = False
    if target.is_file() and verify(target, arch.checksum)[0]:
        skipped = True
    else:
        if target.is_file():
            target.unlink()  # a whole file with the wrong checksum: fetch it again
        errors = []
        for u in arch.urls:
            try:
                fetch(u, target, checksum=arch.checksum, progress=progress, retries=retries, timeout=timeout,
                      backoff=backoff)
                break
            except DownloadError as exc:
                errors.append(str(exc))
                if "checksum mismatch" in str(exc):
                    raise
        else:
            raise DownloadError("; ".join(errors))
    extracted: list[str] = []
    skipped_extract = True
    if do_extract:
        if done and skipped:
            extracted = tops
        else:
            extracted = extract(target, dest)
            marker.write_text("\n".join(extracted) + "\n")
            skipped_extract = False
        if not keep_archive:
            target.unlink()
    return DownloadResult(target, extracted, skipped, skipped_extract)
