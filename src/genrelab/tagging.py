"""Read and write the genre tag of audio files (mutagen), never touching the audio data.

Formats: MP3 (ID3v2 ``TCON``), FLAC and Ogg Vorbis/Opus (Vorbis comment ``GENRE``), MP4/M4A (``©gen``),
WAV/AIFF (an ID3 chunk, ``TCON``). Writing is safe by construction:

1. the file is copied to a temporary file in the same folder (same file system);
2. mutagen writes the tag into the copy;
3. the copy is checked: the tag reads back and the audio payload (the bytes of the audio frames/packets,
   see :func:`audio_payload`) is identical to the original's;
4. only then the copy atomically replaces the original (``os.replace``), keeping its permissions.

A crash or a full disk at any point leaves the original file untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
from pathlib import Path

from genrelab.types import GenrelabError

SUPPORTED = {".mp3": "id3", ".flac": "vorbis", ".ogg": "vorbis", ".oga": "vorbis", ".opus": "vorbis",
             ".m4a": "mp4", ".mp4": "mp4", ".m4b": "mp4", ".aac": None, ".wav": "riff-id3", ".aif": "riff-id3",
             ".aiff": "riff-id3"}

_DISPLAY = {"hiphop": "Hip-Hop", "rnb": "R&B"}


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


def _open(path: Path):
    import mutagen

    try:
        f = mutagen.File(str(path))
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


def read_genre(path: str | Path) -> str | None:
    """The file's current genre tag (first value), or None when it has none."""
    path = Path(path)
    if not path.exists():
        raise TagError(path, "no such file")
    f = _open(path)
    tags = f.tags
    if tags is None:
        return None
    style = _style(f)
    if style == "id3":
        frame = tags.get("TCON")
        if frame is None or not frame.text:
            return None
        genres = frame.genres if hasattr(frame, "genres") else frame.text
        return str(genres[0]) if genres else None
    if style == "mp4":
        vals = tags.get("\xa9gen")
        return str(vals[0]) if vals else None
    vals = tags.get("genre") or tags.get("GENRE")
    return str(vals[0]) if vals else None


def _set_genre(f, genre: str) -> None:
    style = _style(f)
    if f.tags is None:
        f.add_tags()
    if style == "id3":
        from mutagen.id3 import TCON

        f.tags.setall("TCON", [TCON(encoding=3, text=[genre])])
    elif style == "mp4":
        f.tags["\xa9gen"] = [genre]
    else:
        for key in [k for k in f.tags.keys() if k.lower() == "genre"]:
            del f.tags[key]
        f.tags["GENRE"] = [genre]


def write_genre(path: str | Path, genre: str, verify: bool = True) -> None:
    """Set the genre tag of ``path`` to ``genre`` safely (temp copy, verify, atomic replace)."""
    path = Path(path)
    if not supported(path):
        raise TagError(path, f"'{path.suffix}' files are not supported for tagging")
    if not path.is_file():
        raise TagError(path, "no such file")
    before = audio_payload_digest(path) if verify else None
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".genrelab-tmp{path.suffix}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(path, tmp)
        f = _open(tmp)
        _set_genre(f, genre)
        try:
            f.save()
        except Exception as exc:
            raise TagError(path, f"cannot write tags: {type(exc).__name__}: {exc}") from None
        if verify:
            got = read_genre(tmp)
            if got != genre:
                raise TagError(path, f"tag did not read back ({got!r} != {genre!r}); file left unchanged")
            if audio_payload_digest(tmp) != before:
                raise TagError(path, "audio data would change; file left unchanged")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the audio payload
def audio_payload(path: str | Path) -> bytes:
    """The bytes of a file's audio data, excluding every tag/metadata region.

    MP3: everything between the ID3v2 header (and its padding) and a trailing ID3v1/APE tag.
    FLAC: everything after the last metadata block. Ogg: the audio packets (after the header packets;
    page headers are excluded because rewriting a comment may renumber pages). MP4: the ``mdat`` atoms.
    WAV/AIFF: the sample data chunk.
    """
    path = Path(path)
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        return _mp3_payload(data)
    if suffix == ".flac":
        return _flac_payload(data)
    if suffix in (".ogg", ".oga", ".opus"):
        return _ogg_payload(path)
    if suffix in (".m4a", ".mp4", ".m4b"):
        return _mp4_payload(path)
    if suffix == ".wav":
        return _riff_chunk(data, b"data", little=True, header=12)
    if suffix in (".aif", ".aiff"):
        return _riff_chunk(data, b"SSND", little=False, header=12)
    raise TagError(path, "no audio payload reader for this format")


def audio_payload_digest(path: str | Path) -> str:
    return hashlib.sha256(audio_payload(path)).hexdigest()


def _synchsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _mp3_payload(data: bytes) -> bytes:
    start = 0
    while data[start:start + 3] == b"ID3":  # one or more ID3v2 tags at the front
        size = _synchsafe(data[start + 6:start + 10])
        footer = 10 if data[start + 5] & 0x10 else 0
        start += 10 + size + footer
    # mutagen may pad the tag; padding is zeros before the first frame sync
    while start < len(data) and data[start] == 0:
        start += 1
    end = len(data)
    if end - start >= 128 and data[end - 128:end - 125] == b"TAG":
        end -= 128
    if data[end - 32:end - 24] == b"APETAGEX":
        size = struct.unpack("<I", data[end - 20:end - 16])[0]
        end -= size + 32 if data[end - size - 32:end - size - 24] == b"APETAGEX" else size
    return data[start:end]


def _flac_payload(data: bytes) -> bytes:
    pos = 0
    if data[:3] == b"ID3":
        pos = 10 + _synchsafe(data[6:10])
    if data[pos:pos + 4] != b"fLaC":
        raise TagError("<flac>", "not a FLAC stream")
    pos += 4
    while True:
        header = data[pos]
        length = int.from_bytes(data[pos + 1:pos + 4], "big")
        pos += 4 + length
        if header & 0x80:
            return data[pos:]


def _ogg_payload(path: Path) -> bytes:
    from mutagen.ogg import OggPage

    packets: list[bytes] = []
    with open(path, "rb") as f:
        pages = []
        while True:
            try:
                pages.append(OggPage(f))
            except EOFError:
                break
            except Exception:
                break
    if not pages:
        raise TagError(path, "no Ogg pages")
    for p in OggPage.to_packets(pages, strict=False):
        packets.append(p)
    first = packets[0] if packets else b""
    n_header = 2 if first.startswith(b"OpusHead") else 3
    return b"".join(packets[n_header:])


def _mp4_payload(path: Path) -> bytes:
    from mutagen.mp4 import Atoms

    with open(path, "rb") as f:
        atoms = Atoms(f)
        chunks = []
        for atom in atoms.atoms:
            if atom.name == b"mdat":
                f.seek(atom.offset + 8)
                chunks.append(f.read(atom.length - 8))
    return b"".join(chunks)


def _riff_chunk(data: bytes, name: bytes, little: bool, header: int) -> bytes:
    pos = header
    fmt = "<I" if little else ">I"
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack(fmt, data[pos + 4:pos + 8])[0]
        if cid == name:
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise TagError("<riff>", f"no {name.decode()} chunk")
