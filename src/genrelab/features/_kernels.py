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

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from genrelab.features.threads import get_num_threads, run_chunks, set_num_threads  # noqa: F401 (re-exported)


def _run_chunks(fn, n_rows: int, *args) -> None:
    """Call ``fn(start, stop, *args)`` over row chunks, in threads when more than one is configured."""
    run_chunks(fn, n_rows, 64, *args)


try:  # numba is a librosa dependency, so it is always installed with genrelab
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False


_LANES = 32  # rows filtered together (SIMD lanes of the branchless kernel)

if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _median_lanes(xt, k, out_t, buf, c):
        """Running median down axis 0 of ``xt`` ((n + k - 1, lanes), reflect-padded) for every lane.

        Each lane keeps its window sorted in ``buf[:, lane]``; one step removes the outgoing value
        (``c[j] = buf[j] if buf[j] < old else buf[j + 1]``) and inserts the incoming one
        (``buf[j] = min(c[j], max(c[j - 1], new))``) without branches, so the compiler vectorises
        the loops over lanes.
        """
        npad, L = xt.shape
        n = npad - k + 1
        h = k // 2
        for l in range(L):
            tmp = np.sort(xt[:k, l].copy())
            for j in range(k):
                buf[j, l] = tmp[j]
            out_t[0, l] = buf[h, l]
        for i in range(1, n):
            for j in range(k - 1):
                for l in range(L):
                    a = buf[j, l]
                    c[j, l] = a if a < xt[i - 1, l] else buf[j + 1, l]
            for l in range(L):
                nv = xt[i - 1 + k, l]
                a = c[0, l]
                buf[0, l] = a if a < nv else nv
            for j in range(1, k - 1):
                for l in range(L):
                    nv = xt[i - 1 + k, l]
                    p = c[j - 1, l]
                    m = p if p > nv else nv
                    a = c[j, l]
                    buf[j, l] = a if a < m else m
            for l in range(L):
                nv = xt[i - 1 + k, l]
                p = c[k - 2, l]
                buf[k - 1, l] = p if p > nv else nv
            for l in range(L):
                out_t[i, l] = buf[h, l]

    @numba.njit(cache=True, nogil=True)
    def _median_blocks(start, stop, x, k, out, src):
        """Blocks ``start..stop`` of ``_LANES`` rows: gather (reflect via ``src``), filter, scatter."""
        R, n = x.shape
        L = 32
        xt = np.empty((n + k - 1, L), dtype=x.dtype)
        ot = np.empty((n, L), dtype=x.dtype)
        buf = np.empty((k, L), dtype=x.dtype)
        c = np.empty((k, L), dtype=x.dtype)
        for b in range(start, stop):
            r0 = b * L
            lanes = min(L, R - r0)
            for i in range(n + k - 1):
                si = src[i]
                for l in range(lanes):
                    xt[i, l] = x[r0 + l, si]
                for l in range(lanes, L):
                    xt[i, l] = 0
            _median_lanes(xt, k, ot, buf, c)
            for l in range(lanes):
                for i in range(n):
                    out[r0 + l, i] = ot[i, l]


def median_filter_last_axis(x: np.ndarray, size: int) -> np.ndarray:
    """Running median of odd ``size`` along the last axis of a 2-D array (scipy "reflect" borders)."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2:
        raise ValueError("median_filter_last_axis expects a 2-D array")
    if size % 2 == 0:
        # scipy centres even windows differently; the studies only use odd kernels (31)
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, size), mode="reflect")
    if not _HAVE_NUMBA or x.shape[1] <= size // 2 or x.dtype.kind != "f" or not np.isfinite(x).all():  # pragma: no cover - fallback
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, size), mode="reflect")
    out = np.empty_like(x)
    h = size // 2
    n = x.shape[1]
    src = np.arange(-h, n + h)
    src = np.where(src < 0, -src - 1, src)
    src = np.where(src >= n, 2 * n - 1 - src, src).astype(np.int64)
    n_blocks = -(-x.shape[0] // _LANES)
    run_chunks(_median_blocks, n_blocks, 2, x, int(size), out, src)
    return out


def median_filter_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median along ``axis`` (0 or 1) of a 2-D array (scipy "reflect" borders)."""
    axis = axis % 2
    if x.shape[axis] <= size // 2 or size % 2 == 0:  # tiny axes: scipy's own border handling
        from scipy.ndimage import median_filter

        shape = [1, 1]
        shape[axis] = size
        return median_filter(x, size=tuple(shape), mode="reflect")
    if axis == 1:
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


