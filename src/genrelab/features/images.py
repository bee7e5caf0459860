"""Spectrogram images as the studies used them. Work in progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from genrelab.features.config import FeatureConfig, register_feature


@register_feature
@dataclass(frozen=True)
class SpectrogramImage(FeatureConfig):
    """A mel spectrogram rendered as an image tensor ``(channels, height, width)`` in [0, 1]."""

    kind: ClassVar[str] = "image"
    width: int = 432
    height: int = 288
    channels: int = 3
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    cmap: str = "magma"

    def compute(self, y: np.ndarray) -> np.ndarray:
        import torch
        from matplotlib import colormaps

        from genrelab.features.spectral import MelSpectrogram

        mel = MelSpectrogram(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                             n_mels=self.n_mels).compute(y)
        x = (mel - mel.min()) / max(float(mel.max() - mel.min()), 1e-9)
        x = np.flip(x, axis=-2).copy()
        t = torch.from_numpy(x)[None, None] if x.ndim == 2 else torch.from_numpy(x)[:, None]
        t = torch.nn.functional.interpolate(t, size=(self.height, self.width), mode="bilinear", align_corners=False)
        rgba = colormaps[self.cmap](t[:, 0].numpy())  # (b, H, W, 4)
        img = np.moveaxis(rgba[..., : self.channels], -1, 1).astype(np.float32)
        return img[0] if np.asarray(y).ndim == 1 else img

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (self.channels, self.height, self.width)
