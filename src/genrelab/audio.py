"""Audio input: decode, downmix, resample, crop/pad, segment and stream.

Everything here returns float32 numpy arrays in [-1, 1]. Decoding uses soundfile (libsndfile:
WAV, AU, AIFF, FLAC, OGG, MP3); other containers (m4a/mp4, aac, wma, webm) go through ``ffmpeg``
when it is on PATH. Which decoder a file needs is decided from its first bytes (magic numbers,
:mod:`genrelab.containers`), never from the extension: a WAV named ``.mp3`` still decodes, and
anything that is not a known audio container (a text file, a playlist, an archive) is refused as
NOT_AUDIO before any decoder sees it. ffmpeg is always told the demuxer (``-f``) and may only read
the one local file (``-protocol_whitelist file``), so it never follows playlists or links.
Headers no real recording has (rate outside 1-384 kHz, over 24 h) are refused as CORRUPT.

Every problem with a file raises :class:`genrelab.types.AudioError` naming the file and the
problem (missing, empty, not audio, corrupt or truncated, too short, silent, non-finite samples).
Truncation is detected from the container where the format allows it: the data size that a
WAV/AU/AIFF header declares against the bytes present, the stream size of an MP3 Xing/Info
header against the bytes present, and the frame count of FLAC/OGG/MP3-with-Xing headers against
the frames that actually decode. A VBR MP3 without a Xing header carries no length, so its
truncation cannot be told from a shorter file (``AudioInfo.exact`` is False for it).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from genrelab import containers
from genrelab.containers import FFMPEG_DEMUXERS, SNIFF_BYTES, TRUNCATION_TOLERANCE, sniff
from genrelab.types import AudioError, AudioProblem

#: File extensions genrelab treats as audio when it walks folders.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".au", ".snd", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff",
     ".m4a", ".aac", ".mp4", ".wma", ".opus", ".webm"}
)
#: Extensions soundfile decodes itself; the rest need ffmpeg.
SOUNDFILE_EXTENSIONS = frozenset({".wav", ".au", ".snd", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"})

SILENCE_PEAK = 1e-5  # a file whose peak deviation from its mean is below this is called silent
_TRUNCATION_TOLERANCE = TRUNCATION_TOLERANCE


class WorkCancelled(Exception):
    """Raised inside decoding when the caller's cancel check says stop (client gone, budget spent, shutdown).

    Deliberately not an :class:`AudioError`: the file is fine, the work was called off.
    """


_CANCEL_CHECK: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "genrelab_audio_cancel_check", default=None)


@contextlib.contextmanager
def cancel_scope(check: Callable[[], None]):
    """Within this block, decoding calls ``check()`` between blocks of audio; it stops the work by raising
    (usually :class:`WorkCancelled`). Used by the web app to cancel a request whose client left."""
    token = _CANCEL_CHECK.set(check)
    try:
        yield
    finally:
        _CANCEL_CHECK.reset(token)


def check_cancelled() -> None:
    """Run the current :func:`cancel_scope` check, if any (a no-op outside one)."""
    check = _CANCEL_CHECK.get()
    if check is not None:
        check()


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says. ``frames`` is exact unless ``exact`` is False (VBR MP3 without a
    Xing header, where libmpg123 extrapolates the length from the file size)."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str = ""
    exact: bool = True

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def is_audio_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


# --------------------------------------------------------------------------- sniffing
def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, AudioProblem.MISSING, "no such file")
    if path.is_dir():
        raise AudioError(path, AudioProblem.NOT_AUDIO, "is a directory, not a file")
    if not path.is_file():
        raise AudioError(path, AudioProblem.NOT_AUDIO, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, AudioProblem.EMPTY, "zero bytes")


def _read_head(path: Path, n: int = SNIFF_BYTES) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise AudioError(path, AudioProblem.NOT_AUDIO, f"cannot be read: {exc.strerror or exc}") from None


def _kind_of(path: Path, head: bytes) -> str:
    """'soundfile' or 'ffmpeg': which decoder ``path`` needs; raises NOT_AUDIO for anything that is not a
    known audio container (the extension plays no part)."""
    return "ffmpeg" if containers.container(path, head) in FFMPEG_DEMUXERS else "soundfile"


def _ffmpeg_input(path: Path) -> list[str]:
    """ffmpeg/ffprobe input arguments: the sniffed demuxer, the file protocol only, the file by absolute path."""
    kind = containers.container(path, _read_head(path))
    if kind not in FFMPEG_DEMUXERS:  # the file changed since it was sniffed
        raise AudioError(path, AudioProblem.NOT_AUDIO, f"a {kind} file is not read with ffmpeg")
    return ["-protocol_whitelist", "file", "-f", FFMPEG_DEMUXERS[kind], "-i", "file:" + str(path.resolve())]


# --------------------------------------------------------------------------- stderr noise
_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level writes to fd 2 (libmpg123 prints 'Note: Illegal Audio-MPEG-Header ...' there).

    Re-entrant and thread-safe: the first entrant redirects fd 2 to /dev/null, the last restores it.
    """
    global _quiet_depth, _quiet_saved
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                saved = os.dup(2)
                os.dup2(devnull, 2)
                os.close(devnull)
                _quiet_saved = saved
            except OSError:
                _quiet_saved = None
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


