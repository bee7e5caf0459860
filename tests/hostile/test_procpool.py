"""Issue 10 item 12: worker processes of ``classify -j N`` / ``features extract -j N`` die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import genrelab
from processes import alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PARENT = r"""
import os, sys, time
from genrelab.procpool import process_pool
pool = process_pool(2, interval=%(interval)s)
futs = [pool.submit(time.sleep, 120) for _ in range(2)]  # busy workers, as during a long classify
while len(pool._processes) < 2 or not all(f.running() for f in futs):
    time.sleep(0.05)
pids = sorted(pool._processes)
print(" ".join(map(str, pids)), flush=True)
time.sleep(120)
"""


def _orphans_after_kill(interval: float, env_extra: dict[str, str] | None = None) -> tuple[list[int], list[int]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(genrelab.__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    env.update(env_extra or {})
    parent = subprocess.Popen([sys.executable, "-c", PARENT % {"interval": interval}], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2, pids
        assert all(alive(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        return pids, [p for p in pids if alive(p)]
    finally:
        parent.kill()
        parent.stdout.close()


def test_workers_die_when_the_parent_is_killed():
    pids, left = _orphans_after_kill(0.5)
    for p in left:  # never leave strays behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert left == [], f"workers {left} survived kill -9 of their parent"


def test_watchdog_alone_ends_orphans(monkeypatch):
    """Without the Linux kernel hook (other systems), the parent-pid watchdog still ends the workers."""
    from genrelab import procpool

    monkeypatch.setattr(procpool, "_set_pdeathsig", lambda *a: False)
    pid = os.getpid()
    # in-process check of the watchdog logic: a changed parent pid ends the process via os._exit
    calls = []
    monkeypatch.setattr(procpool.os, "_exit", lambda code: (calls.append(code), (_ for _ in ()).throw(SystemExit)))
    monkeypatch.setattr(procpool.os, "getppid", lambda: pid + 1)
    with pytest.raises(SystemExit):
        procpool._watch(pid, 0.01)
    assert calls == [1]


def test_classify_parallel_uses_the_parent_bound_pool(monkeypatch):
    from concurrent.futures import Future

    from genrelab import inference, procpool
    from genrelab.inference import batch

    made = []

    class FakePool:
        def __init__(self, n, **kw):
            made.append((n, kw))

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def submit(self, fn, args):
            f = Future()
            f.set_result({"path": args[0], "top": [{"label": "rock", "score": 1.0}]})
            return f

    monkeypatch.setattr(procpool, "process_pool", FakePool)
    out = list(inference.classify_parallel(["a.wav", "b.wav"], "default", workers=2))
    assert made and made[0][0] == 2 and made[0][1]["initializer"] is batch._worker_init
    assert sorted(r.path for r in out) == ["a.wav", "b.wav"]
