"""Run a pretrained musicnn/vgg network on log-mel patches, with ONNX Runtime (exported once) or PyTorch.

:class:`MusicnnEngine` runs the fastest available backend: ONNX Runtime on the PyTorch port exported once
(by :func:`genrelab.export.export_onnx`, the project's one exporter) into ``<cache>/musicnn/``, or PyTorch.
Unlike the upstream ``extractor()``, every output layer (``penultimate`` included) is computed for every
patch. When the export is already cached (:func:`cached_onnx_path`), a session starts without importing
torch (a cold start saves about a second). :func:`engine` shares one engine per model and settings.

The backend, cache folder and threads come from a :class:`genrelab.runtime.Runtime` (None: the
environment's, :meth:`~genrelab.runtime.Runtime.from_env`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.musicnn import info
from genrelab.musicnn.info import ENGINE_OUTPUTS, N_MELS, PATCH_FRAMES
from genrelab.runtime import Runtime, resolve
from genrelab.types import ConfigError

#: Bump when the exported graph changes (the file name also hashes the weights, so new weights re-export).
EXPORT_VERSION = "2"
INPUT_NAME = "patches"


class MusicnnEngine:
    """Runs pretrained ``model`` on log-mel patches ``(n, 187, 96)``; :meth:`run` returns per-patch layers.

    ``runtime.backend``: ``"onnx"`` (ONNX Runtime; error when it cannot run), ``"torch"``, or ``"auto"``
    (ONNX Runtime when it is installed and the export works, else PyTorch). ``runtime.threads``: intra-op
    threads (default: PyTorch's setting; without torch loaded, what PyTorch would choose). Patches are run
    ``batch_size`` at a time (default: a few; measured fastest on CPU because the front end's feature maps
    then stay in cache, and peak memory stays bounded: see benchmarks/README.md).
    """

    #: Patches per network call by backend (measured on 2 cores: ORT 2-10 equal, torch best at 1-2).
    DEFAULT_BATCH = {"onnx": 4, "torch": 2}

    def __init__(self, model: str = "MSD_musicnn", runtime: Runtime | None = None, batch_size: int | None = None):
        rt = resolve(runtime)
        self.model = info.check_model_name(model)
        self.arch = info.arch(model)
        self.labels = info.labels(model)
        self.runtime = rt
        self.threads = rt.threads
        self._net = None
        self._session = None
        self.backend = "torch"
        if rt.backend in ("auto", "onnx"):
            # The usual case: the graph was exported before. Start ONNX Runtime on it without torch (~1 s saved).
            cached = cached_onnx_path(self.model, rt.cache_dir)
            if cached is not None:
                try:
                    self._session = _ort_session(cached, rt.threads)
                    self.backend = "onnx"
                except Exception:  # no onnxruntime, or an unreadable file: take the full path below
                    self._session = None
        if self._session is None:
            self._net = _load_net(self.model, rt.cache_dir)  # raises MusicnnUnavailable with the pip hint
        if self._session is None and rt.backend in ("auto", "onnx"):
            try:
                self._session = _onnx_session(self.model, self._net, rt)
                self.backend = "onnx"
            except ImportError:
                if rt.backend == "onnx":
                    raise ConfigError("the onnx backend needs onnxruntime (pip install onnxruntime)") from None
            except Exception as exc:  # export or load failed: fall back unless explicitly asked
                if rt.backend == "onnx":
                    raise ConfigError(f"could not build the ONNX Runtime session for {model}: {exc}") from exc
                warnings.warn(f"musicnn: ONNX Runtime unavailable for {model} ({type(exc).__name__}: {exc}); "
                              "using PyTorch", RuntimeWarning, stacklevel=2)
        self.batch_size = int(batch_size or self.DEFAULT_BATCH[self.backend])

    @property
    def layers(self) -> tuple[str, ...]:
        return ENGINE_OUTPUTS[self.arch]

    def run(self, x: np.ndarray, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Per-patch outputs ``{layer: (n, ...)}`` for patches ``x`` ``(n, 187, 96)``.

        ``layers`` (default: all of :attr:`layers`: taggram, max_pool, mean_pool, penultimate, logits for
        musicnn; taggram, penultimate, logits for vgg) may name any of :attr:`layers`.
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
        if x.shape[0] == 0:
            return {name: np.zeros((0,), np.float32) for name in layers}
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        for a in range(0, x.shape[0], self.batch_size):
            out = self._run_batch(x[a:a + self.batch_size], layers)
            for name in layers:
                chunks[name].append(out[name])
        return {name: np.concatenate(v) for name, v in chunks.items()}

    def _run_batch(self, xb: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        if self._session is not None:
            res = self._session.run(list(layers), {INPUT_NAME: xb})
            return dict(zip(layers, res))
        import torch

        if self._net is None:
            self._net = _load_net(self.model, self.runtime.cache_dir)
        with torch.inference_mode(), _torch_threads(self.threads):
            out = self._net.forward_features(torch.from_numpy(xb), layers)
        return {k: v.numpy() for k, v in out.items()}

    def run_file(self, path: str | Path, layers: Sequence[str] | None = None, hop: int | None = None) -> dict[str, np.ndarray]:
        from genrelab.musicnn.dsp import file_patches

        return self.run(file_patches(path, hop=hop), layers)


def _load_net(model: str, cache_dir: Path | None) -> Any:
    from genrelab.musicnn.weights import load_pretrained

    return load_pretrained(model, cache_dir=cache_dir)


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


# --------------------------------------------------------------------------- ONNX export and its cache
def _opset() -> int:
    from genrelab.export import DEFAULT_OPSET

    return DEFAULT_OPSET


def onnx_path(model: str, net: Any = None, cache_dir: Path | None = None) -> Path:
    """Where the exported ONNX graph of pretrained ``model`` is cached (named by a hash of its weights)."""
    from genrelab.musicnn.weights import pretrained_state_dict

    state = net.state_dict() if net is not None else pretrained_state_dict(model, cache_dir)
    h = hashlib.sha1(f"{info.CONVERSION_VERSION}/{EXPORT_VERSION}/{_opset()}".encode())
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return info.cache_root(cache_dir) / f"{model}-{h.hexdigest()[:12]}.onnx"


def _per_patch_outputs(net: Any, names: tuple[str, ...]) -> Any:
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


def _export(model: str, net: Any = None, path: str | Path | None = None, cache_dir: Path | None = None) -> Path:
    """Export pretrained ``model`` to ONNX with :func:`genrelab.export.export_onnx` (input ``patches``
    ``(n, 187, 96)``; outputs the per-patch layers of :data:`~genrelab.musicnn.info.ENGINE_OUTPUTS`, checked
    against PyTorch) and return the file (default: :func:`onnx_path`, in the cache)."""
    from genrelab.export import export_onnx

    net = net if net is not None else _load_net(model, cache_dir)
    path = Path(path) if path else onnx_path(model, net, cache_dir)
    names = ENGINE_OUTPUTS[info.arch(model)]
    return export_onnx(_per_patch_outputs(net.eval(), names), (PATCH_FRAMES, N_MELS), path, _opset(),
                       input_name=INPUT_NAME, output_names=names)


def _onnx_index_path(model: str, cache_dir: Path | None) -> Path:
    """The index of the export of this version (its own name, so that genrelab versions sharing a cache do
    not overwrite each other's index and re-export at every switch)."""
    return info.cache_root(cache_dir) / f"{model}.onnx-v{EXPORT_VERSION}-opset{_opset()}.json"


def _weights_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _index_record(model: str, onnx_file: str, weights_sha1: str) -> dict[str, Any]:
    return {"model": model, "onnx": onnx_file, "weights_sha1": weights_sha1, "conversion": info.CONVERSION_VERSION,
            "export": EXPORT_VERSION, "opset": _opset()}


def _write_onnx_index(model: str, onnx_file: Path, cache_dir: Path | None) -> None:
    """Record which ONNX export belongs to the converted weights as they are cached now, so that the next
    process finds it with :func:`cached_onnx_path` (without torch). Best effort: a read-only cache is fine."""
    from genrelab.fileio import atomic_write_text

    try:
        weights = info.weights_path(model, cache_dir)
        if not weights.is_file():
            return
        record = _index_record(model, onnx_file.name, _weights_digest(weights))
        index = _onnx_index_path(model, cache_dir)
        try:
            if json.loads(index.read_text()) == record:
                return
        except Exception:
            pass
        atomic_write_text(index, json.dumps(record))
    except OSError:
        return


def cached_onnx_path(model: str, cache_dir: Path | None = None) -> Path | None:
    """The ONNX export of pretrained ``model`` in the cache, found without importing torch: None unless the
    converted weights are cached and current (:func:`~genrelab.musicnn.info.cached_weights_current`), the
    index written at export time names this very weights file (by SHA-1) and this export version, and
    the ONNX file is there. Anything else (first run, new weights, new package) takes the PyTorch path,
    which re-exports and rewrites the index."""
    try:
        index = _onnx_index_path(model, cache_dir)
        if not index.is_file() or not info.cached_weights_current(model, cache_dir):
            return None
        record = json.loads(index.read_text())
        onnx_file = index.parent / str(record.get("onnx", ""))
        if not onnx_file.name.endswith(".onnx") or not onnx_file.is_file():
            return None
        expected = _index_record(model, onnx_file.name, _weights_digest(info.weights_path(model, cache_dir)))
        return onnx_file if record == expected else None
    except Exception:
        return None


def _default_threads() -> int:
    """PyTorch's intra-op thread count when torch is loaded (what this engine always used), else what
    PyTorch would choose: ``OMP_NUM_THREADS``, or the CPUs this process may run on."""
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
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _onnx_session(model: str, net: Any, rt: Runtime):
    import onnxruntime  # noqa: F401  (ImportError before any export work)

    path = onnx_path(model, net, rt.cache_dir)
    if not path.is_file():
        _export(model, net, path, rt.cache_dir)
    session = _ort_session(path, rt.threads)
    _write_onnx_index(model, path, rt.cache_dir)
    return session


_ENGINES: dict[tuple[str, Runtime], MusicnnEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine(model: str = "MSD_musicnn", runtime: Runtime | None = None) -> MusicnnEngine:
    """A shared :class:`MusicnnEngine` per (model, runtime settings): weights load once per process."""
    key = (model, resolve(runtime))
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = MusicnnEngine(model, key[1])
        return _ENGINES[key]
