"""librosa's mel filter bank (``librosa.filters.mel``) with numpy alone, bit for bit.

One implementation for the spectral features (:mod:`genrelab.features.fastmel`) and the musicnn front end
(:mod:`genrelab.musicnn.dsp`): building the bank with librosa's own arithmetic spares a cold start librosa's
import (~1 s). Only the Slaney area norm and no norm are done here; other norms fall back to librosa.
"""

from __future__ import annotations

import functools

import numpy as np


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    if mels.ndim:
        log_t = f >= min_log_hz
        mels[log_t] = min_log_mel + np.log(f[log_t] / min_log_hz) / logstep
    elif f >= min_log_hz:
        mels = min_log_mel + np.log(f / min_log_hz) / logstep
    return mels


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    m = np.asanyarray(m)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = m >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (m[log_t] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=32)
def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool,
                norm: str | None) -> np.ndarray:
    """``librosa.filters.mel(..., dtype=float32)`` ((n_mels, 1 + n_fft // 2)), same arithmetic, cached."""
    if norm not in ("slaney", None):  # p-norms: librosa's own util.normalize
        import librosa

        return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                                   dtype=np.float32)
    if fmax is None:
        fmax = float(sr) / 2
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels])
        weights *= enorm[:, np.newaxis]
    return weights
