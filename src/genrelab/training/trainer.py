"""``train(config) -> run dir``: one training run, torch (Lightning) or scikit-learn.

A run directory holds::

    config.json      the resolved train config (+ data summary)
    history.csv      one row per epoch: epoch, train_loss, val_loss, train_acc, val_acc, lr, time_s
    checkpoint/      the best model: model.safetensors (or model.skops) + model.json (genrelab.checkpoint)
    metrics.json     scores on the test part (or valid when there is no test part); see evaluation.record
    lightning/       resume state (last.ckpt, Lightning's own trainer state) and logs (CSV, TensorBoard)

A killed run resumes from ``lightning/last.ckpt`` (``resume=True``) and ends with the same weights
as an uninterrupted run on CPU with the same seed: data order and every RNG are derived from
(seed, epoch), and the resume state holds the optimiser, schedule, early-stopping and best weights.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.fileio import atomic_write_text
from genrelab.training.config import TrainConfig
from genrelab.training.data import PreparedData, prepare_data
from genrelab.types import ConfigError

CHECKPOINT_DIR = "checkpoint"
LIGHTNING_DIR = "lightning"

log = logging.getLogger(__name__)


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401

        return True
    except Exception:
        try:
            import tensorboardX  # noqa: F401

            return True
        except Exception:
            return False


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def write_json(path: Path, obj: Any) -> None:
    from genrelab.evaluation.record import jsonable

    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def launched_rank() -> int:
    """0 for rank 0 of a distributed run (and for an ordinary single process), non-zero for the other ranks, as
    their launcher tells them before Lightning starts (torchrun: RANK; SLURM srun: SLURM_PROCID; Lightning's DDP
    launcher: NODE_RANK and LOCAL_RANK)."""
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return int(os.environ.get("NODE_RANK", "0") or 0) + int(os.environ.get("LOCAL_RANK", "0") or 0)


def train(config: TrainConfig | dict[str, Any], *, data: PreparedData | None = None, resume: bool = False,
          cache: Any = None) -> Path:
    """Train the model described by ``config``; returns the run directory.

    ``data`` skips data preparation (tests, sweeps that share arrays). ``resume`` continues from
    the run directory's last resume checkpoint when there is one. With ``data.folds`` (and no
    ``data.fold``) every fold is trained in ``fold-<i>/`` and summarised in the run's metrics.json.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    from genrelab.models import registry

    entry = registry.get(cfg.model)
    if data is None and cfg.data.folds and cfg.data.fold is None:
        return train_folds(cfg, resume=resume)
    if data is None:
        data = prepare_data(cfg, entry, cache=cache)
    if launched_rank() == 0:  # in a DDP run every rank prepares the data; rank 0 alone writes
        write_json(run_dir / "config.json", {"train": cfg.to_dict(), "data_summary": data.summary()})
        if getattr(data, "split", None) is not None:
            data.split.to_csv(run_dir / "split.csv")  # the exact split, to repeat or audit the run
    if entry.kind == "sklearn":
        from genrelab.training.sklearn_trainer import train_sklearn

        return train_sklearn(cfg, entry, data, run_dir)
    import torch

    threads_before = torch.get_num_threads()
    try:
        return _train_torch(cfg, entry, data, run_dir, resume=resume)
    finally:
        torch.set_num_threads(threads_before)


