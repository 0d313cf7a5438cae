"""The chat-completions client of LLM generation and its response cache.

:class:`ChatClient` sends one request at a time (it is thread-safe, so a pool of threads can
share one) to any OpenAI-compatible ``/chat/completions`` endpoint through the official
``openai`` SDK, with the retry policy of :class:`~emobalance.config.GenerationConfig`: the
SDK's own retries are off (``max_retries=0``), every attempt, wait and error message is ours.
:class:`ResponseCache` keeps completions on disk so that a re-run does not pay twice. Fatal
errors are :class:`GenerationError`.

The SDK is imported when the first client is made, so importing this module (and
``emobalance.balance``) does not need it.
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import ipaddress
import json
import os
import random
import socket
import ssl
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from ..config import GenerationConfig
from ..errors import EmobalanceError
from ..io import write_json_atomic
from ..log import get_logger

logger = get_logger(__name__)

__all__ = [
    "Aborted",
    "ChatClient",
    "GenerationError",
    "RequestFailed",
    "ResponseCache",
    "cache_key",
]


class GenerationError(EmobalanceError):
    """LLM generation failed: endpoint unreachable, rejected request, or every request failed."""


_RETRY_STATUS = frozenset({408, 425, 429})
_CHAT_PATH = "/chat/completions"
# Arguments of ``chat.completions.create`` that a payload key is passed as; any other key of
# the payload goes in ``extra_body`` (the JSON body on the wire is the payload either way).
_SDK_ARGS = frozenset(
    {"temperature", "max_tokens", "max_completion_tokens", "seed", "top_p", "stop", "n",
     "presence_penalty", "frequency_penalty", "response_format", "user", "logit_bias"}
)  # fmt: skip
# Sent instead of a key when there is none (the SDK insists on one); the Authorization header
# is then omitted from every request, so the placeholder never leaves the process.
_NO_KEY = "no-key"


class _Transient(Exception):
    """A failed attempt worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestFailed(Exception):
    """All attempts of one request failed with transient errors; the caller may skip it."""


class Aborted(Exception):
    """The client was aborted (another request hit a fatal error); this request stopped."""


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fatal_reason(reason: object) -> str | None:
    """A description when a connection error will not go away by retrying, else ``None``."""
    if isinstance(reason, ConnectionRefusedError) or (
        isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED
    ):
        return "connection refused (is the server running?)"
    if isinstance(reason, socket.gaierror):
        return f"host name not resolved ({reason})"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected ({reason})"
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first (cycles cut)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not e for e in out) and len(out) < 16:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _sdk() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise GenerationError(
            f"LLM generation needs the openai package ({exc}); pip install openai"
        ) from None
    return openai


