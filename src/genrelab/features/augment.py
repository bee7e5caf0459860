"""Training-time augmentation: audio variants (Liu et al.), SpecAugment masking and mixup.

Audio variants multiply the *training* set as in Liu et al.: each training track also appears
pitch-shifted by -1 and +1 semitone and time-stretched to 0.93x and 1.07x tempo
(:func:`expand_training_set`: N tracks -> 5N). The variants are ordinary :class:`Track` records
with an ``extra["augment"]`` entry and an id suffix (``blues.00000@pitch+1``), so the feature
cache stores their features like any other track's; :func:`apply` turns the entry into audio.
Validation and test tracks are never augmented: passing one raises.

On-the-fly alternatives for training loops: :func:`build_augmenter` (one random variant per call,
``fn(y, sr, rng)``), :class:`SpecAugment` (time/frequency masks on batches of spectrograms) and
:class:`Mixup` (convex combinations of examples and their one-hot labels).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from genrelab.types import ConfigError, Track

#: Liu et al.'s variants
PITCH_STEPS: tuple[float, ...] = (-1.0, 1.0)
TEMPO_RATES: tuple[float, ...] = (0.93, 1.07)


@dataclass(frozen=True)
class Augmentation:
    """One audio transform: ``kind`` "pitch" (``value`` semitones) or "tempo" (``value`` = rate; >1 faster)."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in ("pitch", "tempo"):
            raise ConfigError(f"unknown augmentation {self.kind!r} (pitch or tempo)")
        if self.kind == "tempo" and self.value <= 0:
            raise ConfigError("tempo rate must be positive")

    @property
    def name(self) -> str:
        return f"pitch{self.value:+g}" if self.kind == "pitch" else f"tempo{self.value:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": float(self.value)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Augmentation":
        return Augmentation(kind=str(d["kind"]), value=float(d["value"]))

    def __call__(self, y: np.ndarray, sr: int) -> np.ndarray:
        return apply(y, sr, self)


def pitch_shift(y: np.ndarray, sr: int, n_steps: float) -> np.ndarray:
    """Shift pitch by ``n_steps`` semitones keeping the duration (librosa phase vocoder + resampling)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if n_steps == 0:
        return y.copy()
    return librosa.effects.pitch_shift(y, sr=sr, n_steps=float(n_steps)).astype(np.float32, copy=False)


def time_stretch(y: np.ndarray, rate: float) -> np.ndarray:
    """Change tempo by ``rate`` keeping the pitch: ``round(len(y) / rate)`` samples."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if rate == 1.0:
        return y.copy()
    return librosa.effects.time_stretch(y, rate=float(rate)).astype(np.float32, copy=False)


def apply(y: np.ndarray, sr: int, aug: Augmentation | dict[str, Any] | None) -> np.ndarray:
    """Apply an augmentation (or its dict form, as stored in ``Track.extra["augment"]``); None: unchanged."""
    if aug is None:
        return y
    if isinstance(aug, dict):
        aug = Augmentation.from_dict(aug)
    if aug.kind == "pitch":
        return pitch_shift(y, sr, aug.value)
    return time_stretch(y, aug.value)


def liu_augmentations(pitch_steps: Sequence[float] = PITCH_STEPS,
                      tempo_rates: Sequence[float] = TEMPO_RATES) -> list[Augmentation]:
    return [Augmentation("pitch", float(s)) for s in pitch_steps] + [Augmentation("tempo", float(r))
                                                                    for r in tempo_rates]


def expand_training_set(tracks: Iterable[Track], pitch_steps: Sequence[float] = PITCH_STEPS,
                        tempo_rates: Sequence[float] = TEMPO_RATES, include_original: bool = True) -> list[Track]:
    """Each training track followed by its augmented variants (Liu et al.: 4 variants -> 5x the set).

    Raises :class:`ConfigError` for a track whose split is "valid"/"validation"/"test": those are
    never augmented.
    """
    augs = liu_augmentations(pitch_steps, tempo_rates)
    out: list[Track] = []
    for t in tracks:
        if (t.split or "train") not in ("train", "training"):
            raise ConfigError(f"{t.track_id}: split {t.split!r} - only training tracks are augmented")
        if "augment" in t.extra:
            raise ConfigError(f"{t.track_id} is already an augmented variant")
        if include_original:
            out.append(t)
        for a in augs:
            out.append(dataclasses.replace(t, track_id=f"{t.track_id}@{a.name}",
                                           extra={**t.extra, "augment": a.to_dict(), "original_id": t.track_id}))
    return out


