"""Keras-compatible building blocks."""

from __future__ import annotations

import math

import pytest
import torch

from genrelab.models.layers import KerasMaxPool2d, keras_init_, same_pad_amounts


@pytest.mark.parametrize("size,k,s", [(123, 3, 2), (11, 3, 2), (29, 2, 2), (1, 2, 2), (8, 3, 1), (7, 2, 3)])
def test_same_max_pool_matches_tensorflow_shapes(size, k, s):
    x = torch.randn(1, 1, size, size)
    out = KerasMaxPool2d(k, s, "same")(x)
    assert out.shape[-1] == math.ceil(size / s)  # TensorFlow's 'same'
    before, after = same_pad_amounts(size, k, s)
    assert after - before in (0, 1)  # the odd cell goes at the end
    assert torch.isfinite(out).all()  # padding never wins


def test_same_max_pool_values():
    x = torch.arange(5.0).reshape(1, 1, 1, 5)
    # width 5, pool 2, stride 2 -> 3 outputs: [0,1] [2,3] [4,pad]
    assert KerasMaxPool2d((1, 2), (1, 2), "same")(x).flatten().tolist() == [1.0, 3.0, 4.0]
    assert KerasMaxPool2d((1, 2), (1, 2), "valid")(x).flatten().tolist() == [1.0, 3.0]
    x = -torch.ones(1, 1, 1, 3)  # negative values: a zero pad would win, -inf does not
    assert KerasMaxPool2d((1, 2), (1, 2), "same")(x).flatten().tolist() == [-1.0, -1.0]


def test_keras_init():
    lstm = keras_init_(torch.nn.LSTM(13, 64))
    assert torch.all(lstm.bias_ih_l0[64:128] == 1) and torch.all(lstm.bias_hh_l0 == 0)
    w = lstm.weight_hh_l0.detach()  # (256, 64), orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(64), atol=1e-5, rtol=0)
    lin = keras_init_(torch.nn.Linear(100, 50))
    assert lin.weight.abs().max() <= math.sqrt(6 / 150) and torch.all(lin.bias == 0)
