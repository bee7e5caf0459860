"""``make gpu-check`` (benchmarks/gpu_check.py): the no-GPU message, and every check's code path with the CPU as
the device (this project's CI has no GPU)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_gpu_says_so_and_exits_0(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert _load().main([]) == 0
    out = capsys.readouterr().out
    assert "no CUDA GPU on this machine" in out and "nothing to check" in out


@pytest.mark.slow
def test_every_check_runs_with_the_cpu_as_device(capsys):
    assert _load().main(["--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("mel spectrogram parity", "training epoch", "musicnn backbone parity",
                 "classify with musicnn on the device", "input pipeline keeps up", "time budget"):
        assert f"[ok] {name}" in out, out
    assert "all checks passed on cpu" in out and "FAIL" not in out


def test_a_failing_check_fails_the_run(capsys, monkeypatch):
    mod = _load()
    monkeypatch.setattr(mod, "MEL_TOL_DB", -1.0)  # no difference can pass
    monkeypatch.setattr(mod, "check_training", lambda *a, **k: None)
    monkeypatch.setattr(mod, "check_musicnn", lambda *a, **k: None)
    monkeypatch.setattr(mod, "check_input_pipeline", lambda *a, **k: None)
    assert mod.main(["--device", "cpu", "--quick"]) == 1
    assert "[FAIL] mel spectrogram parity" in capsys.readouterr().out
