"""A tiny model for the training tests, registered only while a test runs (fixture ``tiny_model``
in the conftests), so the model-zoo tests that iterate over the registry never see it."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from torch import nn

from genrelab.features.config import InputSpec, TableFeature
from genrelab.models.registry import InputContract, _REGISTRY, register

N_FEATURES = 8


def table_spec(n: int = N_FEATURES) -> InputSpec:
    return InputSpec(feature=TableFeature(columns=tuple(f"f{i}" for i in range(n))))


TINY = "test-tiny-mlp"


class TinyMLP(nn.Module):
    """Two-layer MLP with dropout (for training tests)."""

    def __init__(self, n_classes: int, n_features: int = N_FEATURES, hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))

    @classmethod
    def input_contract(cls, n_features: int = N_FEATURES, **_):
        return InputContract(table_spec(n_features), (n_features,))

    def forward(self, x):
        return self.net(x)


@contextmanager
def registered(name: str = TINY, cls: type = TinyMLP):
    """Register a test model (default: the tiny MLP) for the duration of a block (the registry is global)."""
    from genrelab.models import registry

    registry.list_models()  # load the zoo first
    added = name not in _REGISTRY
    if added:
        register(name, family="test")(cls)
    try:
        yield
    finally:
        if added:
            _REGISTRY.pop(name, None)


def blobs(n_per_class: int = 30, n_classes: int = 3, n_features: int = N_FEATURES, seed: int = 0, sep: float = 3.0):
    """Gaussian blobs: X (n, f) float32, y (n,) int."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, sep, size=(n_classes, n_features))
    X = np.concatenate([centers[c] + rng.normal(0, 1, size=(n_per_class, n_features)) for c in range(n_classes)])
    y = np.repeat(np.arange(n_classes), n_per_class)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order]
