"""Read and write the genre tag of audio files (mutagen), never touching the audio data.

Formats: MP3 (ID3v2 ``TCON``), FLAC and Ogg Vorbis/Opus (Vorbis comment ``GENRE``), MP4/M4A (``©gen``),
WAV/AIFF (an ID3 chunk, ``TCON``). Writing is safe by construction:

1. a symbolic link is followed: the file it points to is tagged and the link stays a link;
2. the file is copied (streamed, never held in memory) to a hidden temporary file in the same folder,
   ``.NAME.genrelab-tmp-XXXXXXXX`` (no audio extension, so no scan ever takes it for a track), locked
   with ``flock`` while in use;
3. mutagen writes the tag into the copy;
4. the copy is checked: the tag reads back and the audio payload (the bytes of the audio frames/packets,
   see :func:`audio_payload`, hashed as a stream) is identical to the original's;
5. a file with one name is then replaced atomically (``os.replace``, permissions kept). A file with
   several hard links keeps its inode: a verified backup copy ``.NAME.genrelab-bak-XXXXXXXX`` is made,
   the tagged bytes are streamed into the file, checked again, and the backup removed.

A crash or a full disk at any point leaves the original untouched (or, for a hard-linked file, its
backup beside it). :func:`clean_stale` (run by ``genrelab tag`` on every folder it visits) removes the
temporary files of killed runs, and puts a backup back when its file was left half-written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import struct
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from genrelab.types import GenrelabError

SUPPORTED = {".mp3": "id3", ".flac": "vorbis", ".ogg": "vorbis", ".oga": "vorbis", ".opus": "vorbis",
             ".m4a": "mp4", ".mp4": "mp4", ".m4b": "mp4", ".aac": None, ".wav": "riff-id3", ".aif": "riff-id3",
             ".aiff": "riff-id3"}

_DISPLAY = {"hiphop": "Hip-Hop", "rnb": "R&B"}
#: marks of the files this module makes beside the user's files (also the names older versions used)
TMP_MARK = ".genrelab-tmp"
BAK_MARK = ".genrelab-bak-"
_BAK_RE = re.compile(r"^\.(?P<name>.+)\.genrelab-bak-[A-Za-z0-9_]{8}$")
_CHUNK = 1 << 20
#: without flock (Windows), a temporary file counts as stale after this many seconds
_STALE_AFTER = 3600.0


class TagError(GenrelabError):
    """A file whose tags cannot be read or written (names the file and why)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def display_name(label: str) -> str:
    """The conventional tag spelling of a label (``hiphop`` -> ``Hip-Hop``, ``rock`` -> ``Rock``)."""
    return _DISPLAY.get(label.lower(), label[:1].upper() + label[1:])


def supported(path: str | Path) -> bool:
    return SUPPORTED.get(Path(path).suffix.lower()) is not None


def is_own_file(path: str | Path) -> bool:
    """True for the temporary and backup files :func:`write_genre` makes (never a track)."""
    name = Path(path).name
    return TMP_MARK in name or BAK_MARK in name


def _regular(path: Path) -> os.stat_result:
    """``stat`` of a regular file (links followed); TagError for anything else (a FIFO would block a read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TagError(path, "no such file") from None
    except OSError as exc:
        raise TagError(path, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TagError(path, "not a regular file (a pipe, device or folder); skipped")
    return st


def _open(path: Path, kind=None):
    import mutagen

    try:
        f = kind(str(path)) if kind is not None else mutagen.File(str(path))
    except Exception as exc:  # mutagen raises many types for broken files
        raise TagError(path, f"cannot read tags: {type(exc).__name__}: {exc}") from None
    if f is None:
        raise TagError(path, "not a file format mutagen can tag")
    return f


def _style(f) -> str:
    from mutagen.mp4 import MP4

    name = type(f).__name__
    if isinstance(f, MP4):
        return "mp4"
    if name in ("MP3", "EasyMP3", "WAVE", "AIFF"):
        return "id3"
    return "vorbis"


def _genres_of(f) -> list[str]:
    tags = f.tags
    if tags is None:
        return []
    style = _style(f)
    if style == "id3":
        frame = tags.get("TCON")
        if frame is None or not frame.text:
            return []
        return [str(g) for g in (frame.genres if hasattr(frame, "genres") else frame.text)]
    if style == "mp4":
        return [str(v) for v in tags.get("\xa9gen") or []]
    return [str(v) for v in (tags.get("genre") or tags.get("GENRE") or [])]


def read_genres(path: str | Path) -> list[str]:
    """Every value of the file's genre tag (empty when it has none)."""
    path = Path(path)
    _regular(path)
    return _genres_of(_open(path))


