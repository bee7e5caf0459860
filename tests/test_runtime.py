"""genrelab.runtime: the one settings object, read from the environment in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrelab.runtime import Runtime, default_cache_dir
from genrelab.types import ConfigError


def test_from_env_reads_each_variable(tmp_path):
    env = {"GENRELAB_BACKEND": "TORCH", "GENRELAB_CACHE": str(tmp_path / "c"), "GENRELAB_THREADS": "3",
           "GENRELAB_FEATURE_DEVICE": "cuda:1"}
    rt = Runtime.from_env(env)
    assert rt == Runtime(backend="torch", cache_dir=tmp_path / "c", threads=3, device="cuda:1")
    assert not rt.onnx_allowed and rt.cache("musicnn", "x") == tmp_path / "c" / "musicnn" / "x"
    # overrides win over the environment; None keeps it
    assert Runtime.from_env(env, backend="onnx", threads=None).backend == "onnx"
    assert Runtime.from_env(env).with_(threads=1, device=None) == Runtime(backend="torch", cache_dir=tmp_path / "c",
                                                                        threads=1, device="cuda:1")


def test_defaults_and_cache_fallbacks(tmp_path):
    rt = Runtime.from_env({})
    assert (rt.backend, rt.threads, rt.device) == ("auto", None, "cpu") and rt.onnx_allowed
    assert rt.cache_dir == Path.home() / ".cache" / "genrelab"
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "genrelab"
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path), "GENRELAB_CACHE": "/x/y"}) == Path("/x/y")


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="GENRELAB_BACKEND"):
        Runtime.from_env({"GENRELAB_BACKEND": "tensorflow"})
    with pytest.raises(ConfigError, match="GENRELAB_THREADS"):
        Runtime.from_env({"GENRELAB_THREADS": "many"})
    with pytest.raises(ConfigError):
        Runtime(backend="gpu")
    with pytest.raises(ConfigError):
        Runtime(threads=0)
    with pytest.raises(Exception):  # frozen
        Runtime().backend = "torch"  # type: ignore[misc]
