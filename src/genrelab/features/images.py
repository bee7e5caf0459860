"""Spectrogram images as the studies used them, as tensors (fast path) or PNG files.

An image is a mel spectrogram in dB (``ref=max``, 80 dB range, librosa defaults: n_fft 2048,
hop 512, 128 mel bands) drawn low frequencies at the bottom, scaled to the image's own
minimum..maximum (matplotlib's automatic colour limits), resampled to ``height x width`` pixels
and coloured with a matplotlib colormap (``magma``: what ``librosa.display.specshow`` picks for
all-negative dB data). ``channels``: 4 = RGBA (alpha 1, the Kaggle PNGs are RGBA), 3 = RGB
(Qin drops alpha), 1 = grey level (the normalised dB value itself, no colormap).

:meth:`SpectrogramImage.compute` returns float32 ``(channels, height, width)`` in [0, 1] directly
(no figure, no PNG round trip); :func:`write_png` writes the same pixels as an 8-bit PNG, and
reading that PNG back gives the tensor within 1/255.

Presets: :func:`kaggle_image` (``images_original``: 432 x 288 RGBA of a whole 30 s clip),
:func:`qin_image_spec` (3 x 288 x 432; z-score each channel with
``Standardizer(axes=(2, 3))``), :func:`omier_image_spec` (432 x 288 images of 3-second
segments), :func:`liu_image_spec` (128 x 128).

How close is this to the Kaggle ``images_original`` PNGs? We do not have those files here, so
the rendering could not be compared pixel by pixel. Size (432 x 288), mode (RGBA) and content (a
mel spectrogram of the whole clip in dB) follow the published description; the colormap, the
absence of axes/margins and the nearest-neighbour resampling are our choices and may differ from
the figure the Kaggle author saved. Models trained on the Kaggle PNGs should be fine-tuned or
retrained on these images rather than assumed interchangeable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from genrelab.features.config import FeatureConfig, InputSpec, register_feature
from genrelab.types import ConfigError

_INTERPOLATIONS = ("nearest", "bilinear")


@functools.lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray:
    """256-entry RGBA lookup table of a matplotlib colormap (float32)."""
    from matplotlib import colormaps

    try:
        cm = colormaps[cmap]
    except KeyError:
        raise ConfigError(f"unknown colormap {cmap!r}") from None
    return cm(np.linspace(0.0, 1.0, 256)).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _nearest_index(n_src: int, n_dst: int) -> np.ndarray:
    return np.minimum(((np.arange(n_dst) + 0.5) * n_src / n_dst).astype(np.int64), n_src - 1)


@register_feature
@dataclass(frozen=True)
class SpectrogramImage(FeatureConfig):
    """A mel spectrogram rendered as an image tensor ``(channels, height, width)`` in [0, 1]."""

    kind: ClassVar[str] = "image"
    batched: ClassVar[bool] = True
    uses_device: ClassVar[bool] = True
    width: int = 432
    height: int = 288
    channels: int = 4
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmax: float | None = None
    top_db: float | None = 80.0
    cmap: str = "magma"
    interpolation: str = "nearest"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3, 4):
            raise ConfigError("channels must be 1 (grey), 3 (RGB) or 4 (RGBA)")
        if self.width <= 0 or self.height <= 0:
            raise ConfigError("width and height must be positive")
        if self.interpolation not in _INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {_INTERPOLATIONS}")

    def mel(self):
        from genrelab.features.spectral import MelSpectrogram

        return MelSpectrogram(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                              n_mels=self.n_mels, fmax=self.fmax, ref="max", top_db=self.top_db)

    def render(self, mel_db: np.ndarray) -> np.ndarray:
        """Image of dB spectrogram(s) ``(mels, frames)`` or ``(batch, mels, frames)`` (numpy; torch only for
        bilinear resampling)."""
        x = np.asarray(mel_db, dtype=np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        lo = x.min(axis=(1, 2), keepdims=True)
        hi = x.max(axis=(1, 2), keepdims=True)
        x = (x - lo) / np.maximum(hi - lo, np.float32(1e-12))
        x = x[:, ::-1]  # low frequencies at the bottom
        if self.interpolation == "nearest":
            x = x[:, _nearest_index(x.shape[1], self.height)][:, :, _nearest_index(x.shape[2], self.width)]
        else:
            import torch

            x = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(x))[:, None],
                                                size=(self.height, self.width), mode="bilinear",
                                                align_corners=False)[:, 0].numpy()
        x = np.clip(x, 0.0, 1.0)
        if self.channels == 1:
            img = x[:, None]
        else:
            idx = np.clip((x * np.float32(255.0) + np.float32(0.5)).astype(np.int64), 0, 255)  # matplotlib's 256 colours
            img = _lut(self.cmap)[idx].transpose(0, 3, 1, 2)[:, : self.channels]
        out = np.ascontiguousarray(img, dtype=np.float32)
        return out[0] if single else out

    def compute(self, y: np.ndarray, device: str | None = None) -> np.ndarray:
        return self.render(self.mel().compute(y, device=device))

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (self.channels, self.height, self.width)


# --------------------------------------------------------------------------- PNG


def quantize(x: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] (any shape) -> uint8 ``rint(x * 255)``: an 8-bit PNG's values."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * np.float32(255.0)), 0, 255).astype(np.uint8)


def stored_dtype(feature: FeatureConfig, pixels: str = "auto") -> str:
    """How examples of ``feature`` are held for training (``data.pixels``): ``uint8`` or ``float32``.

    ``auto``: uint8 for colour-mapped spectrogram images (``image`` features with 3 or 4 channels: the Kaggle
    ``images_original`` renders that Qin, Sirek and omier read as 8-bit PNG files), quantised exactly as
    :func:`write_png` does (so the model sees the PNG's values, within 1/510 of the float render), 4x fewer bytes
    to hold, copy and send to the GPU; float32 for everything else (Liu's grey-level images included).
    ``uint8`` on a non-image feature is an error. A model trained on uint8 pixels is given the same quantised
    values at inference (the checkpoint records ``input_pixels``; :meth:`genrelab.checkpoint.Checkpoint.predict_proba`)."""
    if pixels not in ("auto", "uint8", "float32"):
        raise ConfigError(f"pixels must be auto, uint8 or float32, got {pixels!r}")
    if pixels == "float32" or feature.kind != "image":
        if pixels == "uint8" and feature.kind != "image":
            raise ConfigError(f"data.pixels uint8 is for image features, not {feature.kind!r}")
        return "float32"
    if pixels == "uint8":
        return "uint8"
    return "uint8" if int(getattr(feature, "channels", 1)) in (3, 4) else "float32"


def dequantize(x: np.ndarray) -> np.ndarray:
    """Stored examples as float32: uint8 pixels ``p`` as ``p / 255`` (what :func:`read_png` gives), float
    arrays as they are. ``|dequantize(quantize(x)) - x| <= 1/510``."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] -> ``(H, W[, C])`` uint8 (the PNG's pixels)."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim != 3:
        raise ConfigError(f"expected an image (channels, height, width), got shape {img.shape}")
    u8 = quantize(img)
    return u8[0] if u8.shape[0] == 1 else np.moveaxis(u8, 0, -1)


def write_png(img: np.ndarray, path: str | Path) -> Path:
    """Write an image tensor (``compute`` output) as an 8-bit PNG (L, RGB or RGBA), atomically."""
    import os

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = to_uint8(img)
    mode = {2: "L"}.get(arr.ndim) or {3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(arr, mode=mode).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def read_png(path: str | Path, channels: int | None = None) -> np.ndarray:
    """Read a PNG as float32 ``(C, H, W)`` in [0, 1]; ``channels=3`` drops alpha (Qin)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im, dtype=np.float32) / 255.0
    arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    if channels is not None:
        arr = arr[:channels]
    return np.ascontiguousarray(arr)


def save_image(y: np.ndarray, path: str | Path, config: SpectrogramImage | None = None) -> Path:
    """Render a signal with ``config`` (default: Kaggle style) and write it as PNG."""
    return write_png((config or kaggle_image()).compute(y), path)


# --------------------------------------------------------------------------- presets


def kaggle_image() -> SpectrogramImage:
    """Kaggle ``images_original`` style: 432 x 288 RGBA mel spectrogram of the whole clip."""
    return SpectrogramImage(width=432, height=288, channels=4)


def kaggle_image_spec() -> InputSpec:
    return InputSpec(feature=kaggle_image(), clip_seconds=30.0)


def qin_image_spec() -> InputSpec:
    """Qin's CNN input: the Kaggle image without alpha, 3 x 288 x 432 (z-score per channel afterwards)."""
    return InputSpec(feature=SpectrogramImage(width=432, height=288, channels=3), clip_seconds=30.0)


def omier_image_spec() -> InputSpec:
    """omier's 3-second images: 432 x 288 RGB of each of the ten 3 s segments of a 30 s clip."""
    return InputSpec(feature=SpectrogramImage(width=432, height=288, channels=3), clip_seconds=30.0,
                     segment_seconds=3.0)


def liu_image_spec() -> InputSpec:
    """Liu et al.'s 128 x 128 images (grey level = normalised dB), one per 30 s clip, from audio at 16,000 Hz
    as the study resamples it (n_fft 2048, hop 512 at 16 kHz: 938 frames resized to 128 columns)."""
    return InputSpec(feature=SpectrogramImage(sample_rate=16000, width=128, height=128, channels=1), clip_seconds=30.0)


__all__ = [
    "SpectrogramImage", "stored_dtype", "write_png", "read_png", "save_image", "to_uint8", "quantize", "dequantize", "kaggle_image", "kaggle_image_spec",
    "qin_image_spec", "omier_image_spec", "liu_image_spec",
]
