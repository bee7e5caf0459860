"""Feature configurations: small dataclasses that name an extractor and its parameters.

A config is the single description of a feature shared by training, the cache and inference:
it serialises to JSON (stored in checkpoints), hashes stably (cache keys) and computes itself
from a mono float32 signal at ``sample_rate``.

Extractor families register their config class with :func:`register_feature`; the
:class:`InputSpec` says how a track is framed (crop, segments) before the feature is applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from genrelab.types import ConfigError

_FEATURES: dict[str, type["FeatureConfig"]] = {}


def register_feature(cls: type["FeatureConfig"]) -> type["FeatureConfig"]:
    """Class decorator: make a FeatureConfig subclass loadable by its ``kind``."""
    kind = getattr(cls, "kind", None)
    if not kind:
        raise ConfigError(f"{cls.__name__} needs a class attribute 'kind'")
    if kind in _FEATURES and _FEATURES[kind] is not cls:
        raise ConfigError(f"feature kind {kind!r} registered twice")
    _FEATURES[kind] = cls
    return cls


#: The built-in feature families (modules of ``genrelab.features``); each registers its kinds on import.
FAMILIES = ("spectral", "gtzan57", "images", "musicnn")
#: Which family module registers each built-in kind, so that reading a config imports only that module
#: (``tests/features/test_config.py`` checks this map against the registrations).
FAMILY_OF_KIND = {
    "mel": "spectral", "stft": "spectral", "mfcc": "spectral",
    "gtzan57": "gtzan57",
    "image": "images",
    "musicnn-mel": "musicnn", "musicnn": "musicnn",
}


def feature_kinds() -> list[str]:
    _import_families()
    return sorted(_FEATURES)


def _import_families() -> None:
    """Import every built-in family (each registers its kinds)."""
    from importlib import import_module

    for family in FAMILIES:
        import_module(f"genrelab.features.{family}")


def _import_kind(kind: Any) -> None:
    """Make ``kind`` registered if a built-in family provides it: import just that family (all of them for
    a kind this map does not know)."""
    if kind in _FEATURES:
        return
    family = FAMILY_OF_KIND.get(kind) if isinstance(kind, str) else None
    if family is not None:
        from importlib import import_module

        import_module(f"genrelab.features.{family}")
    if kind not in _FEATURES:
        _import_families()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=float)


@dataclass(frozen=True)
class FeatureConfig:
    """Base class. Subclasses are frozen dataclasses with a ``kind`` and implement :meth:`compute`."""

    kind: ClassVar[str] = ""
    #: True when ``compute`` accepts a batch ``(batch, n)`` and returns a leading batch axis
    #: (then :meth:`InputSpec.examples` computes all segments of a track in one call).
    batched: ClassVar[bool] = False
    sample_rate: int = 22050

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"kind": self.kind, **d}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "FeatureConfig":
        d = dict(d)
        kind = d.pop("kind", None)
        _import_kind(kind)
        if kind not in _FEATURES:
            raise ConfigError(f"unknown feature kind {kind!r}; known: {', '.join(sorted(_FEATURES))}")
        cls = _FEATURES[kind]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"feature {kind!r} has no parameter(s) {sorted(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)

    def hash(self) -> str:
        """Stable 16-hex-digit hash of the kind and every parameter (cache key)."""
        return hashlib.sha1(_canonical(self.to_dict()).encode()).hexdigest()[:16]

    # -- computation
    def compute(self, y: np.ndarray) -> np.ndarray:
        """Features of a mono float32 signal ``y`` (n,) at ``self.sample_rate``.

        Implementations may also accept a batch ``(batch, n)`` and then return a leading batch axis.
        """
        raise NotImplementedError

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        """Shape :meth:`compute` returns for a signal of ``n_samples`` (default: computes it on zeros)."""
        return tuple(self.compute(np.zeros(n_samples, dtype=np.float32)).shape)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class InputSpec:
    """How a track becomes model input: which feature, over which stretch of audio.

    - ``clip_seconds``: crop/pad the decoded track to this length first (None: keep it whole).
    - ``segment_seconds`` / ``segment_samples``: cut into segments of this length
      (``hop_seconds`` apart, default back to back; at most ``n_segments``). None: one example per clip.
    - ``group_segments``: the model takes all segments of a clip as one sequence example
      (e.g. Qin's LSTM: 9 segments x 57 features) instead of one example per segment.
    - ``offset_seconds``: skip this much of the start (e.g. musicnn reference takes the file as is).
    """

    feature: FeatureConfig
    clip_seconds: float | None = None
    segment_seconds: float | None = None
    segment_samples: int | None = None
    hop_seconds: float | None = None
    n_segments: int | None = None
    group_segments: bool = False
    offset_seconds: float = 0.0

    @property
    def sample_rate(self) -> int:
        return self.feature.sample_rate

    @property
    def segmented(self) -> bool:
        return self.segment_seconds is not None or self.segment_samples is not None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "feature"}
        return {"feature": self.feature.to_dict(), **d}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "InputSpec":
        d = dict(d)
        feat = FeatureConfig.from_dict(d.pop("feature"))
        names = {f.name for f in dataclasses.fields(InputSpec)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"input spec has no field(s) {sorted(unknown)}")
        return InputSpec(feature=feat, **d)

    def hash(self) -> str:
        return hashlib.sha1(_canonical(self.to_dict()).encode()).hexdigest()[:16]

    def frame(self, y: np.ndarray) -> np.ndarray:
        """Crop/pad and segment a mono signal: returns ``(n_segments, samples)`` (1 row when unsegmented)."""
        from genrelab import audio

        sr = self.sample_rate
        if self.offset_seconds:
            y = y[int(round(self.offset_seconds * sr)):]
        if self.clip_seconds is not None:
            y = audio.crop_or_pad(y, int(round(self.clip_seconds * sr)))
        if not self.segmented:
            return y[None, :]
        return audio.segment(
            y, sr, self.segment_seconds or 0.0, hop_seconds=self.hop_seconds,
            n_segments=self.n_segments, seg_samples=self.segment_samples,
        )

    def examples(self, y: np.ndarray) -> np.ndarray:
        """Model-ready examples of one track: ``(n_examples, *feature_shape)`` float32.

        With ``group_segments`` the result is ``(1, n_segments, *feature_shape)``.
        """
        frames = self.frame(y)
        if self.feature.batched and frames.shape[0] > 1:
            feats = np.asarray(self.feature.compute(frames), dtype=np.float32)
        else:
            feats = np.stack([np.asarray(self.feature.compute(f), dtype=np.float32) for f in frames])
        return feats[None] if self.group_segments else feats


@dataclass(frozen=True)
class TableFeature(FeatureConfig):
    """Columns read from a precomputed feature table (e.g. Kaggle ``features_30_sec.csv``).

    It cannot be computed from audio unless ``audio_equivalent`` names a registered feature kind
    that reproduces the table's columns (the 57 GTZAN features do).
    """

    kind: ClassVar[str] = "table"
    columns: tuple[str, ...] = field(default_factory=tuple)
    audio_equivalent: dict | None = None

    def compute(self, y: np.ndarray) -> np.ndarray:
        if not self.audio_equivalent:
            raise ConfigError("table features have no audio extractor; use the table itself")
        return FeatureConfig.from_dict(self.audio_equivalent).compute(y)


register_feature(TableFeature)
