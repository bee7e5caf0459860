"""Hoang's CNN -> SVM stage: the scaler + LinearSVC folded into one linear layer gives the SVM's decisions."""

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from genrelab.models import registry
from genrelab.training.stacked import fold_linear_svm


@pytest.mark.parametrize("n_classes, present", [(4, [0, 1, 2, 3]), (2, [0, 1]), (5, [0, 2, 3])])
def test_folded_layer_reproduces_scaler_and_svm(n_classes, present):
    rng = np.random.default_rng(0)
    Z = rng.normal(3.0, 2.0, size=(120, 16))
    y = np.asarray(present)[rng.integers(0, len(present), 120)]
    Z[np.arange(120), y] += 4.0
    mean, std = Z.mean(0), Z.std(0) + 1e-8
    svm = LinearSVC(C=0.5, random_state=0, max_iter=20000).fit((Z - mean) / std, y)
    W, b = fold_linear_svm(svm, mean, std, n_classes)
    logits = Z @ W.T + b
    assert logits.shape == (120, n_classes)
    np.testing.assert_array_equal(logits.argmax(1), svm.predict((Z - mean) / std))
    if n_classes > 2:
        np.testing.assert_allclose(logits[:, present], svm.decision_function((Z - mean) / std), rtol=1e-6, atol=1e-6)
    absent = sorted(set(range(n_classes)) - set(present))
    assert all(logits[:, a].max() < logits.max(1).min() for a in absent)


def test_cnn_svm_model_is_the_cnn_with_an_svm_head():
    torch.manual_seed(0)
    cnn = registry.build("bian-cnn1d", 4)
    svm = registry.build("bian-cnn1d-svm", 4, cnn="../cnn1d")
    svm.load_state_dict(cnn.state_dict(), strict=True)  # the CNN's checkpoint fits exactly
    x = torch.randn(3, 128, 128)
    cnn.eval(), svm.eval()
    with torch.no_grad():
        assert svm.embed(x).shape == (3, 1024)
        torch.testing.assert_close(svm(x), cnn(x))
    assert registry.get("bian-cnn1d-svm").contract() == registry.get("bian-cnn1d").contract()
