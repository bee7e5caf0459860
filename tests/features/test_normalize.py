"""Z-score normalisation fitted on training data only, saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.features.normalize import Standardizer
from genrelab.types import ConfigError


def _data(seed=0, shape=(50, 3, 8, 10)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    return x * np.array([1.0, 5.0, 0.1], dtype=np.float32)[None, :, None, None] + np.array(
        [0.0, 10.0, -3.0], dtype=np.float32)[None, :, None, None]


def test_per_channel_zscore():
    x = _data()
    z = Standardizer(axes=(2, 3)).fit_transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_per_feature_and_global():
    x = np.random.default_rng(1).standard_normal((40, 57)).astype(np.float32) * np.arange(1, 58, dtype=np.float32)
    s = Standardizer().fit(x)
    assert s.mean.shape == (57,)
    np.testing.assert_allclose(s.transform(x).std(axis=0), 1, atol=1e-4)
    g = Standardizer("global").fit(x)
    assert np.asarray(g.mean).size == 1


def test_statistics_come_from_training_data_only_and_round_trip():
    train, test = _data(0), _data(1) + 100.0
    s = Standardizer(axes=(2, 3)).fit(train)
    t = s.transform(test)
    assert t.mean() > 10  # test data is not re-centred with its own statistics
    back = Standardizer.from_state(s.to_config(), s.arrays())
    np.testing.assert_array_equal(back.transform(test), t)


def test_errors():
    with pytest.raises(ConfigError):
        Standardizer().transform(np.zeros((2, 2)))
    with pytest.raises(ConfigError):
        Standardizer().fit(np.zeros((0, 3)))
