"""SpecAugment / mixup on training batches (TrainConfig.specaugment, .mixup): on training batches only,
recorded in the run's config, and a resumed run draws the same masks as an uninterrupted one."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from genrelab import checkpoint
from genrelab.features.config import InputSpec
from genrelab.features.spectral import MFCC, MelSpectrogram
from genrelab.models.registry import InputContract
from genrelab.training import module as module_mod
from genrelab.training.config import TrainConfig
from genrelab.training.data import prepare_arrays
from genrelab.training.module import GenreModule, batch_augmentation
from genrelab.training.trainer import train
from genrelab.types import ConfigError
from tinymodels import registered

SHAPE = (1, 16, 20)
MEL = InputSpec(feature=MelSpectrogram(n_mels=16))
TINY_SPEC = "test-tiny-spec"


class TinySpecNet(nn.Module):
    """Linear classifier on a flattened (1, 16, 20) mel patch (training tests only)."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(int(np.prod(SHAPE)), n_classes))

    @classmethod
    def input_contract(cls, **_):
        return InputContract(MEL, SHAPE)

    def forward(self, x):
        return self.net(x)


@pytest.fixture(autouse=True)
def tiny_spec_model():
    with registered(TINY_SPEC, TinySpecNet):
        yield


def spec_data():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.standard_normal((60, *SHAPE)).astype(np.float32)
    X[:, 0, :, :] += (y[:, None, None] == np.arange(16)[None, :, None] // 6) * 2.0  # class = louder bands
    return prepare_arrays(X[:36], y[:36], ["a", "b", "c"], MEL, X_val=X[36:48], y_val=y[36:48],
                          X_test=X[48:], y_test=y[48:])


def cfg(out, **kw):
    base = dict(model=TINY_SPEC, epochs=3, batch_size=12, seed=2, out=str(out), progress=False, n_boot=20,
                optim={"optimizer": "adam", "lr": 0.01}, data={"dataset": "table", "root": "x", "split": "none"})
    base.update(kw)
    return TrainConfig.from_dict(base)


def weights(run):
    from safetensors.numpy import load_file

    return load_file(run / "checkpoint/model.safetensors")


AUG = {"specaugment": {"freq_masks": 1, "freq_width": 4, "time_masks": 2, "time_width": 5}, "mixup": 0.4}


def test_config_validates_and_records_the_options(tmp_path):
    c = cfg(tmp_path, specaugment={})
    assert c.specaugment == {"freq_masks": 2, "freq_width": 8, "time_masks": 2, "time_width": 20}
    assert c.to_dict()["specaugment"] == c.specaugment and c.mixup is None
    assert cfg(tmp_path).specaugment is None  # off by default: no study changes
    for bad in ({"specaugment": {"freq_width": -1}}, {"specaugment": {"width": 3}}, {"specaugment": [1, 2]},
                {"mixup": 0}, {"mixup": -0.2}, {"mixup": "a lot"}):
        with pytest.raises(ConfigError):
            cfg(tmp_path, **bad)


def test_time_major_and_unsuitable_inputs():
    c = cfg("x", specaugment={})
    aug, mix = batch_augmentation(c, MEL, SHAPE)
    assert aug.time_axis == -1 and mix is None
    mfcc = InputSpec(feature=MFCC(n_mfcc=13, time_major=True))
    assert batch_augmentation(c, mfcc, (50, 13))[0].time_axis == -2
    from tinymodels import table_spec

    with pytest.raises(ConfigError, match="spectrograms"):
        batch_augmentation(c, table_spec(), (8,))


def test_hook_augments_training_batches_only():
    m = GenreModule(nn.Linear(4, 2), TrainConfig(model="x").optim, input_transform=lambda x: x * 2,
                    augment=lambda x: x + 100, mixup=None, n_classes=2)
    batch = (torch.ones(3, 4), torch.tensor([0, 1, 0]), "ids")
    m.train()
    x, y, ids = m.on_after_batch_transfer(batch, 0)
    assert torch.equal(x, torch.full((3, 4), 102.0)) and ids == "ids"
    m.eval()
    x, y, _ = m.on_after_batch_transfer(batch, 0)
    assert torch.equal(x, torch.full((3, 4), 2.0)) and torch.equal(y, batch[1])
    m.mixup = lambda x, y, n: (x, torch.nn.functional.one_hot(y, n).float())
    m.train()
    x, y, _ = m.on_after_batch_transfer(batch, 0)
    assert y.shape == (3, 2)
    loss = m._step((x, y), "val")  # soft labels: cross-entropy on probabilities (no trainer: no lr log)
    assert torch.isfinite(loss)


def test_training_with_augmentation_differs_resumes_identically_and_never_touches_eval(tmp_path, monkeypatch):
    from genrelab.training.callbacks import KillAfterEpoch, SimulatedCrash

    plain = train(cfg(tmp_path / "plain"), data=spec_data())
    calls = []
    real = module_mod.batch_augmentation

    def spying(c, spec, shape):
        aug, mix = real(c, spec, shape)

        def counted(x):
            calls.append(x.shape[0])
            return aug(x)

        return counted, mix

    monkeypatch.setattr(module_mod, "batch_augmentation", spying)
    straight = train(cfg(tmp_path / "straight", **AUG), data=spec_data())
    assert calls == [12] * 9  # 3 training batches x 3 epochs; validation and test batches never augmented
    monkeypatch.setattr(module_mod, "batch_augmentation", real)
    wp, ws = weights(plain), weights(straight)
    assert any(not np.array_equal(wp[k], ws[k]) for k in wp)  # the masks and mixup changed training
    ck = checkpoint.load(straight / "checkpoint")
    assert ck.train["specaugment"] == AUG["specaugment"] and ck.train["mixup"] == 0.4
    assert json.loads((straight / "config.json").read_text())["train"]["mixup"] == 0.4

    crashed = tmp_path / "crashed"
    with pytest.raises(SimulatedCrash):
        train(cfg(crashed, **AUG), data=spec_data(), callbacks=[KillAfterEpoch(1, "raise")])
    torch.manual_seed(999)  # a new process starts with other RNG states
    np.random.seed(999)
    train(cfg(crashed, **AUG), data=spec_data(), resume=True)
    wc = weights(crashed)
    assert all(np.array_equal(ws[k], wc[k]) for k in ws)
    # the last epoch's weights too (the best checkpoint may be epoch 1): same masks and mixes after the resume
    la = torch.load(straight / "lightning/last.ckpt", weights_only=True)["state_dict"]
    lb = torch.load(crashed / "lightning/last.ckpt", weights_only=True)["state_dict"]
    assert la.keys() == lb.keys() and all(torch.equal(la[k], lb[k]) for k in la)


def test_cli_train_options(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from genrelab.cli import app
    from genrelab.training import trainer

    seen = []
    monkeypatch.setattr(trainer, "train", lambda c, resume=False: seen.append(c) or tmp_path)
    base = ["train", "--model", TINY_SPEC, "--root", str(tmp_path), "-q"]
    res = CliRunner().invoke(app, base + ["--specaugment", "1,4,2,5", "--mixup", "0.4"])
    assert res.exit_code == 0, res.output
    assert seen[0].specaugment == AUG["specaugment"] and seen[0].mixup == 0.4
    CliRunner().invoke(app, base + ["--specaugment", "default"])
    assert seen[1].specaugment["time_width"] == 20 and seen[1].mixup is None
    res = CliRunner().invoke(app, base + ["--specaugment", "2,-8,2,20"])
    assert res.exit_code != 0 and "freq_width" in res.output and len(seen) == 2
    res = CliRunner().invoke(app, base + ["--specaugment", "2,8"])
    assert res.exit_code != 0 and len(seen) == 2
