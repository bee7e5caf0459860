"""Finishing a run: predict, score every part, save the checkpoint and write the run record.

Shared by the torch trainer (:mod:`genrelab.training.trainer`), the scikit-learn trainer
(:mod:`genrelab.training.sklearn_trainer`), k-fold (:mod:`genrelab.training.folds`) and
``genrelab evaluate`` (:mod:`genrelab.training.evaluate`), so every run's ``metrics.json`` is the same
typed :class:`~genrelab.evaluation.record.RunRecord`.

The scored part is the test part (the validation part when there is none). Every part the run has
(train, valid, test) is scored too and summarised in ``RunRecord.scores`` (accuracy and macro
precision, recall and F1 at the run's level).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from genrelab.fileio import atomic_write_text
from genrelab.training.config import TrainConfig
from genrelab.training.data import PreparedData

CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class TrainInfo:
    """What a trainer knows about how the model was fitted (goes into the run record)."""

    optimizer: str = "-"
    lr: float | None = None
    batch_size: int | None = None
    scheduler: str | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    epochs_to_best: int | None = None
    monitor: str | None = None
    stopped_early: bool | None = None
    train_time_s: float | None = None
    history: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def write_json(path: Path, obj: Any) -> None:
    from genrelab.evaluation.record import jsonable

    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def predict(model: Any, kind: str, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities of a torch or scikit-learn model on ``X``."""
    if kind == "sklearn":
        Xf = X.reshape(len(X), -1)
        if hasattr(model, "predict_proba"):
            return np.asarray(model.predict_proba(Xf), dtype=np.float64)
        pred = np.asarray(model.predict(Xf), dtype=np.int64)
        n_classes = len(getattr(model, "classes_", [])) or int(pred.max()) + 1
        out = np.zeros((len(pred), n_classes))
        out[np.arange(len(pred)), pred] = 1.0
        return out
    from genrelab.datasets.torch import predict_proba

    return predict_proba(model, X, batch_size=batch_size).astype(np.float64)


def _sklearn_proba_full(model: Any, proba: np.ndarray, n_labels: int) -> np.ndarray:
    """Expand predict_proba columns to all labels (a class absent from training has no column)."""
    classes = getattr(model, "classes_", None)
    if classes is None or proba.shape[1] == n_labels:
        return proba
    full = np.zeros((proba.shape[0], n_labels))
    full[:, np.asarray(classes, dtype=np.int64)] = proba
    return full


def score(model: Any, kind: str, ex: Any, labels: list[str], *, level: str = "track", aggregation: str = "mean",
          n_boot: int = 1000, seed: int = 0, batch_size: int = 64, timing: bool = True) -> dict[str, Any]:
    """Segment- and track-level metrics of ``model`` on examples ``ex`` (evaluation.aggregate).

    Returns ``{"levels", "headline", "throughput_items_per_s", "proba"}``."""
    from genrelab.evaluation.aggregate import evaluate_levels
    from genrelab.evaluation.timing import throughput

    proba = predict(model, kind, ex.X, batch_size=batch_size)
    if kind == "sklearn":
        proba = _sklearn_proba_full(model, proba, len(labels))
    other = "vote" if aggregation == "mean" else "mean"
    levels = evaluate_levels(ex.y, proba, ex.track_ids, labels, methods=(aggregation, other), ci=n_boot > 0,
                             n_boot=max(n_boot, 1), seed=seed)
    head = levels["track"] if level == "track" else levels["segment"]
    tput = None
    if timing:
        sample = ex.X[: min(len(ex.X), 16)]
        try:
            tput = throughput(lambda b: predict(model, kind, b, batch_size=batch_size), sample, repeats=1, warmup=1)
        except Exception:  # pragma: no cover - timing is best effort
            tput = None
    return {"levels": levels, "headline": head, "throughput_items_per_s": tput, "proba": proba}


