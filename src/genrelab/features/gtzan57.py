"""The 57 Kaggle "GTZAN features" (features_30_sec.csv / features_3_sec.csv columns). Work in progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from genrelab.features.config import FeatureConfig, register_feature

_BASE = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff", "zero_crossing_rate",
         "harmony", "perceptr")
GTZAN57_COLUMNS: tuple[str, ...] = (
    *[f"{b}_{s}" for b in _BASE for s in ("mean", "var")],
    "tempo",
    *[f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")],
)
assert len(GTZAN57_COLUMNS) == 57


def reference_features(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The plain per-feature librosa implementation (baseline)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    out = []
    feats = [
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.spectral_bandwidth(y=y, sr=sr),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
    ]
    h, p = librosa.effects.hpss(y)
    feats += [h, p]
    for f in feats:
        out += [float(np.mean(f)), float(np.var(f))]
    tempo = librosa.feature.tempo(y=y, sr=sr)
    out.append(float(np.atleast_1d(tempo)[0]))
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    for row in m:
        out += [float(np.mean(row)), float(np.var(row))]
    return np.asarray(out, dtype=np.float64)


@register_feature
@dataclass(frozen=True)
class GTZAN57(FeatureConfig):
    """The 57 Kaggle GTZAN features of a clip, in :data:`GTZAN57_COLUMNS` order."""

    kind: ClassVar[str] = "gtzan57"
    fast: bool = True

    def compute(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2:
            return np.stack([self.compute(r) for r in y])
        return reference_features(y, self.sample_rate).astype(np.float32)

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (57,)
