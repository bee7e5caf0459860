"""Instant genre identification: a checkpoint in, genres out.

:class:`Classifier` turns any genrelab checkpoint (the shipped ``"default"`` model, or a folder written by
``genrelab train``) into a function from an audio file to genres. It uses exactly the feature code the
model was trained with (the checkpoint's :class:`~genrelab.features.config.InputSpec`), the checkpoint's
normaliser and model, then aggregates per-window probabilities into one answer per track.

How a track is read (``window`` = one model example's stretch of audio):

- models trained on segments (e.g. 3 s patches): by default ``n_patches`` windows spread evenly over the
  whole song are classified and their probabilities averaged, so a 4-minute song costs what a 30 s clip
  costs; ``timeline=True`` streams the whole file (bounded memory) and classifies every window.
- models trained on whole clips (e.g. 57 features of a 30 s clip, musicnn embeddings pooled over a clip):
  a file no longer than the clip is used as in training; a longer one is summarised by ``n_patches``
  pieces spread over the song, joined into one clip-long signal. The timeline classifies consecutive
  clip-long windows.

Backends: PyTorch models run through ONNX Runtime when ``onnxruntime`` is installed and an ``.onnx`` file
exists next to the checkpoint or can be exported once into the user cache (``GENRELAB_BACKEND=torch`` or
``backend="torch"`` turns this off); scikit-learn heads run as they are. Nothing here imports
``genrelab.training``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from genrelab import audio
from genrelab.runtime import Runtime, default_cache_dir
from genrelab.types import AudioError, AudioProblem, CheckpointError, ConfigError, GenrelabError

DEFAULT_MODEL = "default"
#: Windows classified per track when no timeline is asked for (measured: see benchmarks/README.md).
DEFAULT_PATCHES = 5
#: Window length for the timeline of a model whose input is a whole track of unknown length.
FALLBACK_CLIP_SECONDS = 30.0
#: Files longer than this (seconds) are read piece by piece instead of decoded whole.
_PIECEWISE_ABOVE = 90.0
_BATCH = 32
_ONNX_FILE = "model.onnx"


# --------------------------------------------------------------------------- results
@dataclass
class TimelineEntry:
    """One window of the timeline: where it is and what the model thinks it is."""

    start_s: float
    end_s: float
    genre: str
    prob: float
    probabilities: list[float] | None = None  # the full vector, in the classifier's label order

    def as_tuple(self) -> tuple[float, float, str, float]:
        return (self.start_s, self.end_s, self.genre, self.prob)


@dataclass
class ClassificationResult:
    """The answer for one file. ``error`` is set (and the rest empty) when the file could not be used."""

    path: str
    top: list[tuple[str, float]] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    timeline: list[TimelineEntry] | None = None
    duration: float | None = None
    n_segments: int = 0
    error: str | None = None
    error_kind: str | None = None
    model: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def genre(self) -> str | None:
        return self.top[0][0] if self.top else None

    @property
    def confidence(self) -> float | None:
        return self.top[0][1] if self.top else None

    def to_dict(self, full: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "genre": self.genre,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "top": [{"genre": g, "probability": round(p, 6)} for g, p in self.top],
            "duration": None if self.duration is None else round(self.duration, 3),
            "n_segments": self.n_segments,
            "model": self.model,
            "error": self.error,
            "error_kind": self.error_kind,
        }
        if full:
            d["probabilities"] = {k: round(v, 6) for k, v in self.probabilities.items()}
        if self.timeline is not None:
            d["timeline"] = [
                {"start": round(e.start_s, 3), "end": round(e.end_s, 3), "genre": e.genre, "probability": round(e.prob, 6)}
                for e in self.timeline
            ]
        return d


# --------------------------------------------------------------------------- model resolution
def pretrained_dir(name: str = DEFAULT_MODEL) -> Path:
    """Folder of a model shipped inside the package (``genrelab/pretrained/<name>``)."""
    from importlib import resources

    base = resources.files("genrelab") / "pretrained" / name
    return Path(str(base))


def resolve_model(path_or_name: str | os.PathLike | None = None) -> Path:
    """A checkpoint folder from a path (folder or its model.json) or the name of a shipped model."""
    ref = DEFAULT_MODEL if path_or_name in (None, "") else str(path_or_name)
    p = Path(ref).expanduser()
    if p.name == "model.json":
        p = p.parent
    if (p / "model.json").exists():
        return p
    if os.sep not in ref and "/" not in ref:
        shipped = pretrained_dir(ref)
        if (shipped / "model.json").exists():
            return shipped
        if ref == DEFAULT_MODEL:
            raise CheckpointError(
                "the shipped default model is missing from this installation "
                f"({shipped}); reinstall genrelab or pass --model PATH to a checkpoint folder"
            )
    if p.exists():
        raise CheckpointError(f"{p}: not a genrelab checkpoint folder (no model.json)")
    raise CheckpointError(f"no model {ref!r}: neither a checkpoint folder nor a shipped model name")


def onnx_enabled() -> bool:
    return Runtime.from_env().onnx_allowed


def _onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


# --------------------------------------------------------------------------- backends
class _Backend:
    name = "?"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:  # (n, *shape) normalised -> (n, C)
        raise NotImplementedError


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _TorchBackend(_Backend):
    name = "torch"

    def __init__(self, model: Any):
        self.model = model

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return _softmax(logits.float().cpu().numpy().astype(np.float64))


class _OnnxBackend(_Backend):
    name = "onnx"

    def __init__(self, onnx_path: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.path = onnx_path
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return _softmax(np.asarray(logits, dtype=np.float64))


class _SklearnBackend(_Backend):
    name = "sklearn"

    def __init__(self, model: Any, labels: Sequence[str]):
        self.model = model
        classes = list(getattr(model, "classes_", range(len(labels))))
        # Columns of predict_proba follow model.classes_ (ints = label indices, or label names).
        self.columns = [int(c) if not isinstance(c, str) else list(labels).index(c) for c in classes]
        self.n = len(labels)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        p = self.model.predict_proba(x2)
        out = np.zeros((len(x2), self.n), dtype=np.float64)
        out[:, self.columns] = p
        return out


class _LinearBackend(_Backend):
    """A scikit-learn ``[StandardScaler ->] LogisticRegression`` head evaluated with numpy (no sklearn import).

    Built once from the real model and checked against its ``predict_proba``; cached by weights checksum."""

    name = "linear"

    def __init__(self, arrays: dict[str, np.ndarray], n_labels: int):
        self.mean = arrays["mean"]
        self.scale = arrays["scale"]
        self.coef = arrays["coef"]
        self.intercept = arrays["intercept"]
        self.columns = arrays["columns"].astype(int)
        self.n = n_labels

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        p = _softmax(((x2 - self.mean) / self.scale) @ self.coef.T + self.intercept)
        out = np.zeros((len(x2), self.n), dtype=np.float64)
        out[:, self.columns] = p
        return out


def _linear_head_path(meta: dict[str, Any]) -> Path | None:
    sha = meta.get("weights", {}).get("sha256")
    return default_cache_dir() / "heads" / f"{sha[:24]}.npz" if sha else None


def _linear_head_from_cache(meta: dict[str, Any]) -> _LinearBackend | None:
    p = _linear_head_path(meta)
    if p is None or not p.exists():
        return None
    try:
        with np.load(p) as z:
            return _LinearBackend({k: z[k] for k in z.files}, len(meta["labels"]))
    except Exception:
        return None


def _linear_head_write(model: Any, sk: _SklearnBackend, meta: dict[str, Any]) -> None:
    """Cache a numpy copy of a linear sklearn head when it reproduces ``predict_proba`` exactly."""
    p = _linear_head_path(meta)
    if p is None:
        return
    try:
        steps = list(getattr(model, "steps", [(None, model)]))
        est = [st for _, st in steps]
        clf = est[-1]
        if type(clf).__name__ != "LogisticRegression" or clf.coef_.shape[0] < 3:
            return
        dim = clf.coef_.shape[1]
        mean, scale = np.zeros(dim), np.ones(dim)
        for st in est[:-1]:
            if type(st).__name__ != "StandardScaler":
                return
            if getattr(st, "mean_", None) is not None:
                mean = st.mean_.astype(np.float64)
            if getattr(st, "scale_", None) is not None:
                scale = st.scale_.astype(np.float64)
        arrays = {"mean": mean, "scale": scale, "coef": clf.coef_.astype(np.float64),
                  "intercept": clf.intercept_.astype(np.float64), "columns": np.asarray(sk.columns)}
        lin = _LinearBackend(arrays, sk.n)
        x = np.random.default_rng(0).standard_normal((64, dim)) * scale + mean
        if not np.allclose(lin.predict_proba(x), sk.predict_proba(x), atol=1e-7):
            return
        import tempfile

        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, p)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except Exception:  # the cache is an optimisation only
        return


def _export_onnx_file(ckpt: Any, out: Path) -> Path:
    """Export a loaded torch checkpoint's model to ``out`` (dynamic batch axis), atomically."""
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".tmp.onnx")
    os.close(fd)
    try:
        exported = False
        try:
            from genrelab.export import export_onnx  # the model zoo's exporter (verifies against PyTorch)
        except ImportError:
            export_onnx = None
        if export_onnx is not None:
            try:
                export_onnx(ckpt.model, tuple(ckpt.contract.input_shape), tmp,
                            metadata={"labels": json.dumps(list(ckpt.labels))})
                exported = Path(tmp).stat().st_size > 0
            except Exception:
                exported = False  # fall back to the plain exporter below
        if not exported:
            import torch

            model = ckpt.model.eval()
            dummy = torch.zeros((2, *ckpt.contract.input_shape), dtype=torch.float32)
            kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    torch.onnx.export(model, (dummy,), tmp, dynamo=False, **kwargs)
                except TypeError:
                    torch.onnx.export(model, (dummy,), tmp, **kwargs)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _onnx_cache_path(ckpt_dir: Path, meta: dict[str, Any]) -> Path:
    sha = meta.get("weights", {}).get("sha256") or hashlib.sha256(str(ckpt_dir.resolve()).encode()).hexdigest()
    return default_cache_dir() / "onnx" / f"{sha[:24]}.onnx"


