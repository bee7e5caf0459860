"""Which container a file is, decided from its first bytes, and what its header may be trusted to say.

Nothing here decodes audio: these checks run *before* any decoder (libsndfile or ffmpeg) sees a file.

- :func:`sniff` names the container from magic numbers: RIFF/RIFX/RF64 ``WAVE``, ``.snd`` (AU),
  ``FORM`` ``AIFF``/``AIFC``, ``fLaC``, ``OggS``, ID3 or an MPEG audio frame sync (mp3), ADTS (aac),
  ISO-BMFF ``ftyp`` (m4a/mp4), EBML (webm/mka) and the ASF GUID (wma).
- :func:`container` refuses everything else as :attr:`AudioProblem.NOT_AUDIO` with a reason: the
  extension never decides, so a text file, an HLS/M3U playlist or a zip named ``.m4a`` never reaches
  ffmpeg (which would otherwise guess a format, follow playlist entries and open other local files).
- :data:`FFMPEG_DEMUXERS` is the ffmpeg demuxer each ffmpeg-only container is opened with (``-f``).
- :func:`check_plausible` refuses headers no real recording has (sample rate outside
  1 kHz - 384 kHz, more than 64 channels, longer than 24 hours, or far more frames than the
  file's bytes can hold) as :attr:`AudioProblem.CORRUPT`, so one small crafted file cannot
  ask for hours of work.
- :func:`container_truncation` proves truncation from the header where the format allows it.
"""

from __future__ import annotations

import struct
from pathlib import Path

from genrelab.types import AudioError, AudioProblem

#: Container kinds libsndfile decodes, and those only ffmpeg decodes.
SOUNDFILE_KINDS = frozenset({"wav", "au", "aiff", "flac", "ogg", "mp3"})
#: ffmpeg's demuxer for each ffmpeg-only kind: passed as ``-f`` so ffmpeg never guesses (no playlists).
FFMPEG_DEMUXERS = {"mp4": "mov", "webm": "matroska", "asf": "asf", "aac": "aac"}

#: Plausible header values. Below 1 kHz nothing is music (telephone audio is 8 kHz); 384 kHz is the
#: highest rate studio converters offer. A header outside these ranges is a corrupt or crafted file.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 64
MAX_DURATION_S = 24 * 3600.0
#: Compressed audio needs at least a few bits per second of audio: FLAC of digital silence, the most
#: compact real case, stores ~4096 frames in ~10 bytes (~400 frames a byte). More than this many
#: frames per byte of file is a header that lies about its length.
MAX_FRAMES_PER_BYTE = 4096

