"""scikit-learn baselines: registry, contract, fit/predict and skops checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from zoo_cases import sklearn_model_names

from genrelab import checkpoint
from genrelab.models import registry

NAMES = sklearn_model_names()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 57))
    y = np.repeat(np.arange(3), 20)
    x = (centers[y] + rng.normal(0, 1, size=(60, 57))).astype(np.float32)
    return x, y


def test_the_four_baselines_are_registered():
    assert {"svm-rbf", "logreg", "random-forest", "knn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_contract_is_gtzan57_over_the_whole_clip(name):
    contract = registry.get(name).contract()
    assert contract.input_shape == (57,)
    assert contract.spec.feature.kind == "gtzan57"
    # the whole clip, uncropped: cropping breaks parity with the Kaggle table
    assert contract.spec.clip_seconds is None and not contract.spec.segmented


@pytest.mark.parametrize("name", NAMES)
def test_fit_predict_and_checkpoint_roundtrip(name, data, tmp_path):
    from sklearn.pipeline import Pipeline

    x, y = data
    model = registry.build(name, n_classes=3)
    assert isinstance(model, Pipeline)
    model.fit(x, y)
    proba = model.predict_proba(x)
    assert proba.shape == (60, 3)
    assert (model.predict(x) == y).mean() > 0.9
    labels = ["a", "b", "c"]
    checkpoint.save(tmp_path / name, model, model_name=name, labels=labels)
    assert (tmp_path / name / checkpoint.SKLEARN_WEIGHTS).exists()
    ck = checkpoint.load(tmp_path / name)
    assert ck.kind == "sklearn" and ck.labels == labels
    assert ck.contract == registry.get(name).contract()
    np.testing.assert_array_equal(ck.model.predict_proba(x), proba)


def test_arguments_reach_the_estimator():
    model = registry.build("knn", n_classes=10, n_neighbors=3)
    assert model.named_steps["knn"].n_neighbors == 3
    model = registry.build("random-forest", n_classes=10, n_estimators=7)
    assert model.named_steps["forest"].n_estimators == 7