def read_genre(path: str | Path) -> str | None:
    """The file's current genre tag (first value), or None when it has none."""
    genres = read_genres(path)
    return genres[0] if genres else None


def _set_genres(f, genres: list[str]) -> None:
    style = _style(f)
    if f.tags is None:
        f.add_tags()
    if style == "id3":
        from mutagen.id3 import TCON

        f.tags.setall("TCON", [TCON(encoding=3, text=list(genres))])
    elif style == "mp4":
        f.tags["\xa9gen"] = list(genres)
    else:
        for key in [k for k in f.tags.keys() if k.lower() == "genre"]:
            del f.tags[key]
        f.tags["GENRE"] = list(genres)


# --------------------------------------------------------------------------- our own files beside the user's
def _locked_temp(folder: Path, name: str, mark: str) -> tuple[int, Path]:
    """A new hidden file in ``folder`` (``.NAME<mark>XXXXXXXX``), open and exclusively locked."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name[:150]}{mark}", suffix="")
    _lock(fd, block=True)
    return fd, Path(tmp)


def _lock(fd: int, block: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; stale files are recognised by age
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


def _unused(path: Path) -> bool:
    """True when no live process holds ``path`` (its lock can be taken, or it is old where locks are missing)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return time.time() - path.stat().st_mtime > _STALE_AFTER
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        return _lock(fd, block=False)
    finally:
        os.close(fd)


def clean_stale(folders: Iterable[str | Path], dry_run: bool = False) -> list[str]:
    """Remove what killed ``tag --write`` runs left in ``folders``; returns one line per action taken.

    A temporary copy is deleted. A backup of a hard-linked file is deleted when its file is intact
    (readable, same audio payload), and copied back into the file first when it is not. Files in use by
    a running ``tag --write`` (locked) are left alone. ``dry_run``: only say what would be done.
    """
    done: list[str] = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            names = [n for n in os.listdir(folder) if n.startswith(".") and is_own_file(n)]
        except OSError:
            continue
        for n in sorted(names):
            p = folder / n
            if not p.is_file() or p.is_symlink() or not _unused(p):
                continue
            if dry_run:
                done.append(f"found {p}, left by an interrupted tag --write (--write cleans it up)")
                continue
            if TMP_MARK in n:
                p.unlink(missing_ok=True)
                done.append(f"removed {p} (left by an interrupted tag --write)")
                continue
            m = _BAK_RE.match(n)
            target = folder / m.group("name") if m else None
            if target is None or not target.is_file():
                done.append(f"kept {p}: backup of a file that is gone; move it back by hand if you need it")
                continue
            if _intact(target, p):
                p.unlink()
                done.append(f"removed {p} (its file {target} is intact)")
            else:
                _copy_into(p, target)
                p.unlink()
                done.append(f"restored {target} from {p} (an interrupted tag --write had left it half-written)")
    return done


def _intact(path: Path, backup: Path) -> bool:
    """``path`` opens as audio with tags and holds the backup's audio payload."""
    try:
        _open(path)
        return audio_payload_digest(path) == audio_payload_digest(backup, path.suffix)
    except (TagError, OSError, IndexError, struct.error, ValueError):
        return False


def _copy_into(src: Path, dst: Path) -> None:
    """Stream ``src`` into the existing file ``dst`` (same inode: hard links stay links), then fsync."""
    with open(src, "rb") as fi, open(dst, "r+b") as fo:
        shutil.copyfileobj(fi, fo, _CHUNK)
        fo.truncate()
        fo.flush()
        os.fsync(fo.fileno())


