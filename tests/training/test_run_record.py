"""Every trainer writes the same typed run record: train/valid/test scores, per-epoch history, an
optional test curve that nothing selects on; trainer modules without an import cycle or env-var hooks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from importscan import file_imports
from tinymodels import blobs, table_spec

from genrelab.evaluation.record import load_record
from genrelab.training.config import TrainConfig
from genrelab.training.data import prepare_arrays
from genrelab.training.trainer import train

TRAINING = Path(__file__).resolve().parents[2] / "src" / "genrelab" / "training"
PART_KEYS = {"accuracy", "precision_macro", "recall_macro", "f1_macro"}


def _data():
    X, y = blobs(n_per_class=40, seed=0)
    return prepare_arrays(X[:72], y[:72], ["a", "b", "c"], table_spec(), X_val=X[72:96], y_val=y[72:96],
                          X_test=X[96:], y_test=y[96:])


def _cfg(out, **kw):
    base = dict(model="test-tiny-mlp", epochs=3, batch_size=16, seed=1, out=str(out), progress=False,
                optim={"optimizer": "adam", "lr": 0.02}, data={"dataset": "table", "root": "x", "split": "none"},
                n_boot=0)
    base.update(kw)
    return TrainConfig.from_dict(base)


def _check_parts(rec, n):
    assert set(rec.scores) == {"train", "valid", "test"}
    for part, count in zip(("train", "valid", "test"), n):
        s = rec.scores[part]
        assert PART_KEYS <= set(s) and all(0.0 <= s[k] <= 1.0 for k in PART_KEYS), (part, s)
        assert s["n"] == count
    assert rec.scores["test"]["accuracy"] == rec.metrics["accuracy"]


def test_torch_run_records_every_part_and_its_history(tmp_path):
    run = train(_cfg(tmp_path / "run"), data=_data())
    rec = load_record(run)
    _check_parts(rec, (72, 24, 24))
    assert [r["epoch"] for r in rec.history] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(rec.history[0])
    assert "test_acc" not in rec.history[0]  # no test curve unless asked
    assert rec.monitor == "val_acc" and rec.stopped_early is False
    header = (run / "history.csv").read_text().splitlines()[0]
    assert "test_" not in header


def test_test_curve_is_recorded_and_never_selects(tmp_path):
    from safetensors.numpy import load_file

    # no validation part: the study protocol (Sears) monitors train loss and plots test curves
    X, y = blobs(n_per_class=40, seed=0)
    def data():
        return prepare_arrays(X[:90], y[:90], ["a", "b", "c"], table_spec(), X_test=X[90:], y_test=y[90:])

    plain = train(_cfg(tmp_path / "plain", epochs=4, monitor="train_loss"), data=data())
    curve = train(_cfg(tmp_path / "curve", epochs=4, monitor="train_loss", test_curve=True), data=data())
    rec, rec_plain = load_record(curve), load_record(plain)
    rows = list(csv.DictReader(open(curve / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 and float(r["test_loss"]) > 0 for r in rows)
    assert [h["test_acc"] for h in rec.history] == [float(r["test_acc"]) for r in rows]
    assert rec.history[-1]["test_acc"] == rec.metrics["accuracy"]  # last epoch = the scored model here
    # the curve changes nothing: same weights, same best epoch, same training numbers
    wa, wb = load_file(plain / "checkpoint/model.safetensors"), load_file(curve / "checkpoint/model.safetensors")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert rec.best_epoch == rec_plain.best_epoch and rec.monitor == "train_loss"
    assert [h["train_loss"] for h in rec.history] == [h["train_loss"] for h in rec_plain.history]


def test_sklearn_run_records_every_part_and_no_history(tmp_path):
    import tinymodels  # noqa: F401  (registry already loaded)

    data = _data()
    run = train(_cfg(tmp_path / "lr", model="logreg", model_args={}), data=data)
    rec = load_record(run)
    _check_parts(rec, (72, 24, 24))
    assert rec.optimizer == "-" and rec.history == () and rec.epochs is None
    assert not (run / "history.csv").exists()  # no training-curve panel for scikit-learn runs


def test_no_trainer_import_cycle_and_no_environment_hooks():
    for mod in ("sklearn_trainer", "finish", "folds", "evaluate"):
        assert "genrelab.training.trainer" not in file_imports(TRAINING / f"{mod}.py"), mod
    for mod in ("trainer", "sklearn_trainer", "finish", "folds"):
        src = (TRAINING / f"{mod}.py").read_text()
        assert "os.environ" not in src and "getenv" not in src, mod


def test_kfold_pools_the_folds_into_one_record(tmp_path):
    from genrelab.training.folds import train_folds

    X, y = blobs(n_per_class=20, seed=1)
    calls = []

    def train_one(fcfg, resume, cache):
        i = fcfg.data.fold
        calls.append(i)
        test = np.arange(len(y)) % 3 == i
        data = prepare_arrays(X[~test], y[~test], ["a", "b", "c"], table_spec(), X_test=X[test], y_test=y[test])
        data.test.track_ids = np.asarray([f"track{k}" for k in np.flatnonzero(test)], dtype=object)  # unique ids
        return train(fcfg, data=data)

    cfg = _cfg(tmp_path / "kf", epochs=2, monitor="train_loss",
               data={"dataset": "table", "root": "x", "split": "stratified", "folds": 3})
    run = train_folds(cfg, train_one)
    rec = load_record(run)
    assert calls == [0, 1, 2]
    assert rec.metrics["n"] == len(y)  # every example tested exactly once
    assert rec.folds["n_folds"] == 3 and len(rec.fold_accuracy) == 3
    assert rec.split["part"] == "all folds (pooled)" and "3-fold" in rec.split["method"]
    assert rec.scores["test"]["accuracy"] == rec.metrics["accuracy"]
    assert rec.scores["train"]["folds"] == 3 and 0.0 <= rec.scores["train"]["accuracy"] <= 1.0
    assert rec.train_time_s == sum(load_record(run / f"fold-{i}").train_time_s for i in (1, 2, 3))
    # finished folds are not trained again (a killed k-fold job resumes)
    calls.clear()
    train_folds(cfg, train_one)
    assert calls == []
