"""The web app (``genrelab serve``): FastAPI + one static page. Needs the ``web`` extra (fastapi, uvicorn)."""

from __future__ import annotations


def create_app(*args, **kwargs):
    """Build the FastAPI app; see :func:`genrelab.web.app.create_app`."""
    from genrelab.web.app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["create_app"]
