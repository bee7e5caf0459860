"""Spectrogram images: shapes of every study's preset, tensor == PNG pixels, Qin's per-channel z-score."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.features.images import (SpectrogramImage, kaggle_image, kaggle_image_spec, liu_image_spec,
                                      omier_image_spec, qin_image_spec, read_png, save_image, write_png)
from genrelab.features.normalize import Standardizer
from genrelab.features.spectral import MelSpectrogram


@pytest.fixture(scope="module")
def clip():
    from tests.conftest import make_tone

    y = make_tone(220.0, seconds=30.0, noise=0.05)
    y[: 22050 * 10] += make_tone(1760.0, seconds=10.0, amp=0.3)
    return y


@pytest.mark.parametrize("spec_fn,shape", [
    (kaggle_image_spec, (1, 4, 288, 432)), (qin_image_spec, (1, 3, 288, 432)),
    (omier_image_spec, (10, 3, 288, 432)), (liu_image_spec, (1, 1, 128, 128)),
])
def test_preset_shapes(spec_fn, shape, clip):
    ex = spec_fn().examples(clip)
    assert ex.shape == shape and ex.dtype == np.float32
    assert 0.0 <= ex.min() and ex.max() <= 1.0
    assert spec_fn().feature.output_shape(len(clip)) == shape[1:]


def test_rgba_has_opaque_alpha_and_low_frequencies_at_bottom(clip):
    img = kaggle_image().compute(clip)
    assert np.all(img[3] == 1.0)
    grey = SpectrogramImage(channels=1).compute(clip)[0]
    # the 220 Hz tone is a bright row near the bottom of the image, the 1760 Hz tone (first 10 s) higher up
    rows = grey[:, 200:].mean(axis=1)
    assert np.argmax(rows) > 200
    early = grey[:, :100].mean(axis=1)  # first 10 s: a bright band higher up that the last 20 s lack
    band = int(np.argmax(early[:200]))
    assert early[band] > rows[band] + 0.2


def test_image_follows_the_mel_spectrogram(clip):
    cfg = SpectrogramImage(channels=1, width=1 + len(clip) // 512, height=128)  # one pixel per mel cell
    mel = MelSpectrogram().compute(clip)
    expect = (mel - mel.min()) / (mel.max() - mel.min())
    np.testing.assert_allclose(cfg.compute(clip)[0], expect[::-1], atol=1e-5)


def test_png_round_trip_within_one_level(clip, tmp_path):
    img = kaggle_image().compute(clip)
    p = write_png(img, tmp_path / "x.png")
    back = read_png(p)
    assert back.shape == img.shape
    assert np.abs(back - img).max() <= 0.5 / 255 + 1e-6
    from PIL import Image

    with Image.open(p) as im:
        assert im.size == (432, 288) and im.mode == "RGBA"
    rgb = read_png(p, channels=3)  # Qin drops alpha
    assert rgb.shape == (3, 288, 432)
    grey = save_image(clip, tmp_path / "g.png", SpectrogramImage(width=128, height=128, channels=1))
    assert read_png(grey).shape == (1, 128, 128)


def test_batch_and_qin_zscore(clip):
    cfg = SpectrogramImage(channels=3)
    batch = cfg.compute(np.stack([clip[:22050 * 5], clip[22050 * 5:22050 * 10]]))
    assert batch.shape == (2, 3, 288, 432)
    np.testing.assert_allclose(batch[1], cfg.compute(clip[22050 * 5:22050 * 10]), atol=1e-6)
    z = Standardizer(axes=(2, 3)).fit_transform(batch)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-4)
