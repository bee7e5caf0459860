"""Issue 10 items 12-13 end to end: ``kill -9`` of ``classify -j 2 -o out.jsonl`` stops its workers, keeps every
finished row, and the rerun completes the file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import genrelab
import inference_fixture as fx
from hostile.conftest import write_wav
from processes import alive, children

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

CLI = "import inference_fixture; from genrelab.cli import main; main()"


def test_kill_9_of_classify_j2_stops_workers_and_resumes(tmp_path):
    lib = tmp_path / "lib"
    for i in range(24):
        write_wav(lib / f"{i:02d}.wav", fx.LABELS[i % 3], seconds=30.0, seed=i)
    ckpt = fx.make_checkpoint(tmp_path / "ckpt", kind="torch")
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, GENRELAB_CACHE=str(tmp_path / "cache"), PYTHONPATH=os.pathsep.join(
        [str(Path(genrelab.__file__).parents[1]), str(Path(fx.__file__).parent), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-c", CLI, "classify", str(lib), "--model", str(ckpt), "-j", "2", "--timeline", "-q",
           "-o", str(out)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 2):
            time.sleep(0.05)
        workers = [c for c in children(p.pid) if alive(c)]
        assert workers, "no worker processes to watch"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        p.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived kill -9 of classify"
    n_before = out.read_text().count("\n")
    assert 2 <= n_before < 24
    time.sleep(1)
    assert out.read_text().count("\n") == n_before  # nothing written after the kill
    res = subprocess.run(cmd[:-1] + [str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == [f"{i:02d}.wav" for i in range(24)]
