"""Fixtures for the hostile-input tests: a tiny checkpoint and a private model cache."""

from __future__ import annotations

import pytest
import soundfile as sf

import inference_fixture as fx


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path_factory.getbasetemp() / "genrelab-cache"))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "mlp", kind="torch")


def write_wav(path, label: str = "noise", seconds: float = 4.0, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), fx.synth(label, seconds, seed=seed), fx.SR, subtype="PCM_16")
    return path
