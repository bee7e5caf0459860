"""``genrelab train --strategy ddp --devices 2 --accelerator cpu`` (gloo) on the real Kaggle GTZAN table.

Two ranks in two processes (Lightning's DDP launcher), audited by ``ddp_audit.py``: they train on disjoint
shards that together are the training set, rank 0 alone writes the run, and the result equals a single-process
run with the same effective batch size (2 x 16 = 32).

Why they can agree closely: Qin's MLP has no dropout or batch norm, the epoch order comes from one seeded sampler
that Lightning shards by striding (rank r takes examples r, r+2, ...), so step k of the two ranks together sees
exactly the 32 examples of step k of the single run, and DDP averages the two ranks' mean gradients. What remains
is float rounding in a different summation order (gradients averaged across ranks), carried by Adam over 42 steps:
tolerance 1e-5 on the test probabilities (observed 1.5e-7), predictions and accuracy identical.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5


def _train(shared_data, out: Path, audit: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GENRELAB_AUDIT_DIR=str(audit), GENRELAB_AUDIT_DEVICES="2",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]))
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        env.pop(var, None)
    cmd = [sys.executable, str(REPO / "tests/scale/ddp_audit.py"), "train", "--model", "qin-mlp",
           "--dataset", "table", "--root", str(shared_data / "gtzan/features_30_sec.csv"),
           "--split", "gtzan-filtered", "--lists", str(shared_data / "gtzan/splits"), "--test-part", "valid",
           "--epochs", "3", "--seed", "0", "--accelerator", "cpu", "--out", str(out), "-q", *extra]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _audits(audit: Path) -> dict[int, dict]:
    out = {}
    for f in glob.glob(str(audit / "rank-*.json")):
        d = json.loads(Path(f).read_text())
        assert d["rank"] not in out, "two processes claimed the same rank"
        out[d["rank"]] = d
    return out


def test_epoch_sampler_shards_like_one_process_with_a_bigger_batch():
    from genrelab.datasets.torch import EpochShuffleSampler

    one = EpochShuffleSampler(11, seed=3)
    ranks = [EpochShuffleSampler(11, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for epoch in (0, 1):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        order, (a, b) = list(one), (list(r) for r in ranks)
        assert len(a) == len(b) == len(ranks[0]) == 6
        assert a == order[0::2] and b == (order + order[:1])[1::2]  # strided, padded with the first index
        assert sorted(set(a) | set(b)) == list(range(11))
    assert list(one) != list(EpochShuffleSampler(11, seed=3))  # epochs differ


@pytest.mark.slow
@pytest.mark.integration
def test_ddp_two_ranks_match_single_process(shared_data, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    _train(shared_data, single, tmp_path / "audit-single", "--batch-size", "32")
    _train(shared_data, ddp, tmp_path / "audit-ddp", "--batch-size", "16", "--strategy", "ddp", "--devices", "2")

    # two ranks ran, each on its own shard; together they cover the training set once per epoch
    one = _audits(tmp_path / "audit-single")
    two = _audits(tmp_path / "audit-ddp")
    assert sorted(one) == [0] and sorted(two) == [0, 1]
    full = defaultdict(list)
    for epoch, fp in one[0]["examples"]:
        full[epoch].append(fp)
    assert sorted(full) == [0, 1, 2]
    for epoch in full:
        shards = [[fp for e, fp in two[r]["examples"] if e == epoch] for r in (0, 1)]
        assert abs(len(shards[0]) - len(shards[1])) <= 1 and len(shards[0]) > 100
        assert not set(shards[0]) & set(shards[1]), f"epoch {epoch}: the ranks' shards overlap"
        assert sorted(shards[0] + shards[1]) == sorted(full[epoch])

    # rank 0 alone wrote into the run directory
    def inside(paths, root):
        return [p for p in paths if Path(p).is_relative_to(root)]

    assert inside(two[1]["writes"], ddp) == [], inside(two[1]["writes"], ddp)
    written = inside(two[0]["writes"], ddp)
    for name in ("checkpoint/model.safetensors", "metrics.json", "history.csv", "predictions.npz", "config.json"):
        assert str(ddp / name) in written and (ddp / name).exists()

    # same result as the single process with the same effective batch size
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (single, ddp))
    assert m1["metrics"]["n"] == m2["metrics"]["n"] == 187
    assert m2["metrics"]["accuracy"] == pytest.approx(m1["metrics"]["accuracy"], abs=1e-9)
    p1, p2 = (np.load(d / "predictions.npz")["proba"] for d in (single, ddp))
    assert p1.shape == p2.shape
    assert np.abs(p1 - p2).max() < TOLERANCE, np.abs(p1 - p2).max()
    assert (p1.argmax(1) == p2.argmax(1)).all()


def test_python_dash_m_genrelab_is_the_cli():
    """``python -m genrelab`` (what ``torchrun -m genrelab`` and Lightning's DDP launcher run) is the CLI."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "genrelab", "train", "--help"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "--num-nodes" in res.stdout and "--strategy" in res.stdout