def _onnx_file_for(ckpt_dir: Path, meta: dict[str, Any]) -> Path | None:
    """An existing ONNX export of this checkpoint (next to it, or in the cache), if any."""
    sha = meta.get("weights", {}).get("sha256", "")
    local = ckpt_dir / _ONNX_FILE
    if local.exists():
        recorded = meta.get("onnx", {}).get("weights_sha256")
        if recorded in (None, sha):
            return local
    cached = _onnx_cache_path(ckpt_dir, meta)
    return cached if cached.exists() else None


def _load_normalizer_without_torch(ckpt_dir: Path, meta: dict[str, Any]):
    from genrelab.features.normalize import Standardizer

    cfg = meta.get("normalization")
    if not cfg:
        return None
    if "normalization_arrays" in meta:
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in meta["normalization_arrays"].items()}
    else:
        from safetensors.numpy import load_file

        tensors = load_file(str(ckpt_dir / meta["weights"]["file"]))
        arrays = {k[len("__norm__."):]: v for k, v in tensors.items() if k.startswith("__norm__.")}
    return Standardizer.from_state(cfg, arrays)


def _spec_from_meta(meta: dict[str, Any]):
    from genrelab.features.config import InputSpec

    inp = meta["input"]
    return InputSpec.from_dict(inp["spec"]), tuple(inp.get("input_shape", ()))


