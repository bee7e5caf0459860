"""Spectral features: mel spectrogram, linear STFT spectrogram and MFCC, computed with ``torch.stft``.

The numbers equal librosa's (``librosa.feature.melspectrogram`` + ``librosa.power_to_db``,
``librosa.stft``, ``librosa.feature.mfcc``) within 1e-3 dB: same periodic Hann window, same centred
framing with zero padding (``pad_mode="constant"``, librosa >= 0.10's default), same Slaney mel
filters (taken from ``librosa.filters.mel`` itself), same dB conversion (``amin``, ``ref``, ``top_db``).

Every ``compute`` accepts a mono signal ``(n,)`` or a batch ``(batch, n)`` and returns float32 numpy
arrays with the batch axis kept. ``compute(y, device=...)`` picks where the work runs: ``None``
(default) means CUDA when torch sees a GPU, else CPU; pipelines pass the device of their
:class:`genrelab.runtime.Runtime` (``GENRELAB_FEATURE_DEVICE``, read once at the command line's edge). ``compute_tensor`` takes and returns torch tensors and runs on
the input's device (for training loops that already hold audio on the GPU). The device is not
part of the config, so it never changes a config's hash or cache key.

Presets used by the studies:

- :func:`saintfelix_mfcc_spec` - Saint-Félix: 29 s at 22050 Hz, 10 slices of 63,945 samples,
  13 MFCC per frame -> (125, 13) per slice (``1 + 63945 // 512 = 125`` centred frames).
- :func:`feng_stft_spec` - Feng et al.'s BiGRU input, 128 frequency bins x 512 frames of a 30 s clip.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from genrelab.features import fastmel
from genrelab.features.config import FeatureConfig, InputSpec, register_feature
from genrelab.types import ConfigError

# --------------------------------------------------------------------------- torch helpers


def resolve_device(device: str | None = None) -> str:
    """``None``/"auto" -> "cuda" when available, else "cpu"; anything else is returned as it is. The device a
    user asks for (``GENRELAB_FEATURE_DEVICE``) is read once into :class:`genrelab.runtime.Runtime` at the
    command line / web edge and arrives here as ``device``.

    torch is not imported to find out when this Linux machine has no NVIDIA driver (a CPU extraction
    process then never pays torch's import, ~1.3 s of CPU)."""
    import os
    import sys

    if device in (None, "", "auto"):
        if ("torch" not in sys.modules and sys.platform.startswith("linux")
                and not os.path.exists("/proc/driver/nvidia/version")):
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def _window_np(n_fft: int, win_length: int) -> np.ndarray:
    """librosa's ``get_window("hann", win_length, fftbins=True)`` centred in ``n_fft`` (float32, cached)."""
    return fastmel.hann(n_fft, win_length)


def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool,
                norm: str | None) -> np.ndarray:
    """``librosa.filters.mel`` (float32, (n_mels, 1 + n_fft // 2)), cached (:func:`fastmel.mel_filters`)."""
    return fastmel.mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm)


def _as_batch(y: np.ndarray) -> tuple[np.ndarray, bool]:
    y = np.asarray(y)
    if y.ndim == 1:
        return y[None, :], True
    if y.ndim != 2:
        raise ConfigError(f"expected a signal (n,) or a batch (batch, n), got shape {y.shape}")
    return y, False


def _to_tensor(y, device: str):
    import torch

    if isinstance(y, torch.Tensor):
        return y.to(device=device, dtype=torch.float32)
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device)


