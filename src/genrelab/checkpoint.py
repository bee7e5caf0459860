"""Checkpoints: a folder with weights (safetensors, or skops for scikit-learn) and ``model.json``.

``model.json`` holds everything needed to classify with nothing else at hand: the model's
registry name and arguments, the input contract (feature config and framing), the labels,
the normalisation config (its arrays live in the weights file under ``__norm__.``), the
training config, metrics and library versions. Nothing is ever unpickled.

Writes are atomic: each file goes to a temporary name then ``os.replace``; ``model.json`` is
written last and records the SHA-256 of the weights, so a half-written checkpoint is detected.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.features.normalize import Standardizer
from genrelab.fileio import atomic_write_bytes, atomic_write_text
from genrelab.models import registry
from genrelab.models.registry import InputContract
from genrelab.types import CheckpointError

FORMAT = "genrelab-checkpoint"
FORMAT_VERSION = 1
META_FILE = "model.json"
TORCH_WEIGHTS = "model.safetensors"
SKLEARN_WEIGHTS = "model.skops"
_NORM_PREFIX = "__norm__."


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model object plus everything needed around it."""

    model: Any
    model_name: str
    model_args: dict[str, Any]
    labels: list[str]
    contract: InputContract
    normalizer: Standardizer | None = None
    train: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def kind(self) -> str:
        return registry.get(self.model_name).kind


def versions() -> dict[str, str]:
    import genrelab

    out = {"genrelab": genrelab.__version__, "python": platform.python_version(), "numpy": np.__version__}
    for mod in ("torch", "sklearn", "librosa"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            pass
    return out


def _torch_payload(model: Any, normalizer: Standardizer | None) -> bytes:
    import torch
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if normalizer is not None:
        for k, arr in normalizer.arrays().items():
            tensors[_NORM_PREFIX + k] = torch.from_numpy(np.ascontiguousarray(arr))
    # safetensors refuses tensors that share storage: clone them apart.
    seen: dict[int, str] = {}
    for k, t in list(tensors.items()):
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen and ptr != -1:
            tensors[k] = t.clone()
        seen[ptr] = k
    return save(tensors)


def _sklearn_payload(model: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(model)


def save(
    path: str | Path,
    model: Any,
    *,
    model_name: str,
    model_args: dict[str, Any] | None = None,
    labels: list[str],
    contract: InputContract | None = None,
    normalizer: Standardizer | None = None,
    train: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder at ``path`` and return it."""
    path = Path(path)
    entry = registry.get(model_name)
    model_args = dict(model_args or {})
    contract = contract or entry.contract(**model_args)
    if entry.kind == "sklearn":
        weights_name, payload = SKLEARN_WEIGHTS, _sklearn_payload(model)
        norm_arrays = {k: v.tolist() for k, v in (normalizer.arrays() if normalizer else {}).items()}
    else:
        weights_name, payload = TORCH_WEIGHTS, _torch_payload(model, normalizer)
        norm_arrays = None
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {"name": model_name, "args": model_args, "kind": entry.kind},
        "labels": list(labels),
        "input": contract.to_dict(),
        "normalization": None if normalizer is None else normalizer.to_config(),
        "train": train or {},
        "metrics": metrics or {},
        "extra": extra or {},
        "versions": versions(),
        "weights": {"file": weights_name, "sha256": hashlib.sha256(payload).hexdigest()},
    }
    if norm_arrays is not None:
        meta["normalization_arrays"] = norm_arrays
    atomic_write_bytes(path / weights_name, payload)
    atomic_write_text(path / META_FILE, json.dumps(meta, indent=2, default=_json_default))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint folder (or of its ``model.json``)."""
    path = Path(path)
    meta_path = path if path.name == META_FILE else path / META_FILE
    if not meta_path.exists():
        raise CheckpointError(f"{path}: not a genrelab checkpoint (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path}: invalid JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a genrelab checkpoint (format={meta.get('format')!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{meta_path}: written by a newer genrelab (format {meta['format_version']})")
    return meta


def _trusted_sklearn_load(data: bytes, where: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    bad = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.", "scipy.", "builtins."))]
    if bad:
        raise CheckpointError(f"{where}: refuses to load untrusted types {bad}")
    return sio.loads(data, trusted=untrusted)


def _without_pretrained_init(cls: type, args: dict[str, Any]) -> dict[str, Any]:
    """Model arguments for rebuilding from a checkpoint: no pretrained initialisation.

    The checkpoint's strict state dict replaces every weight, so a constructor that would first load
    pretrained weights (``pretrained=True``, e.g. musicnn from the musicnn package) is asked not to:
    loading then needs neither the pretrained files nor the time to read them.
    """
    import inspect

    if "pretrained" in inspect.signature(cls.__init__).parameters:
        return {**args, "pretrained": False}
    return args


def load(path: str | Path, map_location: str = "cpu") -> Checkpoint:
    """Load a checkpoint folder: rebuilds the model from the registry and loads its weights."""
    path = Path(path)
    if path.name == META_FILE:
        path = path.parent
    meta = read_meta(path)
    weights = path / meta["weights"]["file"]
    if not weights.exists():
        raise CheckpointError(f"{path}: weights file {weights.name} is missing")
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["weights"]["sha256"]:
        raise CheckpointError(f"{weights}: checksum does not match model.json (incomplete or mixed checkpoint)")
    name, args = meta["model"]["name"], meta["model"].get("args", {})
    entry = registry.get(name)
    labels = list(meta["labels"])
    norm_cfg = meta.get("normalization")
    if entry.kind == "sklearn":
        model = _trusted_sklearn_load(data, weights)
        norm_arrays = {k: np.asarray(v, dtype=np.float32) for k, v in meta.get("normalization_arrays", {}).items()}
    else:
        from safetensors.torch import load as load_tensors

        tensors = load_tensors(data)
        norm_arrays = {k[len(_NORM_PREFIX):]: v.numpy() for k, v in tensors.items() if k.startswith(_NORM_PREFIX)}
        state = {k: v for k, v in tensors.items() if not k.startswith(_NORM_PREFIX)}
        model = entry.build(len(labels), **_without_pretrained_init(entry.cls, args))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{weights}: weights do not fit model {name!r}: {exc}") from None
        model.to(map_location).eval()
    normalizer = Standardizer.from_state(norm_cfg, norm_arrays) if norm_cfg else None
    return Checkpoint(
        model=model, model_name=name, model_args=args, labels=labels,
        contract=InputContract.from_dict(meta["input"]), normalizer=normalizer,
        train=meta.get("train", {}), metrics=meta.get("metrics", {}), extra=meta.get("extra", {}),
        versions=meta.get("versions", {}), path=path,
    )
