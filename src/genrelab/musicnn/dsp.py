"""The musicnn input representation in numpy: log-compressed 96-band mel patches of 187 frames.

Exactly as the original package computes it: 16 kHz mono, ``librosa.feature.melspectrogram(n_fft=512,
hop_length=256, n_mels=96)`` (power 2; reproduced with numpy alone, bit for bit, to spare a cold start
librosa's import), transposed to frames x 96, stored as float16 and back (the original pipeline did;
kept so the numbers match the pretrained models' training data and the TF reference), then
``log10(10000 x + 1)`` **in float32** (the upstream package, under NumPy 2, keeps the log in float16 and
overflows to inf for mel power above ~6.55; not inherited). The spectrogram is cut into back-to-back
patches of :data:`~genrelab.musicnn.info.PATCH_FRAMES` frames.

:func:`patch_stream` computes the same patches from a stream of audio blocks (bounded memory, any block
sizes): the same STFT frames as ``patches(log_mel(concatenation))``; only the float32 rounding of the mel
projection, which (in librosa too) depends on how many frames are projected at once, can differ (one float16
step on a few values in 10^5).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from genrelab.musicnn.info import HOP, N_FFT, N_MELS, PATCH_FRAMES, PATCH_SAMPLES, SAMPLE_RATE
from genrelab.types import ConfigError

_FLOAT16_MAX = float(np.finfo(np.float16).max)


def load_audio(path: str | Path) -> np.ndarray:
    """``librosa.load(path, sr=16000)`` with genrelab's decoder: mono float32 at 16 kHz (soxr HQ, which is
    librosa's default ``soxr_hq``), padded/trimmed to ``ceil(n * 16000 / sr)`` samples as librosa does."""
    from genrelab import audio

    y, _ = audio.load(path, sr=SAMPLE_RATE)
    try:
        meta = audio.info(path)
        if meta.sample_rate != SAMPLE_RATE and meta.frames > 0:
            n = int(math.ceil(meta.frames * SAMPLE_RATE / meta.sample_rate))
            y = y[:n] if y.size >= n else np.pad(y, (0, n - y.size))
    except Exception:  # header unknown (ffmpeg formats): keep the decoded length
        pass
    return np.ascontiguousarray(y, dtype=np.float32)


_MEL_BASIS: np.ndarray | None = None
_WINDOW: np.ndarray | None = None


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (Slaney scale and area norm, 0 Hz to
    sr/2, float32): :func:`genrelab.melfilters.mel_filters`, librosa's arithmetic with numpy alone (no
    librosa import on a cold start). ``tests/test_musicnn.py`` checks it equals librosa's."""
    from genrelab.melfilters import mel_filters

    return mel_filters(sr, n_fft, n_mels, 0.0, None, False, "slaney")


def _mel_basis() -> np.ndarray:
    global _MEL_BASIS
    if _MEL_BASIS is None:
        _MEL_BASIS = mel_filterbank()
    return _MEL_BASIS


def _hann() -> np.ndarray:
    """The periodic Hann window of ``librosa.stft`` (``scipy.signal.get_window("hann", 512, fftbins=True)``,
    computed the way scipy does: a general cosine over ``linspace(-pi, pi, 513)``, truncated), float64."""
    global _WINDOW
    if _WINDOW is None:
        fac = np.linspace(-np.pi, np.pi, N_FFT + 1)
        w = np.zeros(N_FFT + 1)
        for k, a in enumerate((0.5, 0.5)):
            w += a * np.cos(k * fac)
        _WINDOW = w[:-1]
    return _WINDOW


