"""Pretrained musicnn weights: the TF1 checkpoints of the ``musicnn`` wheel, read without TensorFlow,
converted to this port's layout and cached as safetensors.

**Reading** (:func:`read_checkpoint`). A TF (V2 "tensor bundle") checkpoint prefix ``P`` is two files:
``P.index``, an SSTable (the LevelDB table format) mapping each variable name to a ``BundleEntryProto``
(dtype, shape, shard, byte offset and size in the data file, CRC32C; the empty key holds a
``BundleHeaderProto``), and ``P.data-SSSSS-of-NNNNN``, the raw little-endian tensor bytes. Only the few
protobuf fields needed are decoded, by hand, so neither TensorFlow nor ``protobuf`` is required.
Optimizer slots and bookkeeping variables are dropped unless asked for.

**Converting** (:func:`convert_tf_weights`). TF kernels are HWIO (PyTorch wants OIHW); the mid-end's TF
conv2d over (time, channels-as-width) is a Conv1d; dense kernels are transposed.

**Caching** (:func:`pretrained_state_dict`). The checkpoint folder comes from the installed ``musicnn``
package, else from its wheel downloaded into the cache (:mod:`genrelab.musicnn.wheel`); the converted
state dict is written once, atomically, to :func:`~genrelab.musicnn.info.weights_path` with the conversion
version and the source's fingerprint, and rebuilt when either changes.

    >>> tensors = read_checkpoint(".../musicnn/MSD_musicnn/")   # doctest: +SKIP
    >>> tensors["dense/kernel"].shape                          # doctest: +SKIP
    (1506, 200)
"""

from __future__ import annotations

import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.musicnn import info
from genrelab.musicnn.info import CONVERSION_VERSION, PRETRAINED, MusicnnUnavailable, check_model_name
from genrelab.types import CheckpointError, ConfigError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # 1 byte compression type + 4 bytes CRC

#: tensorflow/core/framework/types.proto DataType -> numpy dtype (little-endian).
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),   # DT_FLOAT
    2: np.dtype("<f8"),   # DT_DOUBLE
    3: np.dtype("<i4"),   # DT_INT32
    4: np.dtype("u1"),    # DT_UINT8
    5: np.dtype("<i2"),   # DT_INT16
    6: np.dtype("i1"),    # DT_INT8
    9: np.dtype("<i8"),   # DT_INT64
    10: np.dtype("?"),    # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
_DT_STRING = 7

#: Variables that are training state, not model weights.
_SLOT_PATTERN = re.compile(r"(/Adam(_\d+)?$|/Momentum$|/RMSProp(_\d+)?$|/Adagrad$|^beta[12]_power(_\d+)?$"
                           r"|^global_step$|^Variable(_\d+)?$)")


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: ``BundleEntryProto`` fields."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None = None

    @property
    def numpy_dtype(self) -> np.dtype | None:
        return _DTYPES.get(self.dtype)


# --------------------------------------------------------------------------- protobuf wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint in checkpoint index")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("malformed varint in checkpoint index")


def _fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; length-delimited values are bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            val = bytes(buf[pos:pos + n])
            pos += n
        elif wt == 5:
            val = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wt} in checkpoint index")
        yield num, wt, val


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for num, _, val in _fields(buf):
        if num == 2:  # repeated Dim dim
            size = 0
            for dnum, _, dval in _fields(val):
                if dnum == 1:
                    size = dval - (1 << 64) if dval >= 1 << 63 else dval
            dims.append(size)
        elif num == 3 and val:
            raise CheckpointError("tensor of unknown rank in checkpoint")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    dtype = shard = offset = size = 0
    shape: tuple[int, ...] = ()
    crc = None
    for num, _, val in _fields(buf):
        if num == 1:
            dtype = val
        elif num == 2:
            shape = _parse_shape(val)
        elif num == 3:
            shard = val
        elif num == 4:
            offset = val
        elif num == 5:
            size = val
        elif num == 6:
            crc = val
        elif num == 7:
            raise CheckpointError(f"{name}: partitioned (sliced) variables are not supported")
    return TensorEntry(name, dtype, shape, shard, offset, size, crc)


