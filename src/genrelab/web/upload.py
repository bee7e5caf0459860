"""Receive one uploaded file from a streamed multipart body: counted while it streams, written once.

The request body is fed chunk by chunk to python-multipart's streaming parser; the bytes of the ``file``
field go straight into one private temporary file. The running total of body bytes is checked after every
chunk, so a body without ``Content-Length`` (chunked transfer) stops at the limit too: at most one network
chunk beyond the limit is ever read and nothing beyond the limit is kept on disk (the partial file is
deleted before the 413 is answered).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Optional

from python_multipart.multipart import MultipartParser, parse_options_header

#: Slack for the multipart framing (boundaries, part headers, other small fields) above the file limit.
FRAMING_SLACK = 64 * 1024


class UploadRefused(Exception):
    """An upload that cannot be taken: ``status`` (400, 413, 415, 422), a sentence, a stable problem name."""

    def __init__(self, status: int, detail: str, problem: str):
        super().__init__(detail)
        self.status, self.detail, self.problem = status, detail, problem


@dataclass
class Upload:
    """The stored upload: the client's base name (never a path), where it is on disk, its size in bytes."""

    filename: str
    path: str
    size: int

    def delete(self) -> None:
        Path(self.path).unlink(missing_ok=True)


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix and len(suffix) <= 6 and suffix[1:].isalnum() else ".bin"


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, limit: int, directory: Optional[str],
                         field: str = "file") -> Upload:
    """Parse a ``multipart/form-data`` body from ``chunks`` and store its ``field`` part (at most ``limit`` bytes).

    Raises :class:`UploadRefused`: 413 past the limit, 400 for a body that is not multipart, 422 when the
    field is missing or empty (``filename=""`` from a form whose file was never chosen gets its own message).
    """
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, f"send the file as multipart/form-data in a field named {field!r}", "bad-request")

    state = {"field": None, "filename": None, "header": b"", "value": b"", "headers": {}, "size": 0}
    found: list[tuple[str, int]] = []  # (client filename, size) of the stored part
    fd, tmp = tempfile.mkstemp(prefix="genrelab-upload-", suffix=".part", dir=directory)
    out = os.fdopen(fd, "wb")

    def on_part_begin():
        state.update(field=None, filename=None, headers={}, size=0)

    def on_header_field(data, start, end):
        state["header"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["header"].lower()] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_headers_finished():
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["field"] = opts.get(b"name", b"").decode("utf-8", "replace")
        fn = opts.get(b"filename")
        state["filename"] = None if fn is None else fn.decode("utf-8", "replace")

    def on_part_data(data, start, end):
        if state["field"] == field and not found:
            out.write(data[start:end])
            state["size"] += end - start

    def on_part_end():
        if state["field"] == field and not found:
            found.append((state["filename"] if state["filename"] is not None else "", state["size"]))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    total = 0
    try:
        try:
            async for chunk in chunks:
                total += len(chunk)
                if total > limit + FRAMING_SLACK:
                    raise UploadRefused(413, f"upload too large: more than {limit} bytes", "too-large")
                parser.write(chunk)
                if state["size"] > limit:
                    raise UploadRefused(413, f"upload too large: more than {limit} bytes", "too-large")
            parser.finalize()
        except UploadRefused:
            raise
        except Exception as exc:  # python-multipart's MultipartParseError and friends
            raise UploadRefused(400, f"malformed multipart body: {exc}", "bad-request") from None
        finally:
            out.close()
        if not found:
            raise UploadRefused(422, f"no file in the upload: send it in a form field named {field!r}", "no-file")
        client_name, size = found[0]
        name = os.path.basename(client_name.replace("\\", "/"))
        if size == 0:
            detail = ("no file chosen: the form's file field is empty" if not name
                      else f"{name} is empty (0 bytes)")
            raise UploadRefused(422, detail, "empty")
        name = name or "upload"
        final = tmp[: -len(".part")] + _safe_suffix(name)
        os.replace(tmp, final)
        return Upload(name, final, size)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
