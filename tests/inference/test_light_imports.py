"""``genrelab classify`` needs neither pandas nor matplotlib (issue 13: ``pip install genrelab`` for listeners)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent('''
    import importlib.abc, sys
    tried = []
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("pandas", "matplotlib"):
                tried.append(name)
                raise ImportError(f"{name} is blocked by the test")
            return None
    sys.meta_path.insert(0, Block())
    from genrelab.cli import main
    sys.argv = ["genrelab", *sys.argv[1:]]
    try:
        main()
    finally:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "matplotlib"))
        print("LOADED", loaded, file=sys.stderr)
''')


@pytest.mark.integration
@pytest.mark.parametrize("options", [["--format", "json"], ["--timeline", "--format", "csv"]])
def test_classify_runs_with_pandas_and_matplotlib_blocked(options, gtzan_root):
    clip = gtzan_root / "genres_original" / "jazz" / "jazz.00006.wav"
    res = subprocess.run([sys.executable, "-c", BLOCKER, "classify", str(clip), *options],
                         capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LOADED []" in res.stderr  # nothing of pandas or matplotlib got imported
    if "json" in options:
        assert json.loads(res.stdout)[0]["label"] == "jazz"
    else:
        assert "jazz" in res.stdout