def _maybe_quiet(kind: str | None):
    return _quiet_stderr() if kind in (None, "mp3") else contextlib.nullcontext()



# --------------------------------------------------------------------------- info
def _ffprobe_info(path: Path) -> AudioInfo:
    _require_ffmpeg(path)
    cmd = ["ffprobe", "-v", "error", *_ffmpeg_input(path), "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration,codec_name:format=duration,format_name", "-of", "default=nw=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    fields: dict[str, str] = {}
    for line in out.stdout.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            if value not in ("", "N/A"):
                fields.setdefault(key, value)
    if out.returncode != 0 or "sample_rate" not in fields:
        msg = (out.stderr.strip().splitlines() or ["no audio stream found"])[-1]
        raise AudioError(path, AudioProblem.NOT_AUDIO, f"ffprobe: {msg[:200]}")
    try:
        sr, channels = int(fields["sample_rate"]), int(fields.get("channels", 1))
        duration = float(fields.get("duration", 0.0))
    except ValueError:
        raise AudioError(path, AudioProblem.CORRUPT, "ffprobe reports an unreadable header") from None
    if not math.isfinite(duration) or duration < 0:
        raise AudioError(path, AudioProblem.CORRUPT, f"implausible header: duration {duration}")
    containers.check_plausible(path, sr, channels, duration * sr, path.stat().st_size, compressed=True)
    return AudioInfo(str(path), sr, channels, int(round(duration * sr)),
                     fields.get("format_name", path.suffix.lstrip(".")).upper(), fields.get("codec_name", ""), True)


def _require_ffmpeg(path: Path) -> None:
    if not ffmpeg_available():
        raise AudioError(
            path, AudioProblem.UNSUPPORTED,
            f"this is a '{path.suffix or 'container'}' file that only ffmpeg decodes, and ffmpeg/ffprobe are not "
            "on PATH; install it, e.g. 'apt-get install ffmpeg' or 'make install-system'",
        )


def _libsndfile_message(exc: Exception) -> str:
    msg = str(exc)
    if "Error opening" in msg and ":" in msg:
        msg = msg.split(":", 1)[1]
    msg = msg.strip()
    if "not a regular file" in msg or "possibly a pipe" in msg:
        return "no decodable audio frames found"
    return msg or "unreadable"


def _soundfile_info(path: Path, head: bytes, size: int) -> AudioInfo:
    kind = sniff(head)
    truncated = containers.container_truncation(path, head, size)
    if truncated:
        raise AudioError(path, AudioProblem.CORRUPT, truncated)
    try:
        with _maybe_quiet(kind):
            i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = _libsndfile_message(exc)
        raise AudioError(path, AudioProblem.CORRUPT, f"{kind.upper()} header found but it cannot be decoded: {reason}") from None
    if i.frames <= 0:
        raise AudioError(path, AudioProblem.EMPTY, "the file holds no audio frames")
    containers.check_plausible(path, i.samplerate, i.channels, i.frames, size,
                               compressed=kind in ("flac", "ogg", "mp3"))
    exact = True
    if i.format == "MP3" or kind == "mp3":
        xing = containers.xing_header(head)
        exact = bool(xing and xing[0])
    return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), str(i.format), str(i.subtype), exact)


def info(path: str | Path) -> AudioInfo:
    """Header information (rate, channels, frames) without decoding the samples.

    Raises :class:`AudioError` for missing, empty, non-audio files and for truncation that the
    header proves (WAV/AU/AIFF data size, MP3 Xing stream size).
    """
    path = Path(path)
    _check_exists(path)
    head = _read_head(path)
    if _kind_of(path, head) == "ffmpeg":
        return _ffprobe_info(path)
    return _soundfile_info(path, head, path.stat().st_size)


