"""What ``pip install genrelab`` asks for: torch as a lower bound only (a user's CUDA build stays), the exact
CPU build pinned in constraints.txt for ``make install``; the musicnn weights need no extra package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_torch_is_pinned_only_in_constraints():
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = [d for d in deps if re.match(r"torch\b", d)]
    assert torch == ["torch>=2.2"]
    assert not any(d.startswith("musicnn") for d in deps)  # its wheel is fetched on demand (genrelab.musicnn.wheel)
    pins = [ln for ln in (REPO / "constraints.txt").read_text().splitlines() if re.match(r"torch==", ln)]
    assert len(pins) == 1
