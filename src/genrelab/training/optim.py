"""Optimisers and learning-rate schedules, built by name from plain config values.

Optimisers: ``adam``, ``adamw``, ``rmsprop``, ``sgd`` (momentum), ``adadelta``.

``defaults="keras"`` gives the optimisers the constants of ``tf.keras.optimizers`` (TF 2.x / Keras 2.3+),
for the studies written in Keras (Sears, Liu): RMSprop ``rho=0.9`` (torch's ``alpha``, torch default 0.99)
and ``epsilon=1e-7`` (torch 1e-8); Adam, AdamW ``epsilon=1e-7``; Adadelta ``rho=0.95``, ``epsilon=1e-7``
(torch 0.9, 1e-6). The learning rate stays the configured one. Values in ``extra`` win. What cannot be
matched by a constant: Keras adds epsilon inside the square root of RMSprop's running average
(``g / sqrt(v + eps)``; torch: ``g / (sqrt(v) + eps)``) and uses Adam's "epsilon hat" (after bias
correction of the step, not of ``v``); both differ only while gradients are below ~3e-4.

Schedules (all stepped once per optimisation step, so epoch-based settings are converted with
``steps_per_epoch``):

- ``triangular`` / ``triangular2``: Smith's cyclic learning rate (Smith 2017, "Cyclical Learning
  Rates for Training Neural Networks"), as used by Liu et al.: the rate moves linearly between
  ``base_lr`` and ``max_lr`` and back, with a half-cycle of ``step_size_epochs`` epochs
  (Liu et al.: 8 epochs, 5e-4 .. 1e-3). ``triangular2`` halves the amplitude every cycle.
- ``cosine``: cosine annealing from the optimiser's lr to ``min_lr`` over the whole run.
- ``step``: multiply the lr by ``gamma`` every ``step_epochs`` epochs.
- ``none``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable

import torch
from torch.optim.lr_scheduler import LRScheduler

from genrelab.types import ConfigError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "adadelta")
#: Constructor arguments that give torch's optimisers Keras' default constants (``defaults="keras"``).
KERAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "rmsprop": {"alpha": 0.9, "eps": 1e-7},
    "adam": {"eps": 1e-7},
    "adamw": {"eps": 1e-7},
    "adadelta": {"rho": 0.95, "eps": 1e-7},
    "sgd": {},
}
DEFAULT_SETS = ("torch", "keras")
SCHEDULERS = ("none", "triangular", "triangular2", "cosine", "step")


@dataclass
class OptimConfig:
    """Optimiser + schedule settings (the ``optim`` part of a train config)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD and RMSprop
    scheduler: str = "none"
    # cyclic LR (Smith): base_lr..max_lr, half cycle = step_size_epochs
    base_lr: float | None = None  # default: lr
    max_lr: float | None = None  # default: 2 * base_lr
    step_size_epochs: float = 8.0
    # cosine
    min_lr: float = 0.0
    # step
    step_epochs: int = 10
    gamma: float = 0.1
    defaults: str = "torch"  # torch | keras: the optimiser's constants (rho, epsilon), see KERAS_DEFAULTS
    extra: dict[str, Any] = field(default_factory=dict)  # passed to the optimiser constructor

    def __post_init__(self) -> None:
        self.optimizer = str(self.optimizer).lower()
        self.scheduler = str(self.scheduler or "none").lower()
        if self.scheduler in ("clr", "cyclic"):
            self.scheduler = "triangular"
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        self.defaults = str(self.defaults or "torch").lower()
        if self.defaults not in DEFAULT_SETS:
            raise ConfigError(f"optimiser defaults must be one of {', '.join(DEFAULT_SETS)}, got {self.defaults!r}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r}; choose from {', '.join(SCHEDULERS)}")
        if not (self.lr > 0):
            raise ConfigError(f"learning rate must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.scheduler in ("triangular", "triangular2"):
            if self.step_size_epochs <= 0:
                raise ConfigError("step_size_epochs must be > 0 for a cyclic schedule")
            b, m = self.cyclic_bounds()
            if not (0 < b <= m):
                raise ConfigError(f"cyclic LR needs 0 < base_lr <= max_lr, got {b}..{m}")

    def cyclic_bounds(self) -> tuple[float, float]:
        base = self.base_lr if self.base_lr is not None else self.lr
        top = self.max_lr if self.max_lr is not None else 2 * base
        return float(base), float(top)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OptimConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"optimiser settings have no field(s) {sorted(unknown)}")
        return cls(**d)


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.optimizer`` over ``params``.

    With a cyclic schedule the optimiser starts at ``base_lr``.
    """
    lr = cfg.cyclic_bounds()[0] if cfg.scheduler in ("triangular", "triangular2") else cfg.lr
    name = cfg.optimizer
    wd = cfg.weight_decay
    extra = {**(KERAS_DEFAULTS[name] if cfg.defaults == "keras" else {}), **cfg.extra}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **extra)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **extra)
    if name == "rmsprop":
        # Keras' RMSprop default (used by Sears) has no momentum; keep cfg.momentum only when asked.
        momentum = extra.pop("momentum", 0.0)
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=momentum, **extra)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=cfg.momentum, **extra)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd, **extra)
    raise ConfigError(f"unknown optimizer {name!r}")  # pragma: no cover - validated in OptimConfig


def smith_clr(iteration: int, base_lr: float, max_lr: float, step_size: float, mode: str = "triangular") -> float:
    """Smith's cyclic learning rate at ``iteration`` (0-based), ``step_size`` iterations per half cycle.

    cycle = floor(1 + it / (2 * step_size)); x = |it / step_size - 2 * cycle + 1|;
    lr = base + (max - base) * max(0, 1 - x) * scale, scale = 1 (triangular) or 1 / 2**(cycle - 1) (triangular2).
    """
    cycle = math.floor(1 + iteration / (2 * step_size))
    x = abs(iteration / step_size - 2 * cycle + 1)
    scale = 1.0 if mode == "triangular" else 1.0 / (2.0 ** (cycle - 1))
    return base_lr + (max_lr - base_lr) * max(0.0, 1.0 - x) * scale


class CyclicLR(LRScheduler):
    """Smith's triangular / triangular2 schedule; ``step()`` once per optimisation step.

    Unlike ``torch.optim.lr_scheduler.CyclicLR`` it never touches momentum, so it works with every
    optimiser (Adam, Adadelta, ...) the same way.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, max_lr: float, step_size: float,
                 mode: str = "triangular", last_epoch: int = -1):
        if mode not in ("triangular", "triangular2"):
            raise ConfigError(f"unknown cyclic mode {mode!r}")
        if step_size <= 0:
            raise ConfigError("cyclic step size must be > 0")
        self.cyc_base_lr, self.cyc_max_lr, self.step_size, self.mode = float(base_lr), float(max_lr), float(step_size), mode
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        lr = smith_clr(self.last_epoch, self.cyc_base_lr, self.cyc_max_lr, self.step_size, self.mode)
        return [lr for _ in self.optimizer.param_groups]


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, *, steps_per_epoch: int,
                    epochs: int) -> LRScheduler | None:
    """The per-step schedule named by ``cfg.scheduler`` (None for ``none``)."""
    steps_per_epoch = max(1, int(steps_per_epoch))
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler in ("triangular", "triangular2"):
        base, top = cfg.cyclic_bounds()
        return CyclicLR(optimizer, base, top, cfg.step_size_epochs * steps_per_epoch, mode=cfg.scheduler)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, epochs * steps_per_epoch), eta_min=cfg.min_lr)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, cfg.step_epochs * steps_per_epoch),
                                               gamma=cfg.gamma)
    raise ConfigError(f"unknown scheduler {cfg.scheduler!r}")  # pragma: no cover
