"""The pretrained musicnn checkpoints without installing the ``musicnn`` package: its 0.1.0 wheel from PyPI.

``pip install genrelab`` alone must give working musicnn models, but the weights ship only in the
``musicnn`` wheel (whose dependencies, TensorFlow among them, genrelab does not want). When that package
is not installed, :func:`fetch_checkpoints` downloads the wheel from its published PyPI URL
(:data:`WHEEL_URL`), resumably (:func:`genrelab.httpfetch.fetch`: a ``.part`` file continued with HTTP
``Range`` requests), refuses it unless its SHA-256 is :data:`WHEEL_SHA256`, and reads the four TF
checkpoints (``musicnn/<model>/.index`` and ``.data-*``) out of the zip into
``<cache>/musicnn/musicnn-0.1.0/<model>/``. The folder appears atomically (extracted beside it, then
renamed) and a lock file serialises concurrent processes; the wheel is deleted once extracted.
:mod:`genrelab.musicnn.weights` then converts the checkpoints as it does the installed package's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from genrelab.musicnn import info

WHEEL_NAME = f"{info.PACKAGE}-{info.PACKAGE_VERSION}-py3-none-any.whl"
#: Where PyPI publishes the wheel (the link of https://pypi.org/simple/musicnn/).
WHEEL_URL = ("https://files.pythonhosted.org/packages/1b/6f/"
             f"38229e7d99c438e11114bbfa39c8c39185458c398011d0b6d7d7c7401617/{WHEEL_NAME}")
#: The SHA-256 PyPI publishes for that file (its simple index, PEP 691), equal to the digest of the file
#: ``pip download musicnn==0.1.0 --no-deps`` fetches.
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
_CHECKPOINT_FILES = (".index", ".data-00000-of-00001")


def fetch_checkpoints(cache_dir: Path | None = None, *, url: str | None = None, sha256: str | None = None,
                      retries: int = 5, timeout: float = 30.0) -> dict[str, Path]:
    """The checkpoint folder of every pretrained model, from the wheel (downloaded and checked first when
    they are not extracted yet). ``url`` / ``sha256`` default to :data:`WHEEL_URL` / :data:`WHEEL_SHA256`.
    Raises :class:`~genrelab.musicnn.info.MusicnnUnavailable` saying what failed and what to do."""
    from genrelab.httpfetch import DownloadError, fetch, verify

    url = url or WHEEL_URL
    checksum = f"sha256:{sha256 or WHEEL_SHA256}"
    dest = info.downloaded_dir(cache_dir)
    if _complete(dest):
        return _folders(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.parent / f".{dest.name}.lock"):
        if _complete(dest):  # another process finished while we waited
            return _folders(dest)
        wheel = dest.parent / WHEEL_NAME
        try:
            if not (wheel.is_file() and verify(wheel, checksum)[0]):
                wheel.unlink(missing_ok=True)
                fetch(url, wheel, checksum=checksum, retries=retries, timeout=timeout)
        except DownloadError as exc:
            raise info.MusicnnUnavailable(
                f"the pretrained musicnn weights come from the musicnn {info.PACKAGE_VERSION} wheel, which could not "
                f"be downloaded: {exc}. Run again to resume, or install the package with: {info.PIP_HINT}"
            ) from None
        _extract(wheel, dest)
        wheel.unlink(missing_ok=True)
    return _folders(dest)


def _complete(dest: Path) -> bool:
    return all(all((dest / m / f).is_file() for f in _CHECKPOINT_FILES) for m in info.PRETRAINED)


def _folders(dest: Path) -> dict[str, Path]:
    return {m: dest / m for m in info.PRETRAINED}


def _extract(wheel: Path, dest: Path) -> None:
    """Copy the checkpoint files of every model out of ``wheel`` into ``dest``, which appears whole or not at all."""
    members = {f"{info.PACKAGE}/{m}/{f}": Path(m) / f for m in info.PRETRAINED for f in _CHECKPOINT_FILES}
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        try:
            with zipfile.ZipFile(wheel) as z:
                names = set(z.namelist())
                missing = sorted(set(members) - names)
                if missing:
                    raise info.MusicnnUnavailable(f"{wheel}: not the musicnn wheel genrelab expects (missing {missing[:3]})")
                for name, rel in members.items():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(name) as src, open(tmp / rel, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        except (zipfile.BadZipFile, OSError) as exc:
            raise info.MusicnnUnavailable(f"{wheel}: cannot read the musicnn wheel ({exc}); delete it and run again") from None
        if dest.exists():  # an incomplete earlier folder (not written by this code, which renames whole folders)
            shutil.rmtree(dest)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (where ``fcntl`` exists; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
