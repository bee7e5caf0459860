"""The musicnn weights without the musicnn package: its wheel downloaded (resumably, SHA-256 checked) from a local
HTTP server on 127.0.0.1 standing in for PyPI, and the checkpoints read from the zip into the cache."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genrelab.musicnn import info, weights, wheel
from http_archive_server import ArchiveServer, tree

URL_PATH = "/packages/1b/6f/38229e7d/musicnn-0.1.0-py3-none-any.whl"


def _checkpoint_files() -> dict[str, bytes]:
    """``musicnn/<model>/.index`` and ``.data-*`` as the wheel lays them out: MTT_vgg's real files when the package
    is installed (so the weights can be converted), small stand-ins for the other models."""
    pkg = info.installed_package_dir()
    files = {}
    for m in info.PRETRAINED:
        for f in (".index", ".data-00000-of-00001"):
            real = pkg / m / f if pkg is not None else None
            files[f"musicnn/{m}/{f}"] = real.read_bytes() if m == "MTT_vgg" and real and real.is_file() else \
                hashlib.sha256(f"{m}{f}".encode()).digest() * 50
    return files


def _wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("musicnn/__init__.py", b"")
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("musicnn/MSD_musicnn/config.json", b"{}")
        z.writestr("musicnn-0.1.0.dist-info/RECORD", b"")
    return buf.getvalue()


@pytest.fixture(scope="module")
def files():
    return _checkpoint_files()


@pytest.fixture
def pypi(monkeypatch, tmp_path, files):
    """A local 'PyPI' serving the test wheel, the module pointed at it, no musicnn package, an empty cache."""
    server = ArchiveServer().start()
    data = _wheel(files)
    server.files[URL_PATH] = data
    monkeypatch.setattr(wheel, "WHEEL_URL", server.url(URL_PATH.lstrip("/")))
    monkeypatch.setattr(wheel, "WHEEL_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(info, "find_package", lambda: None)
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "_WEIGHTS_MEMO", {})
    yield server, data
    server.stop()


def _extracted(cache: Path) -> dict[str, bytes]:
    root = info.downloaded_dir(cache)
    return {f"musicnn/{k}": v for k, v in tree(root).items()} if root.is_dir() else {}


def test_wheel_is_downloaded_checked_and_extracted(pypi, files, tmp_path):
    server, data = pypi
    cache = tmp_path / "cache"
    server.drop_after[URL_PATH] = len(data) // 3
    server.drops[URL_PATH] = 1  # the first response is cut short: resumed with a Range request
    folders = wheel.fetch_checkpoints(retries=2)
    assert set(folders) == set(info.PRETRAINED) and all(p.is_dir() for p in folders.values())
    assert _extracted(cache) == files  # the checkpoints, and nothing else of the wheel
    assert [r for _, r in server.requests] == [None, f"bytes={len(data) // 3}-"]
    musicnn_dir = cache / "musicnn"
    assert sorted(p.name for p in musicnn_dir.iterdir()) == [".musicnn-0.1.0.lock", "musicnn-0.1.0"]  # wheel gone
    assert all(info.source_dir(m) == folders[m] for m in info.PRETRAINED)
    n = len(server.requests)
    assert wheel.fetch_checkpoints() == folders and len(server.requests) == n  # nothing fetched again


def test_interrupted_download_resumes_in_a_later_run(pypi, tmp_path):
    server, data = pypi
    server.drop_after[URL_PATH] = 5000
    server.drops[URL_PATH] = 1
    with pytest.raises(info.MusicnnUnavailable, match="run again to resume.*pip install --no-deps musicnn==0.1.0"):
        wheel.fetch_checkpoints(retries=0)
    part = tmp_path / "cache" / "musicnn" / "musicnn-0.1.0-py3-none-any.whl.part"
    assert part.read_bytes() == data[:5000] and not info.downloaded_dir().exists()
    wheel.fetch_checkpoints(retries=0)
    assert server.requests[-1] == (URL_PATH, "bytes=5000-") and not part.exists()


def test_wrong_checksum_is_refused_and_nothing_extracted(pypi, monkeypatch, tmp_path):
    server, data = pypi
    monkeypatch.setattr(wheel, "WHEEL_SHA256", hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(info.MusicnnUnavailable, match="checksum mismatch"):
        weights.checkpoint_dir("MSD_musicnn")
    musicnn_dir = tmp_path / "cache" / "musicnn"
    assert [p.name for p in musicnn_dir.iterdir()] == [".musicnn-0.1.0.lock"]  # no wheel, no .part, no checkpoints


def test_a_zip_without_the_checkpoints_is_refused(pypi, monkeypatch):
    server, _ = pypi
    bad = _wheel({"musicnn/MSD_musicnn/.index": b"x"})
    server.files[URL_PATH] = bad
    monkeypatch.setattr(wheel, "WHEEL_SHA256", hashlib.sha256(bad).hexdigest())
    with pytest.raises(info.MusicnnUnavailable, match="missing"):
        wheel.fetch_checkpoints()
    assert not info.downloaded_dir().exists()


@pytest.mark.skipif(info.installed_package_dir() is None, reason="musicnn package not installed (the reference)")
def test_weights_from_the_downloaded_wheel_equal_the_installed_packages(pypi, monkeypatch):
    import torch

    from genrelab.musicnn.weights import convert_tf_weights, read_checkpoint

    state = weights.pretrained_state_dict("MTT_vgg")  # no package: download, extract, convert, cache
    assert info.weights_path("MTT_vgg").is_file() and info.cached_weights_current("MTT_vgg")
    monkeypatch.undo()  # the installed package again, as the reference
    ref = convert_tf_weights(read_checkpoint(info.installed_package_dir() / "MTT_vgg"), "vgg")
    assert state.keys() == ref.keys()
    assert all(torch.equal(state[k], torch.from_numpy(np.asarray(v))) for k, v in ref.items())
