"""``train --resume`` never unpickles: a ``lightning/last.ckpt`` that would run code is refused.

The crafted file is a real ``torch.save`` archive whose pickle holds an object with a ``__reduce__``
that writes a marker file (what an attacker-supplied run folder could contain).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from tinymodels import blobs, registered, table_spec  # noqa: E402

from genrelab.training.config import TrainConfig  # noqa: E402
from genrelab.training.data import prepare_arrays  # noqa: E402
from genrelab.types import CheckpointError  # noqa: E402


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _data():
    X, y = blobs(n_per_class=20, seed=0)
    return prepare_arrays(X[:40], y[:40], ["a", "b", "c"], table_spec(), X_val=X[40:50], y_val=y[40:50],
                          X_test=X[50:], y_test=y[50:])


def _cfg(out: Path) -> TrainConfig:
    return TrainConfig.from_dict(dict(model="test-tiny-mlp", epochs=2, batch_size=16, seed=1, out=str(out),
                                      progress=False, optim={"optimizer": "adam", "lr": 0.02},
                                      data={"dataset": "table", "root": "x", "split": "none"}, n_boot=0))


@pytest.fixture(autouse=True)
def tiny():
    with registered():
        yield


def test_payload_is_live(tmp_path):
    """Without the safe loader the file runs its payload (so the refusal below means something)."""
    marker = tmp_path / "marker"
    torch.save({"state_dict": {}, "evil": _Payload(marker)}, tmp_path / "last.ckpt")
    torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert marker.exists()


def test_resume_refuses_a_pickle_that_runs_code(tmp_path):
    from genrelab.training.trainer import train

    run = tmp_path / "run"
    (run / "lightning").mkdir(parents=True)
    marker = tmp_path / "marker"
    torch.save({"epoch": 1, "state_dict": {}, "evil": _Payload(marker)}, run / "lightning" / "last.ckpt")
    with pytest.raises(CheckpointError) as exc:
        train(_cfg(run), data=_data(), resume=True)
    msg = str(exc.value)
    assert "last.ckpt" in msg and "refused" in msg and "builtins.exec" in msg
    assert not marker.exists()
    assert not (run / "metrics.json").exists()


def test_resume_reports_an_unreadable_state_file(tmp_path):
    from genrelab.training.trainer import train

    run = tmp_path / "run"
    (run / "lightning").mkdir(parents=True)
    (run / "lightning" / "last.ckpt").write_bytes(b"garbage, not a torch file")
    with pytest.raises(CheckpointError, match="last.ckpt"):
        train(_cfg(run), data=_data(), resume=True)


def test_honest_resume_state_loads_with_the_safe_loader(tmp_path):
    """genrelab's own resume state needs nothing beyond the safe loader's types."""
    from genrelab.training.trainer import train

    run = train(_cfg(tmp_path / "run"), data=_data())
    state = torch.load(run / "lightning" / "last.ckpt", weights_only=True)
    assert state["epoch"] >= 1 and state["state_dict"] and state["optimizer_states"]
