"""``genrelab classify --engine ray``: classify a library on a Ray cluster with Ray Data.

The job is a Ray Data pipeline::

    file list (driver) -> decode + features (CPU tasks) -> model (actor pool, batched; GPU actors when the
    cluster has GPUs and the model is a PyTorch one or its feature a musicnn embedding) -> results streamed
    back to the driver, which writes them

The CPU stage runs the very same :meth:`Classifier.classify` as the local engine, with the model's backend
swapped for a recorder: it captures the model-ready (normalised) examples of each file instead of
predicting. The actor stage feeds those examples, many files at a time, to the real backend and aggregates
each file's window probabilities exactly as the classifier does. So both engines give the same answers,
and a file that fails (unreadable, too short, a crashed worker) is one result row with its reason. With GPU
actors and a musicnn-embedding checkpoint (the shipped model), the CPU stage stops at the log-mel patches and
the actors run the musicnn network on the GPU (:mod:`genrelab.scale.backbone`).

Audio paths must be readable by every node (a shared file system or the same mount everywhere).
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Iterator, Sequence

import numpy as np

from genrelab.types import GenrelabError

#: files per model call in the actor stage
DEFAULT_BATCH = 16

_CACHE: dict[tuple, Any] = {}  # one Classifier per worker process and configuration


# --------------------------------------------------------------------------- the two halves of a classifier
class _Recorder:
    """A model backend that keeps the examples it is given and answers uniform probabilities."""

    name = "recorder"

    def __init__(self, n_labels: int):
        self.n = n_labels
        self.seen: list[np.ndarray] = []

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(x, copy=True))
        return np.full((len(x), self.n), 1.0 / self.n)

    def take(self) -> np.ndarray | None:
        out = np.concatenate(self.seen) if self.seen else None
        self.seen = []
        return out


def _classifier(model: str, runtime: Any, n_patches: int | None, plugins: Sequence[str]):
    from genrelab.inference import Classifier

    key = (model, runtime, n_patches, tuple(plugins))
    if key not in _CACHE:
        for m in plugins:
            importlib.import_module(m)
        _CACHE[key] = Classifier.from_pretrained(model, runtime=runtime.with_(threads=1), n_patches=n_patches)
    return _CACHE[key]


def _error_dict(path: str, error: str, kind: str, model: str) -> dict[str, Any]:
    return {"path": path, "top": [], "probabilities": {}, "duration": None, "n_segments": 0, "model": model,
            "error": error, "error_kind": kind}


def prepare_batch(batch: dict[str, np.ndarray], *, model: str, runtime: Any, n_patches: int | None,
                  plugins: Sequence[str], split: bool = False) -> dict[str, list]:
    """CPU stage: decode each file and compute its model-ready examples (or its error). ``split``: stop before a
    musicnn embedding's network, at the log-mel patches of each window (the GPU actors run the network)."""
    from genrelab.scale import backbone

    clf = _classifier(model, runtime, n_patches, plugins)
    real, rec = clf.checkpoint.predictor, _Recorder(len(clf.labels))
    out: dict[str, list] = {"path": [], "x": [], "shape": [], "dtype": [], "duration": [], "error": [],
                            "counts": []}
    if not split:
        clf.checkpoint.predictor = rec
    try:
        for path in batch["path"]:
            path = str(path)
            counts: list[int] = []
            if split:
                twin, windows = backbone.recording(clf)
                res = twin.classify(path, top_k=1)
                x, counts = backbone.patches(windows.windows) if windows.windows else (None, [])
            else:
                res = clf.classify(path, top_k=1)
                x = rec.take()
            err = None
            if res.error or x is None:
                err = json.dumps(_error_dict(path, res.error or f"{path}: no examples", res.error_kind or "error",
                                             clf.name))
            out["path"].append(path)
            out["x"].append(b"" if err else np.ascontiguousarray(x).tobytes())
            out["shape"].append(json.dumps([] if err else list(x.shape)))
            out["dtype"].append("" if err else str(x.dtype))
            out["duration"].append(float(res.duration) if res.duration is not None else float("nan"))
            out["error"].append(err or "")
            out["counts"].append(json.dumps(counts))
    finally:
        clf.checkpoint.predictor = real
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Predictor:
    """Actor stage: the model, loaded once per actor, over the examples of many files at a time."""

    def __init__(self, model: str, runtime: Any, n_patches: int | None, plugins: Sequence[str], top_k: int,
                 device: str | None = None, split: bool = False):
        # device None: the checkpoint's own predictor (ONNX Runtime, numpy, scikit-learn, PyTorch on the CPU);
        # a torch device ("cuda" on GPU actors): the PyTorch model moved there, or with ``split`` the musicnn
        # network of the checkpoint's feature (its head then runs on the checkpoint's own predictor)
        torch_head = bool(device) and not split
        self.clf = _classifier(model, runtime.with_(backend="torch") if torch_head else runtime, n_patches,
                               plugins)
        self.top_k = top_k
        self.device = device if torch_head else None
        self.backbone = None
        if split:
            from genrelab.scale.backbone import DeviceBackbone

            self.backbone = DeviceBackbone(self.clf.spec.feature, device or "cpu")
        if self.device:
            self.torch_model = self.clf.checkpoint.model.to(device).eval()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for normalised examples (the CPU stage applied the checkpoint's normaliser;
        the checkpoint's calibration temperature is applied here, as :meth:`Classifier.predict_examples` does)."""
        if not self.device:
            return self.clf.calibrate(self.clf.checkpoint.predictor.predict_proba(x))
        import torch

        with torch.inference_mode():
            logits = self.torch_model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device))
        return self.clf.calibrate(softmax(logits.float().cpu().numpy()))

    def result(self, path: str, proba: np.ndarray, duration: float) -> dict[str, Any]:
        """The same answer :meth:`Classifier.classify` gives for these window probabilities."""
        return self.clf.answer(path, proba, self.top_k, None if np.isnan(duration) else float(duration)).to_dict()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        paths = [str(p) for p in batch["path"]]
        out = {"path": paths, "result": [""] * len(paths)}
        xs, owners, counts = [], [], []
        for i, p in enumerate(paths):
            if batch["error"][i]:
                out["result"][i] = str(batch["error"][i])
                continue
            shape = json.loads(str(batch["shape"][i]))
            xs.append(np.frombuffer(batch["x"][i], dtype=np.dtype(str(batch["dtype"][i]))).reshape(shape))
            counts.append(json.loads(str(batch["counts"][i])))
            owners.append(i)
        if xs:
            try:
                if self.backbone is not None:  # patches -> embeddings of every window -> the checkpoint's head
                    emb = self.backbone.embed(np.concatenate(xs), [c for cs in counts for c in cs])
                    proba = self.clf.predict_examples(emb)
                    sizes = [len(cs) for cs in counts]
                else:
                    proba = self.predict(np.concatenate(xs))
                    sizes = [len(x) for x in xs]
                bounds = np.cumsum([0] + sizes)
                for j, i in enumerate(owners):
                    res = self.result(paths[i], proba[bounds[j]:bounds[j + 1]], float(batch["duration"][i]))
                    out["result"][i] = json.dumps(res)
            except Exception as exc:  # noqa: BLE001 - the batch's files are reported, the job goes on
                for i in owners:
                    out["result"][i] = json.dumps(_error_dict(paths[i], f"{paths[i]}: model failed: "
                                                              f"{type(exc).__name__}: {exc}", "error", self.clf.name))
        return out


