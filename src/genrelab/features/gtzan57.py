"""The 57 Kaggle "GTZAN features", exactly as in ``features_30_sec.csv`` / ``features_3_sec.csv``.

How the Kaggle table was made (reverse-engineered; every column of all 84 shared clips matches
to about 1e-6 of the column's standard deviation, tempo exactly): the clip is read at 22050 Hz
in full (661,794 samples for most clips) and the features are librosa's defaults *of the
librosa releases of 2020* (0.7/0.8), which differ from librosa >= 0.10 in two places:

1. every STFT and frame-based feature (chroma, rms, centroid, bandwidth, rolloff, MFCC, onset
   strength, HPSS) pads the signal at both ends by *reflection* (``pad_mode="reflect"``), not with
   zeros (zero-crossing rate always pads by edge repetition);
2. ``librosa.effects.hpss`` inverted the harmonic/percussive STFTs *without* ``length=``: the
   signals are ``hop * (frames - 1)`` samples long and ``fix_length`` pads them back with zeros,
   so the last ``n % 512`` samples of ``harmony``/``perceptr`` are zero.

Columns: mean and variance over frames of chroma_stft (tuning estimated, inf-norm per frame), rms,
spectral_centroid, spectral_bandwidth, rolloff (85 %) and zero_crossing_rate; mean and variance
of the harmonic (``harmony``) and percussive (``perceptr``) *signals* of HPSS (31-bin median
filters, soft masks); tempo of ``librosa.beat.beat_track`` (onset strength aggregated by the
median over mel bands, autocorrelation tempogram with a log-normal prior at 120 BPM); mean and
variance of 20 MFCCs (128 mel bands, dB re 1.0 clipped at 80 dB, DCT-II ortho).

The fast path (:func:`gtzan57_features`) computes one STFT and shares it across every feature,
replaces scipy's median filter (which dominates librosa's HPSS) with an exact running median
(:mod:`genrelab.features._median`), recovers the percussive signal by subtraction from the one
inverse STFT it needs (HPSS soft masks sum to one), and computes zero-crossing and RMS frames
with cumulative sums. :func:`reference_features` is the plain per-feature librosa code used
as the baseline in tests and benchmarks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from genrelab.features.config import FeatureConfig, InputSpec, register_feature
from genrelab.types import ConfigError

_BASE = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff", "zero_crossing_rate",
         "harmony", "perceptr")
#: The 57 feature columns of the Kaggle tables, in order.
GTZAN57_COLUMNS: tuple[str, ...] = (
    *[f"{b}_{s}" for b in _BASE for s in ("mean", "var")],
    "tempo",
    *[f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")],
)
assert len(GTZAN57_COLUMNS) == 57

#: Segment length of ``features_3_sec.csv`` (its ``length`` column): 3 s at 22050 Hz less one sample.
KAGGLE_3SEC_SAMPLES = 66149
#: Segments per 30 s clip in ``features_3_sec.csv``.
KAGGLE_3SEC_SEGMENTS = 10

_N_FFT = 2048
_HOP = 512
_N_MFCC = 20
_N_MELS = 128
_PAD = "reflect"


# --------------------------------------------------------------------------- reference (baseline)


def reference_features(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The plain per-feature librosa implementation: each librosa function called on the signal.

    With the 2020 librosa defaults the Kaggle table used (reflect padding, HPSS inverted
    without ``length`` then zero-padded). Slow (HPSS alone takes seconds); the baseline of
    the parity tests and of ``benchmarks/bench_features.py``.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    pm = _PAD
    feats = [
        librosa.feature.chroma_stft(y=y, sr=sr, pad_mode=pm),
        librosa.feature.rms(y=y, pad_mode=pm),
        librosa.feature.spectral_centroid(y=y, sr=sr, pad_mode=pm),
        librosa.feature.spectral_bandwidth(y=y, sr=sr, pad_mode=pm),
        librosa.feature.spectral_rolloff(y=y, sr=sr, pad_mode=pm),
        librosa.feature.zero_crossing_rate(y),
    ]
    D = librosa.stft(y, pad_mode=pm)
    H, P = librosa.decompose.hpss(D)
    feats.append(librosa.util.fix_length(librosa.istft(H, dtype=y.dtype), size=len(y)))
    feats.append(librosa.util.fix_length(librosa.istft(P, dtype=y.dtype), size=len(y)))
    out: list[float] = []
    for f in feats:
        out += [float(np.mean(f)), float(np.var(f))]
    tempo, _ = librosa.beat.beat_track(
        onset_envelope=librosa.onset.onset_strength(y=y, sr=sr, aggregate=np.median, pad_mode=pm), sr=sr)
    out.append(float(np.atleast_1d(tempo)[0]))
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=_N_MFCC, pad_mode=pm)
    for row in m:
        out += [float(np.mean(row)), float(np.var(row))]
    return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------- fast path


@functools.lru_cache(maxsize=8)
def _stft_window(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


def _stft_frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """librosa.stft(y, pad_mode="reflect").T: complex64 ``(frames, 1 + n_fft//2)`` (frame-major)."""
    import scipy.fft

    yp = np.pad(y, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop]
    return scipy.fft.rfft(frames * _stft_window(n_fft), axis=-1, workers=-1)


@functools.lru_cache(maxsize=16)
def _window_sumsquare(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    w2 = _stft_window(n_fft).astype(np.float64) ** 2
    n = n_fft + hop * (n_frames - 1)
    x = np.zeros(n)
    blocks = n_fft // hop
    if n_fft % hop == 0:
        tile = w2.reshape(blocks, hop)
        xb = x.reshape(-1, hop)
        for b in range(blocks):
            xb[b:b + n_frames] += tile[b]
    else:  # pragma: no cover - generic
        for t in range(n_frames):
            x[t * hop:t * hop + n_fft] += w2
    return x


def _istft_frames(X: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """librosa.istft(X.T) without ``length`` (centred) of a frame-major STFT: ``hop * (frames - 1)`` samples."""
    import scipy.fft

    n_frames = X.shape[0]
    frames = scipy.fft.irfft(X, n=n_fft, axis=-1, workers=-1).astype(np.float32, copy=False)
    frames *= _stft_window(n_fft)
    n = n_fft + hop * (n_frames - 1)
    y = np.zeros(n, dtype=np.float32)
    if n_fft % hop == 0:
        blocks = n_fft // hop
        yb = y.reshape(-1, hop)
        fb = frames.reshape(n_frames, blocks, hop)
        for b in range(blocks):
            yb[b:b + n_frames] += fb[:, b]
    else:  # pragma: no cover - generic
        for t in range(n_frames):
            y[t * hop:t * hop + n_fft] += frames[t]
    wss = _window_sumsquare(n_fft, hop, n_frames).astype(np.float32)
    nz = wss > np.finfo(np.float32).tiny
    y[nz] /= wss[nz]
    return y[n_fft // 2: n - n_fft // 2]


def _frame_sums(x: np.ndarray, frame: int, hop: int, n_frames: int) -> np.ndarray:
    """Sums of ``x[t*hop : t*hop+frame]`` for t < n_frames (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if frame % hop == 0:
        per = frame // hop
        nb = n_frames - 1 + per
        blocks = np.zeros(nb)
        m = min(nb * hop, x.shape[0])
        full = m // hop
        blocks[:full] = x[: full * hop].reshape(full, hop).sum(axis=1)
        if full < nb:
            blocks[full] = x[full * hop: m].sum()
        out = np.zeros(n_frames)
        for b in range(per):
            out += blocks[b:b + n_frames]
        return out
    c = np.concatenate([[0.0], np.cumsum(x)])  # pragma: no cover - generic
    starts = np.arange(n_frames) * hop
    return c[starts + frame] - c[starts]


def _zcr(y: np.ndarray, frame: int = _N_FFT, hop: int = _HOP) -> np.ndarray:
    """librosa.feature.zero_crossing_rate(y) (centre=True, edge padding, threshold 1e-10)."""
    yp = np.pad(y, frame // 2, mode="edge")
    n_frames = 1 + (len(yp) - frame) // hop
    s = np.signbit(yp) & (np.abs(yp) > 1e-10)
    z = np.empty(len(yp), dtype=np.float64)
    z[:-1] = s[1:] != s[:-1]  # crossing between sample i and i+1
    z[-1] = 0.0
    # a frame's crossings are the frame - 1 pairs inside it
    counts = _frame_sums(z, frame, hop, n_frames) - z[np.arange(n_frames) * hop + frame - 1]
    return counts / frame


def _rms(y: np.ndarray, frame: int = _N_FFT, hop: int = _HOP) -> np.ndarray:
    """librosa.feature.rms(y, pad_mode="reflect")."""
    yp = np.pad(y, frame // 2, mode="reflect").astype(np.float64)
    n_frames = 1 + (len(yp) - frame) // hop
    return np.sqrt(np.maximum(_frame_sums(yp * yp, frame, hop, n_frames) / frame, 0.0))


@functools.lru_cache(maxsize=8)
def _fft_freqs(sr: int, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


def _estimate_tuning(P: np.ndarray, sr: int, n_fft: int, bins_per_octave: int = 12) -> float:
    """librosa.estimate_tuning(S=P.T, sr) for a frame-major power spectrogram ``P`` (frames, bins).

    Only the bins piptrack can use (150..4000 Hz, plus one neighbour each side) are looked at.
    """
    import librosa

    freqs = _fft_freqs(sr, n_fft)
    fmin, fmax = 150.0, min(4000.0, sr / 2.0)
    rows = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    if rows.size == 0:
        return 0.0
    lo, hi = max(rows[0] - 1, 0), min(rows[-1] + 2, P.shape[1])
    S = np.ascontiguousarray(np.abs(P[:, lo:hi]).T)  # piptrack works on |S| (the power spectrogram here)
    ref_value = 0.1 * np.max(P, axis=1)[None, :]
    # parabolic interpolation and local maxima over frequency, as in librosa.piptrack
    avg = 0.5 * (S[2:] - S[:-2])
    shift_den = 2 * S[1:-1] - S[2:] - S[:-2]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(shift_den) > 0, avg / shift_den, 0.0)
    shift = np.where(np.abs(shift) <= 1, shift, 0.0)  # librosa zeroes shifts outside [-1, 1]
    Sm = S * (S > ref_value)
    lmax = (Sm[1:-1] > Sm[:-2]) & (Sm[1:-1] >= Sm[2:])
    mask_rows = (fmin <= freqs[lo + 1:hi - 1]) & (freqs[lo + 1:hi - 1] < fmax)
    lmax &= mask_rows[:, None]
    ii, tt = np.nonzero(lmax)
    bins = lo + 1 + ii
    pitches = (bins + shift[ii, tt]) * float(sr) / n_fft
    mags = S[ii + 1, tt] + 0.5 * avg[ii, tt] * shift[ii, tt]
    keep = pitches > 0
    if not keep.any():
        return 0.0
    threshold = np.median(mags[keep])
    sel = pitches[(mags >= threshold) & keep]
    if sel.size == 0:
        return 0.0
    return float(librosa.pitch_tuning(sel, resolution=0.01, bins_per_octave=bins_per_octave))


@functools.lru_cache(maxsize=256)
def _chroma_fb(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


@functools.lru_cache(maxsize=8)
def _mel_fb(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)


@functools.lru_cache(maxsize=8)
def _dct_ortho(n_in: int, n_out: int) -> np.ndarray:
    import scipy.fft

    return scipy.fft.dct(np.eye(n_in), type=2, norm="ortho", axis=0)[:n_out]


def _mean_var(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    return m, float(np.mean((x - m) ** 2))


def gtzan57_features(y: np.ndarray, sr: int = 22050, n_fft: int = _N_FFT, hop_length: int = _HOP) -> np.ndarray:
    """The 57 Kaggle GTZAN features of one mono signal (float64, :data:`GTZAN57_COLUMNS` order)."""
    import librosa

    from genrelab.features._kernels import hpss_harmonic, median_filter_last_axis, spectral_stats

    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ConfigError(f"expected a mono signal, got shape {y.shape}")
    n = y.shape[0]
    if n <= n_fft // 2:
        raise ConfigError(f"signal of {n} samples is too short for the GTZAN features (needs > {n_fft // 2})")
    X = _stft_frames(y, n_fft, hop_length)  # (frames, bins) complex64, shared by every feature
    S = np.abs(X)
    P = S * S
    freqs = _fft_freqs(sr, n_fft)
    out: list[float] = []

    # chroma_stft: tuning-adjusted chroma filters on the power spectrogram, inf-norm per frame
    tuning = _estimate_tuning(P, sr, n_fft)
    raw = P @ _chroma_fb(sr, n_fft, round(tuning, 6)).T
    cmax = raw.max(axis=1, keepdims=True)
    cmax[cmax < np.finfo(raw.dtype).tiny] = 1.0
    out += _mean_var(raw / cmax)

    # rms on the reflect-padded signal
    out += _mean_var(_rms(y, n_fft, hop_length))

    # centroid / bandwidth (p=2) / rolloff (85 %) on the magnitude spectrogram, one pass per frame
    sums, roll = spectral_stats(S, freqs, 0.85)
    s0 = sums[:, 0].astype(np.float32).astype(np.float64)  # librosa normalises by a float32 sum
    tot = np.where(s0 < np.finfo(np.float32).tiny, 1.0, s0)
    centroid = sums[:, 1] / tot
    bandwidth = np.sqrt(np.maximum(sums[:, 2] / tot - 2 * centroid * centroid + centroid * centroid * (sums[:, 0] / tot),
                                   0.0))
    out += _mean_var(centroid)
    out += _mean_var(bandwidth)
    out += _mean_var(freqs[roll])

    out += _mean_var(_zcr(y, n_fft, hop_length))

    # HPSS: 31-bin median filters over time (harmonic) and frequency (percussive), soft masks; one
    # inverse STFT (the masks sum to one, so the percussive signal is the rest of the signal)
    perc = median_filter_last_axis(S, 31)
    harm = median_filter_last_axis(np.ascontiguousarray(S.T), 31).T
    y_h = _istft_frames(hpss_harmonic(X, harm, perc), n_fft, hop_length)
    y_p = y[: y_h.shape[0]] - y_h
    out += _mean_var(librosa.util.fix_length(y_h, size=n))
    out += _mean_var(librosa.util.fix_length(y_p, size=n))

    # mel power -> dB re 1.0, top 80 dB (shared by the MFCCs and the onset envelope of the tempo)
    M = P @ _mel_fb(sr, n_fft, _N_MELS).T
    S_db = librosa.power_to_db(M)  # (frames, mels)
    oenv = librosa.onset.onset_strength(S=S_db.T, sr=sr, hop_length=hop_length, n_fft=n_fft, aggregate=np.median)
    out.append(_tempo(oenv, sr, hop_length))

    mfcc = S_db.astype(np.float64) @ _dct_ortho(_N_MELS, _N_MFCC).T  # (frames, 20)
    for col in mfcc.T:
        out += _mean_var(col)
    return np.asarray(out, dtype=np.float64)


def _tempo(oenv: np.ndarray, sr: int, hop_length: int, start_bpm: float = 120.0, std_bpm: float = 1.0,
           ac_size: float = 8.0, max_tempo: float = 320.0) -> float:
    """Tempo as ``librosa.beat.beat_track`` / ``librosa.feature.tempo`` estimate it from an onset envelope.

    Same computation as librosa 0.11 (autocorrelation tempogram over 8 s Hann windows, linear-ramp
    padding, inf-normalised per frame, averaged over time, log-normal prior around 120 BPM, nothing
    above 320 BPM), done frame-major with one batched FFT.
    """
    import scipy.fft

    oenv = np.asarray(oenv)
    if not oenv.any():
        return 0.0
    n = oenv.shape[-1]
    win = int(np.floor(ac_size * sr / hop_length))  # librosa.time_to_frames(ac_size)
    padded = np.pad(oenv, (win // 2, win // 2), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]
    n_win = np.arange(win)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n_win / win)
    x = (frames * window).astype(np.float32)  # (frames, win); float32 FFTs pick the same peak
    n_fft = scipy.fft.next_fast_len(2 * win - 1, real=True)
    spec = scipy.fft.rfft(x, n=n_fft, axis=-1, workers=-1)
    ac = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=n_fft, axis=-1, workers=-1)[:, :win]
    norms = np.max(np.abs(ac), axis=-1, keepdims=True)
    norms[norms < np.finfo(ac.dtype).tiny] = 1.0
    tg = np.mean(ac / norms, axis=0)
    with np.errstate(divide="ignore"):
        bpms = 60.0 * sr / (hop_length * np.arange(win, dtype=np.float64))
    bpms[0] = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    max_idx = int(np.argmax(bpms < max_tempo))
    logprior[:max_idx] = -np.inf
    best = int(np.argmax(np.log1p(1e6 * tg) + logprior))
    return float(bpms[best])


# --------------------------------------------------------------------------- config


@register_feature
@dataclass(frozen=True)
class GTZAN57(FeatureConfig):
    """The 57 Kaggle GTZAN features of a clip, in :data:`GTZAN57_COLUMNS` order.

    ``compute`` takes ``(n,)`` -> ``(57,)`` or ``(batch, n)`` -> ``(batch, 57)`` (float32).
    """

    kind: ClassVar[str] = "gtzan57"
    batched: ClassVar[bool] = True
    n_fft: int = _N_FFT
    hop_length: int = _HOP

    def __post_init__(self) -> None:
        if self.n_fft <= 0 or self.hop_length <= 0:
            raise ConfigError("n_fft and hop_length must be positive")

    @property
    def columns(self) -> tuple[str, ...]:
        return GTZAN57_COLUMNS

    def compute(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2:
            return np.stack([self.compute(r) for r in y])
        return gtzan57_features(y, self.sample_rate, self.n_fft, self.hop_length).astype(np.float32)

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (57,)


# --------------------------------------------------------------------------- input specs


def gtzan57_spec() -> InputSpec:
    """Whole-clip features (``features_30_sec.csv``): the decoded track as is (full length)."""
    return InputSpec(feature=GTZAN57())


def gtzan57_3sec_spec(n_segments: int | None = KAGGLE_3SEC_SEGMENTS) -> InputSpec:
    """``features_3_sec.csv`` style: back-to-back segments of 66,149 samples, one example each."""
    return InputSpec(feature=GTZAN57(), segment_samples=KAGGLE_3SEC_SAMPLES,
                     hop_seconds=KAGGLE_3SEC_SAMPLES / 22050, n_segments=n_segments)


def qin_lstm_spec() -> InputSpec:
    """Qin's LSTM input: 9 consecutive 3-second segments x 57 features as one sequence ``(1, 9, 57)``."""
    return InputSpec(feature=GTZAN57(), segment_samples=KAGGLE_3SEC_SAMPLES,
                     hop_seconds=KAGGLE_3SEC_SAMPLES / 22050, n_segments=9, group_segments=True)


# --------------------------------------------------------------------------- CSV export

CSV_HEADER: tuple[str, ...] = ("filename", "length", *GTZAN57_COLUMNS, "label")


def segment_rows(y: np.ndarray, sr: int = 22050, segment_seconds: float | None = None,
                 max_segments: int | None = None) -> list[tuple[int, np.ndarray]]:
    """``(length, features)`` per CSV row: the whole clip, or back-to-back segments.

    ``segment_seconds=3`` reproduces ``features_3_sec.csv``: segments of 66,149 samples at 22050 Hz
    (the table's ``length``), at most 10 per clip. Other lengths use ``round(seconds * sr)``
    samples and as many whole segments as fit (or ``max_segments``).
    """
    if not segment_seconds:
        return [(int(y.shape[0]), gtzan57_features(y, sr))]
    if float(segment_seconds) == 3.0:
        seg = int(round(KAGGLE_3SEC_SAMPLES * sr / 22050))
        max_segments = KAGGLE_3SEC_SEGMENTS if max_segments is None else max_segments
    else:
        seg = int(round(float(segment_seconds) * sr))
    if seg <= _N_FFT // 2:
        raise ConfigError(f"segments of {seg} samples are too short")
    n = y.shape[0] // seg
    if max_segments is not None:
        n = min(n, int(max_segments))
    return [(seg, gtzan57_features(y[i * seg:(i + 1) * seg], sr)) for i in range(n)]


def _segment_name(filename: str, i: int) -> str:
    p = Path(filename)
    return f"{p.stem}.{i}{p.suffix}"


def format_rows(filename: str, label: str | None, rows: Sequence[tuple[int, np.ndarray]],
                segmented: bool) -> list[list[Any]]:
    out = []
    for i, (length, feats) in enumerate(rows):
        name = _segment_name(filename, i) if segmented else filename
        out.append([name, length, *[repr(float(v)) for v in feats], label or ""])
    return out


#: Seconds of each file ``export_csv`` reads by default: twice a GTZAN clip (the Kaggle tables describe
#: 30 s clips), so the rows of GTZAN-like clips are exact and an hour-long file costs what a minute does.
EXPORT_MAX_SECONDS = 60.0


def export_csv(items: Iterable[tuple[str | Path, str | None]], out: str | Path, segments: float | None = None,
               workers: int = 1, progress: bool = False,
               max_seconds: float | None = EXPORT_MAX_SECONDS) -> dict[str, Any]:
    """Write the Kaggle-layout CSV (``filename,length,<57 columns>,label``) for ``(path, label)`` items.

    ``segments=None``: one row per file (``features_30_sec.csv``); ``segments=3``: rows
    ``<stem>.<i><ext>`` for 10 back-to-back 66,149-sample segments (``features_3_sec.csv``); other
    values: segments of that many seconds.
    ``max_seconds``: only the first ``max_seconds`` of each file are decoded and described (the
    ``length`` column says how many samples were used), which bounds memory and time per file whatever
    the file or its header claims (None or 0: whole files, memory grows with their length).
    Files that fail (undecodable, too short, out of memory, ...) are skipped and listed in the returned
    report; the export goes on. The file is written atomically (temporary file, then rename).
    """
    import csv
    import os

    items = [(Path(p), lab) for p, lab in items]
    results: list[list[list[Any]] | None] = [None] * len(items)
    errors: list[tuple[str, str]] = []
    args = [(str(p), segments, max_seconds or None) for p, _ in items]

    def _handle(i: int, res: tuple[list[tuple[int, np.ndarray]] | None, str | None]) -> None:
        rows, err = res
        if err is not None:
            errors.append((str(items[i][0]), err))
        else:
            results[i] = format_rows(items[i][0].name, items[i][1], rows or [], bool(segments))

    bar = _progress(progress, len(items), "gtzan57 csv")
    with bar as prog:
        task = prog.add_task("gtzan57 csv", total=len(items)) if prog else None
        if workers > 1 and len(items) > 1:
            from genrelab.features.workers import _preload, worker_pool

            _preload(gtzan57_spec())
            with worker_pool(workers) as ex:
                futures = [ex.submit(_rows_for_file, a) for a in args]
                for i, fut in enumerate(futures):
                    try:
                        res = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory)
                        res = (None, f"{items[i][0]}: worker failed ({type(exc).__name__}: {exc})")
                    _handle(i, res)
                    if prog:
                        prog.advance(task)
        else:
            for i, a in enumerate(args):
                _handle(i, _rows_for_file(a))
                if prog:
                    prog.advance(task)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n_rows = 0
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for rows in results:
            for r in rows or []:
                w.writerow(r)
                n_rows += 1
    os.replace(tmp, out)
    return {"path": str(out), "files": len(items), "rows": n_rows, "failed": len(errors), "errors": errors}


def _rows_for_file(arg: tuple) -> tuple[list[tuple[int, np.ndarray]] | None, str | None]:
    from genrelab import audio
    from genrelab.types import GenrelabError

    path, segments, max_seconds = arg
    try:
        y, sr = audio.load(path, sr=22050, duration=max_seconds)
        return segment_rows(y, sr, segments), None
    except (GenrelabError, ValueError) as exc:
        return None, str(exc)
    except MemoryError:
        return None, f"{path}: out of memory (use a smaller --max-seconds)"
    except Exception as exc:  # noqa: BLE001 - one bad file never aborts the export
        return None, f"{path}: {type(exc).__name__}: {exc}"


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _progress(enabled: bool, total: int, label: str):
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


__all__ = [
    "GTZAN57", "GTZAN57_COLUMNS", "CSV_HEADER", "KAGGLE_3SEC_SAMPLES", "KAGGLE_3SEC_SEGMENTS",
    "gtzan57_features", "reference_features", "gtzan57_spec", "gtzan57_3sec_spec", "qin_lstm_spec",
    "segment_rows", "export_csv", "EXPORT_MAX_SECONDS",
]
