"""k-fold cross-validation: one run per fold, then pooled scores and the spread across folds.

Every fold is an ordinary run in ``<run>/fold-<i>/`` (trained by the function the caller passes, so
this module does not import the trainer); finished folds (``metrics.json`` + ``predictions.npz``) are
skipped, so a killed k-fold job resumes. The run's own ``metrics.json`` pools the folds' test
predictions (every track is tested exactly once) and adds the mean/std of every metric across folds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from genrelab.training.config import TrainConfig
from genrelab.training.finish import write_json

#: ``train_one(fold_config, resume, cache) -> fold run directory``
TrainOne = Callable[[TrainConfig, bool, Any], Path]


def fold_config(cfg: TrainConfig, i: int, run_dir: Path) -> TrainConfig:
    """The config of fold ``i`` (0-based) of a k-fold run in ``run_dir``."""
    return dataclasses.replace(cfg, out=str(run_dir / f"fold-{i + 1}"), name=f"{cfg.name or run_dir.name}/fold-{i + 1}",
                               data=dataclasses.replace(cfg.data, fold=i))


def _mean_scores(per_fold: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean across folds of each part's scores (train and valid; test is pooled instead)."""
    out: dict[str, dict[str, Any]] = {}
    for part in ("train", "valid"):
        rows = [s[part] for s in per_fold if part in s]
        if not rows:
            continue
        mean: dict[str, Any] = {}
        for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
            vals = [r.get(k) for r in rows if r.get(k) is not None]
            mean[k] = float(np.mean(vals)) if vals else None
        mean.update(n=sum(int(r.get("n") or 0) for r in rows), level=rows[0].get("level"), folds=len(rows))
        out[part] = mean
    return out


def train_folds(cfg: TrainConfig, train_one: TrainOne, *, resume: bool = False) -> Path:
    """Train every fold with ``train_one`` and write the pooled k-fold record; returns the run directory."""
    from genrelab.datasets.torch import MemoryFeatureCache
    from genrelab.evaluation.aggregate import evaluate_levels
    from genrelab.evaluation.metrics import fold_summary
    from genrelab.evaluation.record import RunRecord, load_record, part_scores, write_record
    from genrelab.training.finish import headline

    run_dir = Path(cfg.out)
    k = int(cfg.data.folds or 0)
    cache = MemoryFeatureCache()
    fold_dirs = []
    for i in range(k):
        fcfg = fold_config(cfg, i, run_dir)
        fdir = Path(fcfg.out)
        fold_dirs.append(fdir)
        if (fdir / "metrics.json").exists() and (fdir / "predictions.npz").exists():
            continue
        train_one(fcfg, resume, cache)
    recs = [load_record(d) for d in fold_dirs]
    preds = [np.load(d / "predictions.npz", allow_pickle=False) for d in fold_dirs]
    labels = list(recs[0].labels)
    y = np.concatenate([p["y"] for p in preds])
    proba = np.concatenate([p["proba"] for p in preds])
    ids = np.concatenate([p["track_ids"] for p in preds])
    other_method = "vote" if cfg.aggregation == "mean" else "mean"
    levels = evaluate_levels(y, proba, ids, labels, methods=(cfg.aggregation, other_method),
                             n_boot=cfg.n_boot or 1, ci=cfg.n_boot > 0, seed=cfg.seed)
    one_per_track = len(np.unique(ids)) == len(ids)
    level = "track" if (cfg.level == "track" or one_per_track) else "segment"
    key = "track" if level == "track" else "segment"
    metrics, other = dict(levels[key]), {k2: v for k2, v in levels.items() if k2 != key}
    if one_per_track:
        level, metrics, other = headline(levels, level, True)
    first = recs[0]
    split = dict(first.split)
    split.update(method=f"{'artist-grouped' if cfg.data.split == 'artist' else 'stratified'} {k}-fold",
                 part="all folds (pooled)")
    scores = {**_mean_scores([r.scores for r in recs]), "test": part_scores(metrics)}
    rec = RunRecord.from_metrics(
        metrics, model=cfg.model, level=level, aggregation=metrics.get("aggregation") if level == "track" else None,
        run=cfg.name or run_dir.name, optimizer=first.optimizer, lr=first.lr, batch_size=first.batch_size,
        scheduler=first.scheduler, epochs=first.epochs, monitor=first.monitor,
        train_time_s=float(sum(r.train_time_s or 0 for r in recs)), n_params=first.n_params, dataset=first.dataset,
        feature=first.feature, seed=cfg.seed, split=split, levels=other, scores=scores,
        folds=fold_summary([r.metrics for r in recs]),
        fold_accuracy=tuple(r.metrics.get("accuracy") for r in recs),
        fold_epochs_to_best=tuple(r.best_epoch for r in recs),
    )
    write_json(run_dir / "config.json", {"train": cfg.to_dict(), "folds": [str(d) for d in fold_dirs]})
    write_record(run_dir, rec)
    return run_dir


__all__ = ["train_folds", "fold_config", "TrainOne"]