def train_folds(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """k-fold cross-validation: one run per fold (finished folds are skipped), then pooled scores
    (every track is tested exactly once) and the mean/std across folds in ``metrics.json``."""
    import dataclasses

    from genrelab.datasets.torch import MemoryFeatureCache
    from genrelab.evaluation.aggregate import evaluate_levels
    from genrelab.evaluation.metrics import fold_summary
    from genrelab.evaluation.record import make_record, read_metrics_json, write_metrics_json

    run_dir = Path(cfg.out)
    k = int(cfg.data.folds or 0)
    cache = MemoryFeatureCache()
    fold_dirs = []
    for i in range(k):
        fdir = run_dir / f"fold-{i + 1}"
        fold_dirs.append(fdir)
        if (fdir / "metrics.json").exists() and (fdir / "predictions.npz").exists():
            continue
        fcfg = dataclasses.replace(cfg, out=str(fdir), name=f"{cfg.name or run_dir.name}/fold-{i + 1}",
                                   data=dataclasses.replace(cfg.data, fold=i))
        train(fcfg, resume=resume, cache=cache)
    recs = [read_metrics_json(d) for d in fold_dirs]
    preds = [np.load(d / "predictions.npz", allow_pickle=False) for d in fold_dirs]
    labels = list(recs[0].get("labels") or [])
    y = np.concatenate([p["y"] for p in preds])
    proba = np.concatenate([p["proba"] for p in preds])
    ids = np.concatenate([p["track_ids"] for p in preds])
    levels = evaluate_levels(y, proba, ids, labels, methods=(cfg.aggregation, "vote" if cfg.aggregation == "mean" else "mean"),
                             n_boot=cfg.n_boot or 1, ci=cfg.n_boot > 0, seed=cfg.seed)
    one_per_track = len(np.unique(ids)) == len(ids)
    level = "track" if (cfg.level == "track" or one_per_track) else "segment"
    metrics = levels["track"] if level == "track" else levels["segment"]
    other = {k2: v for k2, v in levels.items() if k2 != ("track" if level == "track" else "segment")}
    folds = fold_summary([r["metrics"] for r in recs])
    split = dict(recs[0].get("split") or {})
    split.update(method=f"{'artist-grouped' if cfg.data.split == 'artist' else 'stratified'} {k}-fold", part="all folds (pooled)")
    rec = make_record(
        metrics, model=cfg.model, level=level, aggregation=metrics.get("aggregation") if level == "track" else None,
        run=cfg.name or run_dir.name, optimizer=cfg.optim.optimizer if recs[0].get("optimizer") != "-" else "-",
        lr=recs[0].get("lr"), batch_size=recs[0].get("batch_size"), scheduler=recs[0].get("scheduler"),
        epochs=recs[0].get("epochs"), train_time_s=float(sum(r.get("train_time_s") or 0 for r in recs)),
        n_params=recs[0].get("n_params"), dataset=recs[0].get("dataset"), feature=recs[0].get("feature"),
        seed=cfg.seed, split=split, levels=other, folds=folds,
        fold_accuracy=[(r.get("metrics") or {}).get("accuracy") for r in recs],
        fold_epochs_to_best=[r.get("best_epoch") for r in recs],
    )
    write_json(run_dir / "config.json", {"train": cfg.to_dict(), "folds": [str(d) for d in fold_dirs]})
    write_metrics_json(run_dir, rec)
    return run_dir


def _precision(cfg: TrainConfig, on_gpu: bool) -> str:
    if cfg.precision == "auto":
        return "16-mixed" if on_gpu else "32-true"
    if not on_gpu and cfg.precision in ("16-mixed", "16", "bf16-mixed"):
        return "32-true"  # mixed precision only on GPU
    return cfg.precision


def _train_torch(cfg: TrainConfig, entry: Any, data: PreparedData, run_dir: Path, *, resume: bool) -> Path:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    from genrelab.datasets.torch import GenreDataModule
    from genrelab.training.callbacks import (
        AtomicCheckpointIO, BestWeights, EpochSeed, History, KillAfterEpoch, ResumeCheckpoint,
    )
    from genrelab.training.module import GenreModule

    for pat in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                ".*The number of training batches.*", ".*Experiment logs directory.*", ".*Total length of .* across ranks is zero.*",
                ".*module\\(s\\) in eval mode.*", ".*treespec.*", ".*`isinstance.*TreeSpec.*"):
        warnings.filterwarnings("ignore", message=pat)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.accelerators.cuda").setLevel(logging.WARNING)

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    labels = data.labels
    model = entry.build(len(labels), **cfg.model_args)
    if cfg.pretrained_weights:
        from genrelab.models.backbones import load_pretrained

        load_pretrained(model, cfg.pretrained_weights)
    _set_threads(cfg, model)
    has_val = data.val is not None and len(data.val) > 0
    monitor = cfg.monitor if (has_val or cfg.monitor.startswith("train")) else "train_loss"
    mode = "max" if monitor.endswith("acc") else "min"

    dm = GenreDataModule(data.train, data.val if has_val else None, data.test, batch_size=cfg.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed)
    class_weights = None
    if cfg.class_weights:
        counts = np.bincount(data.train.y, minlength=len(labels)).astype(np.float64)
        class_weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(labels), dtype=torch.float32)
    module = GenreModule(model, cfg.optim, steps_per_epoch=dm.steps_per_epoch(), epochs=cfg.epochs,
                         class_weights=class_weights, label_smoothing=cfg.label_smoothing)

    on_gpu = cfg.accelerator in ("gpu", "cuda") or (cfg.accelerator == "auto" and _cuda_available())
    light_dir = run_dir / LIGHTNING_DIR
    history = History(run_dir / "history.csv")
    best = BestWeights(monitor, mode)
    resume_ckpt = ResumeCheckpoint(light_dir)
    callbacks: list[Any] = [EpochSeed(cfg.seed), history, best]
    if cfg.patience is not None and cfg.patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience, check_finite=False,
                                       strict=False))
    for var, how in (("GENRELAB_TEST_KILL_AFTER_EPOCH", "kill"), ("GENRELAB_TEST_CRASH_AFTER_EPOCH", "raise")):
        if os.environ.get(var):
            callbacks.append(KillAfterEpoch(int(os.environ[var]), how))
    callbacks.append(resume_ckpt)
    if cfg.progress:
        from lightning.pytorch.callbacks import TQDMProgressBar

        callbacks.append(TQDMProgressBar(refresh_rate=max(1, dm.steps_per_epoch() // 20)))
    loggers: list[Any] = [CSVLogger(str(light_dir), name="logs", version="")]
    if _tensorboard_available():
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(light_dir), name="tensorboard", version=""))

    strategy = cfg.strategy
    deterministic: Any = cfg.deterministic
    if on_gpu and deterministic:
        deterministic = "warn"  # some CUDA kernels (GRU, adaptive pooling backward) have no deterministic variant
    trainer = pl.Trainer(
        max_epochs=cfg.epochs,
        min_epochs=cfg.min_epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=strategy,
        num_nodes=cfg.num_nodes,
        precision=_precision(cfg, on_gpu),
        deterministic=deterministic,
        gradient_clip_val=cfg.grad_clip,
        callbacks=callbacks,
        logger=loggers,
        enable_checkpointing=True,
        enable_progress_bar=bool(cfg.progress),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, dm.steps_per_epoch())),
        default_root_dir=str(light_dir),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # GenreDataModule shards the training order itself (see EpochShuffleSampler)
        max_time=None if cfg.max_time_s is None else {"seconds": int(cfg.max_time_s)},
    )
    module.steps_per_epoch = dm.steps_per_epoch(trainer.world_size)  # per rank (DDP), for step-wise LR schedules
    ckpt_path = None
    if resume and resume_ckpt.path.exists():
        ckpt_path = str(resume_ckpt.path)
        log.info("resuming from %s", ckpt_path)
    elif resume:
        log.info("no resume checkpoint in %s: starting from scratch", light_dir)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    train_time = time.perf_counter() - t0
    if not trainer.is_global_zero:
        return run_dir  # DDP: rank 0 alone writes the checkpoint, metrics and report
    prev_time = _previous_train_time(run_dir) if ckpt_path else 0.0
    _store_train_time(run_dir, prev_time + train_time)

    if best.best_state is not None:
        model.load_state_dict(best.best_state)
    model.cpu().eval()
    epochs_done = len(history.rows) or trainer.current_epoch
    info = {
        "optimizer": cfg.optim.optimizer, "lr": cfg.optim.lr, "batch_size": cfg.batch_size,
        "scheduler": cfg.optim.scheduler, "epochs": epochs_done, "best_epoch": best.best_epoch,
        "epochs_to_best": best.best_epoch, "monitor": monitor, "train_time_s": prev_time + train_time,
        "stopped_early": bool(epochs_done < cfg.epochs),
    }
    return finish_run(cfg, entry, data, run_dir, model, info)


