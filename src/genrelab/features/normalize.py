"""Z-score normalisation fitted on training data only; its statistics travel with the model.

``Standardizer(axes=...)`` keeps mean/std over the given example axes. Axes count from the
example (axis 0 = the batch of examples is always reduced):

- ``axes=None`` (default): per feature, i.e. reduce only the example axis -> stats shaped like one example.
- ``axes=(2,)`` on ``(n, mels, frames)``: per mel band (reduce examples and frames).
- ``axes=(2, 3)`` on ``(n, channels, H, W)``: per channel (Qin's image z-scoring).
- ``axes="global"``: one scalar mean/std.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genrelab.types import ConfigError

_EPS = 1e-8


class Standardizer:
    def __init__(self, axes: tuple[int, ...] | str | None = None):
        self.axes = axes if axes in (None, "global") else tuple(int(a) for a in axes)  # type: ignore[union-attr]
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _reduce_axes(self, ndim: int) -> tuple[int, ...]:
        if self.axes is None:
            return (0,)
        if self.axes == "global":
            return tuple(range(ndim))
        return (0, *self.axes)

    def fit(self, x: np.ndarray) -> "Standardizer":
        """Fit on a training array ``(n_examples, ...)``; float64 accumulation for stability."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[0] == 0:
            raise ConfigError("cannot fit normalisation on zero examples")
        red = self._reduce_axes(x.ndim)
        self.mean = x.mean(axis=red, keepdims=True)[0].astype(np.float32)
        self.std = x.std(axis=red, keepdims=True)[0].astype(np.float32)
        return self

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise ConfigError("Standardizer used before fit()")
        return ((np.asarray(x, dtype=np.float32) - self.mean) / (self.std + _EPS)).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    # -- checkpoint round trip
    def to_config(self) -> dict[str, Any]:
        axes = self.axes if self.axes in (None, "global") else list(self.axes)  # type: ignore[arg-type]
        return {"kind": "zscore", "axes": axes}

    def arrays(self) -> dict[str, np.ndarray]:
        if self.mean is None or self.std is None:
            return {}
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Standardizer":
        if config.get("kind") != "zscore":
            raise ConfigError(f"unknown normalisation kind {config.get('kind')!r}")
        axes = config.get("axes")
        obj = cls(axes=tuple(axes) if isinstance(axes, list) else axes)
        if arrays:
            obj.mean = np.asarray(arrays["mean"], dtype=np.float32)
            obj.std = np.asarray(arrays["std"], dtype=np.float32)
        return obj
