"""musicnn features: the models' log-mel input and pretrained embeddings (transfer learning).

Two feature kinds:

- ``musicnn-mel`` (:class:`MusicnnMel`): the input representation of the musicnn/vgg models, exactly as
  the original package computes it: 16 kHz mono, ``librosa.feature.melspectrogram(n_fft=512,
  hop_length=256, n_mels=96)`` (power 2; reproduced with numpy alone, bit for bit, to spare a cold start
  librosa's import), transposed to frames x 96, stored as float16 and back (the
  original pipeline did; kept so the numbers match the pretrained models' training data and the TF
  reference), then ``log10(10000 x + 1)`` **in float32** (the upstream package, under NumPy 2, keeps the
  log in float16 and overflows to inf for mel power above ~6.55; not inherited).
- ``musicnn`` (:class:`MusicnnEmbedding`): a per-track vector for any classifier head: the track's
  log-mel is cut into non-overlapping 187-frame (3 s) patches, every patch goes through a pretrained
  network (all patches of all tracks of a batch in one pass), and one layer's per-patch outputs are
  summarised over the patches (mean and std by default).

:class:`MusicnnEngine` runs a pretrained network on patches with the fastest available backend:
ONNX Runtime (the PyTorch port exported once to ONNX in the cache) or PyTorch. Unlike the upstream
``extractor()``, every layer (``penultimate`` included) is computed for every patch.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from genrelab.features.config import FeatureConfig, register_feature
from genrelab.types import ConfigError

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
_FLOAT16_MAX = float(np.finfo(np.float16).max)

#: Layers an embedding can summarise, per architecture, and their per-patch width.
EMBED_LAYERS = {
    "musicnn": {"penultimate": 200, "max_pool": 753, "mean_pool": 753, "taggram": 50, "logits": 50},
    "vgg": {"penultimate": 256, "taggram": 50, "logits": 50},
}
POOLINGS = ("mean", "std", "max", "min")


# --------------------------------------------------------------------------- preprocessing
def load_audio(path: str | Path) -> np.ndarray:
    """``librosa.load(path, sr=16000)`` with genrelab's decoder: mono float32 at 16 kHz (soxr HQ, which is
    librosa's default ``soxr_hq``), padded/trimmed to ``ceil(n * 16000 / sr)`` samples as librosa does."""
    from genrelab import audio

    y, _ = audio.load(path, sr=SAMPLE_RATE)
    try:
        meta = audio.info(path)
        if meta.sample_rate != SAMPLE_RATE and meta.frames > 0:
            n = int(math.ceil(meta.frames * SAMPLE_RATE / meta.sample_rate))
            y = y[:n] if y.size >= n else np.pad(y, (0, n - y.size))
    except Exception:  # header unknown (ffmpeg formats): keep the decoded length
        pass
    return np.ascontiguousarray(y, dtype=np.float32)