TRUNCATION_TOLERANCE = 0.98  # fraction of the header's frame count that must decode
SNIFF_BYTES = 4096
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _id3v2_size(head: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (0 when there is none)."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    s = head[6:10]
    size = (s[0] & 0x7F) << 21 | (s[1] & 0x7F) << 14 | (s[2] & 0x7F) << 7 | (s[3] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _is_mpeg_sync(b: bytes, i: int = 0) -> bool:
    """An MPEG audio frame header at ``b[i:]`` (sync, version, layer I-III, sane bitrate/rate)."""
    if len(b) < i + 4 or b[i] != 0xFF or (b[i + 1] & 0xE0) != 0xE0:
        return False
    version, layer = (b[i + 1] >> 3) & 3, (b[i + 1] >> 1) & 3
    bitrate, rate = b[i + 2] >> 4, (b[i + 2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def sniff(head: bytes) -> str | None:
    """The container kind that the first bytes of a file announce, or None when unrecognised.

    Kinds: wav, au, aiff, flac, ogg, mp3 (libsndfile) and mp4, webm, asf, aac (ffmpeg).
    """
    h4 = head[:4]
    if h4 in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if h4 == b".snd":
        return "au"
    if h4 == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if h4 == b"fLaC":
        return "flac"
    if h4 == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if h4 == b"\x1aE\xdf\xa3":
        return "webm"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:3] == b"ID3":
        inner = head[_id3v2_size(head):]
        if inner[:4] == b"fLaC":
            return "flac"
        if len(inner) >= 2 and inner[0] == 0xFF and (inner[1] & 0xF6) == 0xF0:
            return "aac"
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS: MPEG sync with layer bits 00
    if _is_mpeg_sync(head):
        return "mp3"
    return None


def _describe_non_audio(head: bytes) -> str | None:
    """A human description of bytes that are certainly not audio (text, HTML, archives), else None."""
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, not audio; extract it first"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive, not audio; extract it first"
    if head.startswith(b"%PDF"):
        return "a PDF document, not audio"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXT"):
        return "an M3U/HLS playlist, not audio; genrelab never follows playlist entries"
    if b"\x00" in head[:512]:
        return None
    try:
        text = head[:512].decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the 512-byte edge is still text
        try:
            text = head[:508].decode("utf-8")
        except UnicodeDecodeError:
            return None
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html", "<?xml", "<head")):
        return "an HTML/XML page, not audio; a failed download?"
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    if text and printable / len(text) > 0.95:
        snippet = " ".join(text.split())[:40]
        return f"a text file, not audio; it starts with {snippet!r}"
    return None


def container(path: str | Path, head: bytes) -> str:
    """The container kind of ``path`` from its first bytes ``head``; raises NOT_AUDIO for anything else."""
    kind = sniff(head)
    if kind is not None:
        return kind
    described = _describe_non_audio(head)
    if described is None:
        shown = head[:8].hex(" ") or "none"
        described = (f"not a recognised audio format (first bytes {shown}); genrelab reads WAV, AIFF, AU, "
                     "FLAC, Ogg, MP3, AAC, M4A/MP4, WebM and WMA")
    raise AudioError(path, AudioProblem.NOT_AUDIO, described)


def check_plausible(path: str | Path, sample_rate: float, channels: int, frames: float, size: int,
                    compressed: bool) -> None:
    """Refuse (CORRUPT) a header that no real recording has; see the module docstring for the bounds."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(path, AudioProblem.CORRUPT,
                         f"implausible header: sample rate {sample_rate:g} Hz (genrelab accepts "
                         f"{MIN_SAMPLE_RATE:,}-{MAX_SAMPLE_RATE:,} Hz)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(path, AudioProblem.CORRUPT,
                         f"implausible header: {channels} channels (at most {MAX_CHANNELS})")
    seconds = frames / sample_rate
    if seconds > MAX_DURATION_S:
        raise AudioError(path, AudioProblem.CORRUPT,
                         f"implausible header: it declares {seconds / 3600:,.1f} hours of audio (at most "
                         f"{MAX_DURATION_S / 3600:g} hours)")
    if compressed and frames > MAX_FRAMES_PER_BYTE * max(size, 1):
        raise AudioError(path, AudioProblem.CORRUPT,
                         f"implausible header: {int(frames):,} frames ({seconds:,.0f} s) declared in a file of "
                         f"{size:,} bytes")


# --------------------------------------------------------------------------- container checks
_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def _fmt_bytes(n: int) -> str:
    return f"{n:,} bytes"


def container_truncation(path: Path, head: bytes, size: int) -> str | None:
    """A sentence describing a truncation that the container header proves, or None.

    WAV/RIFX and AIFF: the ``data``/``SSND`` chunk's declared size against the bytes present; AU:
    the header's data size; MP3: the Xing/Info stream size. Unknown sizes (0 or 0xFFFFFFFF, as
    streaming writers leave them) prove nothing.
    """
    kind = sniff(head)
    if kind == "wav" and head[:4] in (b"RIFF", b"RIFX"):
        return _chunked_truncation(path, "<" if head[:4] == b"RIFF" else ">", b"data", b"fmt ", size)
    if kind == "aiff":
        return _chunked_truncation(path, ">", b"SSND", b"COMM", size)
    if kind == "au" and len(head) >= 24:
        offset, declared, encoding, _rate, channels = struct.unpack(">5I", head[4:24])
        if declared in (0, 0xFFFFFFFF) or offset > size:
            return None
        frame = _AU_BYTES.get(encoding, 1) * max(1, channels)
        present = size - offset
        if declared - present >= frame:
            return f"truncated: the AU header declares {_fmt_bytes(declared)} of audio, only {_fmt_bytes(present)} are present"
        return None
    if kind == "mp3":
        return _xing_truncation(head, size)
    if kind == "ogg":
        return _ogg_truncation(path, size)
    return None


def _ogg_truncation(path: Path, size: int) -> str | None:
    """An Ogg stream ends with a whole page flagged end-of-stream; a cut file does not."""
    tail_len = min(size, 1 << 16)
    with open(path, "rb") as f:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
    k = len(tail)
    while (k := tail.rfind(b"OggS", 0, k)) >= 0:
        if len(tail) - k < 27:
            return "truncated: the last Ogg page is cut short"
        if tail[k + 4] != 0 or tail[k + 5] > 7:
            continue  # "OggS" inside packet data, not a page header
        n_segments = tail[k + 26]
        table = tail[k + 27:k + 27 + n_segments]
        if len(table) < n_segments or k + 27 + n_segments + sum(table) > len(tail):
            return "truncated: the last Ogg page is cut short"
        if not tail[k + 5] & 0x04:
            return "truncated: the Ogg stream ends without an end-of-stream page"
        return None
    return None


def _chunked_truncation(path: Path, endian: str, data_id: bytes, fmt_id: bytes, size: int) -> str | None:
    frame = 1
    with open(path, "rb") as f:
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(8)
            if len(header) < 8:
                break
            cid, csize = header[:4], struct.unpack(endian + "I", header[4:])[0]
            if cid == fmt_id:
                body = f.read(min(csize, 18))
                if data_id == b"data" and len(body) >= 14:
                    frame = max(1, struct.unpack(endian + "H", body[12:14])[0])  # block align
                elif data_id == b"SSND" and len(body) >= 8:
                    channels, bits = struct.unpack(">H", body[:2])[0], struct.unpack(">H", body[6:8])[0]
                    frame = max(1, channels * ((bits + 7) // 8))
            if cid == data_id:
                if csize in (0, 0xFFFFFFFF):
                    return None
                present = size - (pos + 8)
                if csize - present >= frame:
                    name = data_id.decode().strip()
                    return (f"truncated: the header declares {_fmt_bytes(csize)} of audio in its '{name}' chunk, "
                            f"only {_fmt_bytes(present)} are present")
                return None
            pos += 8 + csize + (csize & 1)
    return f"truncated or corrupt: no '{data_id.decode().strip()}' chunk with audio found"


def xing_header(head: bytes) -> tuple[int | None, int | None, int] | None:
    """(frames, stream bytes, first-frame offset) from an MP3 Xing/Info header, or None."""
    start = _id3v2_size(head)
    # tolerate a little padding between the tag and the first frame
    for i in range(start, min(start + 512, len(head) - 4)):
        if _is_mpeg_sync(head, i):
            break
    else:
        return None
    window = head[i + 4:i + 200]
    k = max(window.find(b"Xing"), window.find(b"Info"))
    if k < 0:
        return None
    body = window[k + 4:]
    if len(body) < 12:
        return None
    flags = struct.unpack(">I", body[:4])[0]
    pos, frames, nbytes = 4, None, None
    if flags & 1:
        frames = struct.unpack(">I", body[pos:pos + 4])[0]
        pos += 4
    if flags & 2:
        nbytes = struct.unpack(">I", body[pos:pos + 4])[0]
    return frames, nbytes, i


def _xing_truncation(head: bytes, size: int) -> str | None:
    xing = xing_header(head)
    if xing is None or not xing[1]:
        return None
    _frames, nbytes, start = xing
    present = size - start
    if present < TRUNCATION_TOLERANCE * nbytes:
        return (f"truncated: the MP3 Xing header declares a stream of {_fmt_bytes(nbytes)}, "
                f"only {_fmt_bytes(present)} are present")
    return None