def track_augmentation(track: Track) -> Augmentation | None:
    d = track.extra.get("augment") if track.extra else None
    return Augmentation.from_dict(d) if d else None


def build_augmenter(pitch_steps: Sequence[float] = PITCH_STEPS, tempo_rates: Sequence[float] = TEMPO_RATES,
                    p: float = 1.0) -> Callable[[np.ndarray, int, np.random.Generator], np.ndarray]:
    """On-the-fly augmentation ``fn(y, sr, rng)``: with probability ``p`` one random Liu variant."""
    augs = liu_augmentations(pitch_steps, tempo_rates)
    if not augs:
        raise ConfigError("no augmentation selected")

    def fn(y: np.ndarray, sr: int, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng or np.random.default_rng()
        if rng.random() >= p:
            return y
        return apply(y, sr, augs[int(rng.integers(len(augs)))])

    return fn


def augment(y: np.ndarray, sr: int, rng: np.random.Generator | None = None, **params: Any) -> np.ndarray:
    """One random variant of ``y`` (see :func:`build_augmenter` for ``params``)."""
    return build_augmenter(**params)(y, sr, rng)


# --------------------------------------------------------------------------- batch-level (torch)


def _torch_input(x):
    """``(tensor, was_numpy)``: numpy arrays are wrapped without a copy (never written to)."""
    import warnings

    import torch

    if isinstance(x, torch.Tensor):
        return x, False
    a = np.asarray(x)
    with warnings.catch_warnings():  # a read-only array (memmap) is only read here
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.as_tensor(a), True


class _DeviceRandom:
    """Random streams per device: ``seed`` given -> one seeded ``torch.Generator`` per device (same
    seed, same draws); ``seed=None`` -> torch's global generator of the tensor's device, which the
    trainer's :class:`~genrelab.training.callbacks.EpochSeed` re-seeds from (seed, epoch), so a resumed
    run draws what an uninterrupted one draws."""

    seed: int | None

    def _generator(self, device):
        import torch

        if self.seed is None:
            return None
        gens = self.__dict__.setdefault("_generators", {})
        key = str(device)
        if key not in gens:
            gens[key] = torch.Generator(device=device)
            gens[key].manual_seed(int(self.seed))
        return gens[key]


def _non_negative_int(name: str, v: Any) -> int:
    try:
        i = int(v.strip()) if isinstance(v, str) else int(v)  # strings: recipe variables
    except (TypeError, ValueError):
        raise ConfigError(f"SpecAugment {name} must be a whole number >= 0, got {v!r}") from None
    if isinstance(v, bool) or (not isinstance(v, str) and i != v) or i < 0:
        raise ConfigError(f"SpecAugment {name} must be a whole number >= 0, got {v!r}")
    return i


class SpecAugment(_DeviceRandom):
    """SpecAugment masking (Park et al., 2019) on a batch ``(batch, ..., freq, time)`` (torch tensor or numpy).

    Per example, ``freq_masks`` bands of 0..``freq_width`` bins and ``time_masks`` spans of
    0..``time_width`` frames (widths and starts uniform, as in the paper; masks may overlap) are set
    to ``value`` (default: that example's mean over all its other axes). Leading axes between the
    batch and the last two (channels, grouped segments) share their example's masks.
    ``time_axis=-2`` is for time-major inputs ``(batch, ..., time, freq)`` (MFCC ``(frames, bands)``).

    One call is a constant number of tensor operations on the input's device (no per-example loop,
    no host synchronisation): all widths and starts of the batch are drawn at once and the masks
    are built by comparing ``arange`` with them. Returns a new array (numpy in, numpy out); the
    input is never modified. ``seed``: see :class:`_DeviceRandom` (the draws differ from the
    per-example numpy loop this class used before; the masks' distribution is the same).
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 20,
                 value: float | None = None, seed: int | None = None, time_axis: int = -1):
        self.freq_masks = _non_negative_int("freq_masks", freq_masks)
        self.freq_width = _non_negative_int("freq_width", freq_width)
        self.time_masks = _non_negative_int("time_masks", time_masks)
        self.time_width = _non_negative_int("time_width", time_width)
        if time_axis not in (-1, -2):
            raise ConfigError(f"SpecAugment time_axis must be -1 (freq, time) or -2 (time, freq), got {time_axis!r}")
        self.value = None if value is None else float(value)
        self.seed = seed
        self.time_axis = int(time_axis)

    def params(self) -> dict[str, int]:
        """The four mask parameters (the training config's ``specaugment`` block)."""
        return {"freq_masks": self.freq_masks, "freq_width": self.freq_width,
                "time_masks": self.time_masks, "time_width": self.time_width}

    def _bands(self, n: int, count: int, width: int, size: int, device, gen):
        """``(n, size)`` bool: the union of ``count`` random bands of width 0..min(width, size) per row."""
        import torch

        idx = torch.arange(size, device=device)
        if count == 0 or width == 0:
            return torch.zeros((n, size), dtype=torch.bool, device=device)
        u = torch.rand((2, n, count, 1), generator=gen, device=device)
        w = torch.floor(u[0] * (min(width, size) + 1)).clamp_(max=min(width, size))
        start = torch.minimum(torch.floor(u[1] * (size - w + 1)), size - w)
        return ((idx >= start) & (idx < start + w)).any(dim=1)

    def mask(self, shape: tuple[int, ...], device=None):
        """A bool mask ``(batch, 1..., F, T)`` broadcastable to ``shape`` (True = masked), drawn like one call's."""
        if len(shape) < 3:
            raise ConfigError(f"SpecAugment needs a batch (batch, ..., freq, time); got shape {tuple(shape)}")
        n, ta = shape[0], self.time_axis
        fa = -1 if ta == -2 else -2
        gen = self._generator(device if device is not None else "cpu")
        f = self._bands(n, self.freq_masks, self.freq_width, shape[fa], device, gen)
        t = self._bands(n, self.time_masks, self.time_width, shape[ta], device, gen)
        lead = (n,) + (1,) * (len(shape) - 3)
        if ta == -1:
            rows, cols = f.view(*lead, shape[fa], 1), t.view(*lead, 1, shape[ta])
        else:
            rows, cols = t.view(*lead, shape[ta], 1), f.view(*lead, 1, shape[fa])
        m = rows.expand(*lead, shape[-2], shape[-1]).clone()  # in-place |= runs the fast path (bool `a | b` with
        m |= cols  # both operands broadcast is ~15x slower on CPU)
        return m

    def __call__(self, x):
        import torch

        t, is_np = _torch_input(x)
        m = self.mask(tuple(t.shape), t.device)
        if self.value is None:
            dims = tuple(range(1, t.ndim))
            fill = (t.mean(dim=dims, keepdim=True) if t.is_floating_point()
                    else t.double().mean(dim=dims, keepdim=True).to(t.dtype))
            out = torch.where(m, fill, t)
        else:
            out = torch.where(m, t.new_full((), self.value), t)  # filled on the device: no host copy
        return out.numpy() if is_np else out


class Mixup(_DeviceRandom):
    """mixup (Zhang et al., 2018): ``lam * x + (1 - lam) * x[perm]`` with the same mix of one-hot labels.

    ``__call__(x, y, n_classes)`` takes integer labels ``(batch,)`` or soft labels ``(batch, C)``
    and returns ``(x_mixed, y_soft)`` (numpy in, numpy out; torch in, torch out), on the input's device.
    ``lam ~ Beta(alpha, alpha)`` (one per batch, drawn on the host: numpy's generator seeded with
    ``seed``, or numpy's global one with ``seed=None``); the permutation is drawn on the device
    (see :class:`_DeviceRandom`).
    """

    def __init__(self, alpha: float = 0.2, seed: int | None = None):
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise ConfigError(f"mixup alpha must be a positive number, got {alpha!r}") from None
        if not alpha > 0 or not np.isfinite(alpha):
            raise ConfigError(f"mixup alpha must be a positive number, got {alpha!r}")
        self.alpha = alpha
        self.seed = seed
        self.rng = np.random.default_rng(seed) if seed is not None else None

    def __call__(self, x, y, n_classes: int | None = None):
        import torch

        xt, is_np = _torch_input(x)
        yt = torch.as_tensor(y, device=xt.device)
        if yt.ndim == 1:
            if n_classes is None:
                raise ConfigError("n_classes is needed to mix integer labels")
            yt = torch.nn.functional.one_hot(yt.long(), n_classes).to(xt.dtype if xt.is_floating_point()
                                                                      else torch.float32)
        lam = float((self.rng or np.random).beta(self.alpha, self.alpha))
        perm = torch.randperm(xt.shape[0], generator=self._generator(xt.device), device=xt.device)
        xm, ym = lam * xt + (1 - lam) * xt[perm], lam * yt + (1 - lam) * yt[perm]
        return (xm.numpy(), ym.numpy()) if is_np else (xm, ym)


__all__ = [
    "Augmentation", "PITCH_STEPS", "TEMPO_RATES", "pitch_shift", "time_stretch", "apply", "liu_augmentations",
    "expand_training_set", "track_augmentation", "build_augmenter", "augment", "SpecAugment", "Mixup",
]
