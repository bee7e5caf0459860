"""Compiled (numba) kernels of the fast GTZAN-feature path.

Running median along the last axis, equal to ``scipy.ndimage.median_filter(..., mode="reflect")``:

Harmonic/percussive separation (librosa's HPSS) spends almost all its time in two 31-tap median
filters over the magnitude spectrogram. ``scipy.ndimage.median_filter`` selects each median from
scratch; here each row keeps a sorted window and replaces one value per step (a few dozen
comparisons and moves), compiled with numba. A median is a selection, so the result is
bit-identical to scipy's.

Parallelism: the kernels release the GIL (``nogil``) and rows are split over a few Python threads
(:func:`set_num_threads`, default ``min(4, cpu_count)``). No OpenMP/TBB threading layer is used,
so processes that use these kernels can fork worker processes safely, and concurrent callers
(threads) are fine.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_NUM_THREADS = max(1, min(4, os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Threads used by the kernels of this module (1 in worker processes that already use one core each)."""
    global _NUM_THREADS
    _NUM_THREADS = max(1, int(n))


def get_num_threads() -> int:
    return _NUM_THREADS


def _run_chunks(fn, n_rows: int, *args) -> None:
    """Call ``fn(start, stop, *args)`` over row chunks, in threads when more than one is configured."""
    k = min(_NUM_THREADS, max(1, n_rows // 64))
    if k <= 1:
        fn(0, n_rows, *args)
        return
    bounds = [n_rows * i // k for i in range(k + 1)]
    with ThreadPoolExecutor(max_workers=k) as ex:
        futs = [ex.submit(fn, bounds[i], bounds[i + 1], *args) for i in range(k)]
        for f in futs:
            f.result()


try:  # numba is a librosa dependency, so it is always installed with genrelab
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False


def _reflect_py(j: int, n: int) -> int:
    # scipy "reflect" (d c b a | a b c d | d c b a): period 2n
    period = 2 * n
    j %= period
    return j if j < n else period - 1 - j


if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _reflect(j, n):
        period = 2 * n
        j = j % period
        if j < 0:
            j += period
        if j < n:
            return j
        return period - 1 - j

    @numba.njit(cache=True, nogil=True)
    def _median_row(row, k, out, pad):
        n = row.shape[0]
        h = k // 2
        # reflect-padded copy of the row: pad[j] = row[reflect(j - h)]
        for j in range(n + 2 * h):
            pad[j] = row[_reflect(j - h, n)]
        buf = np.empty(k, dtype=row.dtype)
        for m in range(k):
            buf[m] = pad[m]
        buf.sort()
        out[0] = buf[h]
        for i in range(1, n):
            old = pad[i - 1]
            new = pad[i - 1 + k]
            if old != new:
                # locate one copy of the outgoing value (binary search), then slide the new one in
                lo = 0
                hi = k
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if buf[mid] < old:
                        lo = mid + 1
                    else:
                        hi = mid
                j = lo
                if new > old:
                    while j + 1 < k and buf[j + 1] < new:
                        buf[j] = buf[j + 1]
                        j += 1
                else:
                    while j > 0 and buf[j - 1] > new:
                        buf[j] = buf[j - 1]
                        j -= 1
                buf[j] = new
            out[i] = buf[h]

    @numba.njit(cache=True, nogil=True)
    def _median_rows(start, stop, x, k, out):
        n = x.shape[1]
        for r in range(start, stop):
            pad = np.empty(n + k, dtype=x.dtype)
            _median_row(x[r], k, out[r], pad)


def median_filter_last_axis(x: np.ndarray, size: int) -> np.ndarray:
    """Running median of odd ``size`` along the last axis of a 2-D array (scipy "reflect" borders)."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2:
        raise ValueError("median_filter_last_axis expects a 2-D array")
    if size % 2 == 0:
        # scipy centres even windows differently; the studies only use odd kernels (31)
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, size), mode="reflect")
    if not _HAVE_NUMBA or x.shape[1] <= size // 2 or not np.isfinite(x).all():  # pragma: no cover - fallback
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, size), mode="reflect")
    out = np.empty_like(x)
    _run_chunks(_median_rows, x.shape[0], x, int(size), out)
    return out


def median_filter_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median along ``axis`` (0 or 1) of a 2-D array."""
    if axis in (-1, 1):
        return median_filter_last_axis(x, size)
    return median_filter_last_axis(np.ascontiguousarray(x.T), size).T


# --------------------------------------------------------------------------- per-frame kernels

if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _spectral_stats_rows(start, stop, S, freqs, roll_percent, out, roll):
        """Per frame (rows of S, (frames, bins) float32): sum, sum*f, sum*f^2 (float64), rolloff bin.

        The rolloff bin is the first whose float32 running sum reaches ``roll_percent`` of the total,
        as ``np.cumsum`` (sequential float32) in librosa.feature.spectral_rolloff.
        """
        F = S.shape[1]
        rp = np.float32(roll_percent)
        for t in range(start, stop):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            c = np.float32(0.0)
            for f in range(F):
                v = S[t, f]
                c += v
                fv = freqs[f]
                s0 += v
                s1 += v * fv
                s2 += v * fv * fv
            thr = rp * c
            acc = np.float32(0.0)
            idx = 0
            for f in range(F):
                acc += S[t, f]
                if acc >= thr:
                    idx = f
                    break
            out[t, 0] = s0
            out[t, 1] = s1
            out[t, 2] = s2
            roll[t] = idx

    @numba.njit(cache=True, nogil=True)
    def _hpss_harmonic_rows(start, stop, X, harm, perc, out):
        """``X * softmask(harm, perc, power=2, split_zeros=True)`` (librosa's harmonic STFT)."""
        F = X.shape[1]
        tiny = np.finfo(np.float32).tiny
        for t in range(start, stop):
            for f in range(F):
                h = harm[t, f]
                p = perc[t, f]
                z = h if h > p else p
                if z < tiny:
                    m = np.float32(0.5)
                else:
                    a = (h / z) ** 2
                    b = (p / z) ** 2
                    m = a / (a + b)
                out[t, f] = X[t, f] * m


def spectral_stats(S: np.ndarray, freqs: np.ndarray, roll_percent: float = 0.85):
    """``(sums (frames, 3) float64, rolloff_bin (frames,))`` for a magnitude spectrogram ``(frames, bins)``."""
    S = np.ascontiguousarray(S, dtype=np.float32)
    if _HAVE_NUMBA:
        out = np.zeros((S.shape[0], 3))
        roll = np.zeros(S.shape[0], dtype=np.int64)
        _run_chunks(_spectral_stats_rows, S.shape[0], S, np.asarray(freqs, dtype=np.float64), float(roll_percent),
                    out, roll)
        return out, roll
    S64 = S.astype(np.float64)  # pragma: no cover - fallback
    sums = np.stack([S64.sum(1), S64 @ freqs, S64 @ freqs ** 2], axis=1)
    cs = np.cumsum(S, axis=1)
    roll = np.argmax(cs >= np.float32(roll_percent) * cs[:, -1:], axis=1)
    return sums, roll


def hpss_harmonic(X: np.ndarray, harm: np.ndarray, perc: np.ndarray) -> np.ndarray:
    """Harmonic STFT: ``X`` times librosa's soft mask ``harm**2 / (harm**2 + perc**2)``."""
    if _HAVE_NUMBA:
        X = np.ascontiguousarray(X)
        out = np.empty_like(X)
        _run_chunks(_hpss_harmonic_rows, X.shape[0], X, np.ascontiguousarray(harm), np.ascontiguousarray(perc), out)
        return out
    Z = np.maximum(harm, perc)  # pragma: no cover - fallback
    bad = Z < np.finfo(np.float32).tiny
    Z[bad] = 1
    a, b = (harm / Z) ** 2, (perc / Z) ** 2
    m = a / (a + b)
    m[bad] = 0.5
    return X * m


# --------------------------------------------------------------------------- |X|^2

if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _power_rows(start, stop, x, out):
        for i in range(start, stop):
            v = x[i]
            a = v.real
            b = v.imag
            out[i] = a * a + b * b


def power_spectrum(X):
    """``|X|**2`` of a complex torch tensor as float32 (a compiled loop on CPU; torch elsewhere).

    torch's complex ``abs`` (hypot) is several times slower than the STFT itself on CPU.
    """
    import torch

    if X.device.type != "cpu" or not _HAVE_NUMBA or X.dtype != torch.complex64:
        return X.abs().square_()
    if not X.is_contiguous() and X.ndim >= 2 and X.transpose(-1, -2).is_contiguous():
        # torch.stft returns a (batch, freq, frames) view of frame-major memory: work on that memory
        return power_spectrum(X.transpose(-1, -2)).transpose(-1, -2)
    a = X.detach().contiguous().numpy().reshape(-1)
    out = np.empty(a.shape[0], dtype=np.float32)
    n = a.shape[0]
    k = min(_NUM_THREADS, max(1, n // (1 << 18)))
    if k <= 1:
        _power_rows(0, n, a, out)
    else:
        bounds = [n * i // k for i in range(k + 1)]
        with ThreadPoolExecutor(max_workers=k) as ex:
            for f in [ex.submit(_power_rows, bounds[i], bounds[i + 1], a, out) for i in range(k)]:
                f.result()
    return torch.from_numpy(out).reshape(X.shape)
