"""The test suite's own guard: under CI a missing ../shared/data fails instead of skipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_missing_shared_data_fails_under_ci(tmp_path):
    (tmp_path / "test_needs_data.py").write_text(
        "from conftest import shared_path\n\ndef test_it():\n    shared_path('gtzan')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{TESTS}", "GENRELAB_SHARED_DATA": str(tmp_path / "absent")}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
            "--confcutdir", str(tmp_path), str(tmp_path / "test_needs_data.py")]
    ci = subprocess.run(args, capture_output=True, text=True, env={**env, "CI": "true"}, cwd=tmp_path)
    assert ci.returncode == 1 and "CI=true requires it" in ci.stdout, ci.stdout
    local = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
