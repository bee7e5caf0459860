"""The LightningModule that trains any registry torch model with cross-entropy.

The wrapped model stays a plain ``nn.Module`` (``self.model``); the module only adds the loss,
the optimiser/schedule from :mod:`genrelab.training.optim` and per-epoch logging of
``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc``.

Batches are transformed on the device after the transfer (:meth:`GenreModule.on_after_batch_transfer`):
``input_transform`` (every batch), then, on training batches only, ``augment`` (e.g.
:class:`~genrelab.features.augment.SpecAugment`) and ``mixup`` (soft labels; the loss takes class
probabilities and the accuracy their argmax). :func:`batch_augmentation` builds both from a train config.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from genrelab.training.optim import OptimConfig, build_optimizer, build_scheduler
from genrelab.types import ConfigError


class GenreModule(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, optim: OptimConfig, *, steps_per_epoch: int = 1,
                 epochs: int = 1, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0,
                 input_transform: Any = None, augment: Any = None, mixup: Any = None, n_classes: int | None = None):
        super().__init__()
        self.model = model
        self.input_transform = input_transform  # callable on every batch (x) -> x, on the device
        self.augment = augment  # callable on training batches (x) -> x, on the device
        self.mixup = mixup  # callable on training batches (x, y, n_classes) -> (x, soft y)
        self.n_classes = n_classes
        self.optim_cfg = optim
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.label_smoothing = float(label_smoothing)
        if class_weights is not None:
            self.register_buffer("class_weights", class_weights.float(), persistent=False)
        else:
            self.class_weights = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch[0], batch[1]
        if self.input_transform is not None:
            x = self.input_transform(x)
        if self.training and self.augment is not None:
            x = self.augment(x)
        if self.training and self.mixup is not None:
            x, y = self.mixup(x, y, self.n_classes)
        return (x, y, *batch[2:])

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        # soft labels (mixup) are class probabilities: cross-entropy takes them as they are
        target = y.float() if y.is_floating_point() else y
        loss = F.cross_entropy(logits.float(), target, weight=self.class_weights, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(dim=1) == (y.argmax(dim=1) if y.ndim == 2 else y)).float().mean()
        n = y.shape[0]
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        if on_step and self.trainer is not None and self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False,
                     prog_bar=False, batch_size=n)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return torch.softmax(self.model(batch[0]).float(), dim=1)

    def configure_optimizers(self):  # type: ignore[override]
        opt = build_optimizer(self.model.parameters(), self.optim_cfg)
        sched = build_scheduler(opt, self.optim_cfg, steps_per_epoch=self.steps_per_epoch, epochs=self.epochs)
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}


def batch_augmentation(cfg: Any, spec: Any, example_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """``(augment, mixup)`` for :class:`GenreModule` from a train config's ``specaugment`` and ``mixup``.

    SpecAugment masks the last two axes of spectrogram-like inputs (time-major ones, e.g. MFCC
    ``(frames, bands)``, get ``time_axis=-2``); waveforms and feature vectors are refused. Both draw
    from torch's (and numpy's) global generators, which :class:`~genrelab.training.callbacks.EpochSeed`
    re-seeds every epoch, so a resumed run draws the same masks as an uninterrupted one.
    """
    from genrelab.datasets.torch import WAVEFORM_KINDS, is_time_major
    from genrelab.features.augment import Mixup, SpecAugment

    augment = mixup = None
    if cfg.specaugment is not None:
        kind = spec.feature.kind
        if kind in WAVEFORM_KINDS or len(example_shape) < 2:
            raise ConfigError(f"specaugment masks spectrograms (..., freq, time); model {cfg.model!r} takes "
                              f"{kind} input of shape {tuple(example_shape)}")
        augment = SpecAugment(**cfg.specaugment, time_axis=-2 if is_time_major(spec) else -1)
    if cfg.mixup is not None:
        mixup = Mixup(cfg.mixup)
    return augment, mixup
