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
        """Fit on a training array ``(n_examples, ...)``; float64 accumulation for stability.

        A memory-mapped array, or uint8 pixels (read as ``p / 255``, see
        :func:`genrelab.features.images.dequantize`), is read in chunks of examples (two passes: the mean,
        then the squared deviations), so no float64 copy of the whole set is made; the statistics equal the
        one-shot ones up to float64 rounding."""
        if isinstance(x, np.memmap) or getattr(x, "dtype", None) == np.uint8:
            return self._fit_chunked(x)
        x = np.asarray(x, dtype=np.float64)
        if x.shape[0] == 0:
            raise ConfigError("cannot fit normalisation on zero examples")
        red = self._reduce_axes(x.ndim)
        self.mean = x.mean(axis=red, keepdims=True)[0].astype(np.float32)
        self.std = x.std(axis=red, keepdims=True)[0].astype(np.float32)
        return self

    def _fit_chunked(self, x: np.ndarray, chunk_bytes: int = 64 << 20) -> "Standardizer":
        from genrelab.features.images import dequantize

        n = int(x.shape[0])
        if n == 0:
            raise ConfigError("cannot fit normalisation on zero examples")
        red = self._reduce_axes(x.ndim)
        step = max(1, chunk_bytes // max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * 8))

        def chunks():
            for i in range(0, n, step):
                yield dequantize(np.asarray(x[i:i + step])).astype(np.float64)

        count = n * int(np.prod([x.shape[a] for a in red if a != 0], dtype=np.int64))
        mean = sum(c.sum(axis=red, keepdims=True) for c in chunks()) / count
        var = sum(np.square(c - mean).sum(axis=red, keepdims=True) for c in chunks()) / count
        self.mean = mean[0].astype(np.float32)
        self.std = np.sqrt(var)[0].astype(np.float32)
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
