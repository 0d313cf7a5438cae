"""HTTP serving: a FastAPI app over one model of any kind (:mod:`emobalance.models`).

Needs the ``serve`` extra (``pip install 'emobalance[serve]'``). ``emobalance serve MODEL``
(a model folder or a ``.onnx`` file) runs it with uvicorn and :func:`http_protocol` (its
parser errors in JSON too); :func:`create_app` builds it for any ASGI server or a test client.
"""

from __future__ import annotations

from .app import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_TEXTS,
    body_limit,
    create_app,
)
from .protocol import http_protocol

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_TEXTS",
    "body_limit",
    "create_app",
    "http_protocol",
]
