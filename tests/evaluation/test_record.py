"""The typed run record: v2 round trip, strict keys, and the upgrade path from genrelab-metrics/1 files."""

from __future__ import annotations

import dataclasses
import json

import pytest

from genrelab.evaluation.record import (
    SCHEMA, RecordError, RunRecord, load_record, make_record, part_scores, write_record,
)

#: a metrics.json as genrelab 0.x wrote it (schema 1, hand-built dict with free keys)
V1 = {
    "schema": "genrelab-metrics/1",
    "model": "qin-mlp",
    "split": {"method": "artist-filtered", "leaky": False, "part": "test"},
    "level": "track",
    "aggregation": None,
    "labels": ["blues", "jazz"],
    "run": "qin",
    "optimizer": "adam", "lr": 0.001, "batch_size": 32, "scheduler": "none", "epochs": 3, "best_epoch": 2,
    "epochs_to_best": 2, "train_time_s": 1.5, "n_params": 1234, "dataset": "table", "feature": "table",
    "seed": 0, "checkpoint": "checkpoint", "n_train_examples": 10, "n_train_tracks": 10,
    "inference_items_per_s": 99.0,
    "metrics": {"accuracy": 0.75, "precision_macro": 0.7, "recall_macro": 0.72, "f1_macro": 0.71, "n": 8,
                "labels": ["blues", "jazz"], "ci": {"accuracy": {"low": 0.5, "high": 0.9}}},
    "ci": {"accuracy": {"low": 0.5, "high": 0.9}},
    "levels": {},
    "valid": {"accuracy": 0.6, "f1_macro": 0.55, "level": "track"},
    "extra": {"monitor": "val_acc", "stopped_early": False},
    "something_custom": 7,
}


def test_v1_file_is_upgraded(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(V1))
    rec = load_record(tmp_path)
    assert isinstance(rec, RunRecord)
    assert rec.model == "qin-mlp" and rec.run == "qin" and rec.epochs == 3 and rec.best_epoch == 2
    assert rec.labels == ("blues", "jazz") and rec.metrics["accuracy"] == 0.75
    assert rec.split["part"] == "test" and rec.ci["accuracy"]["low"] == 0.5
    assert rec.scores["valid"]["accuracy"] == 0.6 and rec.scores["valid"]["f1_macro"] == 0.55
    assert rec.scores["test"]["accuracy"] == 0.75 and rec.scores["test"]["recall_macro"] == 0.72
    assert rec.extra["something_custom"] == 7 and rec.extra["monitor"] == "val_acc"
    out = rec.to_dict()
    assert out["schema"] == SCHEMA and "valid" not in out and "something_custom" not in out
    assert RunRecord.from_dict(out) == rec  # v2 round trip is lossless


def test_schema_less_hand_written_files_are_read():
    flat = RunRecord.from_dict({"model": {"name": "svm"}, "accuracy": "0.6", "epochs": "4", "name": "hand"})
    assert flat.model == "svm" and flat.metrics == {"accuracy": "0.6"} and flat.epochs == 4 and flat.run == "hand"
    folds = RunRecord.from_dict({"folds": {"n_folds": 2, "mean": {"accuracy": 0.5, "per_genre.blues.recall": 1.0},
                                           "std": {"accuracy": 0.1}}})
    assert folds.metrics == {"accuracy": 0.5, "per_genre": {"blues": {"recall": 1.0}}}
    assert folds.folds["n_folds"] == 2


def test_v2_is_strict_and_newer_schemas_are_refused(tmp_path):
    good = RunRecord(model="m", metrics={"accuracy": 1.0}).to_dict()
    with pytest.raises(RecordError, match="nonsense"):
        RunRecord.from_dict({**good, "nonsense": 1})
    with pytest.raises(RecordError, match="genrelab-metrics/9"):
        RunRecord.from_dict({**good, "schema": "genrelab-metrics/9"})
    (tmp_path / "metrics.json").write_text("{broken")
    with pytest.raises(RecordError, match="metrics.json"):
        load_record(tmp_path)


def test_builders_accept_only_record_fields():
    with pytest.raises(TypeError):
        make_record({"accuracy": 1.0}, model="m", not_a_field=3)
    with pytest.raises(TypeError):
        RunRecord.from_metrics({"accuracy": 1.0}, typo_epochs=3)
    rec = make_record({"accuracy": 1.0, "level": "track", "aggregation": "mean", "labels": ["a"]},
                      model="m", split_method="kfold", leaky=False)
    assert rec.level == "track" and rec.aggregation == "mean" and rec.labels == ("a",)
    assert rec.split == {"method": "kfold", "leaky": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.model = "other"  # type: ignore[misc]


def test_write_and_load_round_trip(tmp_path):
    rec = RunRecord.from_metrics(
        {"accuracy": float("nan"), "f1_macro": 0.5}, model="m", epochs=2,
        history=({"epoch": 1, "train_loss": 1.0, "test_acc": 0.5}, {"epoch": 2, "train_loss": 0.5, "test_acc": 0.6}),
        scores={"train": part_scores({"accuracy": 1.0, "n": 3, "level": "track"})})
    write_record(tmp_path, rec)
    back = load_record(tmp_path / "metrics.json")
    assert back.metrics["accuracy"] is None  # NaN is written as null (strict JSON)
    assert back.history[1]["test_acc"] == 0.6 and back.scores["train"]["accuracy"] == 1.0
    assert back.scores["train"]["n"] == 3
    with pytest.raises(TypeError):
        write_record(tmp_path, rec.to_dict())  # type: ignore[arg-type]