def stft_torch(y, n_fft: int, hop_length: int, win_length: int | None = None, center: bool = True,
               pad_mode: str = "constant"):
    """Complex STFT ``(batch, 1 + n_fft//2, frames)`` of a float32 tensor ``(batch, n)``, librosa framing."""
    import torch

    win_length = win_length or n_fft
    window = torch.from_numpy(_window_np(n_fft, win_length).astype(np.float32)).to(y.device)
    if center:
        pad = n_fft // 2
        if pad_mode == "constant":
            y = torch.nn.functional.pad(y, (pad, pad))
        else:
            y = torch.nn.functional.pad(y[:, None, :], (pad, pad), mode=pad_mode)[:, 0, :]
    if y.shape[-1] < n_fft:
        raise ConfigError(f"signal of {y.shape[-1]} samples is shorter than n_fft={n_fft}")
    return torch.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=n_fft, window=window,
                      center=False, return_complex=True)


def power_to_db_torch(S, ref: str | float = "max", amin: float = 1e-10, top_db: float | None = 80.0):
    """``librosa.power_to_db`` per example of a batch ``(batch, ...)``."""
    import torch

    dims = tuple(range(1, S.ndim))
    if ref == "max":
        ref_val = torch.amax(S, dim=dims, keepdim=True)
    log_spec = torch.clamp(S, min=amin).log10_().mul_(10.0)
    if ref == "max":
        log_spec.sub_(10.0 * torch.log10(torch.clamp(ref_val, min=amin)))
    else:
        log_spec.sub_(10.0 * float(np.log10(max(amin, abs(float(ref))))))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError("top_db must be non-negative")
        peak = torch.amax(log_spec, dim=dims, keepdim=True)
        log_spec = log_spec.clamp_(min=peak - top_db)
    return log_spec


def per_clip(fn, y):
    """``fn`` on each clip of a CPU batch, concatenated.

    Clip by clip keeps each clip's frames in cache (about 2x faster than one big batch). When torch
    runs single-threaded (``torch.set_num_threads(1)``, recommended on shared or small machines where
    torch's own thread pool spins), clips are spread over genrelab's kernel threads instead
    (:func:`genrelab.features.threads.set_num_threads`); torch releases the GIL inside each op.
    """
    import torch

    from genrelab.features.threads import map_threads

    clips = range(y.shape[0])
    if torch.get_num_threads() != 1:  # torch parallelises each op itself
        return torch.cat([fn(y[i:i + 1]) for i in clips], dim=0)
    return torch.cat(map_threads(lambda i: fn(y[i:i + 1]), clips), dim=0)


def per_clip_np(fn, y: np.ndarray) -> np.ndarray:
    """``fn`` (numpy, one clip) on each clip of a batch ``(batch, n)``, stacked; clips spread over genrelab's
    kernel threads (:mod:`genrelab.features.threads`; scipy.fft and BLAS release the GIL)."""
    from genrelab.features.threads import map_threads

    return np.stack(map_threads(fn, y))


def _check_ref(ref) -> None:
    if ref != "max":
        try:
            float(ref)
        except (TypeError, ValueError):
            raise ConfigError(f"ref must be 'max' or a number, got {ref!r}") from None


def _finish(x, squeeze: bool) -> np.ndarray:
    out = x.detach().to("cpu").numpy().astype(np.float32, copy=False)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------- configs


class _TorchFeature(FeatureConfig):
    uses_device: ClassVar[bool] = True
    """Shared numpy entry point of the torch-computed spectral features (subclasses define ``compute_tensor``)."""

    def compute_tensor(self, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self, y: np.ndarray, device: str | None = None) -> np.ndarray:
        """``(n,)`` or ``(batch, n)`` float32 audio -> features (batch axis kept when given); runs on ``device``
        (default: CUDA when present, or ``GENRELAB_FEATURE_DEVICE``)."""
        import torch

        yb, squeeze = _as_batch(y)
        with torch.no_grad():
            out = self.compute_tensor(_to_tensor(yb, resolve_device(device)))
        return _finish(out, squeeze)


