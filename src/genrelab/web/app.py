"""The web app: one static page and a JSON API over a :class:`genrelab.inference.Classifier`.

- ``GET /``: the page (``static/index.html``: vanilla JS, no external assets).
- ``POST /api/classify``: multipart upload (field ``file``) -> genres, probabilities, timeline and a mel
  spectrogram PNG (data URL). Uploads above the size limit get 413; content that does not decode as
  audio gets 415 with a JSON explanation; too short/silent audio gets 422.
- ``GET /api/model``: the model's name, labels and backend. ``GET /api/health``: liveness.

The model is loaded once per app; requests run in FastAPI's thread pool, so several are served at once.
Each upload is written to a private temporary file that is deleted before the answer is sent.
"""

import base64
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from genrelab import audio
from genrelab.types import AudioError, AudioProblem

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024
SPECTROGRAM_SECONDS = 120.0
_CHUNK = 1 << 16


def mel_spectrogram_png(y: np.ndarray, sr: int, n_mels: int = 96, max_width: int = 1000, height_px: int = 192) -> bytes:
    """A log-mel spectrogram of ``y`` rendered as a PNG (low frequencies at the bottom; magma-like colours)."""
    from PIL import Image

    n_fft, hop = 1024, 512
    y = np.asarray(y, dtype=np.float32)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    mel = power @ _mel_basis(sr, n_fft, n_mels).T
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    db = np.clip(db - db.max(), -80, 0)
    img = (db + 80) / 80  # (frames, mels) in [0, 1]
    if img.shape[0] > max_width:  # average columns down to max_width
        idx = np.linspace(0, img.shape[0], max_width + 1).astype(int)
        img = np.stack([img[a:max(b, a + 1)].mean(0) for a, b in zip(idx[:-1], idx[1:])])
    rgb = _colormap(img.T[::-1])
    im = Image.fromarray(rgb, "RGB").resize((img.shape[0], height_px), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_MEL_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    key = (sr, n_fft, n_mels)
    if key not in _MEL_CACHE:
        def hz_to_mel(f):
            return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

        def mel_to_hz(m):
            return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

        freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
        pts = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(sr / 2), n_mels + 2))
        fb = np.zeros((n_mels, freqs.size), dtype=np.float32)
        for i in range(n_mels):
            lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
            up = (freqs - lo) / max(c - lo, 1e-9)
            down = (hi - freqs) / max(hi - c, 1e-9)
            fb[i] = np.maximum(0, np.minimum(up, down))
        _MEL_CACHE[key] = fb
    return _MEL_CACHE[key]


_STOPS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                   [250, 193, 39], [252, 255, 164]], dtype=np.float32)


def _colormap(v: np.ndarray) -> np.ndarray:
    x = np.clip(v, 0, 1) * (len(_STOPS) - 1)
    i = np.minimum(x.astype(int), len(_STOPS) - 2)
    t = (x - i)[..., None]
    return (_STOPS[i] * (1 - t) + _STOPS[i + 1] * t).astype(np.uint8)


class _LimitExceeded(Exception):
    pass


class LabelScore(BaseModel):
    label: str
    score: float

class TimelineItem(BaseModel):
    start: float = Field(description="window start, seconds")
    end: float = Field(description="window end, seconds")
    label: str
    score: float
    probabilities: dict[str, float] = Field(default_factory=dict, description="every genre's probability in this window")

class Spectrogram(BaseModel):
    png: str = Field(description="data URL of a PNG log-mel spectrogram (time left to right, low notes at the bottom)")
    seconds: float = Field(description="how many seconds of audio the image shows (from the start)")

class ClassifyResponse(BaseModel):
    """:meth:`genrelab.inference.ClassificationResult.to_dict` (``path`` is the uploaded file's name), plus
    the spectrogram."""

    path: str = Field(description="the uploaded file's name")
    label: str = Field(description="the most likely genre")
    score: float
    top: list[LabelScore]
    probabilities: dict[str, float] = Field(description="every genre the model knows, with its probability")
    uncertain: bool = Field(False, description="the calibrated score is below the model's threshold (more likely wrong than right)")
    styles: Optional[list[LabelScore]] = Field(None, description="genre/style tags of the musicnn backbone (independent scores)")
    timeline: Optional[list[TimelineItem]] = None
    duration: Optional[float] = None
    n_segments: int
    model: str
    spectrogram: Optional[Spectrogram] = None

class ErrorResponse(BaseModel):
    detail: str
    problem: Optional[str] = None


