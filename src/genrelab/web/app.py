"""The web app: one static page and a JSON API over a :class:`genrelab.inference.Classifier`.

- ``GET /``: the page (``static/``: HTML, CSS and JS served by this app; no external assets).
- ``POST /api/classify``: multipart upload (field ``file``) -> genres, probabilities, the timeline and, on
  request (``spectrogram=true``), a mel spectrogram PNG. Refusals: 413 (upload above the size limit, counted
  while it streams, or audio longer than the budget), 415 (not a known audio container, corrupt or
  implausible header: decided before any decoder runs), 422 (too short, silent, empty), 503 + ``Retry-After``
  (busy: every slot and queue place taken; or the work was cancelled: time budget, shutdown).
- ``GET /api/model``: the model's name, labels and backend (no server paths). ``GET /api/health``: liveness.
- ``GET /openapi.json`` always; the interactive ``/docs`` page only when enabled (``docs=True``,
  ``GENRELAB_DOCS=1`` or ``genrelab serve --docs``), because it loads its scripts from a CDN.

Each upload is streamed once into a private temporary file (see :mod:`genrelab.web.upload`) and deleted
before the answer is sent. Classification runs in a bounded pool of worker threads with a short queue,
per-request budgets and cancellation when the client disconnects (see :mod:`genrelab.web.work`).
"""

import base64
import os
import time
from pathlib import Path
from typing import Any, Optional, Union

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from genrelab import audio
from genrelab.types import AudioError, AudioProblem, GenrelabError
from genrelab.web.upload import FRAMING_SLACK, UploadRefused, receive_upload
from genrelab.web.work import Budget, Busy, CancelToken, Gate

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024
SPECTROGRAM_SECONDS = 120.0
DEFAULT_TOP_K = 3  # the same as ``genrelab classify``

#: Content-Security-Policy of every answer: only this origin; images also from data: URLs (the spectrogram),
#: media also from blob: URLs (the page plays the chosen file from memory).
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
#: The opt-in /docs page (Swagger UI) loads its script and style from this CDN.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "frame-ancestors 'none'")
_UNREADABLE = {AudioProblem.NOT_AUDIO.value, AudioProblem.UNSUPPORTED.value, AudioProblem.CORRUPT.value}


