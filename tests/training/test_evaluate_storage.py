"""``genrelab evaluate`` reads a part as training stores it: uint8 pixels for colour-mapped images, from the feature
cache (memory-mapped with --mmap), normalised batch by batch; its scores equal the training run's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from genrelab.features.config import InputSpec
from genrelab.features.images import SpectrogramImage
from genrelab.models.registry import InputContract
from tinymodels import registered

SHAPE = (3, 12, 16)
IMAGE = InputSpec(feature=SpectrogramImage(channels=3, height=12, width=16, n_mels=16, n_fft=512, hop_length=256),
                  clip_seconds=2.0)
NAME = "test-tiny-colour-image"


class TinyImageNet(nn.Module):
    """Linear classifier on a (3, 12, 16) colour-mapped spectrogram image (tests only)."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), n_classes))

    @classmethod
    def input_contract(cls, **_):
        return InputContract(IMAGE, SHAPE)

    def forward(self, x):
        return self.net(x)


@pytest.fixture(autouse=True)
def tiny_image_model():
    with registered(NAME, TinyImageNet):
        yield


def test_evaluate_reads_uint8_pixels_from_the_cache_and_matches_training(tiny_genre_folder, tmp_path):
    from typer.testing import CliRunner

    from genrelab.cli import app
    from genrelab.training.config import TrainConfig
    from genrelab.training.trainer import train

    cache = tmp_path / "cache"
    run = train(TrainConfig.from_dict({
        "model": NAME, "epochs": 2, "batch_size": 4, "seed": 0, "progress": False, "n_boot": 10, "out": str(tmp_path / "run"),
        "optim": {"optimizer": "adam", "lr": 0.01},
        "data": {"dataset": "folder", "root": str(tiny_genre_folder), "split": "stratified",
                 "ratios": [0.5, 0.25, 0.25], "allow_artist_leak": True, "cache_dir": str(cache)}}))
    trained = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "config.json").read_text())["train"]["data"]["pixels"] == "auto"
    res = CliRunner().invoke(app, ["evaluate", str(run), "--dataset", "folder", "--root", str(tiny_genre_folder),
                                   "--manifest", str(run / "split.csv"), "--part", "test", "--cache-dir", str(cache),
                                   "--mmap", "true", "--n-boot", "10", "--out", str(tmp_path / "ev"), "-q"])
    assert res.exit_code == 0, res.output
    ev = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert ev["metrics"]["n"] == trained["metrics"]["n"]
    assert ev["metrics"]["accuracy"] == pytest.approx(trained["metrics"]["accuracy"])
    assert ev["metrics"]["log_loss"] == pytest.approx(trained["metrics"]["log_loss"], abs=1e-5)
    sidecars = [json.loads(p.read_text()) for p in cache.glob("*/packs/*.json")]
    assert any(s["dtype"] == "uint8" and s["shape"][0] == ev["metrics"]["n"] for s in sidecars), sidecars


def test_inference_gives_a_uint8_trained_model_the_pixels_it_trained_on(tiny_genre_folder, tmp_path):
    """A model trained on 8-bit pixels (recorded in its checkpoint) gets the same quantised values from
    Checkpoint.predict_proba (classify, the web app and Ray all go through it); one trained on float32 renders
    (``--pixels float32``, or any run from before the setting) gets the float values."""
    from genrelab import checkpoint
    from genrelab.features.images import dequantize, quantize
    from genrelab.training.config import TrainConfig
    from genrelab.training.trainer import train

    def run(pixels):
        return train(TrainConfig.from_dict({
            "model": NAME, "epochs": 1, "batch_size": 4, "progress": False, "n_boot": 5, "out": str(tmp_path / pixels),
            "data": {"dataset": "folder", "root": str(tiny_genre_folder), "split": "stratified", "pixels": pixels,
                     "ratios": [0.5, 0.25, 0.25], "allow_artist_leak": True, "cache_dir": str(tmp_path / "c")}}))

    rng = np.random.default_rng(0)
    x = rng.random((5, *SHAPE), dtype=np.float32)
    ck = checkpoint.load(run("auto") / "checkpoint")
    assert ck.train["input_pixels"] == "uint8" and ck.input_pixels == "uint8"
    want = ck.predictor.predict_proba(ck.normalizer.transform(dequantize(quantize(x))))
    np.testing.assert_allclose(ck.predict_proba(x), want, rtol=0, atol=1e-7)
    assert not np.array_equal(ck.predict_proba(x), ck.predictor.predict_proba(ck.normalizer.transform(x)))
    ck = checkpoint.load(run("float32") / "checkpoint")
    assert ck.train["input_pixels"] == "float32" and ck.input_pixels == "float32"
    np.testing.assert_allclose(ck.predict_proba(x), ck.predictor.predict_proba(ck.normalizer.transform(x)),
                               rtol=0, atol=1e-7)
    del ck.train["input_pixels"]  # a checkpoint from before the setting
    assert ck.input_pixels == "float32"