# --------------------------------------------------------------------------- SSTable
def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_block(data: bytes, offset: int, size: int) -> bytes:
    if offset + size + _BLOCK_TRAILER > len(data):
        raise CheckpointError("checkpoint index block runs past the end of the file")
    if data[offset + size] != 0:
        raise CheckpointError("compressed checkpoint index blocks are not supported")
    return data[offset:offset + size]


def _block_entries(block: bytes):
    """Yield ``(key, value)`` of one table block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise CheckpointError("corrupt checkpoint index block")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + vlen]
        pos += vlen


def _table_items(data: bytes):
    if len(data) < _FOOTER_SIZE:
        raise CheckpointError("checkpoint index too small")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)[0] != _TABLE_MAGIC:
        raise CheckpointError("not a TensorFlow checkpoint index (bad table magic)")
    _, _, pos = _block_handle(footer, 0)  # metaindex (unused)
    idx_off, idx_size, _ = _block_handle(footer, pos)
    for _, handle in _block_entries(_read_block(data, idx_off, idx_size)):
        off, size, _ = _block_handle(handle, 0)
        yield from _block_entries(_read_block(data, off, size))


# --------------------------------------------------------------------------- public API
def _resolve_prefix(path: str | Path) -> str:
    """The checkpoint prefix for a prefix, an ``.index`` file, or a folder holding one checkpoint.

    musicnn's checkpoints use the empty file name: ``MSD_musicnn/.index``, prefix ``MSD_musicnn/``.
    """
    p = Path(path)
    if p.name.endswith(".index") and p.is_file():
        return str(p)[: -len(".index")]
    if p.is_dir():
        indexes = sorted({str(q) for q in p.iterdir() if q.name.endswith(".index") and q.is_file()})
        if len(indexes) != 1:
            raise CheckpointError(f"{p}: expected exactly one *.index checkpoint file, found {len(indexes)}")
        return indexes[0][: -len(".index")]
    if Path(str(path) + ".index").is_file():
        return str(path)
    raise CheckpointError(f"{path}: no TensorFlow checkpoint (.index file) found")


def _index_path(prefix: str) -> Path:
    return Path(prefix + ".index")


def list_entries(path: str | Path) -> dict[str, TensorEntry]:
    """Every tensor entry of the checkpoint (optimizer slots included), by name."""
    prefix = _resolve_prefix(path)
    data = _index_path(prefix).read_bytes()
    entries: dict[str, TensorEntry] = {}
    for key, value in _table_items(data):
        if key == b"":  # BundleHeaderProto
            for num, _, val in _fields(value):
                if num == 2 and val != 0:  # endianness: 0 = little
                    raise CheckpointError(f"{prefix}: big-endian checkpoints are not supported")
            continue
        name = key.decode()
        entries[name] = _parse_entry(name, value)
    if not entries:
        raise CheckpointError(f"{prefix}: checkpoint index holds no tensors")
    return entries


def num_shards(path: str | Path) -> int:
    prefix = _resolve_prefix(path)
    for key, value in _table_items(_index_path(prefix).read_bytes()):
        if key == b"":
            for num, _, val in _fields(value):
                if num == 1:
                    return int(val)
            return 1
    return 1


def is_training_slot(name: str) -> bool:
    """True for optimizer state and counters (``.../Adam``, ``beta1_power``, ``global_step``)."""
    return bool(_SLOT_PATTERN.search(name))


def read_checkpoint(path: str | Path, include_slots: bool = False) -> dict[str, np.ndarray]:
    """Read every (model) tensor of a TF checkpoint as numpy arrays, keyed by variable name.

    ``path``: the checkpoint prefix, its ``.index`` file, or a folder holding a single checkpoint.
    Optimizer slots and step counters are dropped unless ``include_slots``. String tensors are skipped.
    """
    prefix = _resolve_prefix(path)
    entries = list_entries(prefix)
    shards = num_shards(prefix)
    blobs: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name in sorted(entries):
        e = entries[name]
        if not include_slots and is_training_slot(name):
            continue
        dt = e.numpy_dtype
        if dt is None:
            if e.dtype == _DT_STRING:
                continue
            raise CheckpointError(f"{prefix}: tensor {name!r} has unsupported dtype enum {e.dtype}")
        if e.shard_id not in blobs:
            shard = Path(f"{prefix}.data-{e.shard_id:05d}-of-{shards:05d}")
            if not shard.is_file():
                raise CheckpointError(f"{prefix}: data file {shard.name} is missing")
            blobs[e.shard_id] = shard.read_bytes()
        blob = blobs[e.shard_id]
        count = int(np.prod(e.shape)) if e.shape else 1
        if e.size != count * dt.itemsize or e.offset + e.size > len(blob):
            raise CheckpointError(
                f"{prefix}: tensor {name!r} ({e.shape}, {dt}) does not fit its {e.size} bytes at offset {e.offset}"
            )
        arr = np.frombuffer(blob, dtype=dt, count=count, offset=e.offset).reshape(e.shape)
        out[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return out


# --------------------------------------------------------------------------- TF -> PyTorch conversion
def _conv2d(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))  # HWIO -> OIHW


def _conv1d_from_full_width(w: np.ndarray) -> np.ndarray:
    # mid-end: a TF conv2d (7, C, 1, O) over (time, channels-as-width, 1) is a Conv1d (O, C, 7).
    return np.ascontiguousarray(w[:, :, 0, :].transpose(2, 1, 0))


def _bn(tf: dict[str, np.ndarray], tf_name: str, pt_name: str) -> dict[str, np.ndarray]:
    return {
        f"{pt_name}.weight": tf[f"{tf_name}/gamma"],
        f"{pt_name}.bias": tf[f"{tf_name}/beta"],
        f"{pt_name}.running_mean": tf[f"{tf_name}/moving_mean"],
        f"{pt_name}.running_var": tf[f"{tf_name}/moving_variance"],
    }


def _bn_name(i: int) -> str:
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def _conv_name(i: int) -> str:
    return "conv2d" if i == 0 else f"conv2d_{i}"


def convert_tf_weights(tf: dict[str, np.ndarray], arch: str) -> dict[str, np.ndarray]:
    """Map TF variable names/layouts (see ``musicnn/models.py``) to this module's state dict."""
    sd: dict[str, np.ndarray] = {}
    if arch == "musicnn":
        sd.update(_bn(tf, _bn_name(0), "input_bn"))
        branches = [f"timbral.{i}" for i in range(2)] + [f"temporal.{i}" for i in range(3)]
        for i, name in enumerate(branches):  # TF creation order: conv2d..conv2d_4, batch_normalization_1.._5
            sd[f"{name}.conv.weight"] = _conv2d(tf[f"{_conv_name(i)}/kernel"])
            sd[f"{name}.conv.bias"] = tf[f"{_conv_name(i)}/bias"]
            sd.update(_bn(tf, _bn_name(i + 1), f"{name}.bn"))
        for j in range(3):
            sd[f"midend_conv.{j}.weight"] = _conv1d_from_full_width(tf[f"{_conv_name(5 + j)}/kernel"])
            sd[f"midend_conv.{j}.bias"] = tf[f"{_conv_name(5 + j)}/bias"]
            sd.update(_bn(tf, _bn_name(6 + j), f"midend_bn.{j}"))
        sd.update(_bn(tf, _bn_name(9), "pool_bn"))
        sd["dense.weight"] = np.ascontiguousarray(tf["dense/kernel"].T)
        sd["dense.bias"] = tf["dense/bias"]
        sd.update(_bn(tf, _bn_name(10), "dense_bn"))
        sd["out.weight"] = np.ascontiguousarray(tf["dense_1/kernel"].T)
        sd["out.bias"] = tf["dense_1/bias"]
    elif arch == "vgg":
        sd.update(_bn(tf, _bn_name(0), "input_bn"))
        for i in range(5):
            sd[f"convs.{i}.weight"] = _conv2d(tf[f"{i + 1}CNN/kernel"])
            sd[f"convs.{i}.bias"] = tf[f"{i + 1}CNN/bias"]
            sd.update(_bn(tf, _bn_name(i + 1), f"bns.{i}"))
        sd["out.weight"] = np.ascontiguousarray(tf["dense/kernel"].T)
        sd["out.bias"] = tf["dense/bias"]
    else:
        raise ConfigError(f"unknown musicnn architecture {arch!r}")
    unused = set(tf) - _used_tf_names(arch, tf)
    if unused:
        raise ConfigError(f"checkpoint variables not mapped to the {arch} port: {sorted(unused)}")
    return {k: np.asarray(v, dtype=np.float32) for k, v in sd.items()}