def headline(levels: Mapping[str, Any], level: str, one_per_track: bool) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(level, metrics at that level, the other levels)`` of :func:`score`'s ``levels``.

    With one example per track the model sees whole clips: segment == track and nothing is aggregated."""
    if one_per_track:
        level = "track"
    key = "track" if level == "track" else "segment"
    metrics = dict(levels[key])
    other = {k: v for k, v in levels.items() if k != key}
    if one_per_track:
        metrics, other = {**metrics, "aggregation": None}, {}
    return level, metrics, other


def score_parts(model: Any, kind: str, parts: Mapping[str, Any], labels: list[str], *, level: str,
                aggregation: str, seed: int, batch_size: int, done: Mapping[str, dict[str, Any]] | None = None
                ) -> dict[str, dict[str, Any]]:
    """``RunRecord.scores``: accuracy and macro precision/recall/F1 of every non-empty part at ``level``
    (``done`` holds parts already scored: ``{part: headline metrics}``)."""
    from genrelab.evaluation.record import part_scores

    out: dict[str, dict[str, Any]] = {}
    for name, ex in parts.items():
        if ex is None or not len(ex):
            continue
        if done and name in done:
            out[name] = part_scores(done[name])
            continue
        res = score(model, kind, ex, labels, level=level, aggregation=aggregation, n_boot=0, seed=seed,
                    batch_size=batch_size, timing=False)
        _, metrics, _ = headline(res["levels"], level, len(ex) == ex.n_tracks)
        out[name] = part_scores(metrics)
    return out


def finish_run(cfg: TrainConfig, entry: Any, data: PreparedData, run_dir: Path, model: Any, info: TrainInfo) -> Path:
    """Evaluate the selected model on every part, save the checkpoint and write metrics.json."""
    from genrelab import checkpoint
    from genrelab.evaluation.record import RunRecord, write_record
    from genrelab.evaluation.timing import count_parameters

    labels = data.labels
    test_name = data.split_info.get("test_part") or "test"
    has_test = data.test is not None and len(data.test) > 0
    part, ex = (test_name, data.test) if has_test else ("valid", data.val)
    batch = max(cfg.batch_size, 64)
    scores = None
    if ex is not None and len(ex):
        scores = score(model, entry.kind, ex, labels, level=cfg.level, aggregation=cfg.aggregation,
                       n_boot=cfg.n_boot, seed=cfg.seed, batch_size=batch)
        np.savez_compressed(run_dir / "predictions.npz", y=ex.y, proba=scores["proba"],
                            track_ids=np.asarray(ex.track_ids, dtype=str), labels=np.asarray(labels, dtype=str))
    level = cfg.level
    metrics: dict[str, Any] = {"n": 0, "labels": labels}
    other: dict[str, Any] = {}
    if scores:
        level, metrics, other = headline(scores["levels"], cfg.level, data.one_example_per_track)
    part_name = "test" if has_test else "valid"
    parts = {"train": data.train, "valid": data.val, "test": data.test}
    by_part = score_parts(model, entry.kind, parts, labels, level=level, aggregation=cfg.aggregation, seed=cfg.seed,
                          batch_size=batch, done={part_name: metrics} if scores else None)
    n_params = count_parameters(model)
    summary = {
        "part": part if scores else None,
        "level": level,
        "accuracy": metrics.get("accuracy"),
        "f1_macro": metrics.get("f1_macro"),
        "valid_accuracy": (by_part.get("valid") or {}).get("accuracy") if has_test else None,
    }
    ckpt_dir = checkpoint.save(
        run_dir / CHECKPOINT_DIR, model, model_name=cfg.model, model_args=cfg.model_args, labels=labels,
        contract=data.contract, normalizer=data.normalizer,
        train={**cfg.to_dict(), "epochs": info.epochs, "best_epoch": info.best_epoch, "train_time_s": info.train_time_s,
               "input_pixels": _stored_as(data.train.X)},
        metrics=summary, extra={"split": data.split_info, "dataset": data.dataset_name},
    )
    rec = RunRecord.from_metrics(
        metrics, run=cfg.name or run_dir.name, model=cfg.model, level=level,
        aggregation=metrics.get("aggregation") if level == "track" else None,
        inference_items_per_s=scores["throughput_items_per_s"] if scores else None, levels=other,
        optimizer=info.optimizer, lr=info.lr, batch_size=info.batch_size, scheduler=info.scheduler,
        epochs=info.epochs, best_epoch=info.best_epoch, epochs_to_best=info.epochs_to_best, monitor=info.monitor,
        stopped_early=info.stopped_early, train_time_s=info.train_time_s, n_params=n_params,
        dataset=data.dataset_name, feature=data.spec.feature.kind, seed=cfg.seed,
        split={**data.split_info, "part": part if scores else None}, checkpoint=str(ckpt_dir.name),
        n_train_examples=len(data.train), n_train_tracks=data.train.n_tracks, scores=by_part,
        history=tuple(info.history), extra=dict(info.extra),
    )
    write_record(run_dir, rec)
    return run_dir


__all__ = ["TrainInfo", "finish_run", "score", "score_parts", "headline", "predict", "write_json", "CHECKPOINT_DIR"]


def _stored_as(X: Any) -> str:
    """``uint8`` when the training examples were held as 8-bit pixels (a :class:`NormalizedArray` over uint8),
    else ``float32``: recorded in the checkpoint so inference gives the model the same values."""
    raw = getattr(X, "raw", X)
    return "uint8" if getattr(raw, "dtype", None) == np.uint8 else "float32"

