"""The page's spectrogram: the model's own mel spectrogram (librosa's mel filterbank with the parameters of the
model's feature), drawn by matplotlib with a time axis, a frequency axis and a colour bar.

For the shipped musicnn models that is 16 kHz audio, ``n_fft`` 512, hop 256 and 96 mel bands: exactly
what the network sees. Other features give their own ``n_fft``/``hop_length``/``n_mels`` when they have them.
Drawing uses matplotlib's object API (no pyplot state), so concurrent requests do not share a figure.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MelParams:
    sample_rate: int
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96


def mel_params(feature: Any, sample_rate: int) -> MelParams:
    """The mel parameters of a model's feature (musicnn: its own constants; others: their attributes)."""
    if getattr(feature, "kind", "") in ("musicnn", "musicnn-mel"):
        from genrelab.musicnn import info as m  # the musicnn input representation's constants

        return MelParams(m.SAMPLE_RATE, m.N_FFT, m.HOP, m.N_MELS)
    hop = getattr(feature, "hop_length", None) or getattr(feature, "hop", None)
    return MelParams(int(getattr(feature, "sample_rate", sample_rate) or sample_rate),
                     int(getattr(feature, "n_fft", None) or 512), int(hop or 256),
                     int(getattr(feature, "n_mels", None) or 96))


def render(y: np.ndarray, params: MelParams, width_px: int = 1000, height_px: int = 260) -> tuple[bytes, dict]:
    """PNG of the log-mel spectrogram of mono ``y`` (at ``params.sample_rate``), and where its plot lies:
    ``{"seconds", "axes_left", "axes_right", "axes_top", "axes_bottom"}`` (fractions of the image width and
    height, measured from the left and from the top/bottom edge) so a page can draw a cursor on it."""
    import librosa
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    sr = params.sample_rate
    y = np.asarray(y, dtype=np.float32)
    if y.size < params.n_fft:
        y = np.pad(y, (0, params.n_fft - y.size))
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=params.n_fft, hop_length=params.hop_length,
                                         n_mels=params.n_mels)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    seconds = y.size / sr

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_axes((0.07, 0.19, 0.80, 0.74))
    cax = fig.add_axes((0.885, 0.19, 0.015, 0.74))
    img = ax.imshow(db, origin="lower", aspect="auto", cmap=colormaps["magma"], interpolation="nearest",
                    extent=(0.0, seconds, 0, params.n_mels), vmin=-80, vmax=0)
    freqs = librosa.mel_frequencies(n_mels=params.n_mels, fmin=0.0, fmax=sr / 2)
    ticks = [f for f in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if f <= sr / 2]
    ax.set_yticks([float(np.searchsorted(freqs, f)) for f in ticks])
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_ylabel("Hz (mel scale)")
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, seconds)
    cbar = fig.colorbar(img, cax=cax)
    cbar.set_label("dB (re max)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    box = ax.get_position()  # figure fractions, from the bottom left
    return buf.getvalue(), {"seconds": round(seconds, 3), "axes_left": round(float(box.x0), 4),
                            "axes_right": round(float(box.x1), 4), "axes_top": round(1 - float(box.y1), 4),
                            "axes_bottom": round(float(box.y0), 4)}