@register_feature
@dataclass(frozen=True)
class MelSpectrogram(_TorchFeature):
    """Mel spectrogram ``(n_mels, frames)``, in dB when ``db`` (librosa's melspectrogram + power_to_db).

    ``ref``: "max" (each example's own maximum, librosa ``ref=np.max``) or a number (e.g. 1.0).
    ``top_db``: clip to this many dB below the peak (None: no clipping).
    """

    kind: ClassVar[str] = "mel"
    batched: ClassVar[bool] = True
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    htk: bool = False
    norm: str | None = "slaney"
    center: bool = True
    pad_mode: str = "constant"
    db: bool = True
    ref: str | float = "max"
    amin: float = 1e-10
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        _check_ref(self.ref)
        if self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ConfigError("n_fft, hop_length and n_mels must be positive")

    def compute(self, y: np.ndarray, device: str | None = None) -> np.ndarray:
        """``(n,)`` or ``(batch, n)`` float32 audio -> ``(n_mels, frames)`` (batch axis kept when given).

        On CPU: numpy + scipy.fft + the fused mel kernel (:mod:`genrelab.features.fastmel`, no torch);
        elsewhere (or for pad modes / powers it does not cover): torch."""
        if not self.numpy_path(device):
            return super().compute(y, device=device)
        yb, squeeze = _as_batch(np.asarray(y, dtype=np.float32))
        out = per_clip_np(self.compute_np, yb)
        return out[0] if squeeze else out

    def numpy_path(self, device: str | None = None) -> bool:
        return (self.power in (1.0, 2.0) and fastmel.supported_pad(self.pad_mode)
                and resolve_device(device) == "cpu")

    def compute_np(self, y: np.ndarray) -> np.ndarray:
        """One clip ``(n,)`` -> ``(n_mels, frames)`` float32 with numpy/scipy (see :meth:`compute`)."""
        M = fastmel.mel_spectrogram(y, self.sample_rate, self.n_fft, self.hop_length, self.win_length, self.n_mels,
                                    self.fmin, self.fmax, self.htk, self.norm, self.center, self.pad_mode, self.power)
        return fastmel.power_to_db(M, self.ref, self.amin, self.top_db) if self.db else M

    def mel_power(self, yt):
        """Mel spectrogram (not dB) of a tensor batch ``(batch, n)``."""
        import torch

        from genrelab.features._kernels import mel_spectrum, power_spectrum

        X = stft_torch(yt, self.n_fft, self.hop_length, self.win_length, self.center, self.pad_mode)
        fb_args = (self.sample_rate, self.n_fft, self.n_mels, float(self.fmin),
                   None if self.fmax is None else float(self.fmax), self.htk, self.norm)
        M = mel_spectrum(X, fastmel.mel_bands(*fb_args), self.power)  # CPU: one fused pass over the STFT
        if M is not None:
            return M
        if self.power == 2.0:
            S = power_spectrum(X)
        else:
            S = X.abs()
            if self.power != 1.0:
                S = S ** self.power
        return torch.matmul(torch.from_numpy(mel_filters(*fb_args)).to(S.device), S)

    def compute_tensor(self, y):
        """Torch in, torch out (on the input's device): ``(batch, n) -> (batch, n_mels, frames)``."""
        if y.device.type == "cpu" and y.shape[0] > 1:
            # clip by clip on CPU: each clip's frames stay in cache (about 2x faster than one big batch)
            return per_clip(self.compute_tensor, y)
        M = self.mel_power(y)
        return power_to_db_torch(M, self.ref, self.amin, self.top_db) if self.db else M

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length if self.center else 1 + (n_samples - self.n_fft) // self.hop_length

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (self.n_mels, self.n_frames(n_samples))


