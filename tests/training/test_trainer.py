import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tinymodels import blobs, table_spec

from genrelab import checkpoint
from genrelab.training.config import TrainConfig
from genrelab.training.data import prepare_arrays
from genrelab.training.trainer import train

HERE = Path(__file__).parent


def tiny_data(seed=0):
    X, y = blobs(n_per_class=40, seed=seed)
    labels = ["a", "b", "c"]
    return prepare_arrays(X[:72], y[:72], labels, table_spec(), X_val=X[72:96], y_val=y[72:96],
                          X_test=X[96:], y_test=y[96:])


def cfg(out, **kw):
    base = dict(model="test-tiny-mlp", epochs=4, batch_size=16, seed=1, out=str(out), progress=False,
                optim={"optimizer": "adam", "lr": 0.02}, data={"dataset": "table", "root": "x", "split": "none"},
                n_boot=50)
    base.update(kw)
    return TrainConfig.from_dict(base)


def read_history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_training_lowers_loss_and_writes_run_dir(tmp_path):
    run = train(cfg(tmp_path / "run", epochs=6), data=tiny_data())
    hist = read_history(run)
    assert [int(r["epoch"]) for r in hist] == [1, 2, 3, 4, 5, 6]
    assert list(hist[0])[:5] == ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"]
    assert float(hist[-1]["train_loss"]) < float(hist[0]["train_loss"])
    assert float(hist[-1]["val_loss"]) < float(hist[0]["val_loss"])
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == "test-tiny-mlp" and m["optimizer"] == "adam" and m["epochs"] == 6
    assert m["split"]["part"] == "test" and m["level"] == "track"
    assert 1 <= m["best_epoch"] <= 6 and m["n_params"] > 0 and m["train_time_s"] > 0
    assert m["metrics"]["accuracy"] > 0.8
    assert m["ci"]["accuracy"]["low"] <= m["metrics"]["accuracy"] <= m["ci"]["accuracy"]["high"]
    assert m["aggregation"] is None and m["levels"] == {}  # one example per track: nothing aggregated
    ck = checkpoint.load(run / "checkpoint")
    assert ck.labels == ["a", "b", "c"] and ck.normalizer is not None and ck.model_name == "test-tiny-mlp"
    assert ck.train["epochs"] == 6
    conf = json.loads((run / "config.json").read_text())
    assert conf["train"]["optim"]["lr"] == 0.02


def test_same_seed_same_weights_and_early_stopping(tmp_path):
    from safetensors.numpy import load_file

    a = train(cfg(tmp_path / "a"), data=tiny_data())
    b = train(cfg(tmp_path / "b"), data=tiny_data())
    wa, wb = load_file(a / "checkpoint/model.safetensors"), load_file(b / "checkpoint/model.safetensors")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    # early stopping: val_loss cannot improve with lr=0-ish -> stops after patience
    c = train(cfg(tmp_path / "c", epochs=30, patience=2, monitor="val_loss",
                  optim={"optimizer": "sgd", "lr": 1e-9}), data=tiny_data())
    m = json.loads((c / "metrics.json").read_text())
    assert m["epochs"] < 30


CLR = {"optimizer": "sgd", "lr": 0.05, "scheduler": "triangular2", "max_lr": 0.2, "step_size_epochs": 1}


def test_resume_after_crash_gives_identical_weights(tmp_path):
    """3 epochs straight == 1 epoch, crash (checkpoint written, process state lost), resume to 3.

    The same holds for a real SIGKILL (``KillAfterEpoch(1, "kill")`` in a subprocess): the crash
    happens after the atomic resume checkpoint of epoch 1 and nothing else is kept in memory.
    """
    from safetensors.numpy import load_file
    import torch

    from genrelab.training.callbacks import KillAfterEpoch, SimulatedCrash

    straight = train(cfg(tmp_path / "straight", epochs=3, optim=CLR, patience=5, monitor="val_loss"), data=tiny_data())
    crashed = tmp_path / "crashed"
    with pytest.raises(SimulatedCrash):
        train(cfg(crashed, epochs=3, optim=CLR, patience=5, monitor="val_loss"), data=tiny_data(),
              callbacks=[KillAfterEpoch(1, "raise")])
    assert (crashed / "lightning/last.ckpt").exists() and not (crashed / "metrics.json").exists()
    assert [r["epoch"] for r in read_history(crashed)] == ["1"]
    torch.manual_seed(12345)  # a resumed process starts with other RNG states
    train(cfg(crashed, epochs=3, optim=CLR, patience=5, monitor="val_loss"), data=tiny_data(), resume=True)
    wa = load_file(straight / "checkpoint/model.safetensors")
    wb = load_file(crashed / "checkpoint/model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k
    # the final weights (Lightning resume state of the last epoch) are identical too
    la = torch.load(straight / "lightning/last.ckpt", weights_only=True)["state_dict"]
    lb = torch.load(crashed / "lightning/last.ckpt", weights_only=True)["state_dict"]
    assert la.keys() == lb.keys() and all(torch.equal(la[k], lb[k]) for k in la)
    ha, hb = read_history(straight), read_history(crashed)
    assert [r["epoch"] for r in hb] == ["1", "2", "3"]
    for ra, rb in zip(ha, hb):
        for col in ("train_loss", "val_loss", "train_acc", "val_acc", "lr"):
            assert ra[col] == rb[col], (col, ra, rb)
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (straight, crashed))
    assert ma["metrics"]["accuracy"] == mb["metrics"]["accuracy"] and ma["best_epoch"] == mb["best_epoch"]
