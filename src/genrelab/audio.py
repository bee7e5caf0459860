"""Audio input: decode, downmix, resample, crop/pad, segment and stream.

Everything here returns float32 numpy arrays in [-1, 1]. Decoding uses soundfile (libsndfile:
WAV, AU, FLAC, OGG, MP3); other containers (m4a, aac, wma, ...) go through ``ffmpeg`` when it is
on PATH. Every problem with a file raises :class:`genrelab.types.AudioError` naming the file and
the problem (missing, empty, not audio, corrupt, too short, silent, non-finite samples).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from genrelab.types import AudioError, AudioProblem

#: File extensions genrelab treats as audio when it walks folders.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".au", ".snd", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff",
     ".m4a", ".aac", ".mp4", ".wma", ".opus", ".webm"}
)
#: Extensions soundfile decodes itself; the rest need ffmpeg.
SOUNDFILE_EXTENSIONS = frozenset({".wav", ".au", ".snd", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"})

SILENCE_PEAK = 1e-5  # a file whose peak is below this is called silent
_TRUNCATION_TOLERANCE = 0.98  # fraction of the header's frame count that must decode


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def is_audio_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, AudioProblem.MISSING, "no such file")
    if path.is_dir():
        raise AudioError(path, AudioProblem.NOT_AUDIO, "is a directory")
    if path.stat().st_size == 0:
        raise AudioError(path, AudioProblem.EMPTY, "zero bytes")


def _needs_ffmpeg(path: Path) -> bool:
    return path.suffix.lower() not in SOUNDFILE_EXTENSIONS


def _require_ffmpeg(path: Path) -> None:
    if not ffmpeg_available():
        raise AudioError(
            path, AudioProblem.UNSUPPORTED,
            f"'{path.suffix}' files need ffmpeg, which is not on PATH (install it, e.g. apt-get install ffmpeg)",
        )


def _ffprobe_info(path: Path) -> AudioInfo:
    probe = shutil.which("ffprobe")
    if probe is None:
        raise AudioError(path, AudioProblem.UNSUPPORTED, "ffprobe not on PATH")
    cmd = [probe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration", "-of", "default=nw=1", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    fields = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    if out.returncode != 0 or "sample_rate" not in fields:
        raise AudioError(path, AudioProblem.NOT_AUDIO, (out.stderr.strip() or "no audio stream")[:200])
    sr = int(fields["sample_rate"])
    dur = float(fields.get("duration", "nan")) if fields.get("duration", "N/A") != "N/A" else 0.0
    return AudioInfo(str(path), sr, int(fields.get("channels", 1)), int(round(dur * sr)), path.suffix.lstrip("."))


def info(path: str | Path) -> AudioInfo:
    """Header information (rate, channels, frames) without decoding the samples."""
    path = Path(path)
    _check_exists(path)
    if _needs_ffmpeg(path):
        _require_ffmpeg(path)
        return _ffprobe_info(path)
    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, AudioProblem.NOT_AUDIO, str(exc).split(":")[-1].strip() or "unreadable") from None
    if i.frames <= 0:
        raise AudioError(path, AudioProblem.EMPTY, "no audio frames")
    return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), str(i.format))


def _to_mono(data: np.ndarray) -> np.ndarray:
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a mono or (channels, n) signal with soxr (high quality)."""
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)
    return soxr.resample(y.T, sr_in, sr_out, quality="HQ").T.astype(np.float32, copy=False)