# --------------------------------------------------------------------------- the classifier
class Classifier:
    """A trained model ready to classify audio files (thread-safe for concurrent ``classify`` calls)."""

    def __init__(self, *, labels: Sequence[str], spec: Any, backend: _Backend, normalizer: Any = None,
                 meta: dict[str, Any] | None = None, path: Path | None = None, name: str = "",
                 n_patches: int = DEFAULT_PATCHES, aggregate: str = "mean", plugin_modules: Sequence[str] = ()):
        self.labels = list(labels)
        self.spec = spec
        self.backend = backend
        self.normalizer = normalizer
        self.meta = meta or {}
        self.path = path
        self.name = name or (path.name if path else "")
        self.n_patches = max(1, int(n_patches))
        self.aggregate_method = aggregate
        self.plugin_modules = tuple(plugin_modules)
        self._lock = threading.Lock() if backend.name == "torch" else None
        #: settings of a pretrained feature extractor (musicnn): None = the environment's
        self.feature_runtime: Runtime | None = None

    # -- construction
    @classmethod
    def from_checkpoint(cls, path_or_name: str | os.PathLike | None = DEFAULT_MODEL, *, backend: str = "auto",
                        n_patches: int | None = None, aggregate: str = "mean", threads: int | None = None) -> "Classifier":
        """Load a checkpoint folder or a shipped model by name (``"default"``).

        ``backend``: ``"auto"`` (ONNX Runtime when possible, else PyTorch/scikit-learn), ``"onnx"``
        (export once if needed; error without onnxruntime) or ``"torch"``. It applies to the model and to a
        pretrained feature extractor (the musicnn backbone) alike; ``GENRELAB_BACKEND=torch`` means ``"torch"``.
        """
        clf = cls._from_checkpoint(path_or_name, backend=backend, n_patches=n_patches, aggregate=aggregate,
                                   threads=threads)
        clf.feature_runtime = Runtime.from_env(backend=None if backend == "auto" else backend, threads=threads)
        return clf

    @classmethod
    def _from_checkpoint(cls, path_or_name: str | os.PathLike | None = DEFAULT_MODEL, *, backend: str = "auto",
                         n_patches: int | None = None, aggregate: str = "mean", threads: int | None = None) -> "Classifier":
        from genrelab import checkpoint as ckpt_mod

        ckpt_dir = resolve_model(path_or_name)
        meta = ckpt_mod.read_meta(ckpt_dir)
        kind = meta.get("model", {}).get("kind", "torch")
        if backend not in ("auto", "onnx", "torch"):
            raise GenrelabError(f"unknown backend {backend!r} (auto, onnx or torch)")
        want_onnx = kind == "torch" and (backend == "onnx" or (backend == "auto" and onnx_enabled()))
        if want_onnx and not _onnxruntime_available():
            if backend == "onnx":
                raise GenrelabError("backend 'onnx' needs onnxruntime (pip install onnxruntime)")
            want_onnx = False
        name = str(path_or_name or DEFAULT_MODEL)
        opts = dict(meta=meta, path=ckpt_dir, name=name, aggregate=aggregate,
                    n_patches=n_patches or meta.get("extra", {}).get("inference", {}).get("n_patches", DEFAULT_PATCHES))
        if want_onnx:
            onnx_file = _onnx_file_for(ckpt_dir, meta)
            if onnx_file is not None:
                _verify_weights(ckpt_dir, meta)
                spec, _ = _spec_from_meta(meta)
                return cls(labels=meta["labels"], spec=spec, backend=_OnnxBackend(onnx_file, threads),
                           normalizer=_load_normalizer_without_torch(ckpt_dir, meta),
                           plugin_modules=_plugins_for(spec, None), **opts)
        if kind == "sklearn" and onnx_enabled() and backend != "torch":
            fast = _linear_head_from_cache(meta)
            if fast is not None:  # skips importing scikit-learn and skops (~2 s of a cold start)
                _verify_weights(ckpt_dir, meta)
                spec, _ = _spec_from_meta(meta)
                return cls(labels=meta["labels"], spec=spec, backend=fast,
                           normalizer=_load_normalizer_without_torch(ckpt_dir, meta),
                           plugin_modules=_plugins_for(spec, None), **opts)
        loaded = ckpt_mod.load(ckpt_dir)
        plugins = _plugins_for(loaded.contract.spec, loaded.model)
        if kind == "sklearn":
            be: _Backend = _SklearnBackend(loaded.model, loaded.labels)
            _linear_head_write(loaded.model, be, meta)
        elif want_onnx:
            try:
                onnx_file = _export_onnx_file(loaded, _onnx_cache_path(ckpt_dir, meta))
                be = _OnnxBackend(onnx_file, threads)
            except Exception:  # export unsupported for this model: PyTorch still works
                if backend == "onnx":
                    raise
                be = _TorchBackend(loaded.model)
        else:
            be = _TorchBackend(loaded.model)
        if be.name == "torch" and threads:
            import torch

            torch.set_num_threads(threads)
        return cls(labels=loaded.labels, spec=loaded.contract.spec, backend=be, normalizer=loaded.normalizer,
                   plugin_modules=plugins, **opts)

    # -- basic facts
    @property
    def sample_rate(self) -> int:
        return int(self.spec.sample_rate)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def segmented(self) -> bool:
        return bool(self.spec.segmented) and not self.spec.group_segments

    @property
    def window_samples(self) -> int:
        """Samples of audio one example (window) covers."""
        sr = self.sample_rate
        s = self.spec
        if self.segmented:
            return int(s.segment_samples or round(s.segment_seconds * sr))
        if s.clip_seconds:
            return int(round(s.clip_seconds * sr))
        if s.group_segments and s.segmented and s.n_segments:
            seg = int(s.segment_samples or round(s.segment_seconds * sr))
            hop = int(round(s.hop_seconds * sr)) if s.hop_seconds else seg
            return seg + hop * (s.n_segments - 1)
        return int(FALLBACK_CLIP_SECONDS * sr)

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    @property
    def hop_seconds(self) -> float:
        if self.segmented and self.spec.hop_seconds:
            return float(self.spec.hop_seconds)
        return self.window_seconds

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path) if self.path else None, "labels": self.labels,
            "backend": self.backend_name, "model": self.meta.get("model", {}).get("name"),
            "feature": self.spec.feature.kind, "sample_rate": self.sample_rate,
            "window_seconds": round(self.window_seconds, 3), "patches_per_track": self.patches_per_track,
        }

    @property
    def patches_per_track(self) -> int:
        """How many windows (segment models) or pieces (whole-clip models) a long song is read as by default."""
        piece = self._piece_samples()
        if self.segmented or not piece:
            return self.n_patches
        return max(1, round(self.window_samples / piece))

    # -- the numeric core
    def _features(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        feat = self.spec.feature
        frames = list(frames)
        many = getattr(feat, "compute_many", None)  # features with a pretrained network (musicnn)
        if many is not None:
            return np.asarray(many(frames, runtime=self.feature_runtime), dtype=np.float32)
        return np.stack([np.asarray(feat.compute(f), dtype=np.float32) for f in frames])

    def examples(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Model input for signal windows (each one example's audio, offset already applied): ``(n, *input_shape)``."""
        s = self.spec
        if self.segmented:
            return self._features(windows)
        if s.group_segments:
            return np.concatenate([s.examples(w if not s.offset_seconds else _unoffset(w, s)) for w in windows])
        if s.clip_seconds is not None:
            n = int(round(s.clip_seconds * self.sample_rate))
            windows = [audio.crop_or_pad(w, n) for w in windows]
        return self._features(windows)

    def predict_examples(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` for model-ready examples (before normalisation)."""
        if self.normalizer is not None:
            x = self.normalizer.transform(x)
        out = []
        for i in range(0, len(x), _BATCH):
            chunk = x[i:i + _BATCH]
            if self._lock is not None:
                with self._lock:
                    out.append(self.backend.predict_proba(chunk))
            else:
                out.append(self.backend.predict_proba(chunk))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def predict_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        return self.predict_examples(self.examples(windows))

    def _aggregate(self, proba: np.ndarray) -> np.ndarray:
        return aggregate_probabilities(proba, self.aggregate_method)

    # -- windows of a decoded signal
    def _default_windows(self, y: np.ndarray) -> list[np.ndarray]:
        """The windows classified for a track when no timeline is asked for."""
        w = self.window_samples
        if self.segmented:
            starts = audio.segment_starts(y.size, w, n_segments=min(self.n_patches, max(1, math.ceil(y.size / w))))
            return [audio.crop_or_pad(y[s:s + w], w) for s in sorted(set(starts))]
        if self.spec.clip_seconds is None and not self.spec.group_segments and y.size <= _PIECEWISE_ABOVE * self.sample_rate:
            return [y]
        if y.size <= int(w * 1.1):
            return [y]
        return [_digest(y, w, self.n_patches, self._piece_samples())]

    def _piece_samples(self) -> int | None:
        """Length of the pieces a whole-clip feature is computed from (musicnn: one 187-frame patch)."""
        p = getattr(self.spec.feature, "patch_samples", None)
        return int(p) if p else None

    # -- public API
    def classify_array(self, y: np.ndarray, sr: int, top_k: int = 3, timeline: bool = False,
                       path: str = "<array>") -> ClassificationResult:
        """Classify a decoded mono signal (resampled to the model's rate when needed)."""
        if sr != self.sample_rate:
            y = audio.resample(np.asarray(y, dtype=np.float32), sr, self.sample_rate)
        y = np.asarray(y, dtype=np.float32)
        if self.spec.offset_seconds:
            y = y[int(round(self.spec.offset_seconds * self.sample_rate)):]
        duration = y.size / self.sample_rate
        if timeline and self._patch_timeline_ok():
            return self._musicnn_timeline_blocks(path, iter([y]), duration, top_k)
        if timeline:
            starts = list(range(0, max(1, y.size - self.window_samples + 1), int(round(self.hop_seconds * self.sample_rate))))
            wins = [(s / self.sample_rate, audio.crop_or_pad(y[s:s + self.window_samples], self.window_samples)) for s in starts]
            return self._finish_timeline(path, iter(wins), duration, top_k)
        windows = self._default_windows(y)
        proba = self.predict_windows(windows)
        return self._result(path, self._aggregate(proba), top_k, duration, len(proba))

    def classify(self, path: str | os.PathLike, top_k: int = 3, timeline: bool = False,
                 raise_errors: bool = False) -> ClassificationResult:
        """Classify one audio file. Problems with the file come back in ``result.error`` (or raise)."""
        p = str(path)
        try:
            if timeline:
                return self._classify_streaming(p, top_k)
            return self._classify_file(p, top_k)
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

    # -- files
    def _min_samples(self) -> int:
        return int(min(1.0, self.window_seconds / 2) * self.sample_rate)

    def _check_len(self, n: int, path: str) -> None:
        if n < self._min_samples():
            raise AudioError(path, AudioProblem.TOO_SHORT,
                             f"{n / self.sample_rate:.2f} s, needs at least {self._min_samples() / self.sample_rate:g} s")

    def _classify_file(self, path: str, top_k: int) -> ClassificationResult:
        sr = self.sample_rate
        meta = audio.info(path)
        total = meta.duration - self.spec.offset_seconds
        if total > _PIECEWISE_ABOVE and total * sr > 2 * self.window_samples:
            windows = self._read_pieces(path, total)
            proba = self.predict_windows(windows)
            return self._result(path, self._aggregate(proba), top_k, meta.duration, len(proba))
        y, _ = audio.load(path, sr=sr, mono=True, allow_silent=False)
        if self.spec.offset_seconds:
            y = y[int(round(self.spec.offset_seconds * sr)):]
        self._check_len(y.size, path)
        windows = self._default_windows(y)
        proba = self.predict_windows(windows)
        return self._result(path, self._aggregate(proba), top_k, y.size / sr + self.spec.offset_seconds, len(proba))

    def _read_pieces(self, path: str, total: float) -> list[np.ndarray]:
        """Decode only the stretches a long file's default answer needs (never the whole file)."""
        sr = self.sample_rate
        w = self.window_samples
        n_total = int(total * sr)
        if self.segmented:
            piece, n = w, self.n_patches
        else:
            piece = self._piece_samples() or max(1, w // self.n_patches)
            n = max(1, round(w / piece))
        starts = audio.segment_starts(n_total, piece, n_segments=n)
        margin = 0.05
        pieces = []
        for s in starts:
            off = self.spec.offset_seconds + s / sr
            y, _ = audio.load(path, sr=sr, mono=True, offset=max(0.0, off - margin),
                              duration=piece / sr + 2 * margin, allow_silent=True)
            lead = int(round(min(margin, off) * sr))
            pieces.append(audio.crop_or_pad(y[lead:lead + piece], piece))
        if max(float(np.max(np.abs(p))) for p in pieces) < audio.SILENCE_PEAK:
            raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
        if self.segmented:
            return pieces
        return [audio.crop_or_pad(np.concatenate(pieces), w)]

    def _classify_streaming(self, path: str, top_k: int) -> ClassificationResult:
        if self._patch_timeline_ok():
            return self._musicnn_timeline(path, top_k)
        info = audio.info(path)
        sr = self.sample_rate
        gen = audio.stream_segments(path, sr, self.window_seconds, hop_seconds=self.hop_seconds)
        offset = self.spec.offset_seconds

        def windows():
            for start, seg in gen:
                if start >= offset:
                    yield start - offset, seg

        res = self._finish_timeline(path, windows(), info.duration, top_k)
        return res

    # -- patch timelines (musicnn embeddings): each patch embedded once, then a sliding clip-long context
    def _patch_timeline_ok(self) -> bool:
        f = self.spec.feature
        return hasattr(f, "patch_embeddings") and not self.segmented and not self.spec.group_segments

    def _musicnn_timeline(self, path: str, top_k: int) -> ClassificationResult:
        info = audio.info(path)
        off = int(round(self.spec.offset_seconds * self.sample_rate))

        def blocks():
            skip = off
            for b in audio.stream(path, self.sample_rate, block_seconds=20.0):
                if skip:
                    cut = min(skip, b.size)
                    b, skip = b[cut:], skip - cut
                yield b

        return self._musicnn_timeline_blocks(path, blocks(), info.duration - self.spec.offset_seconds, top_k)

    def _musicnn_timeline_blocks(self, path: str, blocks: Iterable[np.ndarray], duration: float,
                                 top_k: int) -> ClassificationResult:
        """Timeline of a patch-embedding model: each patch is embedded once (the feature's
        ``patch_embeddings``); entry ``i`` is classified from the embeddings pooled over a clip-long window
        of patches centred on patch ``i`` (``pool_windows``)."""
        feat = self.spec.feature
        seen = {"n": 0, "peak": 0.0}

        def measured():
            for b in blocks:
                b = np.asarray(b, dtype=np.float32)
                seen["n"] += b.size
                if b.size:
                    seen["peak"] = max(seen["peak"], float(np.max(np.abs(b))))
                yield b

        try:
            emb = feat.patch_embeddings(measured(), runtime=self.feature_runtime)
        except ConfigError:
            if seen["n"] == 0:
                emb = None
            else:
                raise
        if seen["n"] < self._min_samples():
            raise AudioError(path, AudioProblem.TOO_SHORT,
                             f"{seen['n'] / self.sample_rate:.2f} s, needs at least {self._min_samples() / self.sample_rate:g} s")
        if seen["peak"] < audio.SILENCE_PEAK:
            raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
        n = 0 if emb is None else len(emb)
        if n == 0:
            raise AudioError(path, AudioProblem.TOO_SHORT, "no complete musicnn patch")
        piece = feat.patch_samples
        ctx = max(1, int(round(self.window_samples / piece)))
        proba = self.predict_examples(feat.pool_windows(emb, ctx).astype(np.float32))
        patch_s = piece / self.sample_rate
        entries = []
        for i, p in enumerate(proba):
            k = int(np.argmax(p))
            entries.append(TimelineEntry(i * patch_s, min((i + 1) * patch_s, duration), self.labels[k], float(p[k]),
                                         [float(v) for v in p]))
        # the track's answer: the clip-level feature over the patches the default mode would use
        idx = np.unique(np.round(np.linspace(0, n - 1, min(n, ctx))).astype(int)) if n > ctx else np.arange(n)
        overall = self.predict_examples(feat.pool(emb[idx])[None].astype(np.float32))[0]
        res = self._result(path, overall, top_k, duration, n)
        res.timeline = entries
        return res

    def _finish_timeline(self, path: str, windows: Iterator[tuple[float, np.ndarray]], duration: float,
                         top_k: int) -> ClassificationResult:
        entries: list[TimelineEntry] = []
        all_p: list[np.ndarray] = []
        peak = 0.0
        w_s = self.window_seconds
        while True:
            batch = [b for _, b in zip(range(_BATCH), windows)]
            if not batch:
                break
            peak = max(peak, max(float(np.max(np.abs(s))) for _, s in batch))
            proba = self.predict_windows([s for _, s in batch])
            for (start, _), p in zip(batch, proba):
                k = int(np.argmax(p))
                entries.append(TimelineEntry(start, min(start + w_s, duration) if duration else start + w_s,
                                             self.labels[k], float(p[k]), [float(v) for v in p]))
            all_p.append(proba)
        if not all_p:
            raise AudioError(path, AudioProblem.TOO_SHORT, "no complete window of audio")
        if peak < audio.SILENCE_PEAK:
            raise AudioError(path, AudioProblem.SILENT, "all samples are (near) zero")
        proba = np.concatenate(all_p)
        res = self._result(path, self._aggregate(proba), top_k, duration, len(proba))
        res.timeline = entries
        return res

    def _result(self, path: str, p: np.ndarray, top_k: int, duration: float | None, n: int) -> ClassificationResult:
        p = np.asarray(p, dtype=np.float64)
        order = np.argsort(-p, kind="stable")[:max(1, top_k)]
        return ClassificationResult(
            path=path, top=[(self.labels[i], float(p[i])) for i in order],
            probabilities={lab: float(v) for lab, v in zip(self.labels, p)},
            duration=duration, n_segments=n, model=self.name,
        )


def _digest(y: np.ndarray, w: int, n_patches: int, piece: int | None) -> np.ndarray:
    """A ``w``-sample signal made of pieces spread evenly over ``y`` (a long song's summary)."""
    piece = piece or max(1, w // n_patches)
    n = max(1, round(w / piece))
    starts = audio.segment_starts(y.size, piece, n_segments=n)
    return audio.crop_or_pad(np.concatenate([y[s:s + piece] for s in starts]), w)


def _unoffset(w: np.ndarray, spec: Any) -> np.ndarray:
    """Prepend the silence that ``spec.frame`` will skip again (windows here already start after the offset)."""
    return np.concatenate([np.zeros(int(round(spec.offset_seconds * spec.sample_rate)), dtype=np.float32), w])


def _verify_weights(ckpt_dir: Path, meta: dict[str, Any]) -> None:
    wf = ckpt_dir / meta["weights"]["file"]
    if not wf.exists():
        raise CheckpointError(f"{ckpt_dir}: weights file {wf.name} is missing")
    if hashlib.sha256(wf.read_bytes()).hexdigest() != meta["weights"].get("sha256"):
        raise CheckpointError(f"{wf}: checksum does not match model.json (incomplete or mixed checkpoint)")


def _plugins_for(spec: Any, model: Any) -> list[str]:
    """Modules outside genrelab that registered this checkpoint's feature or model (for worker processes)."""
    mods = []
    for obj in (spec.feature, model):
        if obj is None:
            continue
        m = type(obj).__module__
        if not m.startswith("genrelab") and m not in ("builtins",) and not m.startswith(("sklearn", "torch")):
            mods.append(m)
    return mods


def aggregate_probabilities(proba: np.ndarray, method: str = "mean") -> np.ndarray:
    """One probability vector from per-window probabilities ``(n, C)`` of one track.

    Uses :func:`genrelab.evaluation.aggregate.aggregate_tracks` when available so that inference
    aggregates exactly as evaluation does; falls back to the same rules locally.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1 or len(proba) == 1:
        return proba.reshape(-1, proba.shape[-1])[0]
    try:
        from genrelab.evaluation.aggregate import aggregate_tracks  # type: ignore[import-not-found]
    except ImportError:
        aggregate_tracks = None
    if aggregate_tracks is not None:
        try:
            out = aggregate_tracks(proba, ["track"] * len(proba), method)
            vec = _first_vector(out)
            if vec is not None and vec.shape == (proba.shape[1],) and np.isfinite(vec).all():
                s = vec.sum()
                return vec / s if s > 0 else vec
        except Exception:
            pass
    if method in ("vote", "majority"):
        votes = np.bincount(proba.argmax(1), minlength=proba.shape[1]).astype(np.float64)
        return votes / votes.sum()
    if method in ("logmean", "geometric", "log"):
        z = np.log(np.clip(proba, 1e-12, 1)).mean(0)
        z = np.exp(z - z.max())
        return z / z.sum()
    if method == "max":
        m = proba.max(0)
        return m / m.sum()
    return proba.mean(0)


def _first_vector(out: Any) -> np.ndarray | None:
    """The (only) track's vector from whatever shape aggregate_tracks returns."""
    if isinstance(out, tuple):
        for part in out:
            v = _first_vector(part)
            if v is not None and v.ndim == 1 and v.dtype.kind == "f":
                return v
        return None
    if isinstance(out, dict):
        vals = list(out.values())
        return np.asarray(vals[0], dtype=np.float64) if len(vals) == 1 else None
    arr = np.asarray(out)
    if arr.dtype.kind not in "fiu":
        return None
    if arr.ndim == 2 and len(arr) == 1:
        return arr[0].astype(np.float64)
    if arr.ndim == 1 and arr.dtype.kind == "f":
        return arr.astype(np.float64)
    return None


def result_from_dict(d: dict[str, Any]) -> ClassificationResult:
    """Inverse of :meth:`ClassificationResult.to_dict` (used by worker processes and resumed CSVs)."""
    tl = d.get("timeline")
    return ClassificationResult(
        path=d["path"], top=[(t["genre"], float(t["probability"])) for t in d.get("top", [])],
        probabilities={k: float(v) for k, v in (d.get("probabilities") or {}).items()},
        timeline=None if tl is None else [TimelineEntry(t["start"], t["end"], t["genre"], t["probability"]) for t in tl],
        duration=d.get("duration"), n_segments=int(d.get("n_segments") or 0), error=d.get("error"),
        error_kind=d.get("error_kind"), model=d.get("model", ""),
    )


# --------------------------------------------------------------------------- parallel batches
_WORKER: Classifier | None = None


def _worker_init(model: str, backend: str, n_patches: int | None, plugins: Sequence[str], threads: int) -> None:
    global _WORKER
    for m in plugins:
        importlib.import_module(m)
    _WORKER = Classifier.from_checkpoint(model, backend=backend, n_patches=n_patches, threads=threads)


def _worker_run(args: tuple[str, int, bool]) -> dict[str, Any]:
    path, top_k, timeline = args
    assert _WORKER is not None
    return _WORKER.classify(path, top_k=top_k, timeline=timeline).to_dict()


def classify_parallel(
    paths: Sequence[str | os.PathLike], model: str | os.PathLike = DEFAULT_MODEL, *, workers: int = 1,
    top_k: int = 3, timeline: bool = False, backend: str = "auto", n_patches: int | None = None,
    classifier: Classifier | None = None,
) -> Iterator[ClassificationResult]:
    """Classify many files, yielding results as they finish (``workers`` processes; 1 = in this process).

    Each worker loads the model once. A file that cannot be read yields a result with ``error`` set;
    the batch always goes on.
    """
    paths = [str(p) for p in paths]
    if workers <= 1 or len(paths) <= 1:
        clf = classifier or Classifier.from_checkpoint(model, backend=backend, n_patches=n_patches)
        for p in paths:
            yield clf.classify(p, top_k=top_k, timeline=timeline)
        return
    from concurrent.futures import as_completed

    from genrelab.procpool import process_pool  # workers die with this process (kill -9 included)

    plugins = list(classifier.plugin_modules) if classifier else []
    threads = max(1, (os.cpu_count() or 1) // workers)
    with process_pool(workers, initializer=_worker_init,
                      initargs=(str(model), backend, n_patches, plugins, threads)) as pool:
        futs = {pool.submit(_worker_run, (p, top_k, timeline)): p for p in paths}
        try:
            for fut in as_completed(futs):
                p = futs[fut]
                try:
                    yield result_from_dict(fut.result())
                except Exception as exc:  # a crashed worker: report and go on
                    yield ClassificationResult(path=p, error=f"{p}: worker failed: {type(exc).__name__}: {exc}",
                                               error_kind="error", model=str(model))
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def results_to_json(results: Sequence[ClassificationResult]) -> str:
    return json.dumps([r.to_dict() for r in results], indent=2)


__all__ = [
    "Classifier", "ClassificationResult", "TimelineEntry", "classify_parallel", "resolve_model",
    "pretrained_dir", "aggregate_probabilities", "DEFAULT_MODEL", "DEFAULT_PATCHES", "asdict",
]
