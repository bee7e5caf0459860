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
    assert (rt.backend, rt.threads, rt.device) == ("auto", None, "auto") and rt.onnx_allowed
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


def test_feature_device_comes_from_the_runtime_not_the_environment(monkeypatch):
    """Issue 11: GENRELAB_FEATURE_DEVICE is read once (Runtime.from_env) and the device is passed explicitly."""
    import numpy as np

    from genrelab.features import spectral
    from genrelab.features.spectral import MelSpectrogram

    seen = []
    real = spectral.resolve_device
    monkeypatch.setattr(spectral, "resolve_device", lambda d=None: seen.append(d) or real("cpu"))
    monkeypatch.setenv("GENRELAB_FEATURE_DEVICE", "cuda:9")  # ignored below: only the runtime counts
    y = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    feat = MelSpectrogram()
    feat.compute_many([y, y], runtime=Runtime(device="cpu"))
    assert seen and set(seen) == {"cpu"}
    assert Runtime.from_env({"GENRELAB_FEATURE_DEVICE": "cuda:1"}).device == "cuda:1"


def test_no_module_reads_the_feature_device_from_the_environment():
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "genrelab"
    readers = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
               if "GENRELAB_FEATURE_DEVICE" in p.read_text() and p.name != "runtime.py"
               and "environ" in p.read_text().split("GENRELAB_FEATURE_DEVICE")[0][-400:]]
    assert readers == []
