"""The LightningModule that trains any registry torch model with cross-entropy.

The wrapped model stays a plain ``nn.Module`` (``self.model``); the module only adds the loss,
the optimiser/schedule from :mod:`genrelab.training.optim` and per-epoch logging of
``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from genrelab.training.optim import OptimConfig, build_optimizer, build_scheduler


class GenreModule(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, optim: OptimConfig, *, steps_per_epoch: int = 1,
                 epochs: int = 1, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0,
                 input_transform: Any = None, augment: Any = None):
        super().__init__()
        self.model = model
        self.input_transform = input_transform  # callable on every batch (x) -> x, on the device
        self.augment = augment  # callable on training batches (x) -> x, on the device
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
        return (x, y, *batch[2:])

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weights, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(dim=1) == y).float().mean()
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
