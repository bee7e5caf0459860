"""Augmentation: pitch shift moves a sine by a semitone, time stretch gives the expected length, train only."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.features.augment import (Augmentation, Mixup, SpecAugment, apply, build_augmenter,
                                       expand_training_set, pitch_shift, time_stretch)
from genrelab.types import ConfigError, Track

SR = 22050


def _sine(freq=440.0, seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x):
    X = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    i = int(np.argmax(X))
    a, b, c = np.log(X[i - 1:i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * SR / len(x)


@pytest.mark.parametrize("steps", [1, -1])
def test_pitch_shift_moves_peak_by_one_semitone(steps):
    y = _sine()
    z = pitch_shift(y, SR, steps)
    assert z.shape == y.shape and z.dtype == np.float32
    semitones = 12 * np.log2(_peak_hz(z) / _peak_hz(y))
    assert abs(semitones - steps) < 0.05


@pytest.mark.parametrize("rate", [0.93, 1.07])
def test_time_stretch_length_and_pitch(rate):
    y = _sine(seconds=3.0)
    z = time_stretch(y, rate)
    assert len(z) == round(len(y) / rate)
    assert abs(_peak_hz(z) - 440.0) < 2.0  # tempo changes, pitch does not


def test_expand_training_set_liu_variants_train_only():
    tracks = [Track("a", None, "rock", split="train"), Track("b", None, "jazz")]
    out = expand_training_set(tracks)
    assert len(out) == 10
    assert [t.track_id for t in out[:5]] == ["a", "a@pitch-1", "a@pitch+1", "a@tempo0.93", "a@tempo1.07"]
    assert out[2].extra["augment"] == {"kind": "pitch", "value": 1.0} and out[2].label == "rock"
    for split in ("valid", "test"):
        with pytest.raises(ConfigError):
            expand_training_set([Track("c", None, "pop", split=split)])
    with pytest.raises(ConfigError):
        expand_training_set(out[1:2])


def test_apply_from_dict_and_on_the_fly_augmenter():
    y = _sine(seconds=1.0)
    z = apply(y, SR, {"kind": "tempo", "value": 1.07})
    assert len(z) == round(len(y) / 1.07)
    assert apply(y, SR, None) is y
    fn = build_augmenter()
    a = fn(y, SR, np.random.default_rng(5))
    b = fn(y, SR, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)  # seeded
    assert build_augmenter(p=0.0)(y, SR, np.random.default_rng(0)) is y
    with pytest.raises(ConfigError):
        Augmentation("reverse", 1.0)


def test_specaugment_masks_bands_and_spans():
    x = np.random.default_rng(0).standard_normal((3, 1, 64, 100)).astype(np.float32) + 5.0
    before = x.copy()
    out = SpecAugment(freq_masks=1, freq_width=10, time_masks=1, time_width=10, value=0.0, seed=1)(x)
    assert out.shape == x.shape and isinstance(out, np.ndarray)
    assert np.array_equal(x, before) and out is not x  # input untouched
    zero = out == 0.0
    assert zero.any()
    for b in range(3):
        full_rows = zero[b, 0].all(axis=1).sum()
        full_cols = zero[b, 0].all(axis=0).sum()
        assert full_rows <= 10 and full_cols <= 10
        assert zero[b, 0].sum() == full_rows * 100 + full_cols * 64 - full_rows * full_cols


def test_mixup_mixes_labels_consistently():
    import torch

    x = torch.arange(8, dtype=torch.float32).reshape(4, 2)
    xm, ym = Mixup(alpha=0.4, seed=0)(x, torch.tensor([0, 1, 2, 1]), n_classes=3)
    assert xm.shape == x.shape and ym.shape == (4, 3)
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(4))
    eye = torch.eye(4)  # examples = their own one-hot labels: the mixed inputs must equal the mixed labels
    xe, ye = Mixup(alpha=0.4, seed=3)(eye, torch.arange(4), n_classes=4)
    torch.testing.assert_close(xe, ye)
    assert not torch.equal(xe, eye)  # seed 3 mixes some rows
    xn, yn = Mixup(seed=1)(x.numpy(), np.array([0, 1, 2, 1]), n_classes=3)
    assert isinstance(xn, np.ndarray) and isinstance(yn, np.ndarray) and yn.shape == (4, 3)
