"""Fixture checkpoints (tiny models trained on synthetic tones) for the inference tests."""

from __future__ import annotations

import pytest

import inference_fixture as fx


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path_factory.getbasetemp() / "genrelab-cache"))


@pytest.fixture(scope="session")
def torch_ckpt(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "mlp", kind="torch")


@pytest.fixture(scope="session")
def sklearn_ckpt(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "logreg", kind="sklearn")


@pytest.fixture(scope="session")
def clip_ckpt(tmp_path_factory):
    """A model over whole 6-s clips (unsegmented input), like the musicnn-embedding heads."""
    return fx.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "clip", kind="sklearn", segment_seconds=None,
                              clip_seconds=6.0)


@pytest.fixture(scope="module")
def default_clf():
    """The shipped default model, loaded once per test module. No skip: a shipped model that does not load is a
    failure (make install provides the musicnn package)."""
    from genrelab.inference import Classifier

    return Classifier.from_pretrained("default")
