"""Issue 10 item 12 (features part): ``kill -9`` of ``features extract -j 2`` / ``features export-csv -j 2``
ends their worker processes too (they used to keep running and writing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import genrelab
from processes import alive, children

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["extract", "export-csv"])
def test_workers_die_with_a_killed_parent(tmp_path, command):
    audio = tmp_path / "audio" / "noise"
    audio.mkdir(parents=True)
    for i in range(40):
        y = 0.1 * np.random.default_rng(i).standard_normal(22050 * 10).astype(np.float32)
        sf.write(str(audio / f"n{i:02d}.wav"), y, 22050, subtype="PCM_16")
    if command == "extract":
        args = ["features", "extract", "--dataset", "folder", "--root", str(tmp_path / "audio"), "--feature",
                "gtzan57", "--out", str(tmp_path / "cache"), "-j", "2", "-q"]
    else:
        args = ["features", "export-csv", str(tmp_path / "audio"), "--out", str(tmp_path / "f.csv"), "-j", "2", "-q"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(genrelab.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    parent = subprocess.Popen([sys.executable, "-c", "from genrelab.cli import main; main()", *args], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            workers = children(parent.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(1.0)  # let them get busy
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.1)
        left = [p for p in workers if alive(p)]
    finally:
        parent.kill()
        for p in workers:  # never leave strays behind, even when the test fails
            if alive(p):
                os.kill(p, signal.SIGKILL)
    assert left == [], f"workers {left} survived kill -9 of their parent by 5 s"