if _HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _mel_rows(start, stop, X, lo, hi, W, amplitude, out):
        """Mel bands of STFT frames ``start..stop`` of ``X`` ((batch * frames, bins) complex64, frame-major):
        ``out[b, m, t] = sum_f W[m, f - lo[m]] * |X[b * frames + t, f]|**p`` with p = 1 (``amplitude``) or 2.
        Only each filter's non-zero band ``lo[m]:hi[m]`` is visited."""
        n_bins = X.shape[1]
        n_mels = lo.shape[0]
        frames = out.shape[2]
        p = np.empty(n_bins, dtype=np.float32)
        for r in range(start, stop):
            b = r // frames
            t = r - b * frames
            if amplitude:
                for f in range(n_bins):
                    p[f] = abs(X[r, f])  # hypot: no underflow of tiny squares
            else:
                for f in range(n_bins):
                    v = X[r, f]
                    a = v.real
                    c = v.imag
                    p[f] = a * a + c * c
            for m in range(n_mels):
                acc = np.float32(0.0)
                l0 = lo[m]
                for f in range(l0, hi[m]):
                    acc += W[m, f - l0] * p[f]
                out[b, m, t] = acc


def mel_bands(fb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A filter bank ``(n_mels, bins)`` as each filter's non-zero band: ``(lo, hi, weights (n_mels, max width))``."""
    fb = np.asarray(fb, dtype=np.float32)
    n_mels = fb.shape[0]
    lo = np.zeros(n_mels, dtype=np.int64)
    hi = np.zeros(n_mels, dtype=np.int64)
    for m in range(n_mels):
        nz = np.flatnonzero(fb[m])
        if nz.size:
            lo[m], hi[m] = nz[0], nz[-1] + 1
    width = max(1, int((hi - lo).max()))
    W = np.zeros((n_mels, width), dtype=np.float32)
    for m in range(n_mels):
        W[m, : hi[m] - lo[m]] = fb[m, lo[m]:hi[m]]
    return lo, hi, W


def mel_rows(X: np.ndarray, bands: tuple[np.ndarray, np.ndarray, np.ndarray], power: float = 2.0,
             frames: int | None = None) -> np.ndarray:
    """``fb @ |X|**power`` of frame-major complex64 STFT rows ``X`` ((batch * frames, bins); ``frames`` per
    example, default all rows) with the filter bank given as :func:`mel_bands` -> ``(batch, n_mels, frames)``
    float32 (``(n_mels, frames)`` when ``frames`` is None). ``power``: 1 or 2."""
    X = np.ascontiguousarray(X)
    rows = X.shape[0]
    per = rows if frames is None else int(frames)
    lo, hi, W = bands
    out = np.empty((rows // per, lo.shape[0], per), dtype=np.float32)
    if _HAVE_NUMBA:
        _run_chunks(_mel_rows, rows, X, lo, hi, W, power == 1.0, out)
    else:  # pragma: no cover - fallback
        P = np.abs(X) if power == 1.0 else (X.real ** 2 + X.imag ** 2)
        fb = np.zeros((lo.shape[0], X.shape[1]), dtype=np.float32)
        for m in range(lo.shape[0]):
            fb[m, lo[m]:hi[m]] = W[m, : hi[m] - lo[m]]
        out[:] = np.einsum("mf,btf->bmt", fb, P.reshape(-1, per, X.shape[1]).astype(np.float32))
    return out[0] if frames is None else out


def mel_spectrum(X, bands: tuple[np.ndarray, np.ndarray, np.ndarray], power: float = 2.0):
    """:func:`mel_rows` for a complex64 CPU STFT tensor ``(batch, bins, frames)`` (as ``torch.stft`` returns
    it); returns a float32 tensor ``(batch, n_mels, frames)``, or None when this kernel does not apply (other
    device, dtype or power: use torch).

    One pass over the STFT computes each frame's power and only the filters' non-zero bands (a Slaney bank
    of 128 mels over 1025 bins has ~1,100 non-zero weights of 131,000), instead of ``|X|**2`` (torch's complex
    ``abs`` is slower than the STFT) and a dense matrix product.
    """
    import torch

    if (not _HAVE_NUMBA or X.device.type != "cpu" or X.dtype != torch.complex64 or X.ndim != 3
            or power not in (1.0, 2.0)):
        return None
    Xf = X.detach().transpose(-1, -2)
    if not Xf.is_contiguous():
        Xf = Xf.contiguous()
    batch, frames, n_bins = Xf.shape
    return torch.from_numpy(mel_rows(Xf.numpy().reshape(batch * frames, n_bins), bands, power, frames=frames))


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
    k = min(get_num_threads(), max(1, n // (1 << 18)))
    if k <= 1:
        _power_rows(0, n, a, out)
    else:
        bounds = [n * i // k for i in range(k + 1)]
        with ThreadPoolExecutor(max_workers=k) as ex:
            for f in [ex.submit(_power_rows, bounds[i], bounds[i + 1], a, out) for i in range(k)]:
                f.result()
    return torch.from_numpy(out).reshape(X.shape)
