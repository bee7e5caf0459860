"""The real server under load and on SIGTERM (issue 10 items 4 and 6): ``genrelab serve`` in its own process
on 127.0.0.1, measured from outside with psutil."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from web_helpers import wav_bytes

psutil = pytest.importorskip("psutil")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(code: str, port: int, log: Path) -> subprocess.Popen:
    """Run ``code`` (a server on ``port``) in a new Python process, its output in ``log``; wait for /api/health."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(TESTS), str(TESTS / "web"),
                                                       os.environ.get("PYTHONPATH", "")]))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server died: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start within 120 s")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    b = "genrelabLOAD"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def post(port: int, name: str, data: bytes, query: str = "", timeout: float = 300) -> tuple[int, dict, dict]:
    body, ctype = multipart(name, data)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/classify{query}", data=body, method="POST",
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


@pytest.mark.slow
def test_sigterm_stops_running_work_promptly(web_ckpt, tmp_path):
    port = free_port()
    code = ("import inference_fixture\nfrom web_helpers import slow_app\nfrom genrelab.web.app import serve\n"
            f"app, clf = slow_app({str(web_ckpt)!r}, delay=0.2)\n"
            f"serve(app, '127.0.0.1', {port}, graceful_seconds=2, log_level='warning')\n")
    proc = start(code, port, tmp_path / "server.log")
    answers = []
    client = threading.Thread(target=lambda: answers.append(post(port, "long.wav", wav_bytes("noise", 60.0))))
    try:
        client.start()
        time.sleep(2.0)  # the upload is in, its slow classification (240 blocks x 0.2 s) is running
        assert client.is_alive()
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stopped = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        client.join(30)
    assert stopped < 6, f"the server took {stopped:.1f} s to stop"  # without cancellation: ~48 s of work
    assert answers and answers[0][0] == 503 and answers[0][2]["problem"] == "cancelled", answers


@pytest.mark.slow
@pytest.mark.integration
def test_twenty_concurrent_uploads_bounded_memory(gtzan_root, capsys, tmp_path):
    clips = sorted((gtzan_root / "genres_original").glob("*/*.wav"))[::4][:20]
    assert len(clips) == 20
    port = free_port()
    proc = start(f"from genrelab.cli import main\nimport sys\nsys.argv = ['genrelab', 'serve', '--port', '{port}']\n"
                 "main()\n", port, tmp_path / "server.log")
    server = psutil.Process(proc.pid)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                rss = server.memory_info().rss + sum(c.memory_info().rss for c in server.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    results: list[tuple[str, int, int]] = []

    def client(clip: Path):
        data, tries = clip.read_bytes(), 0
        while True:
            tries += 1
            status, headers, body = post(port, clip.name, data, "?timeline=true&spectrogram=true")  # as the page asks
            if status != 503 or tries > 30:
                results.append((clip.name, status, tries, body.get("detail")))
                return
            time.sleep(float(headers.get("Retry-After", 1)))

    idle = server.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    try:
        threads = [threading.Thread(target=client, args=(c,)) for c in clips]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
    finally:
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join(5)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    retried = sum(1 for _, _, n, _ in results if n > 1)
    with capsys.disabled():
        print(f"\n20 concurrent 30-s uploads (timeline + spectrogram), {os.cpu_count()} cores: "
              f"{sum(s == 200 for _, s, *_ in results)} x 200, {retried} retried after 503, wall {wall:.0f} s, "
              f"server RSS idle {idle / 2**20:.0f} MB, peak {peak[0] / 2**20:.0f} MB")
    failed = [r for r in results if r[1] != 200]
    assert len(results) == 20 and not failed, (failed, (tmp_path / "server.log").read_text(errors="replace")[-3000:])
    assert peak[0] < 1.5 * 2**30
