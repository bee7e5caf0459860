"""musicnn feature kinds: the models' log-mel input and pretrained embeddings (transfer learning).

Registrations only; the work is done by :mod:`genrelab.musicnn` (numpy DSP, the network, its runtime).

- ``musicnn-mel`` (:class:`MusicnnMel`): the input representation of the musicnn/vgg models
  (:func:`genrelab.musicnn.dsp.log_mel`), cropped/padded to one 187-frame patch.
- ``musicnn`` (:class:`MusicnnEmbedding`): a per-track vector for any classifier head: the track's
  log-mel is cut into back-to-back 187-frame (3 s) patches, every patch goes through a pretrained network
  (all patches of all tracks of a batch in one pass), and one layer's per-patch outputs are summarised over
  the patches (mean and std by default). It also gives the patch timeline of a stream
  (:meth:`MusicnnEmbedding.patch_embeddings`, :meth:`MusicnnEmbedding.pool_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterable, Sequence

import numpy as np

from genrelab.features.config import FeatureConfig, register_feature
from genrelab.musicnn import dsp, info
from genrelab.types import ConfigError

if TYPE_CHECKING:
    from genrelab.runtime import Runtime

POOLINGS = ("mean", "std", "max", "min")
#: The per-patch tag scores a musicnn embedding can hand back beside its layer, from the same pass.
SIDE_LAYER = "taggram"


@register_feature
@dataclass(frozen=True)
class MusicnnMel(FeatureConfig):
    """The musicnn models' input: log-compressed 96-band mel spectrogram ``(frames, 96)`` at 16 kHz.

    Computes ``(frames, 96)`` for a signal ``(n,)`` and ``(batch, frames, 96)`` for ``(batch, n)``.
    ``n_frames`` crops/pads the result to that many frames (187 for one 3-s model patch); 0 keeps all.
    """

    kind: ClassVar[str] = "musicnn-mel"
    sample_rate: int = info.SAMPLE_RATE
    n_frames: int = info.PATCH_FRAMES
    float16_storage: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate != info.SAMPLE_RATE:
            raise ConfigError(f"musicnn-mel is defined at {info.SAMPLE_RATE} Hz, not {self.sample_rate}")

    def compute(self, y: np.ndarray) -> np.ndarray:
        spec = dsp.log_mel(y, self.float16_storage)
        if self.n_frames:
            t = spec.shape[-2]
            if t >= self.n_frames:
                spec = spec[..., : self.n_frames, :]
            else:
                pad = [(0, 0)] * (spec.ndim - 2) + [(0, self.n_frames - t), (0, 0)]
                spec = np.pad(spec, pad)
        return np.ascontiguousarray(spec, dtype=np.float32)


@register_feature
@dataclass(frozen=True)
class MusicnnEmbedding(FeatureConfig):
    """Pretrained musicnn embedding of a whole track: ``layer`` of ``model`` for every 3-s patch, summarised
    over the patches by each of ``pooling`` (mean, std, max, min) and concatenated.

    ``model``: MSD_musicnn (default; best for genre), MTT_musicnn, MSD_vgg, MTT_vgg.
    ``layer``: penultimate (200-d; vgg: pool5 flattened, 256-d), max_pool / mean_pool (753-d, musicnn
    only), taggram (50 tag probabilities) or logits. Output: ``(len(pooling) * width,)`` float32 for a
    signal ``(n,)``, ``(batch, ...)`` for ``(batch, n)`` (all patches of the batch in one network pass).
    The network runs as ``runtime`` says (:class:`genrelab.runtime.Runtime`; None: the environment's).
    """

    kind: ClassVar[str] = "musicnn"
    sample_rate: int = info.SAMPLE_RATE
    model: str = "MSD_musicnn"
    layer: str = "penultimate"
    pooling: tuple[str, ...] = ("mean", "std")

    def __post_init__(self) -> None:
        if self.sample_rate != info.SAMPLE_RATE:
            raise ConfigError(f"musicnn embeddings are defined at {info.SAMPLE_RATE} Hz, not {self.sample_rate}")
        info.check_model_name(self.model)
        layers = info.EMBED_LAYERS[info.arch(self.model)]
        if self.layer not in layers:
            raise ConfigError(f"{self.model} has no embedding layer {self.layer!r}; choose from {', '.join(layers)}")
        pooling = (self.pooling,) if isinstance(self.pooling, str) else tuple(self.pooling)
        bad = [p for p in pooling if p not in POOLINGS]
        if bad or not pooling:
            raise ConfigError(f"musicnn pooling must be some of {POOLINGS}, got {self.pooling!r}")
        object.__setattr__(self, "pooling", pooling)

    @property
    def patch_samples(self) -> int:
        """Samples per 3-s patch (187 hops): pieces of this length joined back to back keep the patch grid."""
        return info.PATCH_SAMPLES

    @property
    def width(self) -> int:
        return info.EMBED_LAYERS[info.arch(self.model)][self.layer]

    @property
    def dim(self) -> int:
        return self.width * len(self.pooling)

    def feature_names(self) -> list[str]:
        return [f"{self.layer}_{p}_{i}" for p in self.pooling for i in range(self.width)]

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        return (self.dim,)

    def pool(self, per_patch: np.ndarray) -> np.ndarray:
        """Summarise ``(n_patches, width)`` into ``(len(pooling) * width,)``."""
        x = np.asarray(per_patch, dtype=np.float64)
        stats = {"mean": x.mean, "std": x.std, "max": x.max, "min": x.min}
        return np.concatenate([stats[p](axis=0) for p in self.pooling]).astype(np.float32)

    def compute(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 1:
            return self.compute_many([y])[0]
        if y.ndim == 2:
            return self.compute_many(list(y))
        raise ConfigError(f"musicnn embedding expects (n,) or (batch, n) audio, got {y.shape}")

    def compute_many(self, signals: Sequence[np.ndarray], runtime: Runtime | None = None,
                     side: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Embeddings of several signals (any lengths): ``(len(signals), dim)``; one network pass per batch.
        ``side``: a dict to receive the per-signal mean of the tag layer (``side["taggram"]``,
        ``(len(signals), n_tags)``) from the same pass (the styles of :mod:`genrelab.inference.styles`)."""
        per_track = [dsp.patches(s) for s in dsp.log_mels(signals)]
        tags: dict[str, list[np.ndarray]] | None = {} if side is not None else None
        out = self._run(np.concatenate(per_track), runtime, tags)
        ends = np.cumsum([0] + [len(p) for p in per_track])
        bounds = list(zip(ends[:-1], ends[1:]))
        if side is not None and tags:
            tg = np.concatenate(tags[SIDE_LAYER])
            side[SIDE_LAYER] = np.stack([tg[a:b].mean(axis=0) for a, b in bounds])
        return np.stack([self.pool(out[a:b]) for a, b in bounds])

    def compute_files(self, paths: Sequence[str | Path], runtime: Runtime | None = None) -> np.ndarray:
        """Embeddings of audio files (decoded as ``librosa.load(sr=16000)``): ``(len(paths), dim)``."""
        return self.compute_many([dsp.load_audio(p) for p in paths], runtime)

    # -- the patch timeline of a stream
    def patch_embeddings(self, blocks: Iterable[np.ndarray], runtime: Runtime | None = None,
                         partial: float | None = 0.5, side: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """``layer`` for every patch of a signal given as consecutive 16 kHz blocks (any sizes; bounded
        memory): ``(n_patches, width)``. Each patch is embedded once, as :meth:`compute_many` embeds
        the patches of the whole signal; a final partial patch of at least ``partial`` of a patch is
        zero-padded and kept (a timeline reaches the end), None drops it as :meth:`compute_many` does.
        ``side``: a dict to receive the tag layer of every patch (``side["taggram"]``, ``(n_patches, n_tags)``)
        from the same pass."""
        tags: dict[str, list[np.ndarray]] | None = {} if side is not None else None
        outs = [self._run(x, runtime, tags) for x in dsp.patch_stream(blocks, partial=partial)]
        if side is not None:
            side[SIDE_LAYER] = np.concatenate(tags[SIDE_LAYER]) if tags else np.zeros((0, 0), np.float32)
        return np.concatenate(outs) if outs else np.zeros((0, self.width), np.float32)

    def pool_windows(self, per_patch: np.ndarray, context: int) -> np.ndarray:
        """The feature of a ``context``-patch window around each patch: ``(n_patches, dim)``; row ``i`` pools
        the patches of the clip-long window centred on patch ``i`` (shifted inside the track at its ends)."""
        n = len(per_patch)
        ctx = max(1, min(int(context), n))
        starts = [max(0, min(i - (ctx - 1) // 2, n - ctx)) for i in range(n)]
        return np.stack([self.pool(per_patch[a:a + ctx]) for a in starts]) if n else np.zeros((0, self.dim), np.float32)

    def _run(self, patches: np.ndarray, runtime: Runtime | None,
             tags: dict[str, list[np.ndarray]] | None = None) -> np.ndarray:
        """``layer`` per patch; with ``tags``, the tag layer of the same pass is appended to ``tags["taggram"]``."""
        from genrelab.musicnn.runtime import engine

        layers = (self.layer,) if tags is None or self.layer == SIDE_LAYER else (self.layer, SIDE_LAYER)
        out = engine(self.model, runtime).run(patches, layers)
        if tags is not None:
            tags.setdefault(SIDE_LAYER, []).append(out[SIDE_LAYER])
        return out[self.layer]