# --------------------------------------------------------------------------- signal helpers
def _to_mono(data: np.ndarray) -> np.ndarray:
    """(n, channels) -> (n,) by averaging the channels.

    Channel by channel: the same float32 sums in the same order as ``data.mean(axis=1)``, so the same
    values, about 10x faster (a mean over an axis of 2 elements is slow in numpy; a 30 s stereo
    track went from ~20 ms to ~2 ms)."""
    if data.ndim != 2:
        return data
    channels = data.shape[1]
    if channels == 1:
        return data[:, 0]
    y = data[:, 0] + data[:, 1]
    for c in range(2, channels):
        y += data[:, c]
    y /= np.float32(channels)
    return y


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a mono ``(n,)`` or ``(channels, n)`` signal with soxr (high quality)."""
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(soxr.resample(y.T, sr_in, sr_out, quality="HQ").T, dtype=np.float32)


def _finish(y_frames: np.ndarray, native_sr: int, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    """(n, channels) frames -> mono (n,) or (channels, n), resampled to ``sr``."""
    y = _to_mono(y_frames) if mono else y_frames.T
    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr is not None and sr != native_sr:
        return resample(y, native_sr, sr), sr
    return y, native_sr


def _decode_ffmpeg(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg at the native rate and channel count: returns ((n, channels), sr).

    Downmixing and resampling are left to :func:`_finish` so that files decoded by ffmpeg go
    through exactly the same mono/soxr code as files decoded by soundfile.
    """
    native = _ffprobe_info(path)
    cmd = ["ffmpeg", "-v", "error", "-nostdin"]
    if offset:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += _ffmpeg_input(path)
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        msg = (proc.stderr.decode(errors="replace").strip().splitlines() or ["decode failed"])[-1]
        raise AudioError(path, AudioProblem.CORRUPT, f"ffmpeg: {msg[:200]}")
    y = np.frombuffer(proc.stdout, dtype=np.float32)
    channels = max(1, native.channels)
    y = y[: y.size // channels * channels].reshape(-1, channels)
    return y.copy(), native.sample_rate


def load(
    path: str | Path,
    sr: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float | None = None,
    allow_silent: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32, optionally downmixed to mono and resampled to ``sr``.

    Returns ``(y, sr)`` with ``y`` of shape ``(n,)`` when mono else ``(channels, n)``.
    ``offset``/``duration`` (seconds) read only part of the file. Raises :class:`AudioError`
    for a missing, empty, non-audio, corrupt or truncated, too short (``min_duration`` seconds),
    silent (unless ``allow_silent``) or non-finite file.
    """
    check_cancelled()
    path = Path(path)
    _check_exists(path)
    head = _read_head(path)
    if _kind_of(path, head) == "ffmpeg":
        frames, native_sr = _decode_ffmpeg(path, offset, duration)
    else:
        meta = _soundfile_info(path, head, path.stat().st_size)
        native_sr = meta.sample_rate
        start = int(round(offset * native_sr))
        stop = None if duration is None else start + int(round(duration * native_sr))
        try:
            with _maybe_quiet(sniff(head)):
                frames, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(path, AudioProblem.CORRUPT, f"decoding failed: {_libsndfile_message(exc)}") from None
        if meta.exact:
            wanted = (meta.frames if stop is None else min(stop, meta.frames)) - start
            if wanted > 0 and frames.shape[0] < _TRUNCATION_TOLERANCE * wanted:
                raise AudioError(
                    path, AudioProblem.CORRUPT,
                    f"truncated: the header promises {meta.frames} frames ({meta.duration:.2f} s), "
                    f"only {start + frames.shape[0]} decode",
                )
    y, out_sr = _finish(frames, native_sr, sr, mono)
    check_signal(y, out_sr, path, min_duration=min_duration, allow_silent=allow_silent)
    return y, out_sr


def check_signal(
    y: np.ndarray, sr: int, path: str | Path = "<array>", min_duration: float | None = None,
    allow_silent: bool = False,
) -> None:
    """Raise :class:`AudioError` if ``y`` is empty, too short, non-finite or (unless allowed) silent."""
    n = y.shape[-1] if y.ndim else 0
    if n == 0:
        raise AudioError(path, AudioProblem.EMPTY, "no samples decoded")
    if not np.isfinite(y).all():
        bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise AudioError(path, AudioProblem.NON_FINITE, f"{bad} NaN or infinite samples")
    if min_duration is not None and n < int(math.floor(min_duration * sr)):
        raise AudioError(path, AudioProblem.TOO_SHORT, f"{n / sr:.2f} s, needs at least {min_duration:g} s")
    if not allow_silent and is_silent(y):
        raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero or constant (no sound)")


def is_silent(y: np.ndarray) -> bool:
    """True when no channel of ``y`` moves more than :data:`SILENCE_PEAK` away from its mean: digital
    silence and a constant (DC-only) signal alike are no sound."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return True
    centred = y - y.mean(axis=-1, keepdims=True)
    return float(np.max(np.abs(centred))) < SILENCE_PEAK


# --------------------------------------------------------------------------- framing
def crop_or_pad(y: np.ndarray, n: int, mode: str = "start") -> np.ndarray:
    """Return exactly ``n`` samples along the last axis: crop (``start`` or ``center``) or zero-pad at the end."""
    if mode not in ("start", "center"):
        raise ValueError(f"crop mode must be 'start' or 'center', not {mode!r}")
    length = y.shape[-1]
    if length >= n:
        start = 0 if mode == "start" else (length - n) // 2
        return y[..., start:start + n]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n - length)]
    return np.pad(y, pad)