def _decode_ffmpeg(path: Path, sr: int | None, offset: float, duration: float | None, mono: bool) -> tuple[np.ndarray, int]:
    _require_ffmpeg(path)
    native = _ffprobe_info(path)
    out_sr = sr or native.sample_rate
    channels = 1 if mono else native.channels
    cmd = ["ffmpeg", "-v", "error", "-nostdin"]
    if offset:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-f", "f32le", "-ac", str(channels), "-ar", str(out_sr), "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise AudioError(path, AudioProblem.CORRUPT, proc.stderr.decode(errors="replace").strip()[:200])
    y = np.frombuffer(proc.stdout, dtype=np.float32)
    if channels > 1:
        y = y.reshape(-1, channels).T
    return y.copy(), out_sr


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
    for a missing, empty, non-audio, truncated, too short, silent (unless ``allow_silent``)
    or non-finite file.
    """
    path = Path(path)
    _check_exists(path)
    if _needs_ffmpeg(path):
        y, out_sr = _decode_ffmpeg(path, sr, offset, duration, mono)
    else:
        meta = info(path)
        start = int(round(offset * meta.sample_rate))
        stop = None if duration is None else start + int(round(duration * meta.sample_rate))
        try:
            data, native_sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(path, AudioProblem.CORRUPT, str(exc).split(":")[-1].strip() or "decode failed") from None
        wanted = (meta.frames if stop is None else min(stop, meta.frames)) - start
        if wanted > 0 and data.shape[0] < _TRUNCATION_TOLERANCE * wanted and meta.format != "MPEG":
            raise AudioError(
                path, AudioProblem.CORRUPT,
                f"truncated: header promises {wanted} frames, only {data.shape[0]} decode",
            )
        y = _to_mono(data) if mono else data.T
        y = np.ascontiguousarray(y, dtype=np.float32)
        out_sr = native_sr
        if sr is not None and sr != native_sr:
            y = resample(y, native_sr, sr)
            out_sr = sr
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
        raise AudioError(path, AudioProblem.NON_FINITE, "NaN or infinite samples")
    if min_duration is not None and n < int(math.floor(min_duration * sr)):
        raise AudioError(path, AudioProblem.TOO_SHORT, f"{n / sr:.2f} s, needs at least {min_duration:g} s")
    if not allow_silent and float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")


def crop_or_pad(y: np.ndarray, n: int, mode: str = "start") -> np.ndarray:
    """Return exactly ``n`` samples along the last axis: crop (``start`` or ``center``) or zero-pad at the end."""
    length = y.shape[-1]
    if length >= n:
        start = 0 if mode == "start" else (length - n) // 2
        return y[..., start:start + n]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n - length)]
    return np.pad(y, pad)


def segment_starts(n_samples: int, seg_len: int, hop: int | None = None, n_segments: int | None = None) -> list[int]:
    """Start sample of each segment.

    With ``hop``: every ``hop`` samples while a whole segment fits (at least one, padded).
    With ``n_segments`` and no hop: that many segments spread evenly over the signal.
    """
    if seg_len <= 0:
        raise ValueError("segment length must be positive")
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


def stream(
    path: str | Path, sr: int, block_seconds: float = 60.0, mono: bool = True,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono blocks of a (possibly hour-long) file at rate ``sr``.

    Memory stays bounded by one block; resampling is continuous across blocks (soxr stream).
    """
    path = Path(path)
    _check_exists(path)
    if _needs_ffmpeg(path):
        yield from _stream_ffmpeg(path, sr, block_seconds)
        return
    meta = info(path)
    block = max(1, int(block_seconds * meta.sample_rate))
    resampler = None if meta.sample_rate == sr else soxr.ResampleStream(meta.sample_rate, sr, 1, dtype="float32")
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
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
        raise AudioError(path, AudioProblem.CORRUPT, str(exc).split(":")[-1].strip() or "decode failed") from None


def _stream_ffmpeg(path: Path, sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    _require_ffmpeg(path)
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(sr), "-"]
    block_bytes = int(block_seconds * sr) * 4
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while True:
            chunk = proc.stdout.read(block_bytes)
            if not chunk:
                break
            yield np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype=np.float32).copy()
        proc.wait()
        if proc.returncode != 0:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AudioError(path, AudioProblem.CORRUPT, err.strip()[:200])


def stream_segments(
    path: str | Path, sr: int, seconds: float, hop_seconds: float | None = None, block_seconds: float = 60.0,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, segment)`` over a whole file with bounded memory.

    Segments are ``seconds`` long every ``hop_seconds`` (default: back to back); the final partial
    segment is zero-padded when it holds at least half a segment of audio.
    """
    seg_len = int(round(seconds * sr))
    hop = int(round((hop_seconds or seconds) * sr))
    buf = np.zeros(0, dtype=np.float32)
    consumed = 0  # samples dropped from the front of buf
    next_start = 0
    for block in stream(path, sr, block_seconds=max(block_seconds, 2 * seconds)):
        buf = np.concatenate([buf, block])
        while next_start + seg_len <= consumed + buf.size:
            a = next_start - consumed
            yield next_start / sr, buf[a:a + seg_len].copy()
            next_start += hop
        drop = min(next_start - consumed, buf.size)
        if drop > 0:
            buf = buf[drop:]
            consumed += drop
    tail = consumed + buf.size - next_start
    if tail >= seg_len // 2 or next_start == 0 and tail > 0:
        a = next_start - consumed
        yield next_start / sr, crop_or_pad(buf[a:], seg_len)


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-1 of a file's bytes (for duplicate detection and checksums)."""
    import hashlib

    h = hashlib.sha1()
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
        dirnames.sort()
        for name in sorted(filenames):
            if is_audio_path(name) and not name.startswith("._"):
                yield Path(dirpath) / name
