"""A real SIGKILL mid-run (the KillAfterEpoch callback injected by the test, in a child process), then
``resume=True``: the same weights, history and scores as an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_trainer import CLR, cfg, read_history, tiny_data

from genrelab.training.trainer import train

HERE = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = [{here!r}]
    from tinymodels import registered
    from test_trainer import CLR, cfg, tiny_data
    from genrelab.training.callbacks import KillAfterEpoch
    from genrelab.training.trainer import train
    with registered():
        train(cfg({out!r}, epochs=3, optim=CLR, patience=5, monitor="val_loss", test_curve=True), data=tiny_data(),
              callbacks=[KillAfterEpoch(2, "kill")])
""")


@pytest.mark.slow
def test_sigkill_then_resume_is_identical(tmp_path):
    from safetensors.numpy import load_file

    straight = train(cfg(tmp_path / "straight", epochs=3, optim=CLR, patience=5, monitor="val_loss", test_curve=True),
                     data=tiny_data())
    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", CHILD.format(here=str(HERE), out=str(killed))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (killed / "lightning/last.ckpt").exists() and not (killed / "metrics.json").exists()
    assert [r["epoch"] for r in read_history(killed)] == ["1", "2"]
    train(cfg(killed, epochs=3, optim=CLR, patience=5, monitor="val_loss", test_curve=True), data=tiny_data(),
          resume=True)
    wa, wb = load_file(straight / "checkpoint/model.safetensors"), load_file(killed / "checkpoint/model.safetensors")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert read_history(straight) == [{**r, "time_s": a["time_s"]} for r, a in zip(read_history(killed), read_history(straight))]
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (straight, killed))
    assert ma["metrics"]["accuracy"] == mb["metrics"]["accuracy"] and ma["scores"] == mb["scores"]