def segment_starts(n_samples: int, seg_len: int, hop: int | None = None, n_segments: int | None = None) -> list[int]:
    """Start sample of each segment.

    With ``hop``: every ``hop`` samples while a whole segment fits (at least one, padded), at most
    ``n_segments``. With ``n_segments`` and no hop: that many segments spread evenly over the
    signal. With neither: back to back.
    """
    if seg_len <= 0:
        raise ValueError("segment length must be positive")
    if hop is not None and hop <= 0:
        raise ValueError("hop must be positive")
    if n_segments is not None and n_segments <= 0:
        raise ValueError("n_segments must be positive")
    if n_samples <= seg_len:
        return [0] * (n_segments or 1) if n_segments and hop is None else [0]
    last = n_samples - seg_len
    if hop is None and n_segments:
        if n_segments == 1:
            return [last // 2]
        return [int(round(i * last / (n_segments - 1))) for i in range(n_segments)]
    hop = hop or seg_len
    starts = list(range(0, last + 1, hop))
    if n_segments:
        starts = starts[:n_segments]
    return starts


def segment(
    y: np.ndarray, sr: int, seconds: float, hop_seconds: float | None = None, n_segments: int | None = None,
    seg_samples: int | None = None,
) -> np.ndarray:
    """Cut a mono signal into segments: returns ``(n_segments, seg_len)`` float32.

    ``seg_samples`` overrides ``seconds`` when a study fixes the length in samples
    (Saint-Félix: 63,945 samples). Short signals are zero-padded to one segment.
    """
    seg_len = seg_samples or int(round(seconds * sr))
    hop = None if hop_seconds is None else max(1, int(round(hop_seconds * sr)))
    starts = segment_starts(y.shape[-1], seg_len, hop, n_segments)
    return np.stack([crop_or_pad(y[s:s + seg_len], seg_len) for s in starts]).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- streaming
def stream(
    path: str | Path, sr: int | None = None, block_seconds: float = 60.0,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks of a (possibly hour-long) file at rate ``sr``.

    Memory stays bounded by one block; resampling is continuous across blocks (a soxr stream), so
    the concatenated blocks equal the resampled whole file. ``sr=None`` keeps the native rate.
    Raises :class:`AudioError` like :func:`load` (a truncation that only decoding reveals is
    raised after the last block).
    """
    path = Path(path)
    _check_exists(path)
    head = _read_head(path)
    if _kind_of(path, head) == "ffmpeg":
        yield from _stream_ffmpeg(path, sr, block_seconds)
        return
    meta = _soundfile_info(path, head, path.stat().st_size)
    out_sr = sr or meta.sample_rate
    block = max(1, int(block_seconds * meta.sample_rate))
    resampler = None if meta.sample_rate == out_sr else soxr.ResampleStream(
        meta.sample_rate, out_sr, 1, dtype="float32", quality="HQ")
    kind = sniff(head)
    total = 0
    try:
        with _maybe_quiet(kind):
            f = sf.SoundFile(str(path))
        with f:
            while True:
                check_cancelled()
                with _maybe_quiet(kind):
                    data = f.read(block, dtype="float32", always_2d=True)
                total += data.shape[0]
                last = data.shape[0] < block
                y = np.ascontiguousarray(_to_mono(data), dtype=np.float32)
                if resampler is not None:
                    y = resampler.resample_chunk(y, last=last)
                if y.size:
                    if not np.isfinite(y).all():
                        raise AudioError(path, AudioProblem.NON_FINITE, "NaN or infinite samples")
                    yield y
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, AudioProblem.CORRUPT, f"decoding failed: {_libsndfile_message(exc)}") from None
    if total == 0:
        raise AudioError(path, AudioProblem.EMPTY, "no samples decoded")
    if meta.exact and total < _TRUNCATION_TOLERANCE * meta.frames:
        raise AudioError(path, AudioProblem.CORRUPT,
                         f"truncated: the header promises {meta.frames} frames, only {total} decode")


def _stream_ffmpeg(path: Path, sr: int | None, block_seconds: float) -> Iterator[np.ndarray]:
    native = _ffprobe_info(path)
    out_sr = sr or native.sample_rate
    channels = max(1, native.channels)
    resampler = None if native.sample_rate == out_sr else soxr.ResampleStream(
        native.sample_rate, out_sr, 1, dtype="float32", quality="HQ")
    cmd = ["ffmpeg", "-v", "error", "-nostdin", *_ffmpeg_input(path), "-map", "0:a:0", "-f", "f32le",
           "-acodec", "pcm_f32le", "-"]
    block_bytes = max(1, int(block_seconds * native.sample_rate)) * 4 * channels
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            while True:
                check_cancelled()
                chunk = proc.stdout.read(block_bytes)
                last = len(chunk) < block_bytes
                frames = np.frombuffer(chunk[: len(chunk) // (4 * channels) * 4 * channels], dtype=np.float32)
                y = _to_mono(frames.reshape(-1, channels)) if channels > 1 else frames
                if resampler is not None:
                    y = resampler.resample_chunk(np.ascontiguousarray(y), last=last)
                if y.size:
                    yield np.array(y, dtype=np.float32)
                if last:
                    break
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            msg = (err.read().decode(errors="replace").strip().splitlines() or ["decode failed"])[-1]
            raise AudioError(path, AudioProblem.CORRUPT, f"ffmpeg: {msg[:200]}")


def stream_segments(
    path: str | Path, sr: int, seconds: float, hop_seconds: float | None = None, block_seconds: float = 60.0,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, segment)`` over a whole file with bounded memory (see :func:`segments_of_blocks`).

    Segments are ``seconds`` long every ``hop_seconds`` (default: back to back).
    """
    seg_len = int(round(seconds * sr))
    hop = int(round((hop_seconds or seconds) * sr))
    blocks = stream(path, sr, block_seconds=max(block_seconds, 2 * seconds))
    for start, seg in segments_of_blocks(blocks, seg_len, hop):
        yield start / sr, seg


def segments_of_blocks(blocks: Iterable[np.ndarray], seg_len: int, hop: int | None = None,
                       skip: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start_sample, segment)`` of the signal made of consecutive ``blocks``, holding one block and
    one segment at most: ``seg_len`` samples every ``hop`` (default: back to back), starting ``skip`` samples
    in (starts count from the signal's start). The final partial segment is zero-padded when it holds at
    least half a segment of audio (a signal shorter than one segment yields one padded segment)."""
    hop = hop or seg_len
    if seg_len <= 0 or hop <= 0:
        raise ValueError("segment length and hop must be positive")
    buf = np.zeros(0, dtype=np.float32)
    consumed = 0  # samples dropped from the front of buf
    next_start = skip
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, dtype=np.float32)])
        while next_start + seg_len <= consumed + buf.size:
            check_cancelled()
            a = next_start - consumed
            yield next_start, buf[a:a + seg_len].copy()
            next_start += hop
        drop = min(next_start - consumed, buf.size)
        if drop > 0:
            buf = buf[drop:]
            consumed += drop
    tail = consumed + buf.size - next_start
    if tail >= seg_len // 2 or (next_start == skip and tail > 0):
        a = next_start - consumed
        yield next_start, crop_or_pad(buf[a:], seg_len)


def first_sound(path: str | Path) -> bool:
    """Whether a file has any sound (a block that is not :func:`is_silent`), decoding at its own rate (no
    resampling) only until the first such block: a silent file is found without any model work."""
    for block in stream(path, None, block_seconds=20.0):
        if block.size and not is_silent(block):
            return True
    return False


# --------------------------------------------------------------------------- files
def file_hash(path: str | Path, chunk: int = 1 << 20, algorithm: str = "sha1") -> str:
    """Hex digest of a file's bytes (sha1 by default: duplicate detection and checksums)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    return h.hexdigest()


def iter_audio_files(root: str | Path) -> Iterator[Path]:
    """All audio files under ``root`` (recursively, sorted); ``root`` may itself be a file."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if is_audio_path(name) and not name.startswith("._"):
                yield Path(dirpath) / name
