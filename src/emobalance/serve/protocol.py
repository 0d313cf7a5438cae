"""uvicorn's HTTP/1.1 protocol, answering unparseable requests in the service's JSON format.

A request whose request line or headers do not parse (``Content-Length: -1``, a header name
with a space, a bad chunk size, headers over h11's 16 KiB) is rejected by the HTTP parser
(h11, or httptools when installed) inside uvicorn, before any ASGI scope exists: the app never
sees it, so no middleware or exception handler can format the answer. uvicorn answers it with
``send_400_response(msg)``, a plain-text 400. :func:`http_protocol` returns the protocol class
uvicorn would pick (``http="auto"``) with that one method replaced: the answer becomes
``{"error": "bad_request", "detail": ...}`` (431 for oversized headers) with the parser's
reason (``bad Content-Length``), ``nosniff`` and ``Connection: close``, the way every other
error of the service looks. Pass it
as ``uvicorn.run(app, http=http_protocol())``. These requests are not in ``/metrics`` (no
request exists at the app level); uvicorn logs one warning line, no traceback.
"""

from __future__ import annotations

import asyncio
import http
import json
import sys
from functools import cache

from .middleware import status_name

_UVICORN_GENERIC = "Invalid HTTP request received."


def json_400(
    msg: str, exc: BaseException | None, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The raw HTTP/1.1 answer for a request the parser refused (``exc``: its error, if any).

    The status is 400, or h11's hint when it has a more precise 4xx (431 for headers over
    its size limit).
    """
    reason = str(exc).strip() if exc is not None else ""
    hint = getattr(exc, "error_status_hint", 400)
    status = hint if isinstance(hint, int) and 400 <= hint < 500 else 400
    if msg != _UVICORN_GENERIC:  # e.g. httptools' "Unsupported upgrade request."
        detail = msg.rstrip(".")
    else:
        detail = "invalid HTTP request" + (f": {reason}" if reason else "")
    body = json.dumps({"error": status_name(status), "detail": detail}).encode()
    phrase = http.HTTPStatus(status).phrase
    head = [f"HTTP/1.1 {status} {phrase}".encode("ascii")]
    head += [name + b": " + value for name, value in default_headers]
    head += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode("ascii"),
        b"x-content-type-options: nosniff",
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@cache
def http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's automatic HTTP/1.1 protocol class, its 400 answers in JSON.

    Returns
    -------
    type
        A subclass of uvicorn's ``AutoHTTPProtocol`` (h11's or httptools') for
        ``uvicorn.run(..., http=...)``.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class JSONErrorHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        """Answers a request the HTTP parser refused with the service's JSON 400."""

        def send_400_response(self, msg: str) -> None:
            # Called from inside the parser's `except` block: its exception is the reason.
            exc = sys.exc_info()[1]
            self.transport.write(json_400(msg, exc, list(self.server_state.default_headers)))
            self.transport.close()

    return JSONErrorHTTPProtocol