def _set_threads(cfg: TrainConfig, model: Any) -> None:
    """Small models train faster on one CPU thread (no OpenMP spinning, above all on a busy machine)."""
    import torch

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    elif not _cuda_available():
        n = sum(p.numel() for p in model.parameters())
        if n < 2_000_000 or (os.cpu_count() or 1) <= 2:
            torch.set_num_threads(1)


def _previous_train_time(run_dir: Path) -> float:
    p = run_dir / LIGHTNING_DIR / "train_time.json"
    try:
        return float(json.loads(p.read_text())["before_resume_s"])
    except Exception:
        return 0.0


def _store_train_time(run_dir: Path, seconds: float) -> None:
    write_json(run_dir / LIGHTNING_DIR / "train_time.json", {"before_resume_s": seconds})


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
          n_boot: int = 1000, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Segment- and track-level metrics of ``model`` on examples ``ex`` (evaluation.aggregate)."""
    from genrelab.evaluation.aggregate import evaluate_levels
    from genrelab.evaluation.timing import throughput

    proba = predict(model, kind, ex.X, batch_size=batch_size)
    if kind == "sklearn":
        proba = _sklearn_proba_full(model, proba, len(labels))
    other = "vote" if aggregation == "mean" else "mean"
    levels = evaluate_levels(ex.y, proba, ex.track_ids, labels, methods=(aggregation, other), ci=n_boot > 0,
                             n_boot=max(n_boot, 1), seed=seed)
    head = levels["track"] if level == "track" else levels["segment"]
    sample = ex.X[: min(len(ex.X), 16)]
    try:
        tput = throughput(lambda b: predict(model, kind, b, batch_size=batch_size), sample, repeats=1, warmup=1)
    except Exception:  # pragma: no cover - timing is best effort
        tput = None
    return {"levels": levels, "headline": head, "throughput_items_per_s": tput, "proba": proba}


def finish_run(cfg: TrainConfig, entry: Any, data: PreparedData, run_dir: Path, model: Any,
               info: dict[str, Any]) -> Path:
    """Evaluate the selected model, save the checkpoint and write metrics.json."""
    from genrelab import checkpoint
    from genrelab.evaluation.record import make_record, write_metrics_json
    from genrelab.evaluation.timing import count_parameters

    labels = data.labels
    test_name = data.split_info.get("test_part") or "test"
    part, ex = (test_name, data.test) if data.test is not None and len(data.test) else ("valid", data.val)
    scores = None
    if ex is not None and len(ex):
        scores = score(model, entry.kind, ex, labels, level=cfg.level, aggregation=cfg.aggregation,
                       n_boot=cfg.n_boot, seed=cfg.seed, batch_size=max(cfg.batch_size, 64))
    val_scores = None
    if data.test is not None and len(data.test) and data.val is not None and len(data.val):
        val_scores = score(model, entry.kind, data.val, labels, level=cfg.level, aggregation=cfg.aggregation,
                           n_boot=0, seed=cfg.seed)
    if scores:
        np.savez_compressed(run_dir / "predictions.npz", y=ex.y, proba=scores["proba"],
                            track_ids=np.asarray(ex.track_ids, dtype=str), labels=np.asarray(labels, dtype=str))
    n_params = count_parameters(model)
    headline = scores["headline"] if scores else {}
    level = cfg.level
    if scores and data.one_example_per_track:
        level = "track"  # segment == track when each track is one example
    summary = {
        "part": part if scores else None,
        "level": level,
        "accuracy": headline.get("accuracy"),
        "f1_macro": headline.get("f1_macro"),
        "valid_accuracy": (val_scores["headline"].get("accuracy") if val_scores else None),
    }
    ckpt_dir = checkpoint.save(
        run_dir / CHECKPOINT_DIR, model, model_name=cfg.model, model_args=cfg.model_args, labels=labels,
        contract=data.contract, normalizer=data.normalizer,
        train={**cfg.to_dict(), **{k: info.get(k) for k in ("epochs", "best_epoch", "train_time_s")}},
        metrics=summary, extra={"split": data.split_info, "dataset": data.dataset_name},
    )
    split = {**data.split_info, "part": part if scores else None}
    record_fields = dict(
        run=cfg.name or run_dir.name, optimizer=info.get("optimizer", "-"), lr=info.get("lr"),
        batch_size=info.get("batch_size"), scheduler=info.get("scheduler"), epochs=info.get("epochs"),
        best_epoch=info.get("best_epoch"), epochs_to_best=info.get("epochs_to_best"),
        train_time_s=info.get("train_time_s"), n_params=n_params, dataset=data.dataset_name,
        feature=data.spec.feature.kind, seed=cfg.seed, split=split, checkpoint=str(ckpt_dir.name),
        n_train_examples=len(data.train), n_train_tracks=data.train.n_tracks,
    )
    if scores:
        levels = scores["levels"]
        metrics = levels["track"] if level == "track" else levels["segment"]
        other = {k: v for k, v in levels.items() if k != ("track" if level == "track" else "segment")}
        if data.one_example_per_track:  # the model sees whole clips: nothing is aggregated
            metrics = {**metrics, "aggregation": None}
            other = {}
        rec = make_record(metrics, model=cfg.model, level=level,
                          aggregation=metrics.get("aggregation") if level == "track" else None,
                          inference_items_per_s=scores["throughput_items_per_s"], levels=other, **record_fields)
        if val_scores:
            rec["valid"] = {"accuracy": val_scores["headline"].get("accuracy"),
                            "f1_macro": val_scores["headline"].get("f1_macro"), "level": level}
    else:
        rec = make_record({"n": 0, "labels": labels}, model=cfg.model, level=level, **record_fields)
    rec["extra"] = {k: v for k, v in info.items() if k not in record_fields and k not in ("optimizer",)}
    write_metrics_json(run_dir, rec)
    return run_dir


__all__ = ["train", "finish_run", "score", "predict", "CHECKPOINT_DIR", "LIGHTNING_DIR", "ConfigError"]
