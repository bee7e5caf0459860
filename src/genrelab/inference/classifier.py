"""The :class:`Classifier`: a checkpoint in, genres out. It orchestrates and computes nothing of its own.

- which stretches of a track are read: the checkpoint's :class:`~genrelab.features.config.InputSpec`
  (``spread``/``assemble`` by default, ``sliding`` for the timeline): the framing training used;
- the features of those windows: ``InputSpec.window_examples`` (the feature classes);
- the model: :func:`genrelab.checkpoint.load` with a :class:`~genrelab.runtime.Runtime` (ONNX Runtime, the
  numpy linear head, PyTorch or scikit-learn), whose ``predict_proba`` applies the normaliser;
- one answer per track: :func:`genrelab.evaluation.aggregate.aggregate_tracks` (as evaluation aggregates);
- confidence: the checkpoint's calibration temperature (``model.json`` ``calibration.temperature``, fitted on
  held-out predictions; :mod:`genrelab.evaluation.calibration`) rescales every probability; an answer whose
  score is below :data:`~genrelab.inference.result.UNCERTAIN_BELOW` is marked ``uncertain``;
- styles: a musicnn checkpoint also reports the backbone's genre/style tags from the same network pass
  (:mod:`genrelab.inference.styles`);
- the timeline: a checkpoint with a window head (``<checkpoint>/timeline/``) labels every 3-s patch from a few
  seconds around it, smoothed over time; with a timeline the song's answer is formed from the timeline
  (the genre holding the most seconds; :mod:`genrelab.inference.timeline`);
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
from genrelab.evaluation.calibration import apply_temperature
from genrelab.inference.result import UNCERTAIN_BELOW, ClassificationResult, TimelineEntry
from genrelab.inference.styles import styles_from_taggram
from genrelab.inference.timeline import WindowHead, find_head, smooth, song_answer
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
        #: calibration temperature of the checkpoint (1: none stored)
        self.temperature = float((self.meta.get("calibration") or {}).get("temperature", 1.0))
        self.window_head = self._window_head()
        #: the backbone's tag names when the feature is a musicnn tagger (styles), else None
        self.style_tags = _tagger_labels(self.spec.feature)

    def _window_head(self) -> WindowHead | None:
        folder = find_head(self.path)
        if folder is None:
            return None
        head = WindowHead.load(folder)
        feat = self.spec.feature
        if (not feat.patch_samples or (head.model, head.layer) != (getattr(feat, "model", None), getattr(feat, "layer", None))
                or head.labels != self.labels):
            raise GenrelabError(f"{folder}: this window head reads {head.model} {head.layer} for {head.labels}, "
                                f"which is not what the checkpoint's feature and labels are")
        return head

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
            "temperature": self.temperature, "uncertain_below": UNCERTAIN_BELOW,
            "timeline_head": self.window_head is not None, "styles": self.style_tags is not None,
        }

    # -- the numeric core
    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        """The model's raw probabilities ``(n, n_labels)`` rescaled by the checkpoint's calibration temperature."""
        return apply_temperature(proba, self.temperature)

    def predict_examples(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(n, n_labels)`` for model-ready examples (before normalisation)."""
        return self.calibrate(self.checkpoint.predict_proba(x, batch_size=_BATCH))

    def predict_windows(self, windows: Sequence[np.ndarray], side: dict | None = None) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` for windows of audio at the model's rate (each one example's audio).
        ``side``: receives the backbone's tag scores of the same pass (``side["taggram"]``) when it has any."""
        if side is None:
            return self.predict_examples(self.spec.window_examples(windows, self.runtime))
        return self.predict_examples(self.spec.window_examples(windows, self.runtime, side=side))

    def _side(self) -> dict | None:
        return {} if self.style_tags is not None else None

    def _styles(self, side: dict | None) -> list[tuple[str, float]] | None:
        if not side or "taggram" not in side or self.style_tags is None:
            return None
        return styles_from_taggram(side["taggram"], self.style_tags)

    def _answer_windows(self, path: str, windows: Sequence[np.ndarray], top_k: int,
                        duration: float | None) -> ClassificationResult:
        side = self._side()
        proba = self.predict_windows(windows, side)
        return self.answer(path, proba, top_k, duration, styles=self._styles(side))

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
        return self._answer_windows(path, self.spec.assemble(pieces), top_k, duration)

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
            return self._answer_windows(path, self.spec.assemble(pieces), top_k, info.duration)
        y, _ = audio.load(path, sr=sr, mono=True, allow_silent=False)
        self._check_len(y.size - self.spec.offset_samples, path)
        pieces = [y[a:a + n] for a, n in self.spec.spread(y.size, self.n_patches)]
        return self._answer_windows(path, self.spec.assemble(pieces), top_k, y.size / sr)

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
        return self.timeline_answer(path, entries, top_k, duration)

    def _patch_timeline(self, path: str, blocks: Iterable[np.ndarray], duration: float,
                        top_k: int) -> ClassificationResult:
        """Timeline of a pooled-feature model (musicnn embeddings): every patch is embedded once (its tag
        scores too, for the styles). With a window head, entry ``i`` is the smoothed label of the few seconds
        around patch ``i`` (:mod:`genrelab.inference.timeline`); without, it is classified from the outputs
        pooled over a clip-long context of patches centred on patch ``i``."""
        feat, sr = self.spec.feature, self.sample_rate
        patch = int(feat.patch_samples)
        side = self._side()
        if side is None:
            emb = feat.patch_embeddings(_skip(blocks, self.spec.offset_samples), self.runtime)
        else:
            emb = feat.patch_embeddings(_skip(blocks, self.spec.offset_samples), self.runtime, side=side)
        n = len(emb)
        if n == 0:
            raise AudioError(path, AudioProblem.TOO_SHORT, "no complete patch of audio")
        off = self.spec.offset_seconds
        span = [(off + i * patch / sr, min(off + (i + 1) * patch / sr, duration)) for i in range(n)]
        if self.window_head is not None:
            logp = self.window_head.log_proba(emb)
            best, proba = smooth(logp, self.window_head.switch_penalty), np.exp(logp)
            entries = [TimelineEntry(a, b, self.labels[k], float(q[k]), {lab: float(v) for lab, v in zip(self.labels, q)})
                       for (a, b), k, q in zip(span, best, proba)]
        else:
            ctx = max(1, int(round(self.spec.window_samples / patch)))
            proba = self.predict_examples(feat.pool_windows(emb, ctx))
            entries = [self._entry(a, b, p) for (a, b), p in zip(span, proba)]
        return self.timeline_answer(path, entries, top_k, duration, styles=self._styles(side))

    # -- answers
    def _entry(self, start: float, end: float, p: np.ndarray) -> TimelineEntry:
        k = int(np.argmax(p))
        return TimelineEntry(start, end, self.labels[k], float(p[k]),
                             {lab: float(v) for lab, v in zip(self.labels, p)})

    def answer(self, path: str, proba: np.ndarray, top_k: int, duration: float | None,
               styles: list[tuple[str, float]] | None = None) -> ClassificationResult:
        """The result for a track's window probabilities ``(n, n_labels)``: aggregated as evaluation does."""
        p = aggregate_probabilities(proba, self.aggregate_method)
        order = np.argsort(-p, kind="stable")[:max(1, top_k)]
        top = [(self.labels[i], float(p[i])) for i in order]
        return ClassificationResult(
            path=path, top=top, probabilities={lab: float(v) for lab, v in zip(self.labels, p)},
            duration=duration, n_segments=len(proba), model=self.name,
            uncertain=top[0][1] < UNCERTAIN_BELOW, styles=styles,
        )

    def timeline_answer(self, path: str, entries: list[TimelineEntry], top_k: int, duration: float | None,
                        styles: list[tuple[str, float]] | None = None) -> ClassificationResult:
        """The result of a timeline: the song's answer is formed from the entries
        (:func:`genrelab.inference.timeline.song_answer`: the genre holding the most seconds first; each
        genre's duration-weighted mean probability), so the headline always agrees with the timeline."""
        proba = np.array([[e.probabilities.get(lab, 0.0) for lab in self.labels] for e in entries])
        top, probs = song_answer(self.labels, [e.label for e in entries], [e.end - e.start for e in entries], proba)
        top = top[:max(1, top_k)]
        return ClassificationResult(
            path=path, top=top, probabilities=probs, timeline=entries, duration=duration,
            n_segments=len(entries), model=self.name, uncertain=top[0][1] < UNCERTAIN_BELOW, styles=styles,
        )


def _tagger_labels(feature: Any) -> list[str] | None:
    """The tag vocabulary of a musicnn embedding's backbone (None for other features)."""
    if getattr(feature, "kind", None) != "musicnn":
        return None
    from genrelab.musicnn import info

    return info.labels(feature.model)


def _skip(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The signal made of ``blocks`` without its first ``n`` samples (a spec's offset)."""
    for b in blocks:
        if n:
            cut = min(n, len(b))
            b, n = b[cut:], n - cut
        yield b


__all__ = ["Classifier", "aggregate_probabilities", "DEFAULT_PATCHES", "PIECEWISE_ABOVE"]
