"""CPU path of the spectral features without torch: numpy framing, ``scipy.fft``, a fused mel kernel.

``MelSpectrogram`` / ``MFCC`` ``.compute`` on CPU use these functions; they equal the torch path and
librosa (``melspectrogram`` + ``power_to_db``, ``mfcc``) within 1e-3 dB (``tests/features/test_spectral.py``).
Why a second path: on CPU the feature itself is cheap (a 30 s clip is ~4 ms of FFT), so what used to
dominate an extraction job was around it: importing torch (~1.3 s of CPU per process), importing librosa for
the filter bank (~1 s), torch's complex ``abs`` (slower than the STFT) and a dense 128 x 1025 matrix
product for a filter bank that is 99% zeros. Here:

- :func:`mel_filters` (:mod:`genrelab.melfilters`) builds librosa's Slaney/HTK filter bank with librosa's own arithmetic (bit-identical
  to ``librosa.filters.mel``; librosa is only imported for other normalisations);
- :func:`stft` frames with a strided view and transforms with ``scipy.fft.rfft`` (float32 in, complex64
  out, frame-major: each frame's bins are contiguous);
- :func:`genrelab.features._kernels.mel_rows` turns each frame into its mel bands in one pass (power, then
  only the non-zero band of each filter);
- :func:`power_to_db` is librosa's, per example.
"""

from __future__ import annotations

import functools

import numpy as np

from genrelab.melfilters import mel_filters  # noqa: F401  (re-exported: the filter bank lives there)
from genrelab.types import ConfigError

#: np.pad modes matching torch's (and librosa's) padding names
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge",
              "circular": "wrap", "wrap": "wrap"}


def supported_pad(pad_mode: str) -> bool:
    return pad_mode in _PAD_MODES


@functools.lru_cache(maxsize=32)
def mel_bands(*args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mel_filters` as each filter's non-zero band (the fused kernel's input), cached."""
    from genrelab.features._kernels import mel_bands as bands

    return bands(mel_filters(*args))


# --------------------------------------------------------------------------- STFT
@functools.lru_cache(maxsize=32)
def hann(n_fft: int, win_length: int) -> np.ndarray:
    """librosa's ``get_window("hann", win_length, fftbins=True)`` centred in ``n_fft`` (float32)."""
    n = np.arange(win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = np.pad(w, (left, n_fft - win_length - left))
    return w.astype(np.float32)


def _frames(y: np.ndarray, n_fft: int, hop_length: int, center: bool, pad_mode: str) -> np.ndarray:
    """librosa's framing of one float32 signal: a strided view ``(frames, n_fft)`` (centred: padded by n_fft // 2)."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if center:
        y = np.pad(y, n_fft // 2, mode=_PAD_MODES[pad_mode])
    if y.shape[-1] < n_fft:
        raise ConfigError(f"signal of {y.shape[-1]} samples is shorter than n_fft={n_fft}")
    return np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]


def stft(y: np.ndarray, n_fft: int, hop_length: int, win_length: int | None = None, center: bool = True,
         pad_mode: str = "constant") -> np.ndarray:
    """Complex64 STFT of one float32 signal ``(n,)``, frame-major ``(frames, 1 + n_fft // 2)`` (librosa framing)."""
    import scipy.fft

    frames = _frames(y, n_fft, hop_length, center, pad_mode)
    windowed = frames * hann(n_fft, win_length or n_fft)
    return scipy.fft.rfft(windowed, axis=-1, overwrite_x=True, workers=1)


def power_to_db(S: np.ndarray, ref: str | float = "max", amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """``librosa.power_to_db`` of one example (float32, in place on ``S``)."""
    ref_val = float(S.max()) if ref == "max" else abs(float(ref))
    np.maximum(S, np.float32(amin), out=S)
    np.log10(S, out=S)
    S *= np.float32(10.0)
    S -= np.float32(10.0 * np.log10(max(amin, ref_val)))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError("top_db must be non-negative")
        np.maximum(S, np.float32(S.max() - top_db), out=S)
    return S


#: STFT frames transformed together by :func:`mel_spectrogram` (0.5 MB of windowed frames at n_fft 2048)
BLOCK_FRAMES = 64


def mel_spectrogram(y: np.ndarray, sr: int, n_fft: int, hop_length: int, win_length: int | None, n_mels: int,
                    fmin: float, fmax: float | None, htk: bool, norm: str | None, center: bool, pad_mode: str,
                    power: float) -> np.ndarray:
    """Mel power (or amplitude when ``power == 1``) spectrogram ``(n_mels, frames)`` of one signal.

    The frames go through window, FFT and mel bands :data:`BLOCK_FRAMES` at a time in one reused buffer:
    the whole clip's windowed frames and spectrum (2 x 10 MB for 30 s) would be fresh memory each call, and
    faulting it in cost as much as the FFT itself. Each frame's numbers are those of :func:`stft`."""
    import scipy.fft

    from genrelab.features._kernels import mel_rows

    bands = mel_bands(sr, n_fft, n_mels, float(fmin), None if fmax is None else float(fmax), htk, norm)
    frames = _frames(y, n_fft, hop_length, center, pad_mode)
    window = hann(n_fft, win_length or n_fft)
    n = frames.shape[0]
    out = np.empty((n_mels, n), dtype=np.float32)
    buf = np.empty((min(BLOCK_FRAMES, n), n_fft), dtype=np.float32)
    for start in range(0, n, BLOCK_FRAMES):
        stop = min(n, start + BLOCK_FRAMES)
        block = np.multiply(frames[start:stop], window, out=buf[: stop - start])
        out[:, start:stop] = mel_rows(scipy.fft.rfft(block, axis=-1, workers=1), bands, power)
    return out


__all__ = ["mel_filters", "mel_bands", "hann", "stft", "power_to_db", "mel_spectrogram", "supported_pad",
           "BLOCK_FRAMES"]
