"""Read TensorFlow (V2 "tensor bundle") checkpoints without TensorFlow.

A checkpoint prefix ``P`` is two files:

- ``P.index``: an SSTable (the LevelDB table format) mapping each variable name to a
  ``BundleEntryProto`` (dtype, shape, shard, byte offset and size in the data file, CRC32C);
  the empty key holds a ``BundleHeaderProto`` (number of shards, endianness, version).
- ``P.data-SSSSS-of-NNNNN``: the raw little-endian tensor bytes, back to back.

Only the few protobuf fields we need are decoded, by hand (the wire format is tiny), so neither
TensorFlow nor the ``protobuf`` package is required. Optimizer slots (Adam moments, beta powers)
and bookkeeping variables (``global_step``) are dropped by :func:`read_checkpoint` unless asked for.

    >>> tensors = read_checkpoint(".../musicnn/MSD_musicnn/")   # doctest: +SKIP
    >>> tensors["dense/kernel"].shape                          # doctest: +SKIP
    (1506, 200)
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelab.types import CheckpointError

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
