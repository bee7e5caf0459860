"""Lightning callbacks and plugins used by :func:`genrelab.training.trainer.train`.

- :class:`EpochSeed` re-seeds every RNG at the start of each epoch from (seed, epoch), so a run
  resumed from an end-of-epoch checkpoint draws the same random numbers (dropout, augmentation)
  as an uninterrupted one.
- :class:`History` writes ``history.csv`` (epoch, train_loss, val_loss, train_acc, val_acc, lr)
  after every epoch; its rows travel in the resume checkpoint.
- :class:`TestCurve` scores the test part after every epoch (``test_loss``, ``test_acc`` columns of
  the history) for studies that plot test curves; plots only: nothing monitors or selects on it.
- :class:`KillAfterEpoch` is a test hook (tests pass it to ``train(callbacks=[...])``).
- :class:`BestWeights` keeps a CPU copy of the weights with the best monitored score (also in the
  resume checkpoint) so the published checkpoint is the best epoch, not the last.
- :class:`ResumeCheckpoint` writes ``last.ckpt`` (Lightning's own trainer state: weights,
  optimiser, schedule, loops, callbacks) at the end of every epoch, atomically.
- :class:`AtomicCheckpointIO` makes every Lightning checkpoint write atomic (temp file + rename) and
  reads resume state with the safe loader only (`torch.load(weights_only=True)`: nothing is unpickled).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import random
import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from genrelab.evaluation.record import HISTORY_COLUMNS, TEST_CURVE_COLUMNS
from genrelab.fileio import atomic_write_bytes

HISTORY_FIELDS = (*HISTORY_COLUMNS, "lr", "time_s")


def _scalar(v: Any) -> float | None:
    if v is None:
        return None
    try:
        x = float(v.item() if hasattr(v, "item") else v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def seed_all(seed: int) -> None:
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EpochSeed(Callback):
    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed_all(self.seed * 7919 + 1000 * (trainer.current_epoch + 1) + trainer.global_rank)


class TestCurve(Callback):
    """Loss and accuracy of the model on the test part after every training epoch (for plots only).

    Runs in eval mode without gradients over a fixed-order loader, after validation and before
    :class:`History` writes the row, so it changes neither the weights nor any random stream (the
    next epoch re-seeds everything anyway). Its values are never logged to Lightning: early
    stopping and best-epoch selection cannot see them.
    """

    def __init__(self, loader: Any, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0):
        self.loader = loader
        self.class_weights = class_weights
        self.label_smoothing = float(label_smoothing)
        self.last: dict[str, float | None] = {}

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import torch.nn.functional as F

        was_training = pl_module.training
        pl_module.eval()
        total, loss_sum, correct = 0, 0.0, 0
        weight = None if self.class_weights is None else self.class_weights.to(pl_module.device)
        try:
            for batch in self.loader:
                x, y = batch[0].to(pl_module.device), batch[1].to(pl_module.device)
                logits = pl_module(x).float()
                n = int(y.shape[0])
                loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=self.label_smoothing)
                loss_sum += float(loss) * n
                correct += int((logits.argmax(dim=1) == y).sum())
                total += n
        finally:
            pl_module.train(was_training)
        self.last = {"test_loss": loss_sum / total if total else None, "test_acc": correct / total if total else None}


class History(Callback):
    def __init__(self, path: str | Path, test_curve: TestCurve | None = None):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self._t0: float | None = None
        self.test_curve = test_curve
        self.fields = (*HISTORY_COLUMNS, *(TEST_CURVE_COLUMNS if test_curve else ()), "lr", "time_s")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import time

        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import time

        m = trainer.callback_metrics
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1}
        for k in ("train_loss", "val_loss", "train_acc", "val_acc"):
            row[k] = _scalar(m.get(k))
        if self.test_curve is not None:
            row.update({k: _scalar(self.test_curve.last.get(k)) for k in TEST_CURVE_COLUMNS})
        row["lr"] = _scalar(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None
        row["time_s"] = round(time.perf_counter() - self._t0, 4) if self._t0 is not None else None
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            self.write()

    def write(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.fields), extrasaction="ignore")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in self.fields})
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def state_dict(self) -> dict[str, Any]:
        return {"rows": copy.deepcopy(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state.get("rows", []))


class BestWeights(Callback):
    """Tracks the epoch with the best ``monitor`` value and a copy of its weights."""

    def __init__(self, monitor: str, mode: str):
        self.monitor, self.mode = monitor, mode
        self.best_score: float | None = None
        self.best_epoch: int | None = None  # 1-based
        self.best_state: dict[str, torch.Tensor] | None = None

    def _better(self, x: float) -> bool:
        if self.best_score is None:
            return True
        return x > self.best_score if self.mode == "max" else x < self.best_score

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        x = _scalar(trainer.callback_metrics.get(self.monitor))
        if x is None:
            # no such metric (e.g. no validation data): the last epoch is the best
            x = float(trainer.current_epoch) if self.mode == "max" else -float(trainer.current_epoch)
        if self._better(x):
            self.best_score = x
            self.best_epoch = trainer.current_epoch + 1
            model = getattr(pl_module, "model", pl_module)
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_state": self.best_state,
                "monitor": self.monitor, "mode": self.mode}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state.get("best_score")
        self.best_epoch = state.get("best_epoch")
        self.best_state = state.get("best_state")


class SimulatedCrash(RuntimeError):
    """Raised by :class:`KillAfterEpoch` in ``raise`` mode."""


class KillAfterEpoch(Callback):
    """Test hook: crash at the start of epoch ``n + 1`` (after epoch n's resume checkpoint was written).

    Tests inject it with ``train(..., callbacks=[KillAfterEpoch(n, mode)])``: ``mode="kill"`` SIGKILLs
    the process (nothing runs after it, like a power cut); ``mode="raise"`` raises
    :class:`SimulatedCrash` (in-process tests).
    """

    def __init__(self, n: int, mode: str = "kill"):
        self.n, self.mode = int(n), mode

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.n:
            if self.mode == "raise":
                raise SimulatedCrash(f"simulated crash after epoch {self.n}")
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


class ResumeCheckpoint(Checkpoint):
    """Saves ``<dir>/last.ckpt`` at the end of every training epoch (runs after the other callbacks)."""

    FILE = "last.ckpt"

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)

    @property
    def path(self) -> Path:
        return self.dirpath / self.FILE

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        trainer.save_checkpoint(str(self.path), weights_only=False)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO whose writes are atomic: a killed run never leaves a torn ``.ckpt``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write_bytes(Path(path), buf.getvalue())

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Read resume state with PyTorch's safe loader only (``weights_only=True``, no extra globals).

        Lightning's resume state (weights, optimiser and scheduler state, loops, callback states) is
        tensors, numbers, strings and plain containers, all of which the safe loader accepts; a file
        that needs anything else (e.g. a pickle whose ``__reduce__`` would run code) is refused, never
        unpickled, whatever ``weights_only`` Lightning asks for.
        """
        import pickle

        from genrelab.types import CheckpointError

        try:
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            try:  # names the offending globals by reading the pickle's opcodes (nothing is executed)
                names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
            except Exception:
                names = re.findall(r"Unsupported global: GLOBAL (\S+)", str(exc))
            raise CheckpointError(
                f"{path}: refused to resume from it: it holds objects other than tensors and plain values "
                f"({', '.join(names) or 'unknown globals'}): not genrelab's resume state, or tampered with. "
                "Delete it to train from scratch.") from None
        except (RuntimeError, EOFError, ValueError, OSError) as exc:
            raise CheckpointError(f"{path}: unreadable resume state ({type(exc).__name__}: {exc}); "
                                  "delete it to train from scratch") from None
