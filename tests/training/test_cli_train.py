"""`genrelab train` / `genrelab evaluate` on the Kaggle table with the artist-filtered split, and on a folder."""

import json

import pytest
from typer.testing import CliRunner

from genrelab.cli import app

runner = CliRunner()


def invoke(args):
    res = runner.invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.integration
def test_train_and_evaluate_kaggle_table_artist_filtered(shared_data, tmp_path):
    table = shared_data / "gtzan/features_30_sec.csv"
    lists = shared_data / "gtzan/splits"
    out = tmp_path / "qin"
    invoke(["train", "--model", "qin-mlp", "--dataset", "table", "--root", str(table), "--split", "gtzan-filtered",
            "--lists", str(lists), "--test-part", "valid", "--valid-from-train", "0.15", "--optimizer", "adam",
            "--lr", "1e-3", "--epochs", "3", "--batch-size", "32", "--out", str(out), "-q"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "qin-mlp" and m["split"]["leaky"] is False and m["split"]["part"] == "valid"
    assert "artist-filtered" in m["split"]["method"]
    assert m["metrics"]["n"] == 187 and m["metrics"]["accuracy"] > 0.2  # 10 genres: chance is 0.1
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss,val_loss,train_acc,val_acc")
    assert (out / "checkpoint/model.safetensors").exists() and (out / "split.csv").exists()
    # evaluate the checkpoint on the valid list of the same split, then on the whole table
    ev = tmp_path / "eval"
    invoke(["evaluate", str(out), "--dataset", "table", "--root", str(table), "--split", "gtzan-filtered",
            "--lists", str(lists), "--part", "valid", "--out", str(ev), "-q", "--n-boot", "100"])
    e = json.loads((ev / "metrics.json").read_text())
    assert e["metrics"]["accuracy"] == pytest.approx(m["metrics"]["accuracy"])
    assert e["level"] == "track" and e["ci"]["accuracy"]["n_boot"] == 100
    invoke(["evaluate", str(out / "checkpoint"), "--root", str(table), "--out", str(tmp_path / "all"), "-q"])
    assert json.loads((tmp_path / "all/metrics.json").read_text())["metrics"]["n"] == 691


@pytest.mark.slow
def test_train_sklearn_on_folder_and_evaluate_whole_folder(tiny_genre_folder, tmp_path):
    out = tmp_path / "lr"
    invoke(["train", "--model", "logreg", "--dataset", "folder", "--root", str(tiny_genre_folder),
            "--split", "stratified", "--ratios", "0.5,0.25,0.25", "--clip-seconds", "6",
            "--feature", '{"kind": "mfcc", "n_mfcc": 8}', "--out", str(out), "-q"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["optimizer"] == "-" and m["metrics"]["n"] == 3
    invoke(["evaluate", str(out), "--root", str(tiny_genre_folder), "--dataset", "folder", "--out",
            str(tmp_path / "ev"), "-q"])
    e = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert e["metrics"]["n"] == 12 and e["split"]["method"] == "whole dataset"


def test_train_cli_errors(tmp_path):
    res = runner.invoke(app, ["train", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "--model" in res.output
    res = runner.invoke(app, ["train", "--model", "nope", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "unknown model" in res.output
