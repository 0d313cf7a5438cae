"""The ASGI layers around the app: metrics, common headers, HEAD, the body guard.

Outermost first: :class:`Metrics` (sees every answer, 413s included), :class:`Headers`
(``X-Content-Type-Options: nosniff`` on every response), :class:`Head` (HEAD is GET without
the body, on every GET route), :class:`BodyGuard` (size limit, UTF-8, idle timeout). They are
plain ASGI classes, not ``BaseHTTPMiddleware``, so a body is never buffered twice and a client
that goes away is seen as such.
"""

from __future__ import annotations

import asyncio
import http
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A body declared or found larger than the limit is read and dropped up to this size so the
# client gets its 413 instead of a reset connection; past it the connection is just closed.
DRAIN_CAP_BYTES = 64 * 1024 * 1024
# The metrics' status of a request whose client went away before any answer was sent (nginx's
# "client closed request"): nothing was answered, so it is neither a 4xx nor a 5xx.
CLIENT_CLOSED = "499"
NOSNIFF = (b"x-content-type-options", b"nosniff")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def status_name(status: int) -> str:
    """``413`` -> ``payload_too_large``: the ``error`` field of the JSON error bodies."""
    try:
        return http.HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer ``{"error": ..., "detail": ...}``.

    It carries ``nosniff`` itself because Starlette's 500 answer is sent from outside every
    user middleware.
    """
    return JSONResponse(
        {"error": status_name(status), "detail": detail},
        status_code=status,
        headers={**(headers or {}), "x-content-type-options": "nosniff"},
    )


class Metrics:
    """Counts requests by method/path/status and observes their latency (outermost layer).

    ``path_label`` maps a URL path to a bounded set of labels.
    """

    def __init__(
        self, app: ASGIApp, registry: CollectorRegistry, path_label: Callable[[str], str]
    ) -> None:
        self.app = app
        self.path_label = path_label
        self.requests = Counter(
            "emobalance_http_requests",
            "HTTP requests by method, path and status code (499: the client went away "
            "before any answer was sent).",
            ["method", "path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "emobalance_http_request_duration_seconds",
            "HTTP request latency in seconds, by method and path.",
            ["method", "path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        # What the client gets if the app raises before starting a response: Starlette's
        # outer ServerErrorMiddleware answers 500. An app that *returns* without answering
        # only does so when the client disconnected (the body guard, mid-body).
        status = "500"

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
            if status == "500":
                status = CLIENT_CLOSED
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            path = self.path_label(scope["path"])
            self.requests.labels(method, path, status).inc()
            self.latency.labels(method, path).observe(time.perf_counter() - t0)


class Headers:
    """Adds ``X-Content-Type-Options: nosniff`` to every response that lacks it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_headers)


class Head:
    """HEAD is answered as GET without the body (RFC 9110 9.3.2), on every GET route.

    FastAPI registers only the methods it is given, so HEAD /healthz was a 405; routing it
    as GET keeps the OpenAPI schema free of duplicate HEAD operations. The ``Content-Length``
    is GET's, as the RFC asks. The metrics (outside) still count it as HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_no_body)


class BodyGuard:
    """Buffers a request body up to ``max_bytes`` and checks it is UTF-8 before the app runs.

    Over the limit (by ``Content-Length`` or by what arrives, for chunked bodies) the answer is
    413 without parsing anything; non-UTF-8 bytes get 400 here because the JSON parser would
    otherwise fail with a bare "error parsing the body". A body that stalls (no bytes for
    ``idle_timeout_s``) gets 408 and the connection is closed, so a slow client can neither
    hold a connection forever nor keep a graceful shutdown waiting.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, idle_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_big = f"request body exceeds the limit of {self.max_bytes:,} bytes"
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, DRAIN_CAP_BYTES, self.idle_timeout_s)
            await send_json(send, 413, too_big, close=declared > DRAIN_CAP_BYTES)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                detail = f"request body stalled: no bytes for {self.idle_timeout_s:g} s"
                await send_json(send, 408, detail, close=True)
                return
            if message["type"] == "http.disconnect":
                return  # nothing can be answered; the metrics count it as CLIENT_CLOSED
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                drained = (
                    await _drain(receive, DRAIN_CAP_BYTES, self.idle_timeout_s) if more else True
                )
                await send_json(send, 413, too_big, close=not drained)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            await send_json(send, 400, f"request body is not valid UTF-8 (byte {exc.start})")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as ASGI expects

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, cap: int, idle_timeout_s: float) -> bool:
    """Read and drop the rest of a body; ``False`` when it went past ``cap``, stalled or
    disconnected (then the answer closes the connection)."""
    seen = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), idle_timeout_s)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
        if seen > cap:
            return False


async def send_json(send: Send, status: int, detail: str, close: bool = False) -> None:
    """Send :func:`error_response` through a raw ASGI ``send``."""
    response = error_response(status, detail, headers={"connection": "close"} if close else None)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
