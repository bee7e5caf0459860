"""Helpers for the web tests: synthetic WAV bytes, uvicorn in a thread, and a classifier that reads its file
slowly, block by block, through genrelab.audio.stream (so that the web app's cancellation, budgets and
admission can be watched while work is in flight)."""

from __future__ import annotations

import io
import socket
import threading
import time

import soundfile as sf

import inference_fixture as fx
from genrelab import audio
from genrelab.inference import Classifier


def wav_bytes(label="noise", seconds=7.0, sr=fx.SR, seed=0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, fx.synth(label, seconds, sr=sr, seed=seed), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def serve_in_thread(app):
    """uvicorn serving ``app`` on 127.0.0.1 at a free port, in a daemon thread: ``(server, thread, port)``."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    return server, thread, port


class SlowClassifier(Classifier):
    def __init__(self, base: Classifier, delay: float = 0.2, block_seconds: float = 0.25):
        self.__dict__.update(base.__dict__)
        self.delay, self.block_seconds = delay, block_seconds
        self.blocks_read = 0
        self.finished = 0

    def classify(self, path, top_k=3, timeline=False, raise_errors=False):
        for _ in audio.stream(path, self.sample_rate, block_seconds=self.block_seconds):
            self.blocks_read += 1
            time.sleep(self.delay)
        res = super().classify(path, top_k=top_k, timeline=timeline, raise_errors=raise_errors)
        self.finished += 1
        return res


def fixture_classifier(ckpt) -> Classifier:
    from genrelab.runtime import Runtime

    return Classifier.from_pretrained(ckpt, runtime=Runtime.from_env(backend="torch"))


def slow_app(ckpt, upload_dir=None, delay=0.2, **kwargs):
    from genrelab.web import create_app

    clf = SlowClassifier(fixture_classifier(ckpt), delay=delay)
    return create_app(model=clf, upload_dir=upload_dir, **kwargs), clf
