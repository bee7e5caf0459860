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
    #: what runs the model (:mod:`genrelab.predictors`): set by :func:`load`
    predictor: Any = None
    #: "torch" or "sklearn"
    kind: str = "torch"
    #: the whole ``model.json``
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """Which predictor runs the model: torch, onnx, sklearn or linear."""
        return getattr(self.predictor, "name", "?")

    @property
    def input_pixels(self) -> str:
        """``uint8`` when the model was trained on colour-mapped images held as 8-bit PNG pixels (recorded by
        training as ``train.input_pixels``; checkpoints without it trained on float32), else ``float32``."""
        train = self.train if isinstance(self.train, dict) else {}
        return "uint8" if train.get("input_pixels") == "uint8" and self.contract.spec.feature.kind == "image" \
            else "float32"

    def predict_proba(self, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` for model-ready examples ``(n, *input_shape)`` (before normalisation:
        the checkpoint's normaliser is applied here, after quantising image pixels to 8 bits when the model trained
        on them: :attr:`input_pixels`), ``batch_size`` examples per call."""
        if self.predictor is None:
            raise CheckpointError("this checkpoint object was not made by checkpoint.load (no predictor)")
        x = np.asarray(x, dtype=np.float32)
        if self.input_pixels == "uint8":  # trained on 8-bit PNG pixels: give the model the same values
            from genrelab.features.images import dequantize, quantize

            x = dequantize(quantize(x))
        if self.normalizer is not None:
            x = self.normalizer.transform(x)
        out = [self.predictor.predict_proba(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))


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


#: Every type a genrelab ``model.skops`` may hold: the scikit-learn estimators and transformers of
#: :mod:`genrelab.models.classic` (fitted, with the parts skops stores for them) and of the shipped
#: default model, plus their numpy and builtins parts as skops names them. Exact names, no prefixes:
#: anything else in a file (``builtins.exec``, ``os.system``, any other class) is refused unloaded.
SKLEARN_TRUSTED_TYPES: frozenset[str] = frozenset({
    # builtins and numpy values
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int", "builtins.float",
    "builtins.bool", "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32",
    "numpy.bool_",
    # Pipeline steps (models/classic.py)
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.SVC",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._kd_tree.KDTree",  # knn with algorithm="kd_tree" / "ball_tree"
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
})


def _skops_types(data: bytes) -> set[str]:
    """Every type named in a skops file (skops' own audit tree, walked without constructing anything)."""
    import io
    import zipfile

    from skops.io._audit import Node, get_tree
    from skops.io._utils import get_module, read_schema

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        schema, ctx = read_schema(zf)
        tree = get_tree(schema, ctx, trusted=None)
    found: set[str] = set()
    seen: set[int] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, Node):
            if id(node) not in seen:
                seen.add(id(node))
                found.add(f"{node.module_name}.{node.class_name}")
                stack.extend(node.children.values())
        elif isinstance(node, type):
            found.add(f"{get_module(node)}.{node.__name__}")
    return found


def _check_trees(model: Any, where: Path) -> None:
    """Refuse decision trees whose node arrays point outside themselves (scikit-learn indexes them
    unchecked, so a crafted ``Tree`` could read or write out of bounds at the first prediction)."""
    stack = [model]
    while stack:
        est = stack.pop()
        for _, step in getattr(est, "steps", []):
            stack.append(step)
        stack.extend(getattr(est, "estimators_", None) or [])
        tree = getattr(est, "tree_", None)
        if tree is None:
            continue
        n = int(tree.node_count)
        left, right, feat = (np.asarray(a) for a in (tree.children_left, tree.children_right, tree.feature))
        leaf = left == -1
        ok = (len(left) == len(right) == len(feat) == n and n > 0 and bool(np.all((right == -1) == leaf))
              and bool(np.all((left[~leaf] > 0) & (left[~leaf] < n) & (right[~leaf] > 0) & (right[~leaf] < n)))
              and bool(np.all((feat[~leaf] >= 0) & (feat[~leaf] < int(tree.n_features)))))
        if not ok:
            raise CheckpointError(f"{where}: refused: a decision tree's node arrays are inconsistent (crafted or corrupt file)")


def _trusted_sklearn_load(data: bytes, where: Path) -> Any:
    """Load a ``model.skops`` only when every type in it is one genrelab writes (:data:`SKLEARN_TRUSTED_TYPES`)."""
    import skops.io as sio

    try:
        found = _skops_types(data)
    except Exception as exc:  # not a zip, no schema, unknown node kinds ...
        raise CheckpointError(f"{where}: not a readable skops file ({type(exc).__name__}: {exc})") from None
    bad = sorted(found - SKLEARN_TRUSTED_TYPES)
    if bad:
        raise CheckpointError(f"{where}: refused to load: it holds type(s) genrelab never writes: {', '.join(bad)}")
    try:
        model = sio.loads(data, trusted=sorted(found))
    except Exception as exc:
        raise CheckpointError(f"{where}: cannot load the scikit-learn model ({type(exc).__name__}: {exc})") from None
    _check_trees(model, where)
    return model


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


def _verified_weights(path: Path, meta: dict[str, Any]) -> tuple[Path, bytes]:
    """The weights file's bytes, checked against the SHA-256 that ``model.json`` records."""
    weights = path / meta["weights"]["file"]
    if not weights.exists():
        raise CheckpointError(f"{path}: weights file {weights.name} is missing")
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["weights"]["sha256"]:
        raise CheckpointError(f"{weights}: checksum does not match model.json (incomplete or mixed checkpoint)")
    return weights, data


def _normalizer(meta: dict[str, Any], data: bytes) -> Standardizer | None:
    """The checkpoint's normaliser: arrays in ``model.json`` (scikit-learn) or under ``__norm__.`` in the
    safetensors file (read with numpy: no torch)."""
    cfg = meta.get("normalization")
    if not cfg:
        return None
    if "normalization_arrays" in meta or meta["model"].get("kind") == "sklearn":
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in meta.get("normalization_arrays", {}).items()}
    else:
        from safetensors.numpy import load as load_arrays

        arrays = {k[len(_NORM_PREFIX):]: v for k, v in load_arrays(data).items() if k.startswith(_NORM_PREFIX)}
    return Standardizer.from_state(cfg, arrays)


def _torch_model(meta: dict[str, Any], data: bytes, weights: Path, map_location: str) -> Any:
    from safetensors.torch import load as load_tensors

    name, args = meta["model"]["name"], meta["model"].get("args", {})
    entry = registry.get(name)
    tensors = load_tensors(data)
    state = {k: v for k, v in tensors.items() if not k.startswith(_NORM_PREFIX)}
    model = entry.build(len(meta["labels"]), **_without_pretrained_init(entry.cls, args))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not fit model {name!r}: {exc}") from None
    return model.to(map_location).eval()


def _predictor(path: Path, meta: dict[str, Any], data: bytes, weights: Path, runtime: Any, model: Any) -> tuple[Any, Any]:
    """``(model, predictor)`` for ``runtime``: the fast paths first (an ONNX export, the numpy twin of a linear
    head: neither imports torch nor scikit-learn), else the real model (exported/cached for next time)."""
    from genrelab import predictors as P

    kind = meta["model"].get("kind", "torch")
    labels = list(meta["labels"])
    sha = meta["weights"]["sha256"]
    if kind == "sklearn":
        head_file = P.linear_head_path(runtime.cache_dir, sha)
        if model is None and runtime.onnx_allowed:
            fast = P.read_linear_head(head_file, len(labels))
            if fast is not None:
                return None, fast
        model = model if model is not None else _trusted_sklearn_load(data, weights)
        if runtime.onnx_allowed and not head_file.exists():
            head = P.LinearPredictor.from_sklearn(model, labels)
            if head is not None:
                P.write_linear_head(head_file, head)
        return model, P.SklearnPredictor(model, labels)
    onnx_ok = runtime.onnx_allowed and P.onnxruntime_available()
    if runtime.backend == "onnx" and not onnx_ok:
        raise CheckpointError("backend 'onnx' needs onnxruntime (pip install onnxruntime)")
    if onnx_ok:
        found = P.find_onnx(path, meta, runtime.cache_dir)
        if found is not None:
            return model, P.OnnxPredictor(found, runtime.threads)
        model = model if model is not None else _torch_model(meta, data, weights, "cpu")
        try:
            from genrelab.export import export_onnx

            out = export_onnx(model, tuple(meta["input"].get("input_shape", ())), P.onnx_cache_path(runtime.cache_dir, sha),
                              metadata={"labels": json.dumps(labels)})
            return model, P.OnnxPredictor(out, runtime.threads)
        except Exception as exc:  # this model does not export: PyTorch still works
            if runtime.backend == "onnx":
                raise CheckpointError(f"{path}: ONNX export failed: {exc}") from exc
    model = model if model is not None else _torch_model(meta, data, weights, "cpu")
    return model, P.TorchPredictor(model, runtime.threads)


# --------------------------------------------------------------------------- companion heads
#: A head shipped beside a checkpoint (e.g. the timeline's window head in ``<checkpoint>/timeline/``):
#: numpy arrays in safetensors + a JSON file recording their SHA-256. Nothing is unpickled.
HEAD_META = "head.json"
HEAD_WEIGHTS = "head.safetensors"


def save_head(folder: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write a companion head: ``arrays`` (float32) to ``head.safetensors``, then ``meta`` plus their SHA-256 to
    ``head.json`` (last, atomically)."""
    from safetensors.numpy import save as save_arrays

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = save_arrays({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()})
    atomic_write_bytes(folder / HEAD_WEIGHTS, data)
    meta = {**meta, "weights_sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(folder / HEAD_META, json.dumps(meta, indent=2) + "\n")
    return folder


def load_head(folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a companion head, its arrays checked against the SHA-256 its JSON records."""
    from safetensors.numpy import load as load_arrays

    folder = Path(folder)
    try:
        meta = json.loads((folder / HEAD_META).read_text())
        data = (folder / HEAD_WEIGHTS).read_bytes()
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: cannot read the head: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
        raise CheckpointError(f"{folder / HEAD_WEIGHTS}: SHA-256 differs from {HEAD_META} (damaged or altered)")
    return meta, {k: v.astype(np.float64) for k, v in load_arrays(data).items()}


def load(path: str | Path, map_location: str = "cpu", *, runtime: Any = None) -> Checkpoint:
    """Load a checkpoint folder: the one loader of genrelab (training, evaluation, inference, export).

    Without ``runtime``: rebuilds the model from the registry (a PyTorch module on ``map_location``, or the
    scikit-learn estimator) and loads its weights; ``predict_proba`` runs it. With a
    :class:`~genrelab.runtime.Runtime`, ``predict_proba`` runs on the backend it asks for: ONNX Runtime from
    an existing or freshly cached export, the numpy twin of a logistic-regression head, or the model itself;
    on the fast paths ``model`` stays None and neither torch nor scikit-learn is imported.
    The weights' SHA-256 is always checked against ``model.json``.
    """
    path = Path(path)
    if path.name == META_FILE:
        path = path.parent
    meta = read_meta(path)
    weights, data = _verified_weights(path, meta)
    name, args = meta["model"]["name"], meta["model"].get("args", {})
    kind = meta["model"].get("kind", "torch")
    model = None
    if runtime is None:
        from genrelab import predictors as P

        if kind == "sklearn":
            model = _trusted_sklearn_load(data, weights)
            predictor: Any = P.SklearnPredictor(model, meta["labels"])
        else:
            model = _torch_model(meta, data, weights, map_location)
            predictor = P.TorchPredictor(model)
    else:
        model, predictor = _predictor(path, meta, data, weights, runtime, None)
    return Checkpoint(
        model=model, model_name=name, model_args=args, labels=list(meta["labels"]),
        contract=InputContract.from_dict(meta["input"]), normalizer=_normalizer(meta, data),
        train=meta.get("train", {}), metrics=meta.get("metrics", {}), extra=meta.get("extra", {}),
        versions=meta.get("versions", {}), path=path, predictor=predictor, kind=kind, meta=meta,
    )