_MEL_BASIS: np.ndarray | None = None
_WINDOW: np.ndarray | None = None


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (``librosa.hz_to_mel(htk=False)``, the same operations) of a 1-D float64 array."""
    f_sp = 200.0 / 3
    mels = (f - 0.0) / f_sp
    min_log_mel = (1000.0 - 0.0) / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = f >= 1000.0
    mels[log_t] = min_log_mel + np.log(f[log_t] / 1000.0) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel` (``librosa.mel_to_hz(htk=False)``, the same operations)."""
    f_sp = 200.0 / 3
    freqs = 0.0 + f_sp * mels
    min_log_mel = (1000.0 - 0.0) / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = 1000.0 * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (Slaney scale and area norm, 0 Hz to
    sr/2, float32) computed with numpy alone, operation for operation, so without importing librosa
    (which costs a cold start about a second). ``tests/test_musicnn.py`` checks it equals librosa's."""
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    lo, hi = _hz_to_mel(np.array([0.0, float(sr) / 2]))
    mel_f = _mel_to_hz(np.linspace(lo, hi, n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def _mel_basis() -> np.ndarray:
    global _MEL_BASIS
    if _MEL_BASIS is None:
        _MEL_BASIS = mel_filterbank()
    return _MEL_BASIS


def _hann() -> np.ndarray:
    """The periodic Hann window of ``librosa.stft`` (``scipy.signal.get_window("hann", 512, fftbins=True)``,
    computed the way scipy does: a general cosine over ``linspace(-pi, pi, 513)``, truncated), float64."""
    global _WINDOW
    if _WINDOW is None:
        fac = np.linspace(-np.pi, np.pi, N_FFT + 1)
        w = np.zeros(N_FFT + 1)
        for k, a in enumerate((0.5, 0.5)):
            w += a * np.cos(k * fac)
        _WINDOW = w[:-1]
    return _WINDOW


def stft_power(y: np.ndarray) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=True, pad_mode="constant")) ** 2`` with
    numpy alone: ``(..., 257, frames)`` float32, the same arithmetic (zero padding of 256 samples each side,
    frames times the float64 window, ``np.fft.rfft`` in float64, stored as complex64 in the same memory
    order as librosa's result), so the numbers are librosa's."""
    y = np.asarray(y, dtype=np.float32)
    if not np.isfinite(y).all():  # librosa.stft refuses these too
        raise ConfigError("audio buffer is not finite everywhere (NaN or inf samples)")
    pad = [(0, 0)] * (y.ndim - 1) + [(N_FFT // 2, N_FFT // 2)]
    yp = np.pad(y, pad, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(yp, N_FFT, axis=-1)[..., ::HOP, :]  # (..., T, 512)
    n_frames = frames.shape[-2]
    out = np.zeros((*y.shape[:-1], 1 + N_FFT // 2, n_frames), dtype=np.complex64, order="F")
    block = 128  # frames per FFT call (bounded temporaries, as librosa blocks its loop)
    for a in range(0, n_frames, block):
        b = min(a + block, n_frames)
        out[..., a:b] = np.swapaxes(np.fft.rfft(_hann() * frames[..., a:b, :], axis=-1), -1, -2)
    return np.abs(out) ** 2


def mel_power(y: np.ndarray) -> np.ndarray:
    """``librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96)`` transposed:
    ``(frames, 96)`` for ``y`` ``(n,)``, ``(batch, frames, 96)`` for ``(batch, n)`` (same arithmetic),
    computed with numpy only (:func:`stft_power`, :func:`mel_filterbank`)."""
    spec = stft_power(y)
    mel = np.einsum("...ft,mf->...mt", spec, _mel_basis(), optimize=True)
    return np.swapaxes(mel, -1, -2)


def log_compress(mel: np.ndarray, float16_storage: bool = True) -> np.ndarray:
    """``log10(10000 x + 1)`` in float32. ``float16_storage`` first rounds ``x`` to float16 as the original
    pipeline stored it (clipped at the float16 maximum instead of overflowing to inf)."""
    x = np.asarray(mel, dtype=np.float32)
    if float16_storage:
        x = np.minimum(x, _FLOAT16_MAX).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * x + np.float32(1)).astype(np.float32, copy=False)


def log_mel(y: np.ndarray, float16_storage: bool = True) -> np.ndarray:
    """The musicnn input representation of a 16 kHz mono signal: ``(frames, 96)`` float32."""
    return log_compress(mel_power(y), float16_storage)


def patches(spec: np.ndarray, n_frames: int = PATCH_FRAMES, hop: int | None = None) -> np.ndarray:
    """Cut ``(frames, 96)`` into ``(n_patches, n_frames, 96)``: back to back (or every ``hop`` frames), the
    last incomplete patch dropped as upstream does. A spectrogram shorter than one patch is repeat-padded
    (as the models were trained) into a single patch."""
    hop = hop or n_frames
    t = spec.shape[0]
    if t == 0:
        raise ConfigError("empty spectrogram: no audio to cut into musicnn patches")
    if t < n_frames:
        reps = int(math.ceil(n_frames / t))
        return np.tile(spec, (reps, 1))[None, :n_frames]
    starts = range(0, t - n_frames + 1, hop)
    return np.ascontiguousarray(np.stack([spec[s:s + n_frames] for s in starts]), dtype=np.float32)


def file_patches(path: str | Path, hop: int | None = None) -> np.ndarray:
    """Audio file -> ``(n_patches, 187, 96)`` model input, as the original ``musicnn`` package batches it."""
    return patches(log_mel(load_audio(path)), hop=hop)


# --------------------------------------------------------------------------- feature kinds
@register_feature
@dataclass(frozen=True)
class MusicnnMel(FeatureConfig):
    """The musicnn models' input: log-compressed 96-band mel spectrogram ``(frames, 96)`` at 16 kHz.

    Computes ``(frames, 96)`` for a signal ``(n,)`` and ``(batch, frames, 96)`` for ``(batch, n)``.
    ``n_frames`` crops/pads the result to that many frames (187 for one 3-s model patch); 0 keeps all.
    """

    kind: ClassVar[str] = "musicnn-mel"
    sample_rate: int = SAMPLE_RATE
    n_frames: int = PATCH_FRAMES
    float16_storage: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate != SAMPLE_RATE:
            raise ConfigError(f"musicnn-mel is defined at {SAMPLE_RATE} Hz, not {self.sample_rate}")

    def compute(self, y: np.ndarray) -> np.ndarray:
        spec = log_mel(y, self.float16_storage)
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
    """

    kind: ClassVar[str] = "musicnn"
    sample_rate: int = SAMPLE_RATE
    model: str = "MSD_musicnn"
    layer: str = "penultimate"
    pooling: tuple[str, ...] = ("mean", "std")

    def __post_init__(self) -> None:
        from genrelab.models.musicnn_info import PRETRAINED

        if self.sample_rate != SAMPLE_RATE:
            raise ConfigError(f"musicnn embeddings are defined at {SAMPLE_RATE} Hz, not {self.sample_rate}")
        if self.model not in PRETRAINED:
            raise ConfigError(f"unknown musicnn model {self.model!r}; known: {', '.join(PRETRAINED)}")
        layers = EMBED_LAYERS[PRETRAINED[self.model]["arch"]]
        if self.layer not in layers:
            raise ConfigError(f"{self.model} has no embedding layer {self.layer!r}; choose from {', '.join(layers)}")
        pooling = (self.pooling,) if isinstance(self.pooling, str) else tuple(self.pooling)
        bad = [p for p in pooling if p not in POOLINGS]
        if bad or not pooling:
            raise ConfigError(f"musicnn pooling must be some of {POOLINGS}, got {self.pooling!r}")
        object.__setattr__(self, "pooling", pooling)

    #: Samples per 3-s patch (187 hops): pieces of this length joined back to back keep the patch grid.
    patch_samples: ClassVar[int] = PATCH_FRAMES * HOP

    @property
    def width(self) -> int:
        from genrelab.models.musicnn_info import PRETRAINED

        return EMBED_LAYERS[PRETRAINED[self.model]["arch"]][self.layer]

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

    def compute_many(self, signals: Sequence[np.ndarray], runtime: Any = None) -> np.ndarray:
        """Embeddings of several signals (any lengths): ``(len(signals), dim)``; one network pass per batch.
        ``runtime`` (:class:`genrelab.runtime.Runtime`): the backbone's backend and threads."""
        specs = _log_mels(signals)
        per_track = [patches(s) for s in specs]
        counts = [p.shape[0] for p in per_track]
        out = _engine_for(self.model, runtime).run(np.concatenate(per_track), (self.layer,))[self.layer]
        bounds = np.cumsum([0] + counts)
        return np.stack([self.pool(out[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])

    def patch_outputs(self, y: np.ndarray, runtime: Any = None) -> np.ndarray:
        """``layer`` for every 3-s patch of ``y`` ``(n_patches, width)`` (a multiple of :attr:`patch_samples`
        long; a lone shorter signal is repeat-padded into one patch as in training)."""
        x = patches(log_mel(np.asarray(y, dtype=np.float32)))
        return _engine_for(self.model, runtime).run(x, (self.layer,))[self.layer]

    def compute_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Embeddings of audio files (decoded as ``librosa.load(sr=16000)``): ``(len(paths), dim)``."""
        return self.compute_many([load_audio(p) for p in paths])


def _engine_for(model: str, runtime: Any) -> "MusicnnEngine":
    if runtime is None:
        return engine(model)
    return engine(model, backend=runtime.backend, threads=runtime.threads)


def _log_mels(signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Log-mels of several signals; equal lengths share one batched STFT."""
    signals = [np.asarray(s, dtype=np.float32) for s in signals]
    lengths = {s.shape[0] for s in signals}
    if len(signals) > 1 and len(lengths) == 1:
        return list(log_mel(np.stack(signals)))
    return [log_mel(s) for s in signals]


# --------------------------------------------------------------------------- inference engine
def _default_backend() -> str:
    return os.environ.get("GENRELAB_MUSICNN_BACKEND", "auto")


class MusicnnEngine:
    """Runs a pretrained musicnn/vgg network on log-mel patches ``(n, 187, 96)``.

    ``backend``: ``"onnx"`` (ONNX Runtime; the PyTorch port is exported once to ``<cache>/musicnn/``),
    ``"torch"``, or ``"auto"`` (ONNX Runtime when it is installed and the export works, else PyTorch;
    the environment variable ``GENRELAB_MUSICNN_BACKEND`` overrides the default). ``threads``: intra-op
    threads (default: PyTorch's setting; without torch loaded, what PyTorch would choose). When the ONNX
    export is already cached (:func:`cached_onnx_path`), the session starts without importing torch. Patches are run ``batch_size`` at a time (default: a few; measured
    fastest on CPU because the front end's feature maps then stay in cache: see benchmarks/README.md).
    """

    #: Patches per network call by backend (measured on 2 cores: ORT 2-10 equal, torch best at 1-2).
    DEFAULT_BATCH = {"onnx": 4, "torch": 2}

    def __init__(self, model: str = "MSD_musicnn", backend: str | None = None, threads: int | None = None,
                 batch_size: int | None = None):
        from genrelab.models import musicnn_info as info

        self.model = info.check_model_name(model)
        self.arch = info.PRETRAINED[model]["arch"]
        self.labels = info.labels(model)
        self.threads = threads
        backend = backend or _default_backend()
        if backend not in ("auto", "onnx", "torch"):
            raise ConfigError(f"musicnn backend must be auto, onnx or torch, not {backend!r}")
        self._net = None
        self._session = None
        self.backend = "torch"
        if backend in ("auto", "onnx"):
            # The usual case: the graph was exported before. Start ONNX Runtime on it without torch (~1 s saved).
            cached = cached_onnx_path(self.model)
            if cached is not None:
                try:
                    self._session = _ort_session(cached, threads)
                    self.backend = "onnx"
                except Exception:  # no onnxruntime, or an unreadable file: take the full path below
                    self._session = None
        if self._session is None:
            from genrelab.models import musicnn as mm

            self._net = mm.load_pretrained(model)  # raises MusicnnUnavailable with the pip hint
        if self._session is None and backend in ("auto", "onnx"):
            try:
                self._session = _onnx_session(self.model, self._net, threads)
                self.backend = "onnx"
            except ImportError:
                if backend == "onnx":
                    raise ConfigError("the onnx backend needs onnxruntime (pip install onnxruntime)") from None
            except Exception as exc:  # export or load failed: fall back unless explicitly asked
                if backend == "onnx":
                    raise ConfigError(f"could not build the ONNX Runtime session for {model}: {exc}") from exc
                import warnings

                warnings.warn(f"musicnn: ONNX Runtime unavailable for {model} ({type(exc).__name__}: {exc}); "
                              "using PyTorch", RuntimeWarning, stacklevel=2)
        self.batch_size = int(batch_size or self.DEFAULT_BATCH[self.backend])

    @property
    def layers(self) -> tuple[str, ...]:
        return _onnx_outputs(self.arch)

    def run(self, x: np.ndarray, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Per-patch outputs ``{layer: (n, ...)}`` for patches ``x`` ``(n, 187, 96)``.

        ``layers`` (default: taggram, max_pool, mean_pool, penultimate for musicnn; taggram, penultimate for
        vgg) may name any of :attr:`layers`.
        """
        layers = tuple(layers or self.layers)
        bad = [name for name in layers if name not in self.layers]
        if bad:
            raise ConfigError(f"{self.model} has no output(s) {bad}; choose from {', '.join(self.layers)}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ConfigError(f"musicnn patches must be (n, frames, {N_MELS}), got {x.shape}")
        if self.arch == "vgg" and x.shape[1] != PATCH_FRAMES:
            raise ConfigError(f"vgg models need {PATCH_FRAMES}-frame patches, got {x.shape[1]}")
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        for a in range(0, x.shape[0], self.batch_size):
            out = self._run_batch(x[a:a + self.batch_size], layers)
            for name in layers:
                chunks[name].append(out[name])
        if x.shape[0] == 0:
            return {name: np.zeros((0,), np.float32) for name in layers}
        return {name: np.concatenate(v) for name, v in chunks.items()}

    def _run_batch(self, xb: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        if self._session is not None:
            res = self._session.run(list(layers), {"patches": xb})
            return dict(zip(layers, res))
        import torch

        if self._net is None:
            from genrelab.models import musicnn as mm

            self._net = mm.load_pretrained(self.model)
        with torch.inference_mode(), _torch_threads(self.threads):
            out = self._net.forward_features(torch.from_numpy(xb), layers)
        return {k: v.numpy() for k, v in out.items()}

    def run_file(self, path: str | Path, layers: Sequence[str] | None = None, hop: int | None = None) -> dict[str, np.ndarray]:
        return self.run(file_patches(path, hop=hop), layers)


class _torch_threads:
    def __init__(self, n: int | None):
        self.n = n
        self.old: int | None = None

    def __enter__(self) -> None:
        if self.n:
            import torch

            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            import torch

            torch.set_num_threads(self.old)


def _onnx_outputs(arch: str) -> tuple[str, ...]:
    if arch == "musicnn":
        return ("taggram", "max_pool", "mean_pool", "penultimate", "logits")
    return ("taggram", "penultimate", "logits")


ONNX_OPSET = 17
#: Bump when the exported graph changes (the file name also hashes the weights, so new weights re-export).
EXPORT_VERSION = "1"


def onnx_path(model: str, net: Any = None) -> Path:
    """Where the exported ONNX graph of pretrained ``model`` is cached (named by a hash of its weights)."""
    import hashlib

    from genrelab.models import musicnn as mm

    state = net.state_dict() if net is not None else mm.pretrained_state_dict(model)
    h = hashlib.sha1(f"{mm.CONVERSION_VERSION}/{EXPORT_VERSION}/{ONNX_OPSET}".encode())
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return mm.cache_dir() / "musicnn" / f"{model}-{h.hexdigest()[:12]}.onnx"


def _exportable(net: Any, names: tuple[str, ...]) -> Any:
    """A module whose forward returns the named per-patch outputs of ``net`` as a tuple (for ONNX export)."""
    import torch

    class PerPatchOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):  # type: ignore[override]
            out = self.net.forward_features(x, names)
            return tuple(out[n] for n in names)

    return PerPatchOutputs().eval()


def export_onnx(model: str, net: Any = None, path: str | Path | None = None) -> Path:
    """Export pretrained ``model`` to ONNX (input ``patches`` ``(n, 187, 96)``; outputs the per-patch layers
    of :func:`_onnx_outputs`) and return the file (default: :func:`onnx_path`, in the cache)."""
    import tempfile
    import warnings

    import torch

    from genrelab.models import musicnn as mm

    net = net if net is not None else mm.load_pretrained(model)
    path = Path(path) if path else onnx_path(model, net)
    names = _onnx_outputs(mm.PRETRAINED[model]["arch"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _exportable(net.eval(), names), (torch.zeros(2, PATCH_FRAMES, N_MELS),), tmp,
                input_names=["patches"], output_names=list(names),
                dynamic_axes={"patches": {0: "n"}, **{n: {0: "n"} for n in names}},
                opset_version=ONNX_OPSET, dynamo=False,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _onnx_index_path(model: str) -> Path:
    from genrelab.models import musicnn_info as info

    return info.cache_dir() / "musicnn" / f"{model}.onnx.json"


def _weights_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()


def _write_onnx_index(model: str, onnx_file: Path) -> None:
    """Record which ONNX export belongs to the converted weights as they are cached now, so that the next
    process finds it with :func:`cached_onnx_path` (without torch). Best effort: a read-only cache is fine."""
    import json
    import tempfile

    from genrelab.models import musicnn_info as info

    try:
        weights = info.weights_path(model)
        if not weights.is_file():
            return
        record = {"model": model, "onnx": onnx_file.name, "weights_sha1": _weights_digest(weights),
                  "conversion": info.CONVERSION_VERSION, "export": EXPORT_VERSION, "opset": ONNX_OPSET}
        index = _onnx_index_path(model)
        try:
            if json.loads(index.read_text()) == record:
                return
        except Exception:
            pass
        fd, tmp = tempfile.mkstemp(dir=index.parent, prefix=f".{index.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            os.chmod(tmp, 0o644)
            os.replace(tmp, index)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        return


def cached_onnx_path(model: str) -> Path | None:
    """The ONNX export of pretrained ``model`` in the cache, found without importing torch: None unless the
    converted weights are cached and current (:func:`genrelab.models.musicnn.pretrained_state_dict`'s test),
    the index written at export time names this very weights file (by SHA-1) and this export version, and
    the ONNX file is there. Anything else (first run, new weights, new package) takes the PyTorch path,
    which re-exports and rewrites the index."""
    import json

    from genrelab.models import musicnn_info as info

    try:
        index = _onnx_index_path(model)
        if not index.is_file() or not info.cached_weights_current(model):
            return None
        record = json.loads(index.read_text())
        expected = {"model": model, "conversion": info.CONVERSION_VERSION, "export": EXPORT_VERSION, "opset": ONNX_OPSET}
        if any(record.get(k) != v for k, v in expected.items()):
            return None
        onnx_file = index.parent / str(record.get("onnx", ""))
        if not onnx_file.name.endswith(".onnx") or not onnx_file.is_file():
            return None
        if record.get("weights_sha1") != _weights_digest(info.weights_path(model)):
            return None
        return onnx_file
    except Exception:
        return None


def _default_threads() -> int:
    """PyTorch's intra-op thread count when torch is loaded (what this engine always used), else what
    PyTorch would choose: ``OMP_NUM_THREADS``, or the CPUs this process may run on."""
    import sys

    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "0"))
    except ValueError:
        n = 0
    if n > 0:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _ort_session(path: Path, threads: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads or _default_threads())
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _onnx_session(model: str, net: Any, threads: int | None):
    import onnxruntime  # noqa: F401  (ImportError before any export work)

    path = onnx_path(model, net)
    if not path.is_file():
        export_onnx(model, net, path)
    session = _ort_session(path, threads)
    _write_onnx_index(model, path)
    return session


_ENGINES: dict[tuple[str, str, int | None], MusicnnEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine(model: str = "MSD_musicnn", backend: str | None = None, threads: int | None = None) -> MusicnnEngine:
    """A shared :class:`MusicnnEngine` per (model, backend, threads): weights load once per process."""
    key = (model, backend or _default_backend(), threads)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = MusicnnEngine(model, backend=key[1], threads=threads)
        return _ENGINES[key]
