"""Batches for training: epoch-seeded order, one gather per batch, normalisation per batch.

The training part of a prepared dataset keeps its examples as they are stored (float32 in memory, a
memory-mapped pack, or uint8 pixels of colour-mapped images) in a :class:`NormalizedArray`: reading it
(``X[i]``, ``X[a:b]``, ``np.asarray(X)``) gives the normalised float32 values that
``Standardizer.transform`` would have given, so every consumer of ``Examples.X`` sees the same numbers
as when a normalised copy of the whole set was materialised; but no such copy exists.

The training loader hands over the stored batch (uint8 or float32, pinned when on CUDA: 4x fewer bytes
to copy and transfer for uint8 images) and :class:`InputTransform` turns it into the model's input on the
batch's device, in ``GenreModule.on_after_batch_transfer``: ``float32(x) [/ 255]``, then
``(x - mean) / (std + eps)`` with the Standardizer's statistics. These are the same float32 element-wise
operations as ``Standardizer.transform`` (correctly rounded in numpy and torch alike), so the numbers
are identical to the host-side normalisation (tested).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from genrelab.features.images import dequantize
from genrelab.features.normalize import _EPS, Standardizer
from genrelab.types import ConfigError

class NormalizedArray:
    """Read-only, array-like view of stored examples ``raw`` ``(n, *shape)`` through a Standardizer.

    Indexing normalises only what it reads (``X[idx]`` -> float32 ``norm.transform(dequantize(raw[idx]))``);
    ``np.asarray(X)`` materialises the whole normalised set (what consumers that need it, e.g. a
    scikit-learn fit, did before). ``raw`` may be an ``np.memmap``."""

    def __init__(self, raw: np.ndarray, norm: Standardizer | None):
        if norm is not None and not norm.fitted:
            raise ConfigError("NormalizedArray needs a fitted Standardizer")
        self.raw, self.norm = raw, norm

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.raw.shape)

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * 4

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    def _apply(self, x: np.ndarray) -> np.ndarray:
        x = dequantize(np.asarray(x))
        return x if self.norm is None else self.norm.transform(x)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return self._apply(self.raw[idx])

    def take(self, idx: Any, axis: int = 0) -> np.ndarray:
        return self._apply(np.take(self.raw, idx, axis=axis))

    def reshape(self, *shape: Any) -> np.ndarray:
        return np.asarray(self).reshape(*shape)

    def astype(self, dtype: Any, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype, copy=copy)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._apply(self.raw[:])
        return out if dtype is None else out.astype(dtype, copy=False)

    def transform(self) -> "InputTransform":
        """The device-side equivalent of reading this array (see :class:`InputTransform`)."""
        return InputTransform(self.norm, uint8=self.raw.dtype == np.uint8)


def stored(X: Any) -> tuple[np.ndarray, "InputTransform | None"]:
    """``(stored array, the transform that turns its batches into model inputs)``: the raw examples and
    their transform for a :class:`NormalizedArray`, else the float32 array itself and None."""
    if isinstance(X, NormalizedArray):
        return X.raw, X.transform()
    return np.ascontiguousarray(X, dtype=np.float32), None


class InputTransform(nn.Module):
    """Stored batch -> model input, on the batch's device: ``float32(x)`` (``/ 255`` for uint8 pixels), then
    ``(x - mean) / (std + eps)`` with a :class:`Standardizer`'s statistics (buffers, not saved in state dicts:
    the checkpoint keeps the normaliser as before). ``out_dtype``: cast the result (true half/double
    precision runs)."""

    def __init__(self, norm: Standardizer | None = None, *, uint8: bool = False, out_dtype: torch.dtype | None = None):
        super().__init__()
        self.uint8, self.out_dtype = bool(uint8), out_dtype
        self.has_norm = norm is not None
        if norm is not None:
            if norm.mean is None or norm.std is None:
                raise ConfigError("InputTransform needs a fitted Standardizer")
            denom = (norm.std + _EPS).astype(np.float32)  # exactly Standardizer.transform's denominator
            self.register_buffer("mean", torch.from_numpy(np.array(norm.mean, dtype=np.float32)), persistent=False)
            self.register_buffer("denom", torch.from_numpy(np.array(denom, dtype=np.float32)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.uint8:
            x = x / 255.0  # dequantize's float32 division
        if self.has_norm:
            x = (x - self.mean) / self.denom
        return x if self.out_dtype is None else x.to(self.out_dtype)


# --------------------------------------------------------------------------- order and batches
class EpochShuffleSampler:
    """Shuffles with ``seed + epoch`` (Lightning calls ``set_epoch``), so a resumed run sees the same
    order as an uninterrupted one.

    Distributed (``num_replicas`` > 1): every rank draws the same epoch order and takes every
    ``num_replicas``-th index from ``rank`` on (padded by repeating the first indices, as PyTorch's
    ``DistributedSampler`` does), so step k of the ranks together sees exactly the examples of step k of
    one process with ``num_replicas`` times the batch size: DDP runs with the same effective batch size as
    a single-process run train on the same data in the same order.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, num_replicas: int = 1, rank: int = 0):
        self.n, self.seed, self.shuffle, self.epoch = int(n), int(seed), bool(shuffle), 0
        self.num_replicas, self.rank = max(1, int(num_replicas)), int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ConfigError(f"rank {rank} outside 0..{self.num_replicas - 1}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        if self.num_replicas == 1:
            return iter(order)
        total = len(self) * self.num_replicas
        order = (order * (total // max(1, self.n) + 1))[:total] if self.n else []
        return iter(order[self.rank::self.num_replicas])

    def __len__(self) -> int:
        return -(-self.n // self.num_replicas)


class Batches:
    """Map-style dataset whose items are whole batches: ``ds[[i, j, ...]] = (X[idx], y[idx])``.

    One ``numpy.take`` per batch instead of one ``__getitem__`` per example plus a ``collate`` of the pieces
    (and numpy's gather, unlike torch's indexing, does not wake torch's thread pool); the batches are the
    same, in the same order. ``transform`` (an :class:`InputTransform`) is applied here, on the host, unless
    the consumer applies it on the device (``transform=None``). A memory-mapped ``X`` travels to worker
    processes as its file name, not as a copy."""

    def __init__(self, X: np.ndarray, y: np.ndarray, transform: InputTransform | None = None):
        self.X, self.y, self.transform = X, y, transform

    def __len__(self) -> int:
        return int(len(self.y))

    def __getitem__(self, idx):
        i = np.asarray(idx, dtype=np.int64)
        x = torch.from_numpy(np.ascontiguousarray(self.X.take(i, axis=0)))
        if self.transform is not None:
            with torch.no_grad():
                x = self.transform(x)
        return x, torch.from_numpy(self.y.take(i))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.X, np.memmap) and self.X.filename:
            state["X"] = ("memmap", str(self.X.filename), int(self.X.offset), self.X.dtype.str, self.X.shape)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        X = state["X"]
        if isinstance(X, tuple) and X and X[0] == "memmap":
            _, path, offset, dtype, shape = X
            state["X"] = np.memmap(path, dtype=np.dtype(dtype), mode="r", offset=offset, shape=tuple(shape))
        self.__dict__.update(state)


def batch_loader(X: Any, y: np.ndarray, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, num_replicas: int = 1, rank: int = 0,
                pin_memory: bool | None = None, on_device: bool = False):
    """A DataLoader of ``(X, y)`` batches (order: :class:`EpochShuffleSampler`), cut with one index per batch
    (:class:`Batches`). ``X``: a float32 array or a :class:`NormalizedArray`, whose batches are normalised on
    the host, or handed over as stored when ``on_device`` (the consumer applies ``X.transform()``).
    ``pin_memory`` (default: when CUDA is available) lets the copy to the GPU overlap the step."""
    from torch.utils.data import BatchSampler, DataLoader

    raw, transform = stored(X)
    # the loader's own generator: creating an iterator must not draw from the global RNG (resume = same numbers)
    gen = torch.Generator()
    gen.manual_seed(seed)
    sampler = EpochShuffleSampler(len(raw), seed=seed, shuffle=shuffle, num_replicas=num_replicas, rank=rank)
    # drop a last batch of 1 in training: BatchNorm cannot train on a single example
    drop = drop_last or (shuffle and len(sampler) > batch_size and len(sampler) % batch_size == 1)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    ds = Batches(raw, np.asarray(y, dtype=np.int64), None if on_device else transform)
    return DataLoader(ds, batch_size=None, sampler=BatchSampler(sampler, batch_size, drop),
                      num_workers=num_workers, persistent_workers=num_workers > 0, generator=gen,
                      pin_memory=bool(pin_memory))


__all__ = ["NormalizedArray", "InputTransform", "EpochShuffleSampler", "Batches", "batch_loader", "stored"]
