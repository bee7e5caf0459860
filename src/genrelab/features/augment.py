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


class SpecAugment:
    """SpecAugment-style masking on a batch ``(batch, ..., freq, time)`` (torch tensor or numpy).

    ``freq_masks`` bands of up to ``freq_width`` bins and ``time_masks`` spans of up to
    ``time_width`` frames are set to ``value`` (default: each example's mean). Returns a new array.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 20,
                 value: float | None = None, seed: int | None = None):
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.value = value
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        import torch

        is_np = not isinstance(x, torch.Tensor)
        t = torch.as_tensor(np.asarray(x)) if is_np else x
        t = t.clone()
        F, T = t.shape[-2], t.shape[-1]
        for b in range(t.shape[0]):
            fill = t[b].mean() if self.value is None else torch.tensor(self.value, dtype=t.dtype)
            for _ in range(self.freq_masks):
                w = int(self.rng.integers(0, min(self.freq_width, F) + 1))
                f0 = int(self.rng.integers(0, F - w + 1))
                t[b, ..., f0:f0 + w, :] = fill
            for _ in range(self.time_masks):
                w = int(self.rng.integers(0, min(self.time_width, T) + 1))
                s0 = int(self.rng.integers(0, T - w + 1))
                t[b, ..., :, s0:s0 + w] = fill
        return t.numpy() if is_np else t


class Mixup:
    """mixup (Zhang et al.): ``lam * x + (1 - lam) * x[perm]`` with the same mix of one-hot labels.

    ``__call__(x, y, n_classes)`` takes integer labels ``(batch,)`` or soft labels ``(batch, C)``
    and returns ``(x_mixed, y_soft)`` (numpy in, numpy out; torch in, torch out). ``lam ~ Beta(alpha, alpha)``.
    """

    def __init__(self, alpha: float = 0.2, seed: int | None = None):
        if alpha <= 0:
            raise ConfigError("mixup alpha must be positive")
        self.alpha = float(alpha)
        self.rng = np.random.default_rng(seed)

    def __call__(self, x, y, n_classes: int | None = None):
        import torch

        is_np = not isinstance(x, torch.Tensor)
        xt = torch.as_tensor(x)
        yt = torch.as_tensor(y)
        if yt.ndim == 1:
            if n_classes is None:
                raise ConfigError("n_classes is needed to mix integer labels")
            yt = torch.nn.functional.one_hot(yt.long(), n_classes).to(xt.dtype if xt.is_floating_point()
                                                                      else torch.float32)
        lam = float(self.rng.beta(self.alpha, self.alpha))
        perm = torch.from_numpy(self.rng.permutation(xt.shape[0]))
        xm, ym = lam * xt + (1 - lam) * xt[perm], lam * yt + (1 - lam) * yt[perm]
        return (xm.numpy(), ym.numpy()) if is_np else (xm, ym)


__all__ = [
    "Augmentation", "PITCH_STEPS", "TEMPO_RATES", "pitch_shift", "time_stretch", "apply", "liu_augmentations",
    "expand_training_set", "track_augmentation", "build_augmenter", "augment", "SpecAugment", "Mixup",
]