class ChatClient:
    """POSTs chat-completion requests to ``config.endpoint()`` with retries; thread-safe.

    Transient failures (HTTP 408/425/429/5xx, timeouts, connection resets, malformed bodies)
    are retried up to ``config.max_retries`` times: retry ``k`` waits
    ``min(backoff_max_s, backoff_base_s * 2**k)`` times a jitter factor in ``[0.5, 1)``, or
    the server's ``Retry-After`` (at most ``retry_after_max_s``). Other 4xx answers and an
    unreachable endpoint are fatal. Requests go through the ``openai`` SDK with its retries
    off; the key comes from ``$<config.api_key_env>`` (none: no ``Authorization`` header),
    and a loopback endpoint is never reached through a proxy from the environment.

    Parameters
    ----------
    config : GenerationConfig
        Endpoint, API key variable, timeout and retry policy.

    Attributes
    ----------
    url : str
        The chat-completions URL.
    requests : int
        HTTP attempts sent so far (every retry counts).
    retries : int
        Of ``requests``, the repeated attempts.
    """

    def __init__(self, config: GenerationConfig) -> None:
        openai = _sdk()
        self.cfg = config
        self.url = config.endpoint()
        self.requests = 0
        self.retries = 0
        self._abort = threading.Event()
        self._lock = threading.Lock()
        key = os.environ.get(config.api_key_env, "").strip()
        self.has_key = bool(key)
        base = self.url[: -len(_CHAT_PATH)] if self.url.endswith(_CHAT_PATH) else self.url
        host = urllib.parse.urlsplit(self.url).hostname
        # Local servers are never reached through an HTTP proxy from the environment.
        http_client = openai.DefaultHttpxClient(trust_env=False) if _is_loopback(host) else None
        # Per request: only what the config says. The SDK would otherwise add an
        # OpenAI-Organization / OpenAI-Project header from $OPENAI_ORG_ID / $OPENAI_PROJECT_ID
        # and send a placeholder key; an ``Omit()`` value removes a header.
        self._headers: dict[str, Any] = {
            "User-Agent": "emobalance",
            "OpenAI-Organization": openai.Omit(),
            "OpenAI-Project": openai.Omit(),
        }
        if not key:
            self._headers["Authorization"] = openai.Omit()
        self._sdk = openai
        self._client = openai.OpenAI(
            api_key=key or _NO_KEY,  # never None: the SDK would read $OPENAI_API_KEY
            organization=None,
            project=None,
            base_url=base,
            timeout=config.timeout_s,  # connect, each read, each write, pool
            max_retries=0,  # the retry policy is ours
            http_client=http_client,
        )
        # nor the SDK's telemetry headers (OS, CPU, Python and SDK versions, retry count):
        # the old hand-written client sent none, and a third-party server has no need of them
        for name in [*self._client.default_headers, "X-Stainless-Retry-Count",
                     "X-Stainless-Read-Timeout"]:  # fmt: skip
            if name.lower().startswith("x-stainless"):
                self._headers[name] = openai.Omit()

    def abort(self) -> None:
        """Stop every request in flight or waiting to retry (they raise :class:`Aborted`)."""
        self._abort.set()

    def close(self) -> None:
        """Close the connection pool (the client is unusable afterwards)."""
        self._client.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, payload: dict[str, Any], rng: random.Random) -> str:
        """The completion text of one chat-completions request.

        Parameters
        ----------
        payload : dict
            The JSON body (``model``, ``messages``, ``temperature``...).
        rng : random.Random
            Draws the retry jitter (seeded per request, so waits are reproducible).

        Returns
        -------
        str
            ``choices[0].message.content`` (or ``choices[0].text``), non-empty.

        Raises
        ------
        GenerationError
            On a fatal error: an unreachable endpoint or an HTTP status other than
            408/425/429/5xx (the message names the URL and the status).
        RequestFailed
            When every attempt failed with a transient error.
        Aborted
            When :meth:`abort` was called.
        """
        args = self._arguments(payload)
        last: _Transient | None = None
        for attempt in range(self.cfg.max_retries + 1):
            if self._abort.is_set():
                raise Aborted
            with self._lock:
                self.requests += 1
                self.retries += int(attempt > 0)
            try:
                return self._post(args)
            except _Transient as exc:
                last = exc
            if attempt == self.cfg.max_retries:
                break
            if last.retry_after is not None:
                delay = min(last.retry_after, self.cfg.retry_after_max_s)
            else:
                cap = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2.0**attempt)
                delay = cap * (0.5 + 0.5 * rng.random())
            logger.debug("%s: %s; retry %d in %.2fs", self.url, last, attempt + 1, delay)
            if self._abort.wait(delay):
                raise Aborted
        raise RequestFailed(f"{self.cfg.max_retries + 1} attempts failed, last: {last}")

    def _arguments(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create`` for ``payload``."""
        body = dict(payload)
        args: dict[str, Any] = {"model": body.pop("model"), "messages": body.pop("messages")}
        for name in _SDK_ARGS & body.keys():
            args[name] = body.pop(name)
        if body:
            args["extra_body"] = body
        args["extra_headers"] = self._headers
        return args

    def _post(self, args: dict[str, Any]) -> str:
        sdk = self._sdk
        try:
            # The raw response: the body is parsed here, as leniently as before (content
            # parts, ``choices[0].text``), and a malformed one is a retry, not an SDK error.
            raw = self._client.chat.completions.with_raw_response.create(**args)
            body = raw.http_response.content
        except sdk.APIStatusError as exc:
            raise self._http_error(exc) from None
        except sdk.APIConnectionError as exc:  # APITimeoutError included
            chain = _causes(exc)
            for cause in chain:
                fatal = _fatal_reason(cause)
                if fatal:
                    raise GenerationError(f"cannot reach {self.url}: {fatal}") from None
            kind = "timeout" if isinstance(exc, sdk.APITimeoutError) else "connection error"
            inner = chain[1] if len(chain) > 1 else exc  # the transport's exception
            raise _Transient(f"{kind}: {inner!r}") from None
        try:
            obj = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient(f"malformed response (not JSON): {body[:80]!r}") from None
        content = _content_of(obj)
        if content is None:
            err = obj.get("error") if isinstance(obj, dict) else None
            detail = f": {err}" if err else ""
            raise _Transient(f"malformed response (no choices[0].message.content){detail}")
        return content

    def _http_error(self, exc: Any) -> Exception:
        """The exception for an HTTP error status (an ``APIStatusError``): retry or fatal."""
        response = exc.response
        code = exc.status_code
        try:
            detail = response.content[:500].decode("utf-8", "replace").strip()
        except Exception:  # the body of an error page is best effort
            detail = ""
        if code in _RETRY_STATUS or code >= 500:
            return _Transient(f"HTTP {code}", retry_after=_retry_after(response.headers))
        hint = ""
        if code in (401, 403) and not self.has_key:
            hint = f" (no API key sent: ${self.cfg.api_key_env} is not set)"
        elif code == 404:
            hint = " (check base_url: it should end in /v1 for most servers, and the model name)"
        msg = f"{self.url} answered HTTP {code} {response.reason_phrase}{hint}"
        return GenerationError(f"{msg}: {detail[:300]}" if detail else msg)


def _content_of(obj: Any) -> str | None:
    """``choices[0].message.content`` (or ``choices[0].text``) of a response, if any."""
    if not isinstance(obj, dict):
        return None
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    first = choices[0]
    msg = first.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    if content is None:
        content = first.get("text")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) and content.strip() else None


class ResponseCache:
    """Completions on disk: one JSON file per request, ``<dir>/<key[:2]>/<key>.json``.

    Entries are written atomically; an unreadable or malformed entry is ignored (with a
    warning), so the request is simply sent again.

    Parameters
    ----------
    directory : path
        The cache folder (created on the first :meth:`put`).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached completion of ``key``, or ``None``."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable cache entry %s (%s)", path, exc)
            return None
        content = obj.get("content") if isinstance(obj, dict) else None
        if not isinstance(content, str) or obj.get("key") != key:
            logger.warning("ignoring malformed cache entry %s (no content or wrong key)", path)
            return None
        return content

    def put(self, key: str, content: str, request: dict[str, Any]) -> None:
        """Store ``content`` under ``key``, with the ``request`` fields it answers."""
        write_json_atomic(
            self.path(key),
            {"key": key, "content": content, "request": request, "created": time.time()},
        )


def cache_key(fields: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``fields`` (what identifies a request)."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
