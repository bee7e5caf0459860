"""Cold start: ``genrelab classify`` on a 30 s clip with the shipped default model imports none of the heavy
libraries (they cost a fresh process seconds on 2 cores). The first run fills the cache (musicnn ONNX export,
the numpy copy of the head); the second, a user's second day, is the one checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "skops", "librosa", "scipy", "numba", "pandas", "matplotlib", "lightning",
         "genrelab.training")


@pytest.mark.slow
@pytest.mark.integration
def test_cold_classify_imports_no_heavy_library(gtzan_root, tmp_path):
    clip = gtzan_root / "genres_original" / "jazz" / "jazz.00004.wav"
    code = ("import json, sys\n"
            "from genrelab.cli import main\n"
            f"sys.argv = ['genrelab', 'classify', {str(clip)!r}, '-q', '-f', 'json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n")
    env = {**os.environ, "GENRELAB_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)  # fills the cache
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert json.loads(res.stderr.strip().splitlines()[-1]) == []
    assert json.loads(res.stdout)[0]["label"] == "jazz"