# --------------------------------------------------------------------------- the job
def _kinds(model: str) -> tuple[str, str]:
    """The checkpoint's model kind (torch, sklearn) and feature kind."""
    from genrelab import checkpoint
    from genrelab.inference import resolve_model

    meta = checkpoint.read_meta(resolve_model(model))
    feature = ((meta.get("input") or {}).get("spec") or {}).get("feature") or {}
    return meta.get("model", {}).get("kind", "torch"), str(feature.get("kind", ""))


def classify_ray(paths: Sequence[str], model: str = "default", *, top_k: int = 3, timeline: bool = False,
                 runtime: Any = None, n_patches: int | None = None, classifier: Any = None,
                 address: str | None = None, batch_size: int = DEFAULT_BATCH, actors: int | None = None,
                 num_cpus: int | None = None, model_device: str | None = None) -> Iterator[Any]:
    """Classify ``paths`` on Ray, yielding :class:`~genrelab.inference.ClassificationResult` as they finish.

    ``address``: None starts a local Ray instance (``num_cpus`` cores), ``"auto"`` joins the running cluster,
    ``"ray://HOST:PORT"`` connects through Ray Client. ``actors``: size of the model actor pool (default: one per
    GPU when the cluster has GPUs and the model is a PyTorch model or its feature a musicnn embedding, else one).
    ``model_device``: run the PyTorch model, or the musicnn network of an embedding feature, on this torch
    device in the actors (default: "cuda" when the cluster has GPUs, else the checkpoint's own CPU runtime in
    the actors and the feature in the CPU tasks). Every path yields one result.
    """
    from genrelab.inference import ClassificationResult, result_from_dict
    from genrelab.scale import cluster_gpus, connect

    if timeline:
        raise GenrelabError("--timeline is not available with --engine ray (use the local engine)")
    paths = [str(p) for p in paths]
    if not paths:
        return
    model = str(model)
    plugins = list(getattr(classifier, "plugin_modules", ()) or ())
    ray = connect(address, num_cpus=num_cpus)
    model_kind, feature_kind = _kinds(model)
    gpus = cluster_gpus() if model_kind == "torch" or feature_kind == "musicnn" else 0
    device = model_device or ("cuda" if gpus else None)
    split = bool(device) and feature_kind == "musicnn"  # the musicnn network on the device, not in CPU tasks
    n_actors = actors or max(1, gpus)
    from genrelab.runtime import resolve

    runtime = resolve(runtime if runtime is not None else getattr(classifier, "runtime", None))
    common = dict(model=model, runtime=runtime, n_patches=n_patches, plugins=plugins)
    from genrelab.scale import cluster_cpus

    # enough blocks to keep every core busy, and small ones (a lost block is little work to redo)
    blocks = min(len(paths), max(4 * cluster_cpus(), -(-len(paths) // 64)))
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    ds = ds.map_batches(prepare_batch, batch_size=1, fn_kwargs=dict(common, split=split), num_cpus=1)
    # The actors hold no CPU reservation (their work is small next to decoding and features, and a reservation
    # would leave a 2-core machine one decoding task); differing resources also keep Ray from fusing the stages.
    ds = ds.map_batches(Predictor, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=n_actors),
                        num_gpus=1 if gpus else 0, num_cpus=0,
                        fn_constructor_kwargs=dict(common, top_k=top_k, device=device, split=split))
    seen: set[str] = set()
    for row in ds.select_columns(["path", "result"]).iter_rows():
        d = json.loads(row["result"])
        seen.add(d["path"])
        yield result_from_dict(d)
    for p in paths:  # rows lost with a crashed worker
        if p not in seen:
            yield ClassificationResult(path=p, error=f"{p}: lost by the Ray job (a worker crashed)",
                                       error_kind="error", model=model)


__all__ = ["classify_ray", "prepare_batch", "Predictor", "DEFAULT_BATCH"]
