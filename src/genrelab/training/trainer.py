"""``train(config) -> run dir``: one training run, torch (Lightning) or scikit-learn.

A run directory holds::

    config.json      the resolved train config (+ data summary)
    history.csv      one row per epoch: epoch, train_loss, val_loss, train_acc, val_acc[, test_loss, test_acc], lr, time_s
    checkpoint/      the best model: model.safetensors (or model.skops) + model.json (genrelab.checkpoint)
    metrics.json     the run record (evaluation.record.RunRecord): scores on the test part (or valid when
                     there is no test part), train/valid/test summaries and the per-epoch history
    lightning/       resume state (last.ckpt, Lightning's own trainer state) and logs (CSV, TensorBoard)

A killed run resumes from ``lightning/last.ckpt`` (``resume=True``) and ends with the same weights
as an uninterrupted run on CPU with the same seed: data order and every RNG are derived from
(seed, epoch), and the resume state holds the optimiser, schedule, early-stopping and best weights.

Scoring and the run record are :mod:`genrelab.training.finish` (shared with the scikit-learn trainer
and ``genrelab evaluate``); k-fold is :mod:`genrelab.training.folds`. Extra Lightning callbacks (e.g.
the tests' crash hooks, :class:`~genrelab.training.callbacks.KillAfterEpoch`) are passed to
:func:`train` as ``callbacks=``; the trainer reads no environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.training.config import TrainConfig
from genrelab.training.data import PreparedData, prepare_data
from genrelab.training.finish import CHECKPOINT_DIR, TrainInfo, finish_run, predict, score, write_json
from genrelab.types import ConfigError

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


def launched_rank() -> int:
    """This process's rank as its launcher set it before Lightning starts (torchrun, SLURM srun, Lightning's DDP
    launcher; read by Lightning itself): 0 for rank 0 and for an ordinary single process."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def train(config: TrainConfig | dict[str, Any], *, data: PreparedData | None = None, resume: bool = False,
          cache: Any = None, callbacks: Sequence[Any] = ()) -> Path:
    """Train the model described by ``config``; returns the run directory.

    ``data`` skips data preparation (tests, sweeps that share arrays). ``resume`` continues from
    the run directory's last resume checkpoint when there is one. With ``data.folds`` (and no
    ``data.fold``) every fold is trained in ``fold-<i>/`` and summarised in the run's metrics.json.
    ``callbacks`` are extra Lightning callbacks for torch models (run before the resume checkpoint).
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    from genrelab.models import registry

    entry = registry.get(cfg.model)
    if data is None and cfg.data.folds and cfg.data.fold is None:
        from genrelab.training.folds import train_folds

        return train_folds(cfg, lambda fcfg, res, fcache: train(fcfg, resume=res, cache=fcache, callbacks=callbacks),
                           resume=resume)
    if entry.kind == "torch":  # ImageNet weights by default where the study fine-tunes (before config.json)
        from genrelab.training.pretrained import resolve_pretrained

        cfg = resolve_pretrained(cfg, entry)
    if data is None:
        data = prepare_data(cfg, entry, cache=cache)
    if entry.kind == "sklearn" or launched_rank() == 0:  # DDP: every rank prepares the data, rank 0 alone writes
        write_json(run_dir / "config.json", {"train": cfg.to_dict(), "data_summary": data.summary()})
        if getattr(data, "split", None) is not None:
            data.split.to_csv(run_dir / "split.csv")  # the exact split, to repeat or audit the run
    if getattr(entry.cls, "fit_stage", None) == "cnn-svm":  # Hoang's CNN -> SVM: fitted on a trained CNN, no SGD
        from genrelab.training.stacked import train_cnn_svm

        return train_cnn_svm(cfg, entry, data, run_dir)
    if entry.kind == "sklearn":
        from genrelab.training.sklearn_trainer import train_sklearn

        return train_sklearn(cfg, entry, data, run_dir)
    import torch

    threads_before = torch.get_num_threads()
    try:
        return _train_torch(cfg, entry, data, run_dir, resume=resume, extra_callbacks=callbacks)
    finally:
        torch.set_num_threads(threads_before)


def _precision(cfg: TrainConfig, on_gpu: bool) -> str:
    if cfg.precision == "auto":
        return "16-mixed" if on_gpu else "32-true"
    if not on_gpu and cfg.precision in ("16-mixed", "16", "bf16-mixed"):
        return "32-true"  # mixed precision only on GPU
    return cfg.precision


def _train_torch(cfg: TrainConfig, entry: Any, data: PreparedData, run_dir: Path, *, resume: bool,
                 extra_callbacks: Sequence[Any] = ()) -> Path:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    from genrelab.datasets.torch import GenreDataModule, make_loader
    from genrelab.training.callbacks import (
        AtomicCheckpointIO, BestWeights, EpochSeed, History, ResumeCheckpoint, TestCurve,
    )
    from genrelab.training.module import GenreModule, batch_augmentation

    for pat in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                ".*The number of training batches.*", ".*Experiment logs directory.*", ".*Total length of .* across ranks is zero.*",
                ".*module\\(s\\) in eval mode.*", ".*overridden `on_after_batch_transfer`.*", ".*treespec.*", ".*`isinstance.*TreeSpec.*"):
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

    on_gpu = cfg.accelerator in ("gpu", "cuda") or (cfg.accelerator == "auto" and _cuda_available())
    # stored batches (uint8 pixels, memory-mapped packs) are normalised on the device after the transfer, except
    # under true half/double precision, whose input conversion runs before it (they come normalised from the host)
    dm = GenreDataModule(data.train, data.val if has_val else None, data.test, batch_size=cfg.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed,
                         on_device=_precision(cfg, on_gpu) in ("32-true", "32", "16-mixed", "bf16-mixed"))
    class_weights = None
    if cfg.class_weights:
        counts = np.bincount(data.train.y, minlength=len(labels)).astype(np.float64)
        class_weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(labels), dtype=torch.float32)
    augment, mixup = batch_augmentation(cfg, data.spec, data.train.example_shape)  # training batches, on the device
    module = GenreModule(model, cfg.optim, steps_per_epoch=dm.steps_per_epoch(), epochs=cfg.epochs,
                         class_weights=class_weights, label_smoothing=cfg.label_smoothing,
                         input_transform=dm.input_transform, augment=augment, mixup=mixup, n_classes=len(labels))

    light_dir = run_dir / LIGHTNING_DIR
    test_curve = None
    if cfg.test_curve and data.test is not None and len(data.test):
        # test scores per epoch for the plots of studies that report test curves: never monitored
        test_curve = TestCurve(make_loader(data.test, cfg.batch_size), class_weights, cfg.label_smoothing)
    history = History(run_dir / "history.csv", test_curve)
    best = BestWeights(monitor, mode)
    resume_ckpt = ResumeCheckpoint(light_dir)
    callbacks: list[Any] = [EpochSeed(cfg.seed), *([test_curve] if test_curve else []), history, best]
    if cfg.patience is not None and cfg.patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience, check_finite=False,
                                       strict=False))
    callbacks.extend(extra_callbacks)
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
    info = TrainInfo(
        optimizer=cfg.optim.optimizer, lr=cfg.optim.lr, batch_size=cfg.batch_size, scheduler=cfg.optim.scheduler,
        epochs=epochs_done, best_epoch=best.best_epoch, epochs_to_best=best.best_epoch, monitor=monitor,
        train_time_s=prev_time + train_time, stopped_early=bool(epochs_done < cfg.epochs),
        history=tuple(history.rows),
    )
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


__all__ = ["train", "finish_run", "score", "predict", "write_json", "CHECKPOINT_DIR", "LIGHTNING_DIR", "ConfigError"]