def _used_tf_names(arch: str, tf: dict[str, np.ndarray]) -> set[str]:
    n_bn = 11 if arch == "musicnn" else 6
    names = {f"{_bn_name(i)}/{v}" for i in range(n_bn) for v in ("gamma", "beta", "moving_mean", "moving_variance")}
    if arch == "musicnn":
        names |= {f"{_conv_name(i)}/{v}" for i in range(8) for v in ("kernel", "bias")}
        names |= {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
    else:
        names |= {f"{i}CNN/{v}" for i in range(1, 6) for v in ("kernel", "bias")} | {"dense/kernel", "dense/bias"}
    return names


# --------------------------------------------------------------------------- checkpoints and the cache
def checkpoint_dir(model: str, cache_dir: Path | None = None, download: bool = True) -> Path:
    """The TF checkpoint folder of pretrained ``model``: the installed ``musicnn`` package's, else the one
    extracted from its wheel in the cache, downloading the wheel first when needed and ``download``."""
    found = info.source_dir(model, cache_dir)
    if found is not None:
        return found
    pkg = info.installed_package_dir()
    if pkg is not None:
        raise MusicnnUnavailable(f"the musicnn package at {pkg} has no {model} checkpoint (.index/.data files); "
                                 f"reinstall it with: {info.PIP_HINT}")
    if not download:
        raise MusicnnUnavailable(f"the pretrained {model} weights are not available offline; install them with: "
                                 f"{info.PIP_HINT}  (no TensorFlow needed)")
    from genrelab.musicnn import wheel

    return wheel.fetch_checkpoints(cache_dir)[model]


_WEIGHTS_LOCK = threading.Lock()
_WEIGHTS_MEMO: dict[tuple[str, str], dict[str, Any]] = {}


def pretrained_state_dict(model: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """The PyTorch state dict of pretrained ``model``; converted from the TF checkpoint on first use
    and cached as safetensors (:func:`~genrelab.musicnn.info.weights_path`)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    from genrelab.fileio import atomic_write_bytes

    check_model_name(model)
    path = info.weights_path(model, cache_dir)
    key = (model, str(path))
    with _WEIGHTS_LOCK:
        if key not in _WEIGHTS_MEMO:
            src = info.source_dir(model, cache_dir)
            fingerprint = info.source_fingerprint(src) if src is not None else None
            state = None
            if path.is_file():
                try:
                    with safe_open(str(path), "pt") as f:
                        meta = f.metadata() or {}
                    if meta.get("conversion") == CONVERSION_VERSION and fingerprint in (None, meta.get("source")):
                        state = load_file(str(path))
                except Exception:  # unreadable cache: rebuild it
                    state = None
            if state is None:
                ckpt = checkpoint_dir(model, cache_dir)
                arrays = convert_tf_weights(read_checkpoint(ckpt), PRETRAINED[model]["arch"])
                state = {k: torch.from_numpy(v) for k, v in arrays.items()}
                blob = save(state, metadata={"conversion": CONVERSION_VERSION, "source": info.source_fingerprint(ckpt),
                                             "model": model, "from": str(ckpt)})
                try:
                    atomic_write_bytes(path, blob, fsync=False)
                except OSError:  # read-only cache: still usable from memory
                    pass
            _WEIGHTS_MEMO[key] = state
        return {k: v.clone() for k, v in _WEIGHTS_MEMO[key].items()}


def load_pretrained(model: str, n_classes: int | None = 50, cache_dir: Path | None = None) -> Any:
    """The pretrained tagger ``model`` in eval mode. ``n_classes=None`` drops the tag layer; another
    number than the model's 50 tags leaves a new, untrained tag layer."""
    from genrelab.musicnn.network import build_net

    net = build_net(model, n_classes if n_classes else None)
    state = pretrained_state_dict(model, cache_dir)
    if n_classes != len(PRETRAINED[model]["labels"]):
        state = {k: v for k, v in state.items() if not k.startswith("out.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("out.")]
    if missing or unexpected:
        raise ConfigError(f"{model}: converted weights do not fit the port (missing {missing}, unexpected {unexpected})")
    return net.eval()


def describe_weights(cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Where each pretrained model's converted weights are cached, and whether they are there yet."""
    return {m: {"cache": str(info.weights_path(m, cache_dir)), "cached": info.weights_path(m, cache_dir).is_file()}
            for m in PRETRAINED}
