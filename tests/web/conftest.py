"""A fixture model and a served app for the web tests."""

from __future__ import annotations

import pytest

import inference_fixture as fx

pytest.importorskip("fastapi")


@pytest.fixture(scope="session")
def web_ckpt(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("webckpt") / "mlp", kind="torch")


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def web_app(web_ckpt, upload_dir):
    from genrelab.inference import Classifier
    from genrelab.runtime import Runtime
    from genrelab.web import create_app

    clf = Classifier.from_pretrained(web_ckpt, runtime=Runtime.from_env(backend="torch"))
    return create_app(model=clf, max_upload_bytes=2 * 1024 * 1024, upload_dir=upload_dir)


@pytest.fixture(scope="session")
def browser_app(web_app, upload_dir):
    """The app the browser drives: the shipped default model (the real thing; a default model that does not
    load is a failure, not a reason to test something else)."""
    from genrelab.inference import Classifier
    from genrelab.web import create_app

    clf = Classifier.from_pretrained("default")
    return create_app(model=clf, max_upload_bytes=20 * 1024 * 1024, upload_dir=upload_dir)


@pytest.fixture(scope="session")
def live_server(browser_app):
    """uvicorn serving ``browser_app`` on 127.0.0.1 at a free port, in a thread."""
    from web_helpers import serve_in_thread

    server, thread, port = serve_in_thread(browser_app)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