def stft_power(y: np.ndarray, center: bool = True) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=True, pad_mode="constant")) ** 2`` with
    numpy alone: ``(..., 257, frames)`` float32, the same arithmetic (zero padding of 256 samples each side,
    frames times the float64 window, ``np.fft.rfft`` in float64, stored as complex64 in the same memory
    order as librosa's result), so the numbers are librosa's. ``center=False``: no padding (frame ``j``
    covers ``y[256 j : 256 j + 512]``; each frame's numbers are those of the same samples centred)."""
    y = np.asarray(y, dtype=np.float32)
    if not np.isfinite(y).all():  # librosa.stft refuses these too
        raise ConfigError("audio buffer is not finite everywhere (NaN or inf samples)")
    pad = [(0, 0)] * (y.ndim - 1) + [(N_FFT // 2, N_FFT // 2)]
    yp = np.pad(y, pad, mode="constant") if center else y
    frames = np.lib.stride_tricks.sliding_window_view(yp, N_FFT, axis=-1)[..., ::HOP, :]  # (..., T, 512)
    n_frames = frames.shape[-2]
    out = np.zeros((*y.shape[:-1], 1 + N_FFT // 2, n_frames), dtype=np.complex64, order="F")
    block = 128  # frames per FFT call (bounded temporaries, as librosa blocks its loop)
    for a in range(0, n_frames, block):
        b = min(a + block, n_frames)
        out[..., a:b] = np.swapaxes(np.fft.rfft(_hann() * frames[..., a:b, :], axis=-1), -1, -2)
    return np.abs(out) ** 2


def mel_power(y: np.ndarray, center: bool = True) -> np.ndarray:
    """``librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96)`` transposed:
    ``(frames, 96)`` for ``y`` ``(n,)``, ``(batch, frames, 96)`` for ``(batch, n)`` (same arithmetic),
    computed with numpy only (:func:`stft_power`, :func:`mel_filterbank`)."""
    spec = stft_power(y, center)
    mel = np.einsum("...ft,mf->...mt", spec, _mel_basis(), optimize=True)
    return np.swapaxes(mel, -1, -2)


def log_compress(mel: np.ndarray, float16_storage: bool = True) -> np.ndarray:
    """``log10(10000 x + 1)`` in float32. ``float16_storage`` first rounds ``x`` to float16 as the original
    pipeline stored it (clipped at the float16 maximum instead of overflowing to inf)."""
    x = np.asarray(mel, dtype=np.float32)
    if float16_storage:
        x = np.minimum(x, _FLOAT16_MAX).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * x + np.float32(1)).astype(np.float32, copy=False)


def log_mel(y: np.ndarray, float16_storage: bool = True, center: bool = True) -> np.ndarray:
    """The musicnn input representation of a 16 kHz mono signal: ``(frames, 96)`` float32."""
    return log_compress(mel_power(y, center), float16_storage)


def patches(spec: np.ndarray, n_frames: int = PATCH_FRAMES, hop: int | None = None) -> np.ndarray:
    """Cut ``(frames, 96)`` into ``(n_patches, n_frames, 96)``: back to back (or every ``hop`` frames), the
    last incomplete patch dropped as upstream does. A spectrogram shorter than one patch is repeat-padded
    (as the models were trained) into a single patch."""
    hop = hop or n_frames
    t = spec.shape[0]
    if t == 0:
        raise ConfigError("empty spectrogram: no audio to cut into musicnn patches")
    if t < n_frames:
        reps = int(math.ceil(n_frames / t))
        return np.tile(spec, (reps, 1))[None, :n_frames]
    starts = range(0, t - n_frames + 1, hop)
    return np.ascontiguousarray(np.stack([spec[s:s + n_frames] for s in starts]), dtype=np.float32)


def file_patches(path: str | Path, hop: int | None = None) -> np.ndarray:
    """Audio file -> ``(n_patches, 187, 96)`` model input, as the original ``musicnn`` package batches it."""
    return patches(log_mel(load_audio(path)), hop=hop)


def log_mels(signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Log-mels of several signals; equal lengths share one batched STFT."""
    signals = [np.asarray(s, dtype=np.float32) for s in signals]
    lengths = {s.shape[0] for s in signals}
    if len(signals) > 1 and len(lengths) == 1:
        return list(log_mel(np.stack(signals)))
    return [log_mel(s) for s in signals]


def patch_stream(blocks: Iterable[np.ndarray], *, chunk: int = 8, partial: float | None = None) -> Iterator[np.ndarray]:
    """Patches ``(k, 187, 96)`` of a signal given as consecutive blocks (any sizes), as soon as they are
    complete, ``chunk`` patches per STFT call: together ``patches(log_mel(np.concatenate(blocks)))`` (the
    same frames of the same samples; see the module docstring on rounding), with memory bounded by ``chunk``
    patches plus one block.

    ``partial``: a last incomplete patch at least this fraction of a patch long is zero-padded to a full
    patch and kept (None: dropped, as :func:`patches` does; a timeline keeps a final 1.5 s with 0.5). A
    whole signal shorter than one patch is repeat-padded into one patch, as :func:`patches` does.
    """
    half = N_FFT // 2
    buf = np.zeros(half, dtype=np.float32)  # the samples before the next patch (centre padding at the start)
    done = 0  # patches emitted
    n = 0  # samples read
    for b in blocks:
        b = np.asarray(b, dtype=np.float32).reshape(-1)
        if b.size and not np.isfinite(b).all():
            raise ConfigError("audio buffer is not finite everywhere (NaN or inf samples)")
        buf = np.concatenate([buf, b])
        n += b.size
        # patch p's frames cover samples [p * PATCH_SAMPLES - half, (p + 1) * PATCH_SAMPLES + half)
        while buf.size >= chunk * PATCH_SAMPLES + half:
            yield _cut(buf, chunk)
            buf = buf[chunk * PATCH_SAMPLES:]
            done += chunk
    # the end of the stream: what is left is buf[half:] (n - done * PATCH_SAMPLES samples)
    rest = n - done * PATCH_SAMPLES
    if done == 0 and rest < PATCH_SAMPLES - half:  # no complete patch: as patches() does, repeat-pad
        if n == 0:
            raise ConfigError("empty audio: no musicnn patch")
        yield patches(log_mel(buf[half:]))
        return
    # patches whose last frame reaches past the end read zeros there, as log_mel's centre padding gives
    k = (rest + half) // PATCH_SAMPLES
    extra = rest - k * PATCH_SAMPLES
    if partial is not None and extra >= partial * PATCH_SAMPLES:
        k += 1
    if k:
        need = k * PATCH_SAMPLES + half
        if buf.size < need:
            buf = np.concatenate([buf, np.zeros(need - buf.size, dtype=np.float32)])
        yield _cut(buf, k)


def _cut(buf: np.ndarray, k: int) -> np.ndarray:
    """``k`` patches from ``buf`` (which starts ``N_FFT // 2`` samples before the first patch)."""
    frames = log_mel(buf[: k * PATCH_SAMPLES + N_FFT // 2], center=False)  # k * PATCH_FRAMES frames
    return np.ascontiguousarray(frames.reshape(k, PATCH_FRAMES, N_MELS), dtype=np.float32)
