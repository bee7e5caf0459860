"""Predictors: what runs a checkpoint's model, all with one method ``predict_proba(x) -> (n, n_labels)``.

:func:`genrelab.checkpoint.load` picks one according to a :class:`~genrelab.runtime.Runtime`:

- :class:`TorchPredictor`: the PyTorch model (softmax of its logits);
- :class:`OnnxPredictor`: the same model exported once to ONNX (``model.onnx`` next to the checkpoint, or
  ``<cache>/onnx/<weights sha256>.onnx``) and run by ONNX Runtime, without importing torch;
- :class:`SklearnPredictor`: a scikit-learn estimator (columns reordered to the checkpoint's labels);
- :class:`LinearPredictor`: a scikit-learn ``[StandardScaler ->] LogisticRegression`` evaluated with numpy
  from ``<cache>/heads/<weights sha256>.npz``, written once from the real model after checking that it
  reproduces ``predict_proba`` (skips importing scikit-learn and skops: ~2 s of a cold start).

Inputs are model-ready examples *after* normalisation (the checkpoint applies its normaliser first).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ONNX_FILE = "model.onnx"


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TorchPredictor:
    name = "torch"

    def __init__(self, model: Any, threads: int | None = None):
        self.model = model
        self.threads = threads
        self._lock = threading.Lock()  # one forward pass at a time (torch modules are not re-entrant safe)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            if self.threads:
                torch.set_num_threads(self.threads)
            logits = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return softmax(logits.float().cpu().numpy().astype(np.float64))


class OnnxPredictor:
    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return softmax(np.asarray(logits, dtype=np.float64))


def _label_columns(model: Any, labels: Sequence[str]) -> list[int]:
    """Where each of ``model.classes_`` (label indices or label names) goes among ``labels``."""
    classes = list(getattr(model, "classes_", range(len(labels))))
    return [int(c) if not isinstance(c, str) else list(labels).index(c) for c in classes]


class SklearnPredictor:
    name = "sklearn"

    def __init__(self, model: Any, labels: Sequence[str]):
        self.model = model
        self.columns = _label_columns(model, labels)
        self.n = len(labels)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        out = np.zeros((len(x2), self.n), dtype=np.float64)
        out[:, self.columns] = self.model.predict_proba(x2)
        return out


class LinearPredictor:
    """``softmax(((x - mean) / scale) @ coef.T + intercept)``: a multinomial logistic-regression head in numpy."""

    name = "linear"

    def __init__(self, arrays: dict[str, np.ndarray], n_labels: int):
        self.mean = arrays["mean"]
        self.scale = arrays["scale"]
        self.coef = arrays["coef"]
        self.intercept = arrays["intercept"]
        self.columns = arrays["columns"].astype(int)
        self.n = n_labels

    @classmethod
    def from_sklearn(cls, model: Any, labels: Sequence[str]) -> "LinearPredictor | None":
        """The numpy twin of a ``[StandardScaler ->] LogisticRegression`` (multinomial) when it reproduces the
        model's ``predict_proba`` to 1e-7 on random input; None for any other model."""
        est = [st for _, st in getattr(model, "steps", [(None, model)])]
        clf = est[-1]
        if type(clf).__name__ != "LogisticRegression" or clf.coef_.shape[0] < 3:
            return None
        dim = clf.coef_.shape[1]
        mean, scale = np.zeros(dim), np.ones(dim)
        for st in est[:-1]:
            if type(st).__name__ != "StandardScaler":
                return None
            if getattr(st, "mean_", None) is not None:
                mean = st.mean_.astype(np.float64)
            if getattr(st, "scale_", None) is not None:
                scale = st.scale_.astype(np.float64)
        arrays = {"mean": mean, "scale": scale, "coef": clf.coef_.astype(np.float64),
                  "intercept": clf.intercept_.astype(np.float64), "columns": np.asarray(_label_columns(model, labels))}
        lin = cls(arrays, len(labels))
        x = np.random.default_rng(0).standard_normal((64, dim)) * scale + mean
        if not np.allclose(lin.predict_proba(x), SklearnPredictor(model, labels).predict_proba(x), atol=1e-7):
            return None
        return lin

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept,
                "columns": self.columns}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        out = np.zeros((len(x2), self.n), dtype=np.float64)
        out[:, self.columns] = softmax(((x2 - self.mean) / self.scale) @ self.coef.T + self.intercept)
        return out


# --------------------------------------------------------------------------- cached derivatives of a checkpoint
def linear_head_path(cache_dir: Path, weights_sha256: str) -> Path:
    return Path(cache_dir) / "heads" / f"{weights_sha256[:24]}.npz"


def read_linear_head(path: Path, n_labels: int) -> LinearPredictor | None:
    """The cached numpy head, or None (absent or unreadable: the caller loads the real model)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return LinearPredictor({k: z[k] for k in z.files}, n_labels)
    except Exception:
        return None


def write_linear_head(path: Path, head: LinearPredictor) -> None:
    """Cache ``head`` atomically (best effort: a read-only cache only costs the next start its speed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, **head.arrays())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        return


def onnx_cache_path(cache_dir: Path, weights_sha256: str) -> Path:
    return Path(cache_dir) / "onnx" / f"{weights_sha256[:24]}.onnx"


def find_onnx(ckpt_dir: Path, meta: dict[str, Any], cache_dir: Path) -> Path | None:
    """An existing ONNX export of this checkpoint: ``model.onnx`` beside it (unless it records other weights)
    or the cached export of these weights."""
    sha = meta.get("weights", {}).get("sha256", "")
    local = Path(ckpt_dir) / ONNX_FILE
    if local.is_file() and meta.get("onnx", {}).get("weights_sha256") in (None, sha):
        return local
    cached = onnx_cache_path(cache_dir, sha)
    return cached if sha and cached.is_file() else None


def onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


__all__ = ["TorchPredictor", "OnnxPredictor", "SklearnPredictor", "LinearPredictor", "softmax", "find_onnx",
           "onnx_cache_path", "linear_head_path", "read_linear_head", "write_linear_head", "ONNX_FILE"]