@register_feature
@dataclass(frozen=True)
class Spectrogram(_TorchFeature):
    """Linear-frequency STFT spectrogram ``(bins, frames)`` (``|STFT|**power``, optionally in dB).

    ``n_bins`` keeps only the lowest ``n_bins`` frequency bins (None: all ``1 + n_fft // 2``);
    ``n_frames`` crops or zero-pads (in the linear domain, i.e. to the floor value in dB) the time
    axis to exactly that many frames (None: as computed). Feng et al.'s "128 x 512" input is
    :func:`feng_stft`: 128 frames x 512 bins, laid out ``(512, 128)`` (n_fft 1024 -> 513 bins, Nyquist dropped).
    """

    kind: ClassVar[str] = "stft"
    batched: ClassVar[bool] = True
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    db: bool = True
    ref: str | float = "max"
    amin: float = 1e-10
    top_db: float | None = 80.0
    n_bins: int | None = None
    n_frames: int | None = None

    def __post_init__(self) -> None:
        _check_ref(self.ref)
        if self.n_bins is not None and not 0 < self.n_bins <= 1 + self.n_fft // 2:
            raise ConfigError(f"n_bins must be in 1..{1 + self.n_fft // 2}")

    def compute_tensor(self, y):
        import torch

        from genrelab.features._kernels import power_spectrum

        if y.device.type == "cpu" and y.shape[0] > 1:
            return per_clip(self.compute_tensor, y)
        X = stft_torch(y, self.n_fft, self.hop_length, self.win_length, self.center, self.pad_mode)
        if self.db:
            # dB of the power |X|**2 whatever ``power`` is (librosa: amplitude_to_db(|X|) == power_to_db(|X|**2));
            # a numeric ``ref`` is in the units of |X|**power.
            S = power_spectrum(X)
        else:
            S = X.abs()
            if self.power != 1.0:
                S = S ** 2 if self.power == 2.0 else S ** self.power
        if self.n_bins is not None:
            S = S[:, : self.n_bins]
        if self.n_frames is not None:
            t = S.shape[-1]
            S = S[..., : self.n_frames] if t >= self.n_frames else torch.nn.functional.pad(S, (0, self.n_frames - t))
        if self.db:
            ref = self.ref if self.ref == "max" else abs(float(self.ref)) ** (2.0 / self.power)
            return power_to_db_torch(S, ref, self.amin, self.top_db)
        return S

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        bins = self.n_bins or 1 + self.n_fft // 2
        frames = self.n_frames or (1 + n_samples // self.hop_length if self.center
                                   else 1 + (n_samples - self.n_fft) // self.hop_length)
        return (bins, frames)


@register_feature
@dataclass(frozen=True)
class MFCC(_TorchFeature):
    """MFCCs as ``librosa.feature.mfcc`` (mel power -> power_to_db(ref=1.0, top_db=80) -> DCT-II ortho).

    Output ``(n_mfcc, frames)``, or ``(frames, n_mfcc)`` with ``time_major=True`` (Saint-Félix's layout).
    """

    kind: ClassVar[str] = "mfcc"
    batched: ClassVar[bool] = True
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    center: bool = True
    pad_mode: str = "constant"
    ref: str | float = 1.0
    amin: float = 1e-10
    top_db: float | None = 80.0
    dct_type: int = 2
    dct_norm: str | None = "ortho"
    lifter: float = 0.0
    time_major: bool = False

    def __post_init__(self) -> None:
        _check_ref(self.ref)
        if not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError("n_mfcc must be in 1..n_mels")

    def _mel(self) -> MelSpectrogram:
        return MelSpectrogram(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                              win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
                              htk=self.htk, center=self.center, pad_mode=self.pad_mode, db=True, ref=self.ref,
                              amin=self.amin, top_db=self.top_db)

    def compute(self, y: np.ndarray, device: str | None = None) -> np.ndarray:
        """Like :meth:`MelSpectrogram.compute`: numpy on CPU, torch elsewhere."""
        mel = self._mel()
        if not mel.numpy_path(device):
            return super().compute(y, device=device)
        yb, squeeze = _as_batch(np.asarray(y, dtype=np.float32))
        out = per_clip_np(self.compute_np, yb)
        return out[0] if squeeze else out

    def compute_np(self, y: np.ndarray) -> np.ndarray:
        # einsum's own loop, not BLAS: no thread pool to wake for a 13 x 128 product
        M = np.einsum("ij,jk->ik", _dct_matrix(self.n_mels, self.n_mfcc, self.dct_type, self.dct_norm),
                      self._mel().compute_np(y))
        if self.lifter > 0:
            k = np.arange(1, self.n_mfcc + 1, dtype=np.float32)
            M = M * (1 + (self.lifter / 2) * np.sin(np.pi * k / self.lifter)).astype(np.float32)[:, None]
        return np.ascontiguousarray(M.T) if self.time_major else M

    def compute_tensor(self, y):
        import torch

        logmel = self._mel().compute_tensor(y)
        D = torch.from_numpy(_dct_matrix(self.n_mels, self.n_mfcc, self.dct_type, self.dct_norm)).to(logmel.device)
        M = torch.matmul(D, logmel)
        if self.lifter > 0:
            k = torch.arange(1, self.n_mfcc + 1, dtype=M.dtype, device=M.device)
            M = M * (1 + (self.lifter / 2) * torch.sin(np.pi * k / self.lifter))[:, None]
        return M.transpose(-1, -2) if self.time_major else M

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        frames = 1 + n_samples // self.hop_length if self.center else 1 + (n_samples - self.n_fft) // self.hop_length
        return (frames, self.n_mfcc) if self.time_major else (self.n_mfcc, frames)


@functools.lru_cache(maxsize=16)
def _dct_matrix(n_in: int, n_out: int, dct_type: int, norm: str | None) -> np.ndarray:
    """Rows of scipy's DCT matrix: ``scipy.fft.dct(x, type, norm)[:n_out] == D @ x``."""
    import scipy.fft

    eye = np.eye(n_in, dtype=np.float64)
    D = scipy.fft.dct(eye, type=dct_type, norm=norm, axis=0)[:n_out]
    return D.astype(np.float32)


# --------------------------------------------------------------------------- presets

SAINTFELIX_SLICE_SAMPLES = 63945


def saintfelix_mfcc_spec() -> InputSpec:
    """Saint-Félix's input: 29 s at 22050 Hz, 10 slices of 63,945 samples, 13 MFCC -> (125, 13) per slice."""
    return InputSpec(
        feature=MFCC(sample_rate=22050, n_mfcc=13, time_major=True),
        clip_seconds=29.0,
        segment_samples=SAINTFELIX_SLICE_SAMPLES,
        n_segments=10,
    )


def feng_stft() -> Spectrogram:
    """Feng et al.'s BiGRU input, "128 x 512" read as 128 time frames x 512 frequency bins (the Bi-RNN branch
    max-pools each frame's bins by 2 and embeds them, then reads the frames as a sequence).

    n_fft 1024 gives 513 bins (0..11025 Hz at 22,050 Hz); the top (Nyquist) bin is dropped -> 512. Hop 512:
    128 centred frames cover 65,024 samples (~2.95 s). Laid out ``(bins, frames) = (512, 128)`` like every
    spectrogram here. Values are dB re. the excerpt's maximum, floored 80 dB below it.
    """
    return Spectrogram(sample_rate=22050, n_fft=1024, hop_length=512, n_bins=512, n_frames=128)


#: Samples of one Feng excerpt: 128 centred frames of hop 512 (``1 + 65024 // 512 = 128``).
FENG_EXCERPT_SAMPLES = 127 * 512


def feng_stft_spec() -> InputSpec:
    """InputSpec of :func:`feng_stft`: the first 30 s of the track cut into back-to-back 128-frame excerpts (10)."""
    return InputSpec(feature=feng_stft(), clip_seconds=30.0, segment_samples=FENG_EXCERPT_SAMPLES)


__all__ = [
    "MelSpectrogram", "Spectrogram", "MFCC", "saintfelix_mfcc_spec", "feng_stft", "feng_stft_spec", "FENG_EXCERPT_SAMPLES",
    "stft_torch", "power_to_db_torch", "mel_filters", "resolve_device", "SAINTFELIX_SLICE_SAMPLES", "per_clip_np",
]