class _Guard:
    """Pure ASGI middleware: security headers on every answer, and an early 413 when the declared
    ``Content-Length`` of a POST to the API is already above the limit (the body is never read)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if scope["method"] == "POST" and path.startswith("/api/"):
            cl = dict(scope["headers"]).get(b"content-length", b"")
            if cl.isdigit() and int(cl) > self.limit + FRAMING_SLACK:
                resp = _error(413, f"upload too large: {int(cl)} bytes, limit {self.limit} bytes", "too-large")
                return await resp(scope, receive, self._secure(send, path))
        await self.app(scope, receive, self._secure(send, path))

    @staticmethod
    def _secure(send, path: str):
        csp = (DOCS_CSP if path.startswith("/docs") else CSP).encode()

        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                headers += [(b"content-security-policy", csp), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


def _error(status: int, detail: str, problem: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, "problem": problem}, headers=headers)


def result_json(res: Any, filename: str) -> dict:
    """The API body for one classification result: ``to_dict()`` as the library writes it (field names
    included), with ``path`` the upload's name (never the server's temporary file) and without the error
    fields (errors are answered with a status code). The one place where the JSON answer is shaped."""
    body = dict(res.to_dict())
    for key in ("error", "error_kind"):
        body.pop(key, None)
    body.setdefault("timeline", None)
    body["path"] = filename
    return body


def _audio_error(exc: AudioError, name: str) -> JSONResponse:
    problem = exc.problem.value
    detail = exc.detail or problem
    if problem in _UNREADABLE:
        return _error(415, f"{name} is not a readable audio file ({problem}): {detail}", problem)
    return _error(422, f"{name}: {problem} ({detail})", problem)


# --------------------------------------------------------------------------- OpenAPI models (documentation)
class ClassifyResponse(BaseModel):
    """The answer: :meth:`genrelab.inference.ClassificationResult.to_dict` (``path`` is the uploaded file's
    name), plus ``spectrogram``."""

    model_config = ConfigDict(extra="allow")
    path: str = Field(description="the uploaded file's name")
    label: Optional[str] = Field(None, description="the most likely genre")
    score: Optional[float] = None
    top: list[dict] = Field(description="the top-k genres with their probabilities (label, score)")
    probabilities: dict[str, float] = Field(description="every genre the model knows, with its probability")
    uncertain: bool = Field(False, description="the calibrated score is below the threshold: more likely wrong than right")
    styles: Optional[list[dict]] = Field(None, description="genre/style tags of the musicnn backbone (label, score; "
                                                           "independent tag scores), best first")
    timeline: Optional[list[dict]] = Field(None, description="one entry per window: start, end, label, score, "
                                                             "probabilities")
    duration: Optional[float] = None
    spectrogram: Optional[dict] = Field(None, description="only with spectrogram=true: PNG data URL and axes")


class ErrorResponse(BaseModel):
    detail: str
    problem: Optional[str] = None


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "an audio file (wav, mp3, flac, ogg, m4a, ...)"}}}}}}}


# --------------------------------------------------------------------------- the app
def create_app(model: Any = "default", *, max_upload_bytes: Optional[int] = None,
               upload_dir: Union[str, os.PathLike, None] = None, runtime: Any = None,
               budget: Optional[Budget] = None, slots: Optional[int] = None, queue: Optional[int] = None,
               docs: Optional[bool] = None):
    """The FastAPI app for ``model`` (a :class:`Classifier`, a shipped model name or a checkpoint folder).

    ``max_upload_bytes``: larger uploads get 413 (default 50 MB, env ``GENRELAB_MAX_UPLOAD_MB``).
    ``upload_dir``: where uploads are written while they are classified (default: the system temp dir).
    ``runtime``: the :class:`genrelab.runtime.Runtime` a model given by name runs with (default: the
    environment's, read once here).
    ``budget``: per-request limits (:class:`Budget`, env ``GENRELAB_MAX_AUDIO_SECONDS``, ...).
    ``slots``/``queue``: classifications at once (default: CPU cores) and requests waiting (default 4 x slots).
    ``docs``: serve the interactive ``/docs`` page (loads assets from a CDN; default off, env ``GENRELAB_DOCS``).
    """
    import threading
    from contextlib import asynccontextmanager

    from genrelab.inference import Classifier
    from genrelab.runtime import Runtime

    if max_upload_bytes is None:
        env = os.environ.get("GENRELAB_MAX_UPLOAD_MB")
        max_upload_bytes = int(float(env) * 1024 * 1024) if env else DEFAULT_MAX_UPLOAD
    limit = int(max_upload_bytes)
    budget = budget or Budget.from_env()
    if docs is None:
        docs = os.environ.get("GENRELAB_DOCS", "").strip().lower() in ("1", "true", "yes", "on")
    gate = Gate(slots, queue)
    rt = runtime if runtime is not None else Runtime.from_env()
    state: dict[str, Any] = {"clf": model if isinstance(model, Classifier) else None}
    load_lock = threading.Lock()

    def classifier() -> Classifier:
        if state["clf"] is None:
            with load_lock:
                if state["clf"] is None:
                    state["clf"] = Classifier.from_pretrained(model, runtime=rt)
        return state["clf"]

    @asynccontextmanager
    async def lifespan(_app):
        gate.open()
        yield
        gate.close()

    app = FastAPI(
        title="genrelab", version=_version(), lifespan=lifespan, docs_url="/docs" if docs else None, redoc_url=None,
        description="Music genre classification. Upload a song to `POST /api/classify` and get its genres back.",
    )
    app.add_middleware(_Guard, limit=limit)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.upload_dir = str(upload_dir) if upload_dir else None
    app.state.max_upload_bytes = limit
    app.state.classifier = classifier
    app.state.gate = gate
    app.state.budget = budget

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health", summary="Liveness check")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/model", summary="The model this server uses")
    def model_info() -> dict:
        info = classifier().describe()
        info.pop("path", None)  # never reveal install or checkpoint paths
        info["name"] = Path(str(info.get("name") or "model").rstrip("/\\")).name
        info.update(max_upload_bytes=limit, max_audio_seconds=budget.max_audio_seconds)
        return info

    def work(token: CancelToken, path: str, name: str, top_k: int, timeline: bool, spectrogram: bool):
        """Runs in a worker thread: header checks and budget first, then the classification."""
        clf = classifier()
        with audio.cancel_scope(token.check):
            try:
                head = audio.info(path)  # container sniffed and header checked before any decoding
                if head.duration > budget.max_audio_seconds:
                    return _error(413, f"{name} is {head.duration / 60:.1f} min long; this server classifies at "
                                       f"most {budget.max_audio_seconds / 60:g} min per upload", "too-long")
                windows = head.duration / _timeline_step(clf) if timeline else clf.patches_per_track
                if windows > budget.max_windows:
                    return _error(413, f"{name} would need {windows:.0f} windows; this server classifies at most "
                                       f"{budget.max_windows} per upload (try timeline=false)", "too-long")
                res = clf.classify(path, top_k=top_k, timeline=timeline, raise_errors=True)
            except AudioError as exc:
                return _audio_error(exc, name)
            except (GenrelabError, ValueError, RuntimeError, MemoryError, OSError) as exc:
                return _error(422, f"{name} could not be classified: {type(exc).__name__}: "
                                   f"{str(exc).replace(path, name)}", "error")
            body = result_json(res, name)
            body["spectrogram"] = _spectrogram(clf, path, res.duration) if spectrogram else None
        return body

    @app.post(
        "/api/classify", response_model=ClassifyResponse, summary="Classify an uploaded audio file",
        openapi_extra=_UPLOAD_BODY,
        responses={413: {"model": ErrorResponse, "description": "upload or audio larger than the limits"},
                   415: {"model": ErrorResponse, "description": "not a known audio container, or a corrupt header"},
                   422: {"model": ErrorResponse, "description": "audio that cannot be classified (too short, silent)"},
                   503: {"model": ErrorResponse, "description": "busy (retry after Retry-After seconds) or cancelled"}},
    )
    async def classify(
        request: Request,
        top_k: int = Query(DEFAULT_TOP_K, ge=1, le=50, description="how many genres in `top`"),
        timeline: bool = Query(True, description="classify every window of the file (the timeline)"),
        spectrogram: bool = Query(False, description="include a mel spectrogram PNG (about 100 kB)"),
    ):
        try:
            gate.enter()
        except Busy as busy:
            drained = 0
            async for chunk in request.stream():  # read and drop the body (up to the limit) so the client
                drained += len(chunk)              # sees the answer; nothing is stored
                if drained > limit + FRAMING_SLACK:
                    break
            return _error(503, "the server is busy; retry in a few seconds", "busy",
                          headers={"Retry-After": str(busy.retry_after)})
        upload = None
        try:
            upload = await receive_upload(request.stream(), request.headers.get("content-type", ""), limit,
                                          app.state.upload_dir)
            token = CancelToken(deadline=time.monotonic() + budget.max_seconds, shutdown=gate.shutdown)
            try:
                out = await gate.run(lambda tok: work(tok, upload.path, upload.filename, top_k, timeline, spectrogram),
                                     token, request.is_disconnected)
            except audio.WorkCancelled:
                return _error(503, f"classification of {upload.filename} stopped: {token.reason}", "cancelled",
                              headers={"Retry-After": str(gate.retry_after)})
            return out if isinstance(out, JSONResponse) else JSONResponse(out)
        except UploadRefused as refused:
            return _error(refused.status, refused.detail, refused.problem)
        finally:
            gate.leave()
            if upload is not None:
                upload.delete()

    return app


def _timeline_step(clf: Any) -> float:
    """Seconds between timeline entries: a patch for pooled-patch models (musicnn), else the window hop."""
    spec, sr = clf.spec, clf.sample_rate
    patch = getattr(spec.feature, "patch_samples", None)
    if patch and not getattr(spec, "segmented", False):
        return patch / sr
    return max(float(getattr(spec, "hop_seconds", None) or clf.window_seconds), 1e-3)


def _spectrogram(clf: Any, path: str, duration: Optional[float]) -> Optional[dict]:
    """The model's mel spectrogram of the first :data:`SPECTROGRAM_SECONDS` as a PNG data URL with its axes."""
    from genrelab.web.spectrogram import mel_params, render

    params = mel_params(clf.spec.feature, clf.sample_rate)
    try:
        y, _ = audio.load(path, sr=params.sample_rate, mono=True,
                          duration=min(SPECTROGRAM_SECONDS, duration or SPECTROGRAM_SECONDS))
    except AudioError:
        return None
    png, axes = render(y, params)
    return {"png": "data:image/png;base64," + base64.b64encode(png).decode(), **axes}


def serve(app: Any, host: str, port: int, graceful_seconds: float = 3.0, log_level: str = "info") -> None:
    """Run ``app`` with uvicorn; on SIGTERM/SIGINT running classifications are cancelled at once (their worker
    threads stop at the next block of audio) and the server exits within ``graceful_seconds``."""
    import uvicorn

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            gate = getattr(getattr(app, "state", None), "gate", None)
            if gate is not None:
                gate.shutdown.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=max(1, int(round(graceful_seconds))))
    _Server(config).run()


def _version() -> str:
    import genrelab

    return genrelab.__version__


__all__ = ["create_app", "result_json", "serve", "STATIC", "Budget"]