def create_app(model: Any = "default", *, max_upload_bytes: Optional[int] = None, upload_dir: Union[str, os.PathLike, None] = None,
               runtime: Any = None):
    """The FastAPI app for ``model`` (a :class:`Classifier`, a shipped model name or a checkpoint folder).

    ``runtime``: the :class:`genrelab.runtime.Runtime` a model given by name runs with (default: the
    environment's, read once here).

    ``max_upload_bytes``: larger uploads are refused with 413 (default 50 MB, env ``GENRELAB_MAX_UPLOAD_MB``).
    ``upload_dir``: where uploads are written while they are classified (default: the system temp dir).
    """
    from genrelab.inference import Classifier

    if max_upload_bytes is None:
        env = os.environ.get("GENRELAB_MAX_UPLOAD_MB")
        max_upload_bytes = int(float(env) * 1024 * 1024) if env else DEFAULT_MAX_UPLOAD
    limit = int(max_upload_bytes)

    from genrelab.runtime import Runtime

    rt = runtime if runtime is not None else Runtime.from_env()
    state: dict[str, Any] = {"clf": model if isinstance(model, Classifier) else None}
    load_lock = threading.Lock()

    def classifier() -> Classifier:
        if state["clf"] is None:
            with load_lock:
                if state["clf"] is None:
                    state["clf"] = Classifier.from_pretrained(model, runtime=rt)
        return state["clf"]

    app = FastAPI(
        title="genrelab",
        version=_version(),
        description="Music genre classification. Upload a song to `POST /api/classify` and get its genres back.",
    )
    app.state.upload_dir = str(upload_dir) if upload_dir else None
    app.state.max_upload_bytes = limit
    app.state.classifier = classifier

    @app.middleware("http")
    async def _reject_large(request: Request, call_next):
        if request.url.path.startswith("/api/") and request.method == "POST":
            cl = request.headers.get("content-length")
            if cl and cl.isdigit() and int(cl) > limit + 64 * 1024:
                return JSONResponse(status_code=413, content={
                    "detail": f"upload too large: {int(cl)} bytes, limit {limit} bytes", "problem": "too-large"})
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health", summary="Liveness check")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/model", summary="The model this server uses")
    def model_info() -> dict:
        clf = classifier()
        info = clf.describe()
        info["max_upload_bytes"] = limit
        return info

    @app.post(
        "/api/classify", response_model=ClassifyResponse, summary="Classify an uploaded audio file",
        responses={413: {"model": ErrorResponse, "description": "upload larger than the limit"},
                   415: {"model": ErrorResponse, "description": "the upload does not decode as audio"},
                   422: {"model": ErrorResponse, "description": "audio that cannot be classified (too short, silent)"}},
    )
    def classify(
        file: UploadFile = File(..., description="an audio file (wav, mp3, flac, ogg, m4a, ...)"),
        top_k: int = Query(5, ge=1, le=50, description="how many genres in `top`"),
        timeline: bool = Query(True, description="classify every window of the file (the timeline)"),
        spectrogram: bool = Query(True, description="include a mel spectrogram PNG"),
    ):
        name = os.path.basename(file.filename or "upload")
        suffix = Path(name).suffix.lower()
        if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
            suffix = ".bin"
        fd, tmp = tempfile.mkstemp(prefix="genrelab-upload-", suffix=suffix, dir=app.state.upload_dir)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := file.file.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise _LimitExceeded()
                    out.write(chunk)
            if size == 0:
                raise HTTPException(status_code=422, detail="empty upload")
            clf = classifier()
            res = clf.classify(tmp, top_k=top_k, timeline=timeline)
            if res.error:
                problem = res.error_kind or "error"
                status = 415 if problem in (AudioProblem.NOT_AUDIO.value, AudioProblem.UNSUPPORTED.value,
                                            AudioProblem.CORRUPT.value, AudioProblem.EMPTY.value) else 422
                msg = res.error.replace(tmp, name)
                if status == 415:
                    msg = f"{name} is not a readable audio file ({problem}): {msg}"
                return JSONResponse(status_code=status, content={"detail": msg, "problem": problem})
            body = res.to_dict()
            body["path"] = name
            body["spectrogram"] = None
            if spectrogram:
                try:
                    dur = min(SPECTROGRAM_SECONDS, res.duration or SPECTROGRAM_SECONDS)
                    y, sr = audio.load(tmp, sr=16000, mono=True, duration=dur)
                    png = mel_spectrogram_png(y, sr)
                    body["spectrogram"] = {"png": "data:image/png;base64," + base64.b64encode(png).decode(),
                                           "seconds": round(y.size / sr, 3)}
                except AudioError:
                    body["spectrogram"] = None
            return body
        except _LimitExceeded:
            return JSONResponse(status_code=413, content={
                "detail": f"upload too large: more than {limit} bytes", "problem": "too-large"})
        finally:
            try:
                file.file.close()
            finally:
                Path(tmp).unlink(missing_ok=True)

    return app


def _version() -> str:
    import genrelab

    return genrelab.__version__


__all__ = ["create_app", "mel_spectrogram_png", "STATIC"]
