"""Dataset downloads against a local HTTP server on 127.0.0.1 (no internet): full download and
extraction, resume after a dropped connection or from a kept .part file, refused checksum mismatch."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import tarfile
import zipfile

import pytest

from genrelab.datasets import download as dl
from http_archive_server import ArchiveServer, zip_bytes

PAYLOAD = {
    "fma_small/000/000002.mp3": random.Random(0).randbytes(60_000),  # incompressible: the zip is > 60 kB
    "fma_small/000/000005.mp3": b"\x01\x02" * 20000,
    "fma_small/checksums": b"abc  000/000002.mp3\n",
}


@pytest.fixture
def server():
    s = ArchiveServer().start()
    yield s
    s.stop()


@pytest.fixture
def archive(server):
    data = zip_bytes(PAYLOAD)
    server.files["/fma_small.zip"] = data
    return data


def table(server, data: bytes, algorithm: str = "sha1", checksum: str | None = None) -> dict[str, dl.Archive]:
    digest = checksum or f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    return {"fma-small": dl.Archive("fma-small", (server.url("fma_small.zip"),), "fma_small.zip", digest,
                                    "test archive", "fma_small")}


def extracted(dest) -> dict[str, bytes]:
    return {name: (dest / name).read_bytes() for name in PAYLOAD if (dest / name).is_file()}


def test_full_download_verifies_and_extracts(tmp_path, server, archive):
    seen = []
    res = dl.download("fma-small", tmp_path, archives=table(server, archive),
                      progress=lambda done, total: seen.append((done, total)))
    assert res.archive.read_bytes() == archive and not res.skipped_download
    assert extracted(tmp_path) == PAYLOAD and res.extracted == ["fma_small"]
    assert seen[-1] == (len(archive), len(archive))
    assert not (tmp_path / "fma_small.zip.part").exists()
    # a second run finds the verified archive and the extraction marker: no request, no extraction
    n = len(server.requests)
    again = dl.download("fma-small", tmp_path, archives=table(server, archive))
    assert again.skipped_download and again.skipped_extract and len(server.requests) == n


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path, server, archive):
    server.drop_after["/fma_small.zip"] = 10_000
    server.drops["/fma_small.zip"] = 2  # the first two responses are cut short
    res = dl.download("fma-small", tmp_path, archives=table(server, archive), retries=3, backoff=0.01)
    assert res.archive.read_bytes() == archive
    ranges = [r for p, r in server.requests if p == "/fma_small.zip"]
    assert ranges == [None, "bytes=10000-", "bytes=20000-"]
    assert extracted(tmp_path) == PAYLOAD


def test_interrupted_download_keeps_the_part_file_and_a_later_run_resumes(tmp_path, server, archive):
    server.drop_after["/fma_small.zip"] = 25_000
    server.drops["/fma_small.zip"] = 1
    with pytest.raises(dl.DownloadError, match="run again to resume"):
        dl.download("fma-small", tmp_path, archives=table(server, archive), retries=0)
    part = tmp_path / "fma_small.zip.part"
    assert part.read_bytes() == archive[:25_000]
    assert not (tmp_path / "fma_small").exists()
    res = dl.download("fma-small", tmp_path, archives=table(server, archive), retries=0)
    assert res.archive.read_bytes() == archive and not part.exists()
    assert server.requests[-1] == ("/fma_small.zip", "bytes=25000-")


def test_existing_part_file_is_resumed(tmp_path, server, archive):
    (tmp_path / "fma_small.zip.part").write_bytes(archive[:4096])
    dl.download("fma-small", tmp_path, archives=table(server, archive))
    assert server.requests == [("/fma_small.zip", "bytes=4096-")]
    assert extracted(tmp_path) == PAYLOAD


def test_complete_part_file_gets_416_and_is_used(tmp_path, server, archive):
    (tmp_path / "fma_small.zip.part").write_bytes(archive)
    res = dl.download("fma-small", tmp_path, archives=table(server, archive))
    assert res.archive.read_bytes() == archive and server.requests == [("/fma_small.zip", f"bytes={len(archive)}-")]


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, archive):
    (tmp_path / "fma_small.zip.part").write_bytes(b"stale bytes from elsewhere")
    server.ignore_range = True
    res = dl.download("fma-small", tmp_path, archives=table(server, archive))
    assert res.archive.read_bytes() == archive


def test_checksum_mismatch_is_refused(tmp_path, server, archive):
    bad = table(server, archive, checksum="sha1:" + "0" * 40)
    with pytest.raises(dl.DownloadError, match="checksum mismatch, expected sha1:0000") as e:
        dl.download("fma-small", tmp_path, archives=bad)
    assert hashlib.sha1(archive).hexdigest() in str(e.value)
    assert not (tmp_path / "fma_small.zip").exists() and not (tmp_path / "fma_small.zip.part").exists()
    assert not (tmp_path / "fma_small").exists()  # nothing extracted
    # an existing whole archive with the wrong content is fetched again, then verified
    (tmp_path / "fma_small.zip").write_bytes(b"wrong")
    res = dl.download("fma-small", tmp_path, archives=table(server, archive))
    assert res.archive.read_bytes() == archive and not res.skipped_download


def test_tar_gz_with_md5_like_gtzan(tmp_path, server):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in {"genres/blues/blues.00000.au": b".snd" + bytes(100), "genres/rock/rock.00000.au": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    server.files["/genres.tar.gz"] = data
    arch = {"gtzan": dl.Archive("gtzan", (server.url("missing.tar.gz"), server.url("genres.tar.gz")), "genres.tar.gz",
                                "md5:" + hashlib.md5(data).hexdigest(), "gtzan", "genres")}
    res = dl.download("gtzan", tmp_path, archives=arch)  # the first URL is a 404: the mirror is used
    assert res.extracted == ["genres"]
    assert (tmp_path / "genres" / "blues" / "blues.00000.au").read_bytes()[:4] == b".snd"


def test_remove_archive_and_no_extract(tmp_path, server, archive):
    res = dl.download("fma-small", tmp_path / "a", archives=table(server, archive), keep_archive=False)
    assert not res.archive.exists() and extracted(tmp_path / "a") == PAYLOAD
    again = dl.download("fma-small", tmp_path / "a", archives=table(server, archive))
    assert again.skipped_download and again.skipped_extract  # the marker remembers
    shutil.rmtree(tmp_path / "a" / "fma_small")  # the extracted data removed by hand: fetched again
    third = dl.download("fma-small", tmp_path / "a", archives=table(server, archive))
    assert not third.skipped_download and extracted(tmp_path / "a") == PAYLOAD
    res = dl.download("fma-small", tmp_path / "b", archives=table(server, archive), do_extract=False)
    assert res.archive.is_file() and not (tmp_path / "b" / "fma_small").exists()


def test_unwritable_destination_fails_at_once(tmp_path, server, archive, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    from genrelab import httpfetch

    monkeypatch.setattr(httpfetch, "_fetch_once", no_space)
    with pytest.raises(dl.DownloadError, match="No space left"):
        dl.fetch(server.url("fma_small.zip"), tmp_path / "x.zip", backoff=5.0)  # no retry, so no 5 s wait


def test_http_errors_and_unknown_names(tmp_path, server):
    arch = {"x": dl.Archive("x", (server.url("nothing.zip"),), "nothing.zip", None, "x")}
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download("x", tmp_path, archives=arch)
    assert len(server.requests) == 1  # a 404 is not retried
    with pytest.raises(dl.DownloadError, match="unknown dataset 'fma-huge'"):
        dl.download("fma-huge", tmp_path)


def test_unsafe_archive_members_are_refused(tmp_path):
    p = tmp_path / "evil.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("../outside.txt", b"gotcha")
    with pytest.raises(dl.DownloadError, match="outside"):
        dl.extract(p, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()
    not_archive = tmp_path / "plain.bin"
    not_archive.write_bytes(b"just bytes")
    with pytest.raises(dl.DownloadError, match="neither a zip nor a tar"):
        dl.extract(not_archive, tmp_path / "dest")


def test_the_url_table_and_overrides(monkeypatch):
    for name in ("gtzan", "fma-metadata", "fma-small", "fma-medium", "fma-large", "fma-full"):
        a = dl.ARCHIVES[name]
        assert a.urls[0].startswith("http") and a.filename in a.urls[0]
        algo, digest = a.checksum.split(":")
        assert len(digest) == {"md5": 32, "sha1": 40}[algo]
    assert dl.ARCHIVES["fma-small"].checksum == "sha1:ade154f733639d52e35e32f5593efe5be76c6d70"
    monkeypatch.setenv(dl.MIRROR_ENV, "http://127.0.0.1:9/mirror/")
    assert dl.resolve("fma-medium").urls == ("http://127.0.0.1:9/mirror/fma_medium.zip",)
    monkeypatch.delenv(dl.MIRROR_ENV)
    r = dl.resolve("gtzan", url="http://127.0.0.1:9/g.tgz", checksum="")
    assert r.urls == ("http://127.0.0.1:9/g.tgz",) and r.checksum is None
