"""Runtime settings: how models and pretrained feature extractors run (not *what* they compute).

One frozen :class:`Runtime` holds every setting that changes where or how inference runs but never its
numbers' meaning: the backend (``auto``, ``onnx``, ``torch``), the cache folder (ONNX exports, converted
weights, the numpy copy of linear heads), intra-op threads and the device of torch features.

The environment is read **once**, at an edge: the CLI (``genrelab ...``), the web app's start-up, or a
public API call that is given no runtime (``Classifier.from_pretrained("default")``). Everything below
receives the object explicitly; no other module reads these variables.

Environment variables (all optional):

==========================  =====================================================================
``GENRELAB_BACKEND``         ``auto`` (default: ONNX Runtime when possible), ``onnx`` or ``torch``
``GENRELAB_ONNX``            ``0`` means ``GENRELAB_BACKEND=torch`` (older name, still honoured)
``GENRELAB_CACHE``           the cache folder (default ``$XDG_CACHE_HOME/genrelab`` or ``~/.cache/genrelab``)
``GENRELAB_THREADS``         intra-op threads for ONNX Runtime / PyTorch (default: their own choice)
``GENRELAB_FEATURE_DEVICE``  ``cpu``, ``cuda``, ``cuda:1`` ... for torch feature extractors (default: auto)
==========================  =====================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from genrelab.types import ConfigError

BACKENDS = ("auto", "onnx", "torch")
_FALSE = ("0", "false", "no", "off")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """genrelab's cache folder: ``$GENRELAB_CACHE``, else ``$XDG_CACHE_HOME/genrelab``, else ``~/.cache/genrelab``."""
    env = os.environ if environ is None else environ
    if env.get("GENRELAB_CACHE"):
        return Path(env["GENRELAB_CACHE"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "genrelab"


@dataclass(frozen=True)
class Runtime:
    """How inference runs. ``Runtime()`` is the plain default (auto backend, ``~/.cache/genrelab``).

    - ``backend``: ``"auto"`` (ONNX Runtime when it is installed and the model exports; scikit-learn
      logistic-regression heads as numpy arrays), ``"onnx"`` (error when impossible) or ``"torch"``
      (PyTorch models and the real scikit-learn objects, nothing exported or cached).
    - ``cache_dir``: one folder for everything genrelab caches (``onnx/``, ``heads/``, ``musicnn/``).
    - ``threads``: intra-op threads (None: the library's default).
    - ``device``: where torch feature extractors run (None: CUDA when present, else CPU).
    """

    backend: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    threads: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        if self.threads is not None and int(self.threads) < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Runtime":
        """The settings the environment asks for (see the module docstring), then ``overrides`` (None = keep)."""
        env = os.environ if environ is None else environ
        backend = (env.get("GENRELAB_BACKEND") or "auto").strip().lower()
        if env.get("GENRELAB_ONNX", "").strip().lower() in _FALSE and backend == "auto":
            backend = "torch"
        threads = env.get("GENRELAB_THREADS", "").strip()
        device = env.get("GENRELAB_FEATURE_DEVICE", "").strip()
        rt = cls(backend=backend, cache_dir=default_cache_dir(env),
                 threads=int(threads) if threads.isdigit() and int(threads) > 0 else None,
                 device=device if device and device != "auto" else None)
        return rt.with_(**overrides)

    def with_(self, **changes) -> "Runtime":
        """A copy with some settings changed (keys given as None are left as they are)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes) if changes else self

    @property
    def wants_onnx(self) -> bool:
        return self.backend in ("auto", "onnx")


__all__ = ["Runtime", "BACKENDS", "default_cache_dir"]
