"""The JSON API and the page, through FastAPI's TestClient."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf

import inference_fixture as fx
from web_helpers import wav_bytes

pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402


@pytest.fixture(scope="module")
def client(web_app):
    with TestClient(web_app) as c:
        yield c


def test_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js">' in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "/api/classify" in js.text
    for text in (page.text, js.text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text  # no external assets
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/classify"]["post"]
    assert "multipart/form-data" in op["requestBody"]["content"]
    assert {"200", "413", "415", "422"} <= set(op["responses"])
    assert client.get("/api/health").json() == {"status": "ok"}
    info = client.get("/api/model").json()
    assert info["labels"] == fx.LABELS


def test_classify_upload(client, upload_dir):
    r = client.post("/api/classify?spectrogram=true", files={"file": ("song.wav", wav_bytes("midtone"), "audio/wav")})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["path"] == "song.wav" and d["label"] == "midtone"
    assert set(d["probabilities"]) == set(fx.LABELS)
    assert len(d["timeline"]) == 2 and d["timeline"][0]["label"] == "midtone"
    assert d["duration"] == pytest.approx(7.0, abs=0.01)
    png = d["spectrogram"]["png"]
    assert png.startswith("data:image/png;base64,")
    raw = base64.b64decode(png.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(upload_dir.iterdir()) == []  # the upload is gone once answered


def test_other_rates_and_options(client):
    r = client.post("/api/classify?timeline=false&spectrogram=false&top_k=1",
                    files={"file": ("x.wav", wav_bytes("lowtone", 5.0, sr=44100), "audio/wav")})
    d = r.json()
    assert r.status_code == 200 and d["label"] == "lowtone"
    assert d["timeline"] is None and d["spectrogram"] is None and len(d["top"]) == 1


def test_renamed_text_file_gets_a_clear_4xx(client, upload_dir):
    r = client.post("/api/classify", files={"file": ("song.mp3", b"Dear diary, today I renamed a text file.\n" * 20,
                                                     "audio/mpeg")})
    assert r.status_code == 415
    d = r.json()
    assert d["problem"] == "not-audio" and "song.mp3 is not a readable audio file" in d["detail"]
    assert "genrelab-upload" not in d["detail"]  # no server paths leak out
    assert list(upload_dir.iterdir()) == []


def test_silent_and_empty_uploads(client):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(fx.SR * 4, dtype=np.float32), fx.SR, format="WAV")
    r = client.post("/api/classify", files={"file": ("quiet.wav", buf.getvalue(), "audio/wav")})
    assert r.status_code == 422 and r.json()["problem"] == "silent"
    r = client.post("/api/classify", files={"file": ("empty.wav", b"", "audio/wav")})
    assert r.status_code in (415, 422)


def test_upload_limit(client, upload_dir):
    big = b"\0" * (3 * 1024 * 1024)
    r = client.post("/api/classify", files={"file": ("big.wav", big, "audio/wav")})
    assert r.status_code == 413 and r.json()["problem"] == "too-large"
    assert list(upload_dir.iterdir()) == []


def test_several_requests_at_once(client, upload_dir):
    labels = fx.LABELS * 3

    def post(i):
        r = client.post("/api/classify?spectrogram=false",
                        files={"file": (f"{i}.wav", wav_bytes(labels[i], 6.0, seed=i), "audio/wav")})
        return r.status_code, r.json().get("label")

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(post, range(len(labels))))
    assert got == [(200, lab) for lab in labels]
    assert list(upload_dir.iterdir()) == []


@pytest.mark.integration
def test_real_clip(client, gtzan_root):
    clip = sorted((gtzan_root / "genres_original" / "jazz").glob("*.wav"))[0]
    r = client.post("/api/classify?spectrogram=true", files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
    assert r.status_code == 200
    d = r.json()
    assert len(d["timeline"]) == 10 and d["spectrogram"]["seconds"] == pytest.approx(30.0, abs=0.7)


def test_spectrogram_is_the_models_mel():
    from genrelab.inference import Classifier
    from genrelab.web.spectrogram import MelParams, mel_params, render

    clf = Classifier.from_pretrained("default")
    params = mel_params(clf.spec.feature, clf.sample_rate)
    assert params == MelParams(16000, 512, 256, 96)  # musicnn's own input representation
    png, axes = render(fx.synth("noise", 4.0, sr=16000), params)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and axes["seconds"] == 4.0
    assert 0 < axes["axes_left"] < axes["axes_right"] < 1 and 0 < axes["axes_bottom"] < 1 - axes["axes_top"]
