"""CPU path of the spectral features without torch or numba: numpy framing, ``scipy.fft``, a banded mel product.

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
- :func:`mel_blocks` cuts the filter bank (~1% non-zero: each triangle covers a narrow band of bins) into a
  few dense blocks along its diagonal, chosen by a small dynamic programme (fewest multiply-adds plus a
  per-block cost): the mel product is ~10% of the dense one, a few single-threaded BLAS calls per block of
  frames. As fast per clip as the fused numba kernel it replaced (``_kernels.mel_rows``, still used by the
  torch CPU path), without importing numba: its import and first cached-kernel load took ~0.35 s of every
  extraction process, more than the mel spectrograms of 60 clips;
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


#: cost of one BLAS call per block of frames, in filter-weight x bin units (measured: a few thousand)
_BLOCK_OVERHEAD = 2000
_MAX_BLOCKS = 16


def band_blocks(fb: np.ndarray) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """A filter bank ``(n_mels, bins)`` as dense blocks ``(row0, row1, bin0, bin1, fb[row0:row1, bin0:bin1].T)``
    covering all its non-zero weights, rows in consecutive groups; rows with no weight belong to no block.

    The groups minimise ``sum((row1 - row0) * (bin1 - bin0)) + overhead * blocks`` (dynamic programme over
    the split points, at most :data:`_MAX_BLOCKS` blocks). Works for any bank; a mel bank's triangles sit
    along the diagonal, so a handful of blocks hold ~10% of the dense matrix."""
    fb = np.asarray(fb, dtype=np.float32)
    n, n_bins = fb.shape
    nz = fb != 0
    has = nz.any(axis=1)
    lo = np.where(has, nz.argmax(axis=1), n_bins).astype(np.int64)
    hi = np.where(has, n_bins - nz[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    # span[a, b]: bins covered by rows a..b (inclusive), 0 when none of them has a weight
    upper = np.triu(np.ones((n, n), dtype=bool))
    hmax = np.maximum.accumulate(np.where(upper, hi[None, :], 0), axis=1)
    lmin = np.minimum.accumulate(np.where(upper, lo[None, :], n_bins), axis=1)
    span = np.maximum(hmax - lmin, 0)
    rows = np.arange(n)[None, :] - np.arange(n)[:, None] + 1
    cost = np.where(upper, rows * span + np.where(span > 0, _BLOCK_OVERHEAD, 0), np.inf)  # cost[a, b]: rows a..b
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    choice = []
    for _ in range(min(_MAX_BLOCKS, n)):  # best[b]: rows 0..b-1 in at most j groups
        total = best[:n, None] + cost  # [a, b]: groups so far end at a, the new one is rows a..b
        arg = np.argmin(total, axis=0)
        new = np.concatenate([[0.0], total[arg, np.arange(n)]])
        new = np.minimum(new, best)  # fewer groups allowed
        choice.append((arg, new < best))
        best = new
    # walk back the split points of the best plan
    cuts, b = [n], n
    for arg, took in reversed(choice):
        if b == 0:
            break
        if took[b]:
            b = int(arg[b - 1])
            cuts.append(b)
    cuts = sorted(set(cuts + [0]))
    blocks = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if not has[a:b].any():
            continue
        l0, h0 = int(lo[a:b][has[a:b]].min()), int(hi[a:b][has[a:b]].max())
        blocks.append((a, b, l0, h0, np.ascontiguousarray(fb[a:b, l0:h0].T)))
    return tuple(blocks)


@functools.lru_cache(maxsize=32)
def mel_blocks(*args) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """:func:`mel_filters` as :func:`band_blocks` (the banded product's input), cached."""
    return band_blocks(mel_filters(*args))


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

    The frames go through window, FFT, power and the banded mel product (:func:`mel_blocks`)
    :data:`BLOCK_FRAMES` at a time in reused buffers: the whole clip's windowed frames and spectrum
    (2 x 10 MB for 30 s) would be fresh memory each call, and faulting it in cost as much as the FFT itself.
    Each frame's spectrum is that of :func:`stft`."""
    import scipy.fft

    blocks = mel_blocks(sr, n_fft, n_mels, float(fmin), None if fmax is None else float(fmax), htk, norm)
    frames = _frames(y, n_fft, hop_length, center, pad_mode)
    window = hann(n_fft, win_length or n_fft)
    n, m = frames.shape[0], min(BLOCK_FRAMES, frames.shape[0])
    out = np.zeros((n, n_mels), dtype=np.float32)  # frame-major while filling; rows of no block stay 0
    buf = np.empty((m, n_fft), dtype=np.float32)
    P = np.empty((m, n_fft // 2 + 1), dtype=np.float32)
    for start in range(0, n, BLOCK_FRAMES):
        stop = min(n, start + BLOCK_FRAMES)
        k = stop - start
        X = scipy.fft.rfft(np.multiply(frames[start:stop], window, out=buf[:k]), axis=-1, workers=1)
        p = P[:k]
        if power == 1.0:
            np.abs(X, out=p)
        else:  # re**2 + im**2: square the fresh spectrum in place (contiguous), then add the pairs
            v = X.view(np.float32)
            np.square(v, out=v)
            np.add(v[:, 0::2], v[:, 1::2], out=p)
        for r0, r1, b0, b1, W in blocks:
            np.matmul(p[:, b0:b1], W, out=out[start:stop, r0:r1])
    return np.ascontiguousarray(out.T)


__all__ = ["mel_filters", "mel_bands", "mel_blocks", "band_blocks", "hann", "stft", "power_to_db", "mel_spectrogram", "supported_pad",
           "BLOCK_FRAMES"]
