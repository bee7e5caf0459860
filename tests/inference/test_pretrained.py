"""The shipped default model: small, self-described, with its model card."""

from __future__ import annotations

import json

import pytest

from genrelab import pretrained
from genrelab.inference import pretrained_dir, resolve_model
from genrelab.types import GTZAN_GENRES, CheckpointError


def test_default_is_shipped_small_and_head_only():
    folder = resolve_model("default")
    assert folder == pretrained_dir("default")
    files = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert {"model.json", "MODEL_CARD.md"} <= set(files)
    assert sum(files.values()) < 3 * 1024 * 1024  # a few MB at most: the backbone is not in the repo
    meta = json.loads((folder / "model.json").read_text())
    assert meta["labels"] == list(GTZAN_GENRES)
    assert meta["input"]["spec"]["feature"]["kind"] == "musicnn"
    assert meta["train"]["data"]["split"] == "none"  # the final model saw every clip; the card gives leak-free numbers


def test_model_card():
    card = pretrained.model_card("default")
    for needed in ("leave-one-artist-out", "0.80", "95% CI", "pop -> country", "10 GTZAN genres", "musicnn"):
        assert needed in card
    assert "default" in pretrained.names()
    with pytest.raises(CheckpointError):
        pretrained.model_card("nope")


def test_models_info_shows_the_card():
    from typer.testing import CliRunner

    from genrelab.cli import app

    res = CliRunner().invoke(app, ["models", "--info", "default"])
    assert res.exit_code == 0, res.output
    assert "leave-one-artist-out" in res.output
