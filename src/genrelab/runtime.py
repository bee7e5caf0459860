"""Runtime settings: which backend runs the networks, where the cache lives, how many threads, which device.

:class:`Runtime` is a frozen value. The environment is read in one place, :meth:`Runtime.from_env`, which
the command line and the web app call once at their edge; everything below them receives the object
(or ``None``, meaning ``Runtime.from_env()``, for direct Python use). Environment variables:

- ``GENRELAB_BACKEND``: ``auto`` (default: ONNX Runtime when it is installed and the export works, else
  PyTorch / scikit-learn), ``onnx`` or ``torch``. The one backend switch, for models and for the
  pretrained musicnn feature extractor alike.
- ``GENRELAB_CACHE``: the cache folder (default ``$XDG_CACHE_HOME/genrelab``, else ``~/.cache/genrelab``):
  converted musicnn weights, ONNX exports, the downloaded musicnn wheel, numpy copies of linear heads.
- ``GENRELAB_THREADS``: intra-op threads of ONNX Runtime / PyTorch (default: their own choice).
- ``GENRELAB_FEATURE_DEVICE``: device of the torch feature extractors (default ``auto``: CUDA when present,
  else the CPU), used by ``classify``, ``serve`` and ``features extract`` (training extracts on ``auto``).

This module imports nothing but the standard library (it is on every cold start's path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from genrelab.types import ConfigError

ENV_BACKEND = "GENRELAB_BACKEND"
ENV_CACHE = "GENRELAB_CACHE"
ENV_THREADS = "GENRELAB_THREADS"
ENV_DEVICE = "GENRELAB_FEATURE_DEVICE"
BACKENDS = ("auto", "onnx", "torch")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """genrelab's cache folder: ``$GENRELAB_CACHE``, else ``$XDG_CACHE_HOME/genrelab``, else ``~/.cache/genrelab``."""
    env = os.environ if environ is None else environ
    root = env.get(ENV_CACHE)
    if root:
        return Path(root).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "genrelab"


@dataclass(frozen=True)
class Runtime:
    """How and where genrelab runs: ``backend`` (auto, onnx, torch), ``cache_dir``, intra-op ``threads``
    (None: the library's default) and the feature ``device``."""

    backend: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        if self.threads is not None:
            if int(self.threads) < 1:
                raise ConfigError(f"threads must be a positive number, not {self.threads!r}")
            object.__setattr__(self, "threads", int(self.threads))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Runtime":
        """The settings the environment asks for (see the module docstring), then ``overrides`` (None = keep)."""
        env = os.environ if environ is None else environ
        backend = (env.get(ENV_BACKEND) or "auto").strip().lower()
        threads_s = (env.get(ENV_THREADS) or "").strip()
        try:
            threads = int(threads_s) if threads_s else None
        except ValueError:
            raise ConfigError(f"{ENV_THREADS} must be a whole number, not {threads_s!r}") from None
        if backend not in BACKENDS:
            raise ConfigError(f"{ENV_BACKEND} must be one of {', '.join(BACKENDS)}, not {backend!r}")
        values: dict[str, Any] = {"backend": backend, "cache_dir": default_cache_dir(env), "threads": threads,
                                  "device": (env.get(ENV_DEVICE) or "auto").strip() or "auto"}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> "Runtime":
        """A copy with ``changes`` applied (None = keep)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def cache(self, *parts: str) -> Path:
        """A path inside the cache folder (not created)."""
        return self.cache_dir.joinpath(*parts)

    @property
    def onnx_allowed(self) -> bool:
        """Whether ONNX Runtime may be used (``auto`` or ``onnx``)."""
        return self.backend != "torch"


def resolve(runtime: Runtime | None) -> Runtime:
    """``runtime``, or the environment's settings when it is None (direct Python use)."""
    return runtime if runtime is not None else Runtime.from_env()


__all__ = ["Runtime", "default_cache_dir", "resolve", "BACKENDS", "ENV_BACKEND", "ENV_CACHE", "ENV_THREADS",
           "ENV_DEVICE"]
