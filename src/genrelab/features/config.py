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
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import numpy as np

from genrelab.types import ConfigError

_FEATURES: dict[str, type["FeatureConfig"]] = {}
#: Window length (seconds) for the timeline of a model whose input is a whole track of any length.
FALLBACK_CLIP_SECONDS = 30.0
#: A whole-track feature with no clip length reads a track whole up to this length (seconds), then a digest.
WHOLE_TRACK_UP_TO = 90.0


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

    def compute_many(self, signals: Sequence[np.ndarray], runtime: Any = None) -> np.ndarray:
        """Features of several signals ``(len(signals), *shape)``: one batched call when the signals have one
        length and the feature is :attr:`batched`. ``runtime`` (a :class:`genrelab.runtime.Runtime`) says
        where a pretrained extractor runs; plain features ignore it."""
        if isinstance(signals, np.ndarray) and signals.ndim >= 2 and self.batched and len(signals) > 1:
            # already one array (e.g. InputSpec.frame's segments): no list and re-stack (a fresh copy of the
            # batch, whose page faults cost ~0.7 ms per 30 s clip)
            return np.asarray(self.compute_on(np.asarray(signals, dtype=np.float32), runtime), dtype=np.float32)
        signals = [np.asarray(s, dtype=np.float32) for s in signals]
        if self.batched and len(signals) > 1 and len({s.shape for s in signals}) == 1:
            return np.asarray(self.compute_on(np.stack(signals), runtime), dtype=np.float32)
        return np.stack([np.asarray(self.compute_on(s, runtime), dtype=np.float32) for s in signals])

    #: True when :meth:`compute` takes a ``device`` (the torch spectral features and images): the runtime's
    #: ``device`` is then passed on explicitly (no feature reads the environment).
    uses_device: ClassVar[bool] = False

    def compute_on(self, y: np.ndarray, runtime: Any = None) -> np.ndarray:
        """:meth:`compute` on the device ``runtime`` names (``runtime.device``; None: the feature's default)."""
        if self.uses_device and runtime is not None:
            return self.compute(y, device=runtime.device)
        return self.compute(y)

    # -- pooled features (a clip's vector summarises per-patch outputs, e.g. musicnn embeddings)
    #: Samples of one patch when the feature pools per-patch outputs over a clip (None: it does not).
    #: Such a feature also implements :meth:`patch_embeddings` and :meth:`pool`; inference then embeds every
    #: patch of a long file once for its timeline, and reads a long song as patch-long pieces.
    patch_samples: ClassVar[int | None] = None

    def patch_embeddings(self, blocks: Iterable[np.ndarray], runtime: Any = None,
                         partial: float | None = 0.5) -> np.ndarray:
        """Per-patch outputs ``(n_patches, width)`` of a signal given as consecutive blocks (bounded memory)."""
        raise NotImplementedError(f"feature {self.kind!r} has no per-patch outputs")

    def pool(self, per_patch: np.ndarray) -> np.ndarray:
        """One clip vector from per-patch outputs ``(n_patches, width)``."""
        raise NotImplementedError(f"feature {self.kind!r} does not pool patches")

    def pool_windows(self, per_patch: np.ndarray, context: int) -> np.ndarray:
        """Row ``i``: :meth:`pool` over the ``context`` patches centred on patch ``i`` (shifted inside at the ends)."""
        n = len(per_patch)
        ctx = max(1, min(int(context), n))
        starts = [max(0, min(i - (ctx - 1) // 2, n - ctx)) for i in range(n)]
        return np.stack([self.pool(per_patch[a:a + ctx]) for a in starts])


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

    # -- windows: one model example's stretch of audio. Training, evaluation and inference all cut here.
    @property
    def per_window(self) -> bool:
        """One example per segment (a segment model) rather than one per clip."""
        return self.segmented and not self.group_segments

    @property
    def offset_samples(self) -> int:
        return int(round(self.offset_seconds * self.sample_rate))

    @property
    def window_samples(self) -> int:
        """Samples of audio one example covers: a segment, a clip, the span of a grouped sequence, or
        :data:`FALLBACK_CLIP_SECONDS` for a whole-track feature."""
        sr = self.sample_rate
        if self.segmented:
            seg = int(self.segment_samples or round(self.segment_seconds * sr))
            if self.per_window:
                return seg
            if self.clip_seconds is None and self.n_segments:
                hop = int(round(self.hop_seconds * sr)) if self.hop_seconds else seg
                return seg + hop * (self.n_segments - 1)
        if self.clip_seconds is not None:
            return int(round(self.clip_seconds * sr))
        return int(FALLBACK_CLIP_SECONDS * sr)

    @property
    def hop_samples(self) -> int:
        """Distance between consecutive windows of a timeline (a segment model's hop, else back to back)."""
        if self.per_window and self.hop_seconds:
            return max(1, int(round(self.hop_seconds * self.sample_rate)))
        return self.window_samples

    def piece_samples(self, n_patches: int) -> int:
        """The unit a long track is sampled in: a window (segment models), a feature patch (pooled
        features), else an ``n_patches``-th of a window."""
        if self.per_window:
            return self.window_samples
        return int(self.feature.patch_samples or max(1, self.window_samples // max(1, n_patches)))

    def pieces_per_track(self, n_patches: int) -> int:
        """How many pieces :meth:`spread` reads from a long track."""
        return n_patches if self.per_window else max(1, round(self.window_samples / self.piece_samples(n_patches)))

    def spread(self, n_samples: int, n_patches: int) -> list[tuple[int, int]]:
        """The stretches ``(start, length)`` (samples from the track's start, offset included) that the default
        reading of an ``n_samples``-long track classifies: ``n_patches`` windows spread over the song (segment
        models; fewer when the song is shorter), the whole track (when it is about one clip long, or up to
        :data:`WHOLE_TRACK_UP_TO` for a whole-track feature), else pieces spread over the song whose
        concatenation, :meth:`assemble`, is one clip-long digest. A 4-minute song costs what a clip costs."""
        from genrelab import audio

        off = self.offset_samples
        avail = max(0, n_samples - off)
        w = self.window_samples
        if self.per_window:
            n = min(n_patches, max(1, math.ceil(avail / w)))
            return [(off + s, w) for s in sorted(set(audio.segment_starts(avail, w, n_segments=n)))]
        whole_track = self.clip_seconds is None and not self.group_segments
        if avail <= int(w * 1.1) or (whole_track and avail <= WHOLE_TRACK_UP_TO * self.sample_rate):
            return [(off, avail)]
        piece = self.piece_samples(n_patches)
        n = self.pieces_per_track(n_patches)
        return [(off + s, piece) for s in audio.segment_starts(avail, piece, n_segments=n)]

    def assemble(self, pieces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The windows made of the stretches :meth:`spread` planned: each one a window (segment models), else
        one window of them joined (a clip-long digest of a long song, or the whole short track)."""
        from genrelab import audio

        if self.per_window:
            return [audio.crop_or_pad(np.asarray(p, dtype=np.float32), self.window_samples) for p in pieces]
        joined = np.concatenate([np.asarray(p, dtype=np.float32) for p in pieces])
        return [joined if len(pieces) == 1 else audio.crop_or_pad(joined, self.window_samples)]

    def sliding(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """Every window of a signal given as consecutive blocks (a decoded array is one block; a file is
        :func:`genrelab.audio.stream`): ``(start_sample, window)``, one :attr:`hop_samples` apart, after the
        offset; bounded memory. The timeline's windows."""
        from genrelab import audio

        return audio.segments_of_blocks(blocks, self.window_samples, self.hop_samples, skip=self.offset_samples)

    def frame(self, y: np.ndarray) -> np.ndarray:
        """Training framing: skip the offset, crop/pad to the clip, cut segments: ``(n_windows, samples)``
        (one row when unsegmented)."""
        from genrelab import audio

        sr = self.sample_rate
        y = y[self.offset_samples:]
        if self.clip_seconds is not None:
            y = audio.crop_or_pad(y, int(round(self.clip_seconds * sr)))
        if not self.segmented:
            return y[None, :]
        return audio.segment(
            y, sr, self.segment_seconds or 0.0, hop_seconds=self.hop_seconds,
            n_segments=self.n_segments, seg_samples=self.segment_samples,
        )

    def window_examples(self, windows: Sequence[np.ndarray], runtime: Any = None,
                        side: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Model-ready examples ``(len(windows), *input_shape)`` of windows already cut (no offset to skip):
        a segment model's segments, or clips (cropped/padded to ``clip_seconds``; a grouped model's clip is
        framed into its sequence of segments). ``side``: passed to a feature that hands back side outputs of
        the same pass (musicnn tag scores), for ungrouped models."""
        from genrelab import audio

        windows = [np.asarray(w, dtype=np.float32) for w in windows]
        if self.group_segments:
            clip = self.window_samples if self.clip_seconds is not None else None
            out = []
            for w in windows:
                frames = audio.segment(w if clip is None else audio.crop_or_pad(w, clip), self.sample_rate,
                                       self.segment_seconds or 0.0, hop_seconds=self.hop_seconds,
                                       n_segments=self.n_segments, seg_samples=self.segment_samples)
                out.append(self.feature.compute_many(list(frames), runtime=runtime)[None])
            return np.concatenate(out).astype(np.float32, copy=False)
        if self.clip_seconds is not None and not self.per_window:
            n = int(round(self.clip_seconds * self.sample_rate))
            windows = [audio.crop_or_pad(w, n) for w in windows]
        if side is not None:
            return np.asarray(self.feature.compute_many(windows, runtime=runtime, side=side), dtype=np.float32)
        return np.asarray(self.feature.compute_many(windows, runtime=runtime), dtype=np.float32)

    def examples(self, y: np.ndarray, runtime: Any = None) -> np.ndarray:
        """Model-ready examples of one track as training sees it: ``(n_examples, *feature_shape)`` float32
        (:meth:`frame`, then the feature; with ``group_segments``: ``(1, n_segments, *feature_shape)``)."""
        if self.group_segments:
            return self.window_examples([y[self.offset_samples:]], runtime)
        frames = self.frame(y)
        return np.asarray(self.feature.compute_many(frames, runtime=runtime), dtype=np.float32)


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
