"""Timer, throughput and parameter counts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from genrelab.evaluation.timing import Timer, count_parameters, throughput


def test_timer_and_throughput():
    with Timer() as t:
        time.sleep(0.01)
    assert 0.009 < t.elapsed < 1.0
    calls = []
    ips = throughput(lambda b: calls.append(len(b)), np.zeros((8, 3)), repeats=3, warmup=1)
    assert calls == [8, 8, 8, 8] and ips > 0


def test_count_parameters_torch():
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    assert count_parameters(m) == 4 * 3 + 3 + 3 * 2 + 2
    m[0].weight.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == 3 + 3 * 2 + 2


def test_count_parameters_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 5)), np.arange(60) % 3
    lr = LogisticRegression(max_iter=200).fit(X, y)
    assert count_parameters(lr) == 3 * 5 + 3
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    assert count_parameters(pipe) == 3 * 5 + 3 + 3 * 5  # + the scaler's mean_, var_, scale_
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    assert count_parameters(tree) > 0
    with pytest.raises(TypeError):
        count_parameters(object())
