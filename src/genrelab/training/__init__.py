"""Training: a Lightning module around any registry model, optimisers and schedules (incl. Smith's
cyclic learning rate), callbacks (history, best weights, atomic resume checkpoints) and
``train(config) -> run dir`` for torch and scikit-learn models alike."""

from genrelab.training.config import DataConfig, TrainConfig
from genrelab.training.optim import OptimConfig

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "train"]


def train(config, **kwargs):
    """See :func:`genrelab.training.trainer.train` (imported lazily: it pulls in Lightning)."""
    from genrelab.training.trainer import train as _train

    return _train(config, **kwargs)