# --------------------------------------------------------------------------- writing
def write_genre(path: str | Path, genre: str | list[str], verify: bool = True) -> None:
    """Set the genre tag of ``path`` to ``genre`` (one value or several) safely: see the module docstring.

    Every failure (unreadable, read-only file or folder, full disk, verification) is a :class:`TagError`
    naming the file; the file is then unchanged."""
    try:
        _write_genre(path, genre, verify)
    except OSError as exc:
        raise TagError(path, f"cannot write tags: {exc.strerror or exc}; file left unchanged") from None


def _write_genre(path: str | Path, genre: str | list[str], verify: bool) -> None:
    link = Path(path)
    genres = [genre] if isinstance(genre, str) else list(genre)
    if not supported(link):
        raise TagError(link, f"'{link.suffix}' files are not supported for tagging")
    real = Path(os.path.realpath(link))  # a symlink: tag the file it points to, keep the link
    st = _regular(real)
    if not os.access(real, os.W_OK) or not st.st_mode & 0o222:  # the mode bits: root too leaves it alone
        raise TagError(link, "read-only file; left unchanged")
    kind = type(_open(real))
    suffix = real.suffix.lower() or link.suffix.lower()
    before = audio_payload_digest(real, suffix) if verify else None
    fd, tmp = _locked_temp(real.parent, real.name, TMP_MARK)
    bak_fd = bak = None
    try:
        with open(real, "rb") as src, os.fdopen(os.dup(fd), "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        shutil.copymode(real, tmp)
        f = _open(tmp, kind)
        _set_genres(f, genres)
        try:
            f.save()
        except Exception as exc:
            raise TagError(link, f"cannot write tags: {type(exc).__name__}: {exc}") from None
        if verify:
            _check(tmp, kind, suffix, genres, before, link)
        os.fsync(fd)
        if st.st_nlink <= 1:
            os.replace(tmp, real)
            _fsync_dir(real.parent)
            return
        # hard links: keep the inode. Back the original up (verified), stream the new bytes in, check.
        bak_fd, bak = _locked_temp(real.parent, real.name, BAK_MARK)
        with open(real, "rb") as src, os.fdopen(os.dup(bak_fd), "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
        try:
            _copy_into(tmp, real)
            if verify:
                _check(real, kind, suffix, genres, before, link)
        except BaseException:
            _copy_into(bak, real)
            raise
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        if bak_fd is not None:
            os.close(bak_fd)
            bak.unlink(missing_ok=True)


def _check(path: Path, kind, suffix: str, genres: list[str], before: str | None, shown: Path) -> None:
    got = _genres_of(_open(path, kind))
    if got != genres:
        raise TagError(shown, f"tag did not read back ({got!r} != {genres!r}); file left unchanged")
    if audio_payload_digest(path, suffix) != before:
        raise TagError(shown, "audio data would change; file left unchanged")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the audio payload
def audio_payload(path: str | Path, suffix: str | None = None) -> bytes:
    """The bytes of a file's audio data, excluding every tag/metadata region (``suffix``: the format, when
    the name does not say it).

    MP3: everything between the ID3v2 header (and its padding) and a trailing ID3v1/APE tag.
    FLAC: everything after the last metadata block. Ogg: the audio packets (after the header packets;
    page headers are excluded because rewriting a comment may renumber pages). MP4: the ``mdat`` atoms.
    WAV/AIFF: the sample data chunk.
    """
    return b"".join(_payload_pieces(Path(path), suffix))


def audio_payload_digest(path: str | Path, suffix: str | None = None) -> str:
    """SHA-256 of :func:`audio_payload`, read as a stream (memory stays small whatever the file size)."""
    h = hashlib.sha256()
    for piece in _payload_pieces(Path(path), suffix):
        h.update(piece)
    return h.hexdigest()


def _payload_pieces(path: Path, suffix: str | None) -> Iterator[bytes]:
    suffix = (suffix or path.suffix).lower()
    if suffix in (".ogg", ".oga", ".opus"):
        yield from _ogg_payload(path)
        return
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if suffix == ".mp3":
            ranges = [_mp3_range(f, size)]
        elif suffix == ".flac":
            ranges = [_flac_range(f, size)]
        elif suffix in (".m4a", ".mp4", ".m4b"):
            ranges = _mp4_ranges(f)
        elif suffix == ".wav":
            ranges = [_riff_chunk(f, size, b"data", little=True)]
        elif suffix in (".aif", ".aiff"):
            ranges = [_riff_chunk(f, size, b"SSND", little=False)]
        else:
            raise TagError(path, "no audio payload reader for this format")
        for start, length in ranges:
            f.seek(start)
            while length > 0:
                chunk = f.read(min(_CHUNK, length))
                if not chunk:
                    break
                length -= len(chunk)
                yield chunk


def _synchsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _read_at(f, pos: int, n: int) -> bytes:
    f.seek(max(0, pos))
    return f.read(n)


def _mp3_range(f, size: int) -> tuple[int, int]:
    start = 0
    while True:  # one or more ID3v2 tags at the front
        h = _read_at(f, start, 10)
        if h[:3] != b"ID3" or len(h) < 10:
            break
        start += 10 + _synchsafe(h[6:10]) + (10 if h[5] & 0x10 else 0)
    # mutagen may pad the tag; padding is zeros before the first frame sync
    f.seek(start)
    while start < size:
        block = f.read(_CHUNK)
        if not block:
            break
        stripped = block.lstrip(b"\0")
        start += len(block) - len(stripped)
        if stripped:
            break
    end = size
    if end - start >= 128 and _read_at(f, end - 128, 3) == b"TAG":
        end -= 128
    if end >= 32 and _read_at(f, end - 32, 8) == b"APETAGEX":
        ape_size = struct.unpack("<I", _read_at(f, end - 20, 4))[0]
        header = _read_at(f, end - ape_size - 32, 8) == b"APETAGEX"
        end -= ape_size + 32 if header else ape_size
    return start, max(0, end - start)


def _flac_range(f, size: int) -> tuple[int, int]:
    pos = 0
    h = _read_at(f, 0, 10)
    if h[:3] == b"ID3":
        pos = 10 + _synchsafe(h[6:10])
    if _read_at(f, pos, 4) != b"fLaC":
        raise TagError("<flac>", "not a FLAC stream")
    pos += 4
    while pos < size:
        block = _read_at(f, pos, 4)
        if len(block) < 4:
            break
        pos += 4 + int.from_bytes(block[1:4], "big")
        if block[0] & 0x80:
            break
    return pos, max(0, size - pos)


def _ogg_payload(path: Path) -> Iterator[bytes]:
    """The audio packets' bytes, page by page (packets split over pages are joined in order)."""
    from mutagen.ogg import OggPage

    index = -1
    n_header = 3
    seen = False
    with open(path, "rb") as f:
        while True:
            try:
                page = OggPage(f)
            except Exception:  # EOFError at the end; a broken tail ends the payload as before
                break
            seen = True
            for i, frag in enumerate(page.packets):
                if not (i == 0 and page.continued):
                    index += 1
                if index == 0 and i == 0 and frag.startswith(b"OpusHead"):
                    n_header = 2
                if index >= n_header:
                    yield frag
    if not seen:
        raise TagError(path, "no Ogg pages")


def _mp4_ranges(f) -> list[tuple[int, int]]:
    from mutagen.mp4 import Atoms

    f.seek(0)
    return [(a.offset + 8, a.length - 8) for a in Atoms(f).atoms if a.name == b"mdat"]


def _riff_chunk(f, size: int, name: bytes, little: bool) -> tuple[int, int]:
    pos = 12
    fmt = "<I" if little else ">I"
    while pos + 8 <= size:
        h = _read_at(f, pos, 8)
        length = struct.unpack(fmt, h[4:8])[0]
        if h[:4] == name:
            return pos + 8, min(length, size - pos - 8)
        pos += 8 + length + (length & 1)
    raise TagError("<riff>", f"no {name.decode()} chunk")
