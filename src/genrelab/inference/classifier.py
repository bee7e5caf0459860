"""The :class:`Classifier`: a checkpoint in, genres out. It orchestrates and computes nothing of its own.

- which stretches of a track are read: the checkpoint's :class:`~genrelab.features.config.InputSpec`
  (``spread``/``assemble`` by default, ``sliding`` for the timeline): the framing training used;
- the features of those windows: ``InputSpec.window_examples`` (the feature classes);
- the model: :func:`genrelab.checkpoint.load` with a :class:`~genrelab.runtime.Runtime` (ONNX Runtime, the
  numpy linear head, PyTorch or scikit-learn), whose ``predict_proba`` applies the normaliser;
- one answer per track: :func:`genrelab.evaluation.aggregate.aggregate_tracks` (as evaluation aggregates);
- the answer: :class:`~genrelab.inference.result.ClassificationResult`.

Python API in the shape of the Hugging Face audio-classification pipeline::

    clf = Classifier.from_pretrained("default")
    clf("song.mp3", top_k=3)                 # [{"label": "jazz", "score": 0.91}, ...]
    clf(samples, sampling_rate=44100)        # a mono (or (n, channels)) array
    clf(["a.mp3", "b.flac"])                 # a list of those lists

``classify`` / ``classify_array`` return the full :class:`ClassificationResult` (timeline, duration, errors).
Nothing here imports ``genrelab.training``, torch or scikit-learn unless the checkpoint's backend needs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from genrelab import audio
from genrelab.inference.resolve import DEFAULT_MODEL, resolve_model
from genrelab.inference.result import ClassificationResult, TimelineEntry
from genrelab.types import AudioError, AudioProblem, GenrelabError

#: Windows classified per track when no timeline is asked for (measured: see benchmarks/README.md).
DEFAULT_PATCHES = 5
#: Files longer than this (seconds) are read piece by piece instead of decoded whole.
PIECEWISE_ABOVE = 90.0
#: Windows per model call on a timeline.
_BATCH = 32


def aggregate_probabilities(proba: np.ndarray, method: str = "mean") -> np.ndarray:
    """One probability vector from the per-window probabilities ``(n, C)`` of one track, exactly as evaluation
    aggregates segments into tracks (:func:`genrelab.evaluation.aggregate.aggregate_tracks`: mean or vote)."""
    from genrelab.evaluation.aggregate import aggregate_tracks

    proba = np.asarray(proba, dtype=np.float64).reshape(-1, np.shape(proba)[-1])
    return aggregate_tracks(proba, [0] * len(proba), method)[1][0]


class Classifier:
    """A trained model ready to classify audio (thread-safe for concurrent calls)."""

    def __init__(self, checkpoint: Any, *, runtime: Any, name: str = "", n_patches: int = DEFAULT_PATCHES,
                 aggregate: str = "mean"):
        from genrelab.evaluation.aggregate import AGGREGATIONS

        if aggregate not in AGGREGATIONS:
            raise GenrelabError(f"unknown aggregation {aggregate!r}; use one of {AGGREGATIONS}")
        self.checkpoint = checkpoint
        self.runtime = runtime
        self.spec = checkpoint.contract.spec
        self.labels = list(checkpoint.labels)
        self.path: Path | None = checkpoint.path
        self.name = name or (self.path.name if self.path else "")
        self.n_patches = max(1, int(n_patches))
        self.aggregate_method = aggregate

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike | None = DEFAULT_MODEL, *, runtime: Any = None,
                        n_patches: int | None = None, aggregate: str = "mean") -> "Classifier":
        """A shipped model by name (``"default"``) or a checkpoint folder (or its ``model.json``).

        ``runtime``: a :class:`genrelab.runtime.Runtime` (default: read from the environment now, once);
        its backend applies to the model and to a pretrained feature extractor (the musicnn backbone) alike.
        ``n_patches``: windows (or pieces) a long song is read as without a timeline.
        """
        from genrelab import checkpoint as ckpt_mod
        from genrelab.runtime import Runtime

        runtime = runtime if runtime is not None else Runtime.from_env()
        ckpt = ckpt_mod.load(resolve_model(model), runtime=runtime)
        return cls(ckpt, runtime=runtime, name=str(model or DEFAULT_MODEL), aggregate=aggregate,
                   n_patches=n_patches or DEFAULT_PATCHES)

    #: the same constructor under its first name
    from_checkpoint = from_pretrained

    # -- facts
    @property
    def sample_rate(self) -> int:
        return int(self.spec.sample_rate)

    @property
    def backend_name(self) -> str:
        return self.checkpoint.backend

    @property
    def meta(self) -> dict[str, Any]:
        return self.checkpoint.meta

    @property
    def window_seconds(self) -> float:
        return self.spec.window_samples / self.sample_rate

    @property
    def patches_per_track(self) -> int:
        """How many windows (segment models) or pieces (whole-clip models) a long song is read as by default."""
        return self.spec.pieces_per_track(self.n_patches)

    @property
    def plugin_modules(self) -> tuple[str, ...]:
        """Modules outside genrelab that registered this checkpoint's feature or model (for worker processes)."""
        mods = []
        for obj in (self.spec.feature, self.checkpoint.model):
            m = type(obj).__module__ if obj is not None else "builtins"
            if not m.startswith(("genrelab", "builtins", "sklearn", "torch")):
                mods.append(m)
        return tuple(mods)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path) if self.path else None, "labels": self.labels,
            "backend": self.backend_name, "model": self.meta.get("model", {}).get("name"),
            "feature": self.spec.feature.kind, "sample_rate": self.sample_rate,
            "window_seconds": round(self.window_seconds, 3), "patches_per_track": self.patches_per_track,
        }

    # -- the numeric core
    def predict_examples(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` for model-ready examples (before normalisation)."""
        return self.checkpoint.predict_proba(x, batch_size=_BATCH)

    def predict_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` for windows of audio at the model's rate (each one example's audio)."""
        return self.predict_examples(self.spec.window_examples(windows, self.runtime))

    # -- the Hugging Face pipeline shape
    def __call__(self, inputs: Any, top_k: int | None = 5, sampling_rate: int | None = None) -> list:
        """``[{"label", "score"}, ...]`` best first for a file path, an array (at ``sampling_rate``, default
        the model's) or a ``{"array"/"raw": ..., "sampling_rate": ...}`` dict; a list of those for a list.
        A file that cannot be classified raises :class:`~genrelab.types.AudioError`; other types TypeError."""
        if isinstance(inputs, (list, tuple)):
            return [self(x, top_k=top_k, sampling_rate=sampling_rate) for x in inputs]
        if isinstance(inputs, dict):
            arr = inputs.get("array", inputs.get("raw"))
            if arr is None or "sampling_rate" not in inputs:
                raise TypeError("a dict input needs 'array' (or 'raw') and 'sampling_rate'")
            return self(np.asarray(arr), top_k=top_k, sampling_rate=int(inputs["sampling_rate"]))
        if isinstance(inputs, (str, os.PathLike)):
            res = self.classify(inputs, top_k=len(self.labels), raise_errors=True)
        elif isinstance(inputs, np.ndarray):
            if inputs.dtype.kind not in "fiu":
                raise TypeError(f"audio arrays must hold numbers, not {inputs.dtype}")
            res = self.classify_array(inputs, sampling_rate or self.sample_rate, top_k=len(self.labels))
        else:
            raise TypeError(f"cannot classify a {type(inputs).__name__}: give a file path, a numpy array of "
                            "samples (with sampling_rate), a dict with 'array' and 'sampling_rate', or a list of those")
        return res.pipeline_output(top_k)

    # -- arrays
    def classify_array(self, y: np.ndarray, sr: int, top_k: int = 3, timeline: bool = False,
                       path: str = "<array>") -> ClassificationResult:
        """Classify decoded samples (mono ``(n,)`` or ``(n, channels)``, resampled to the model's rate)."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=1)
        if y.ndim != 1:
            raise TypeError(f"audio must be (n,) or (n, channels), got shape {y.shape}")
        if sr != self.sample_rate:
            y = audio.resample(y, sr, self.sample_rate)
        if not np.isfinite(y).all():
            raise AudioError(path, AudioProblem.NON_FINITE, "NaN or infinite samples")
        self._check_len(y.size - self.spec.offset_samples, path)
        if audio.is_silent(y):
            raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
        duration = y.size / self.sample_rate
        if timeline:
            return self._timeline(path, [y], duration, top_k)
        pieces = [y[a:a + n] for a, n in self.spec.spread(y.size, self.n_patches)]
        return self.answer(path, self.predict_windows(self.spec.assemble(pieces)), top_k, duration)

    # -- files
    def classify(self, path: str | os.PathLike, top_k: int = 3, timeline: bool = False,
                 raise_errors: bool = False) -> ClassificationResult:
        """Classify one audio file. Problems with the file come back in ``result.error`` (or raise); something
        that is not a path raises TypeError (arrays go to :meth:`classify_array` or the pipeline call)."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"classify takes a file path, not a {type(path).__name__} (use classify_array or clf(...))")
        p = str(path)
        try:
            return self._classify_file(p, top_k, timeline)
        except AudioError as exc:
            if raise_errors:
                raise
            return ClassificationResult(path=p, error=str(exc), error_kind=exc.problem.value, model=self.name)
        except (GenrelabError, ValueError, RuntimeError, MemoryError, OSError) as exc:
            if raise_errors:
                raise
            return ClassificationResult(path=p, error=f"{p}: {type(exc).__name__}: {exc}", error_kind="error",
                                        model=self.name)

    def classify_many(self, paths: Iterable[str | os.PathLike], top_k: int = 3,
                      timeline: bool = False) -> Iterator[ClassificationResult]:
        for p in paths:
            yield self.classify(p, top_k=top_k, timeline=timeline)

    def _classify_file(self, path: str, top_k: int, timeline: bool) -> ClassificationResult:
        sr = self.sample_rate
        info = audio.info(path)
        if timeline:
            self._check_len(int(info.duration * sr) - self.spec.offset_samples, path)
            if not audio.first_sound(path):  # before any model work: a silent hour fails in seconds
                raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
            return self._timeline(path, audio.stream(path, sr, block_seconds=20.0), info.duration, top_k)
        plan = self.spec.spread(int(info.duration * sr), self.n_patches)
        if info.duration > PIECEWISE_ABOVE and sum(n for _, n in plan) * 2 < info.duration * sr:
            pieces = [self._read(path, a, n) for a, n in plan]  # only what the answer needs, never the whole file
            if all(audio.is_silent(p) for p in pieces):
                raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
            return self.answer(path, self.predict_windows(self.spec.assemble(pieces)), top_k, info.duration)
        y, _ = audio.load(path, sr=sr, mono=True, allow_silent=False)
        self._check_len(y.size - self.spec.offset_samples, path)
        pieces = [y[a:a + n] for a, n in self.spec.spread(y.size, self.n_patches)]
        return self.answer(path, self.predict_windows(self.spec.assemble(pieces)), top_k, y.size / sr)

    def _read(self, path: str, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)`` of a file at the model's rate (decoded with a small margin each side
        so that resampling edges fall outside)."""
        sr, margin = self.sample_rate, 0.05
        off = start / sr
        y, _ = audio.load(path, sr=sr, mono=True, offset=max(0.0, off - margin), duration=n / sr + 2 * margin,
                          allow_silent=True)
        lead = int(round(min(margin, off) * sr))
        return audio.crop_or_pad(y[lead:lead + n], n)

    def _min_samples(self) -> int:
        return int(min(1.0, self.window_seconds / 2) * self.sample_rate)

    def _check_len(self, n: int, path: str) -> None:
        if n < self._min_samples():
            raise AudioError(path, AudioProblem.TOO_SHORT,
                             f"{max(n, 0) / self.sample_rate:.2f} s, needs at least {self._min_samples() / self.sample_rate:g} s")

    # -- timelines (streamed: bounded memory for any length)
    def _timeline(self, path: str, blocks: Iterable[np.ndarray], duration: float, top_k: int) -> ClassificationResult:
        if self.spec.feature.patch_samples and not self.spec.segmented:
            return self._patch_timeline(path, blocks, duration, top_k)
        entries: list[TimelineEntry] = []
        all_p: list[np.ndarray] = []
        sr, w = self.sample_rate, self.spec.window_samples
        windows = self.spec.sliding(blocks)
        while batch := [b for _, b in zip(range(_BATCH), windows)]:
            proba = self.predict_windows([s for _, s in batch])
            entries += [self._entry(start / sr, min((start + w) / sr, duration), p) for (start, _), p in zip(batch, proba)]
            all_p.append(proba)
        if not all_p:
            raise AudioError(path, AudioProblem.TOO_SHORT, "no complete window of audio")
        res = self.answer(path, np.concatenate(all_p), top_k, duration)
        res.timeline = entries
        return res

    def _patch_timeline(self, path: str, blocks: Iterable[np.ndarray], duration: float,
                        top_k: int) -> ClassificationResult:
        """Timeline of a pooled-feature model (musicnn embeddings): every patch is embedded once; entry ``i``
        is classified from the outputs pooled over a clip-long context of patches centred on patch ``i``."""
        feat, sr = self.spec.feature, self.sample_rate
        patch = int(feat.patch_samples)
        emb = feat.patch_embeddings(_skip(blocks, self.spec.offset_samples), self.runtime)
        n = len(emb)
        if n == 0:
            raise AudioError(path, AudioProblem.TOO_SHORT, "no complete patch of audio")
        ctx = max(1, int(round(self.spec.window_samples / patch)))
        proba = self.predict_examples(feat.pool_windows(emb, ctx))
        off = self.spec.offset_seconds
        entries = [self._entry(off + i * patch / sr, min(off + (i + 1) * patch / sr, duration), p)
                   for i, p in enumerate(proba)]
        # the track's answer: the clip-level feature over the patches the default reading would use
        idx = np.unique(np.round(np.linspace(0, n - 1, min(n, ctx))).astype(int))
        res = self.answer(path, self.predict_examples(feat.pool(emb[idx])[None]), top_k, duration)
        res.timeline = entries
        return res

    # -- answers
    def _entry(self, start: float, end: float, p: np.ndarray) -> TimelineEntry:
        k = int(np.argmax(p))
        return TimelineEntry(start, end, self.labels[k], float(p[k]),
                             {lab: float(v) for lab, v in zip(self.labels, p)})

    def answer(self, path: str, proba: np.ndarray, top_k: int, duration: float | None) -> ClassificationResult:
        """The result for a track's window probabilities ``(n, n_labels)``: aggregated as evaluation does."""
        p = aggregate_probabilities(proba, self.aggregate_method)
        order = np.argsort(-p, kind="stable")[:max(1, top_k)]
        return ClassificationResult(
            path=path, top=[(self.labels[i], float(p[i])) for i in order],
            probabilities={lab: float(v) for lab, v in zip(self.labels, p)},
            duration=duration, n_segments=len(proba), model=self.name,
        )


def _skip(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The signal made of ``blocks`` without its first ``n`` samples (a spec's offset)."""
    for b in blocks:
        if n:
            cut = min(n, len(b))
            b, n = b[cut:], n - cut
        yield b


__all__ = ["Classifier", "aggregate_probabilities", "DEFAULT_PATCHES", "PIECEWISE_ABOVE"]
