"""Shared fixtures: synthetic audio made on the fly and the real clips in ../shared/data.

Set ``GENRELAB_SHARED_DATA`` to point at another copy of the shared data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENRELAB_SHARED_DATA", REPO.parent / "shared" / "data"))


#: Under CI (``CI=true``) the shared data must be there: a missing folder fails the integration tests instead of
#: skipping every one of them (a suite that skips all its real-data tests is not a passing suite).
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def shared_path(*parts: str) -> Path:
    """A path under the shared data folder; skips the test when it is absent (fails under ``CI=true``)."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        msg = f"shared data not found: {p} (set GENRELAB_SHARED_DATA)"
        if IN_CI:
            pytest.fail(msg + "; CI=true requires it", pytrace=False)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_path()


@pytest.fixture(scope="session")
def gtzan_root() -> Path:
    return shared_path("gtzan")


@pytest.fixture(scope="session")
def fma_root() -> Path:
    return shared_path("fma")


def make_tone(freq: float = 440.0, seconds: float = 3.0, sr: int = 22050, amp: float = 0.5,
              noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(y.size)
    return y.astype(np.float32)


@pytest.fixture
def tone():
    return make_tone


@pytest.fixture
def write_wav(tmp_path):
    """write_wav(name, y, sr=22050, subtype='PCM_16') -> Path under tmp_path."""

    def _write(name: str, y: np.ndarray, sr: int = 22050, subtype: str = "PCM_16", fmt: str | None = None) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(p), y.T if y.ndim == 2 else y, sr, subtype=subtype, format=fmt)
        return p

    return _write


@pytest.fixture(scope="session")
def tiny_genre_folder(tmp_path_factory) -> Path:
    """A folder-per-genre collection of short synthetic clips: 3 genres x 4 tracks x 6 s."""
    root = tmp_path_factory.mktemp("tiny_genres")
    base = {"lowtone": 110.0, "midtone": 440.0, "noise": None}
    for g, f0 in base.items():
        (root / g).mkdir()
        for i in range(4):
            if f0 is None:
                y = 0.3 * np.random.default_rng(i).standard_normal(6 * 22050).astype(np.float32)
            else:
                y = make_tone(f0 * (1 + 0.05 * i), seconds=6.0, noise=0.02, seed=i)
            sf.write(str(root / g / f"{g}.{i:05d}.wav"), y, 22050, subtype="PCM_16")
    return root
