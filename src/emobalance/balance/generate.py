"""New training texts for rare emotions: LLM generation, a teacher filter, an offline augmenter.

Three pieces, used by the balancing planner:

* :func:`generate_candidates` asks any OpenAI-compatible chat-completions endpoint (OpenAI,
  vLLM, llama.cpp ``server``, Ollama, ...) for short Reddit-style comments expressing a given
  emotion. Prompts carry a definition of the emotion and a few real training examples as style
  anchors (sampled with the seed). Requests run in a bounded thread pool with retries
  (exponential backoff with seeded jitter; ``Retry-After`` honoured) on HTTP 429/408/5xx,
  timeouts, connection resets and malformed bodies; other 4xx answers and an unreachable
  endpoint stop the run with a :class:`GenerationError`. Responses are cached on disk, keyed by
  the request, so a re-run does not pay twice. Only the standard library is used for HTTP.
* :func:`teacher_filter` keeps candidates whose teacher probability for the intended emotion
  reaches a threshold and records it in ``teacher_score``.
* :class:`EDAAugmenter` is the offline default: Easy Data Augmentation (Wei & Zou, 2019) of
  real minority-label examples, with synonyms taken from nearest neighbours in word vectors
  instead of WordNet.
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import heapq
import http.client
import ipaddress
import json
import logging
import math
import os
import random
import re
import socket
import ssl
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from ..data.dataset import EmotionDataset
from ..embeddings import Vectors, load_vectors
from ..errors import ConfigError, DataError, EmobalanceError
from ..io import write_json_atomic
from ..labels import LABEL_TO_ID, LABELS, NUM_LABELS
from ..text.normalize import PLACEHOLDERS, normalize, tokenize
from .teacher import Teacher, teacher_proba

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "DEFAULT_SYSTEM_PROMPT",
    "EMOTION_DEFINITIONS",
    "EDAAugmenter",
    "GenerationConfig",
    "GenerationError",
    "GenerationStats",
    "LLMGenerator",
    "build_messages",
    "generate_candidates",
    "nearest_neighbours",
    "parse_completion",
    "teacher_filter",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class GenerationError(EmobalanceError):
    """LLM generation failed: endpoint unreachable, rejected request, or every request failed."""


# Definitions from the GoEmotions paper (Demszky et al., 2020, appendix), lower-cased.
EMOTION_DEFINITIONS: dict[str, str] = {
    "admiration": "finding something impressive or worthy of respect",
    "amusement": "finding something funny or being entertained",
    "anger": "a strong feeling of displeasure or antagonism",
    "annoyance": "mild anger, irritation",
    "approval": "having or expressing a favorable opinion",
    "caring": "displaying kindness and concern for others",
    "confusion": "lack of understanding, uncertainty",
    "curiosity": "a strong desire to know or learn something",
    "desire": "a strong feeling of wanting something or wishing for something to happen",
    "disappointment": "sadness or displeasure caused by the nonfulfillment of one's hopes or "
    "expectations",
    "disapproval": "having or expressing an unfavorable opinion",
    "disgust": "revulsion or strong disapproval aroused by something unpleasant or offensive",
    "embarrassment": "self-consciousness, shame, or awkwardness",
    "excitement": "feeling of great enthusiasm and eagerness",
    "fear": "being afraid or worried",
    "gratitude": "a feeling of thankfulness and appreciation",
    "grief": "intense sorrow, especially caused by someone's death",
    "joy": "a feeling of pleasure and happiness",
    "love": "a strong positive emotion of regard and affection",
    "nervousness": "apprehension, worry, anxiety",
    "optimism": "hopefulness and confidence about the future or the success of something",
    "pride": "pleasure or satisfaction due to one's own achievements or the achievements of "
    "those with whom one is closely associated",
    "realization": "becoming aware of something",
    "relief": "reassurance and relaxation following release from anxiety or distress",
    "remorse": "regret or guilty feeling",
    "sadness": "emotional pain, sorrow",
    "surprise": "feeling astonished, startled by something unexpected",
    "neutral": "no particular emotion; a matter-of-fact remark",
}
"""A short definition of each of the 28 labels, used in the default prompt."""

DEFAULT_SYSTEM_PROMPT = (
    "You write short, realistic Reddit comments for an emotion-classification dataset. "
    "You answer with a JSON list of strings and nothing else."
)
"""System message of every request (``GenerationConfig.system_prompt``)."""

DEFAULT_PROMPT_TEMPLATE = (
    "Write {n} different Reddit comments that each clearly express {emotion} ({definition}).\n"
    "Make them varied: different topics, lengths (3 to 30 words), tones and wording; casual, "
    "the way people write on Reddit. Do not name the emotion outright in every comment, use no "
    "hashtags, and write [NAME] instead of any person's name.\n"
    "{examples}"
    "Answer with a JSON list of {n} strings and nothing else."
)
"""User message template. Placeholders: ``{n}`` (texts asked), ``{emotion}``, ``{definition}``
(from :data:`EMOTION_DEFINITIONS`) and ``{examples}`` (a block of real examples ending with a
newline, or ``""`` when there are none)."""

_TEMPLATE_FIELDS = frozenset({"n", "emotion", "definition", "examples"})


# ============================================================================ configuration
class GenerationConfig(BaseModel):
    """Settings of LLM generation through an OpenAI-compatible chat-completions endpoint.

    Attributes
    ----------
    base_url : str or None
        The API root, e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:8080/v1``
        (llama.cpp), ``http://localhost:11434/v1`` (Ollama); requests go to
        ``{base_url}/chat/completions`` (a URL already ending in ``/chat/completions`` is used as
        is). ``None``: ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
    model : str
        Model name sent with each request (and recorded in each row's ``meta["model"]``).
    api_key_env : str
        Environment variable holding the API key, sent as ``Authorization: Bearer ...``. When
        it is unset or empty **no Authorization header is sent**, which is what local servers
        expect; a server that needs a key then answers 401 and the error says so.
    per_request : int
        Texts asked for in each request.
    temperature, max_tokens : float, int
        Sampling temperature and completion length limit.
    concurrency : int
        Requests in flight at once.
    timeout_s : float
        Socket timeout of one request (connect and each read).
    max_retries : int
        Retries of one request after its first attempt (on HTTP 429/408/5xx, timeouts,
        connection resets, malformed bodies); a request still failing is skipped with a
        warning.
    backoff_base_s, backoff_max_s : float
        Retry ``k`` (from 0) waits ``min(backoff_max_s, backoff_base_s * 2**k)`` times a seeded
        jitter factor in ``[0.5, 1)``, unless the server sent ``Retry-After``.
    retry_after_max_s : float
        Upper bound on a ``Retry-After`` wait.
    cache_dir : path or None
        Directory of the response cache (one JSON file per request); ``None`` disables it.
    examples_per_prompt : int
        Real training examples of the emotion shown in each prompt as style anchors.
    max_rounds : int
        Rounds of requests per run: after dedup, emotions still short of their target get new
        requests (with new sample indices), up to this many rounds.
    min_chars, max_chars : int
        Generated lines outside this length range are dropped.
    system_prompt, prompt_template : str
        The system message and the user message template (see
        :data:`DEFAULT_PROMPT_TEMPLATE` for the placeholders).
    send_seed : bool
        Send a per-request ``seed`` derived from :attr:`seed` (OpenAI, vLLM, llama.cpp and
        Ollama accept it; turn it off for a server that rejects unknown fields).
    seed : int
        Seeds example sampling, the retry jitter and the per-request seeds.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    per_request: int = Field(10, ge=1, le=200)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(30.0, gt=0.0)
    max_retries: int = Field(5, ge=0)
    backoff_base_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, ge=0.0)
    retry_after_max_s: float = Field(120.0, ge=0.0)
    cache_dir: Path | None = None
    examples_per_prompt: int = Field(5, ge=0)
    max_rounds: int = Field(4, ge=1)
    min_chars: int = Field(10, ge=1)
    max_chars: int = Field(300, ge=1)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    send_seed: bool = True
    seed: int = 0

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and urllib.parse.urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with http:// or https://, got {v!r}")
        return v

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        except ValueError as exc:
            raise ValueError(f"prompt_template is not a valid format string: {exc}") from None
        unknown = fields - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"prompt_template has unknown placeholders {sorted(unknown)}; "
                f"allowed: {sorted(_TEMPLATE_FIELDS)}"
            )
        missing = {"n", "emotion"} - fields
        if missing:
            raise ValueError(f"prompt_template must contain {sorted(missing)}")
        return v

    def endpoint(self) -> str:
        """The chat-completions URL requests are sent to."""
        base = (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).strip()
        base = base.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


@dataclass
class GenerationStats:
    """Counters of one :meth:`LLMGenerator.generate` run.

    Attributes
    ----------
    jobs : int
        Completions needed (one per emotion and sample index).
    cache_hits : int
        Jobs answered from the cache.
    requests : int
        HTTP requests sent (every attempt counts).
    retries : int
        Of ``requests``, the repeated attempts.
    failed_jobs : int
        Jobs skipped after all their attempts failed.
    texts_parsed : int
        Texts parsed out of all completions.
    duplicates : int
        Parsed texts dropped as duplicates (within the run, of ``existing_texts`` or of the
        examples).
    kept : int
        Rows returned.
    """

    jobs: int = 0
    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    failed_jobs: int = 0
    texts_parsed: int = 0
    duplicates: int = 0
    kept: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return asdict(self)


# ================================================================================ prompts
def build_messages(
    emotion: str, examples: Sequence[str], n: int, config: GenerationConfig | None = None
) -> list[dict[str, str]]:
    """The chat messages asking for ``n`` texts expressing ``emotion``.

    Parameters
    ----------
    emotion : str
        One of :data:`LABELS`.
    examples : sequence of str
        Real texts of that emotion shown as style anchors (may be empty).
    n : int
        Texts asked for.
    config : GenerationConfig, optional
        Supplies ``system_prompt`` and ``prompt_template``; defaults otherwise.

    Returns
    -------
    list of dict
        ``[{"role": "system", ...}, {"role": "user", ...}]``.
    """
    cfg = config or GenerationConfig()
    block = ""
    if examples:
        lines = "\n".join(f"- {' '.join(t.split())}" for t in examples)
        block = f"Real comments expressing {emotion}, for style only (do not copy them):\n{lines}\n"
    user = cfg.prompt_template.format(
        n=n, emotion=emotion, definition=EMOTION_DEFINITIONS[emotion], examples=block
    )
    return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]


def _example_pools(
    examples: EmotionDataset | None, emotions: Iterable[str], cfg: GenerationConfig
) -> dict[str, list[str]]:
    """Per emotion, the texts examples are drawn from (single-label rows preferred)."""
    pools: dict[str, list[str]] = {e: [] for e in emotions}
    if examples is None or len(examples) == 0 or cfg.examples_per_prompt == 0:
        return pools
    if examples.labels is None:
        raise DataError("the examples dataset must be labelled")
    lab = examples.labels
    single = lab.sum(axis=1) == 1
    lengths = np.fromiter((len(t) for t in examples.texts), dtype=np.int64, count=len(examples))
    fits = (lengths >= cfg.min_chars) & (lengths <= cfg.max_chars)
    k = cfg.examples_per_prompt
    for emotion in pools:
        has = lab[:, LABEL_TO_ID[emotion]] == 1
        rows = np.flatnonzero(has)
        for narrower in (has & single & fits, has & fits, has & single):
            if narrower.sum() >= k:
                rows = np.flatnonzero(narrower)
                break
        pools[emotion] = [examples.texts[i] for i in rows]
    return pools


def _sample_examples(pool: list[str], k: int, seed: int, emotion: str, index: int) -> list[str]:
    if not pool or k == 0:
        return []
    rng = np.random.default_rng([seed, LABEL_TO_ID[emotion], index])
    pick = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[i] for i in pick]


# ================================================================================ parsing
_THINK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_FENCE_RE = re.compile(r"^\s*```[\w-]*\s*$", re.M)
_BULLET_RE = re.compile(r"^(?:[-*•·–—>]+\s+|\(?\d{1,3}[.):\]](?:\s+|$)|#\d{1,3}[.:)]?\s+)")
_STRING_LITERAL_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "`": "`"}
_TEXT_KEYS = ("text", "comment", "content", "body")


def _json_items(text: str) -> list[Any] | None:
    """The list a completion holds as JSON (whole text, or the outermost ``[...]``)."""
    candidates = [text]
    lo, hi = text.find("["), text.rfind("]")
    if 0 <= lo < hi:
        candidates.append(text[lo : hi + 1])
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(obj, dict):
            obj = next((v for v in obj.values() if isinstance(v, list)), None)
        if isinstance(obj, list):
            return obj
    return None


def _clean(item: str) -> str:
    t = " ".join(item.split())
    for _ in range(3):
        before = t
        t = _BULLET_RE.sub("", t).strip()
        if t.startswith('["') or t.startswith("['"):
            t = t[1:]
        t = t.rstrip(",").strip()
        if t.endswith('"]') or t.endswith("']"):
            t = t[:-1]
        if len(t) >= 2 and _QUOTES.get(t[0]) == t[-1]:
            t = t[1:-1].strip()
        if t == before:
            break
    return t.replace('\\"', '"')


def parse_completion(content: str, min_chars: int = 10, max_chars: int = 300) -> list[str]:
    """Texts out of a completion: a JSON list, or numbered / bulleted / plain lines.

    ``<think>`` blocks and Markdown code fences are removed; list markers, surrounding quotes
    and trailing commas are stripped; lines ending with ``:`` (a preamble such as "Here are 10
    comments:") and texts shorter than ``min_chars`` or longer than ``max_chars`` are dropped.
    Duplicates are kept (deduplication happens across the whole run).

    Examples
    --------
    >>> parse_completion('Sure!\\n1. "I miss her so much."\\n2) - rest in peace, buddy')
    ['I miss her so much.', 'rest in peace, buddy']
    """
    text = _FENCE_RE.sub("", _THINK_RE.sub("", content)).strip()
    items = _json_items(text)
    raw: list[str] = []
    if items is not None:
        for it in items:
            if isinstance(it, dict):
                it = next((it[k] for k in _TEXT_KEYS if isinstance(it.get(k), str)), None)
            if isinstance(it, str):
                raw.append(it)
    elif (lo := text.find("[")) >= 0 and text[lo + 1 :].lstrip().startswith('"'):
        # A JSON list cut short (max_tokens) or followed by chatter: salvage whole strings.
        for lit in _STRING_LITERAL_RE.findall(text[lo:]):
            try:
                raw.append(json.loads(lit))
            except json.JSONDecodeError:
                continue
    else:
        raw = [ln for ln in text.splitlines() if not ln.rstrip().endswith(":")]
    out = []
    for it in raw:
        t = _clean(it)
        if min_chars <= len(t) <= max_chars:
            out.append(t)
    return out


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


# =================================================================================== HTTP
_RETRY_STATUS = frozenset({408, 425, 429})


class _Transient(Exception):
    """A failed attempt worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _GaveUp(Exception):
    """All attempts of one request failed with transient errors."""


class _Aborted(Exception):
    """Another request hit a fatal error; this one stopped."""


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


class _ChatClient:
    """POSTs chat-completion requests with retries; thread-safe."""

    def __init__(self, cfg: GenerationConfig, abort: threading.Event, stats: GenerationStats):
        self.cfg = cfg
        self.url = cfg.endpoint()
        self.abort = abort
        self.stats = stats
        self.lock = threading.Lock()
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "emobalance",
        }
        key = os.environ.get(cfg.api_key_env, "").strip()
        self.has_key = bool(key)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        host = urllib.parse.urlsplit(self.url).hostname
        # Local servers are never reached through an HTTP proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self.opener = urllib.request.build_opener(*handlers)

    def complete(self, payload: dict[str, Any], rng: random.Random) -> str:
        """The completion text; raises GenerationError (fatal), _GaveUp or _Aborted."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        last: _Transient | None = None
        for attempt in range(self.cfg.max_retries + 1):
            if self.abort.is_set():
                raise _Aborted
            with self.lock:
                self.stats.requests += 1
                self.stats.retries += int(attempt > 0)
            try:
                return self._post(body)
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
            if self.abort.wait(delay):
                raise _Aborted
        raise _GaveUp(f"{self.cfg.max_retries + 1} attempts failed, last: {last}")

    def _post(self, body: bytes) -> str:
        req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with self.opener.open(req, timeout=self.cfg.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            fatal = _fatal_reason(exc.reason)
            if fatal:
                raise GenerationError(f"cannot reach {self.url}: {fatal}") from None
            raise _Transient(f"connection error: {exc.reason}") from None
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            fatal = _fatal_reason(exc)
            if fatal:
                raise GenerationError(f"cannot reach {self.url}: {fatal}") from None
            kind = "timeout" if isinstance(exc, TimeoutError) else "connection error"
            raise _Transient(f"{kind}: {exc!r}") from None
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient(f"malformed response (not JSON): {raw[:80]!r}") from None
        content = _content_of(obj)
        if content is None:
            err = obj.get("error") if isinstance(obj, dict) else None
            detail = f": {err}" if err else ""
            raise _Transient(f"malformed response (no choices[0].message.content){detail}")
        return content

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        """The exception for an HTTP error status: transient (retry) or fatal."""
        code = exc.code
        try:
            detail = exc.read(500).decode("utf-8", "replace").strip()
        except Exception:  # the body of an error page is best effort
            detail = ""
        finally:
            exc.close()
        if code in _RETRY_STATUS or code >= 500:
            return _Transient(f"HTTP {code}", retry_after=_retry_after(exc.headers))
        hint = ""
        if code in (401, 403) and not self.has_key:
            hint = f" (no API key sent: ${self.cfg.api_key_env} is not set)"
        elif code == 404:
            hint = " (check base_url: it should end in /v1 for most servers, and the model name)"
        msg = f"{self.url} answered HTTP {code} {exc.reason}{hint}"
        return GenerationError(f"{msg}: {detail[:300]}" if detail else msg)


# ================================================================================== cache
class _Cache:
    """One JSON file per request, ``<dir>/<key[:2]>/<key>.json``, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
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
        write_json_atomic(
            self.path(key),
            {"key": key, "content": content, "request": request, "created": time.time()},
        )


def _cache_key(fields: dict[str, Any]) -> str:
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ============================================================================= generation
def _check_emotions(emotions: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, n in emotions.items():
        key = str(name).strip().lower()
        if key not in LABEL_TO_ID:
            raise GenerationError(f"unknown emotion {name!r}; expected one of {', '.join(LABELS)}")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise GenerationError(f"number wanted for {name!r} must be an int >= 0, got {n!r}")
        if n:
            out[key] = out.get(key, 0) + int(n)
    return out


def _derived_seed(*parts: object) -> int:
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class _Job:
    emotion: str
    index: int
    messages: list[dict[str, str]]
    key: str
    key_fields: dict[str, Any]


class LLMGenerator:
    """Generates candidate texts per emotion through an OpenAI-compatible endpoint.

    Parameters
    ----------
    config : GenerationConfig, optional
        Endpoint, model, prompts, retries, cache (defaults otherwise).
    progress : bool, optional
        Show a tqdm bar over requests; default only when stderr is a TTY.

    Attributes
    ----------
    stats_ : GenerationStats
        Counters of the last :meth:`generate` run.
    """

    def __init__(self, config: GenerationConfig | None = None, progress: bool | None = None):
        self.config = config or GenerationConfig()
        self.progress = progress
        self.stats_ = GenerationStats()

    def generate(
        self,
        emotions: Mapping[str, int],
        examples: EmotionDataset | None = None,
        existing_texts: Iterable[str] | None = None,
    ) -> EmotionDataset:
        """Ask for texts until each emotion has its number of new, distinct candidates.

        Parameters
        ----------
        emotions : mapping of str to int
            Emotion name -> number of candidates wanted.
        examples : EmotionDataset, optional
            Labelled real texts; ``examples_per_prompt`` of the emotion are shown in each
            prompt (sampled with the seed; single-label rows preferred). Their texts also
            count as existing texts for deduplication.
        existing_texts : iterable of str, optional
            Texts a candidate must not duplicate (compared after :func:`normalize`), e.g. the
            training, dev and test texts.

        Returns
        -------
        EmotionDataset
            ``source="generated"``, the intended emotion as the only label, ids
            ``gen-{emotion}-{sha1(text)[:10]}``, ``meta={"intended": ..., "model": ...}``.
            Emotions are in the order given, at most the number wanted each; fewer (with a
            warning) when ``max_rounds`` rounds of requests could not provide enough distinct
            texts.

        Raises
        ------
        GenerationError
            On an unknown emotion, an unreachable endpoint (connection refused, unknown
            host), an HTTP status other than 408/425/429/5xx (no retry; the message names the
            status and the URL), or when every request of the run failed. Cache entries of
            requests that succeeded before the error are kept; nothing else is written.
        """
        cfg = self.config
        wanted = _check_emotions(emotions)
        self.stats_ = stats = GenerationStats()
        pools = _example_pools(examples, wanted, cfg)
        seen: set[str] = set()
        for t in existing_texts or ():
            seen.add(normalize(t))
        if examples is not None:
            seen.update(normalize(t) for t in examples.texts)
        seen.discard("")
        kept: dict[str, list[str]] = {e: [] for e in wanted}
        next_index = dict.fromkeys(wanted, 0)
        succeeded = 0
        last_error = ""
        for _round in range(cfg.max_rounds):
            jobs: list[_Job] = []
            for emotion, n in wanted.items():
                need = n - len(kept[emotion])
                if need <= 0:
                    continue
                for _ in range(math.ceil(need / cfg.per_request)):
                    jobs.append(self._job(emotion, next_index[emotion], pools[emotion]))
                    next_index[emotion] += 1
            if not jobs:
                break
            results, err = self._run(jobs, stats)
            last_error = err or last_error
            for job in jobs:  # job order, not completion order: deterministic
                content = results.get(job.key)
                if content is None:
                    continue
                succeeded += 1
                texts = parse_completion(content, cfg.min_chars, cfg.max_chars)
                stats.texts_parsed += len(texts)
                for text in texts:
                    if len(kept[job.emotion]) >= wanted[job.emotion]:
                        break
                    key = normalize(text)
                    if not key or key in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(key)
                    kept[job.emotion].append(text)
            if succeeded == 0:
                raise GenerationError(
                    f"all {stats.jobs} requests to {cfg.endpoint()} failed; last error: "
                    f"{last_error}"
                )
        for emotion, n in wanted.items():
            if len(kept[emotion]) < n:
                logger.warning(
                    "%s: only %d of %d distinct candidates after %d rounds of requests",
                    emotion,
                    len(kept[emotion]),
                    n,
                    cfg.max_rounds,
                )
        out = _generated_dataset(kept, cfg.model)
        stats.kept = len(out)
        logger.info("generation: %s", stats.as_dict())
        return out

    def _job(self, emotion: str, index: int, pool: list[str]) -> _Job:
        cfg = self.config
        ex = _sample_examples(pool, cfg.examples_per_prompt, cfg.seed, emotion, index)
        messages = build_messages(emotion, ex, cfg.per_request, cfg)
        fields = {
            "base_url": cfg.endpoint(),
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "sample": index,
            "seed": cfg.seed if cfg.send_seed else None,
        }
        return _Job(emotion, index, messages, _cache_key(fields), fields)

    def _run(
        self, jobs: list[_Job], stats: GenerationStats
    ) -> tuple[dict[str, str | None], str | None]:
        """Contents by job key (``None`` for a failed job) and the last transient error."""
        cfg = self.config
        cache = _Cache(cfg.cache_dir) if cfg.cache_dir is not None else None
        results: dict[str, str | None] = {}
        todo: list[_Job] = []
        stats.jobs += len(jobs)
        for job in jobs:
            content = cache.get(job.key) if cache is not None else None
            if content is not None:
                results[job.key] = content
                stats.cache_hits += 1
            else:
                todo.append(job)
        if not todo:
            return results, None
        abort = threading.Event()
        client = _ChatClient(cfg, abort, stats)
        last_error: str | None = None

        def work(job: _Job) -> str:
            payload: dict[str, Any] = {
                "model": cfg.model,
                "messages": job.messages,
                "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens,
            }
            if cfg.send_seed:
                payload["seed"] = _derived_seed(cfg.seed, job.emotion, job.index)
            rng = random.Random(_derived_seed("jitter", cfg.seed, job.key))
            content = client.complete(payload, rng)
            if cache is not None:
                cache.put(job.key, content, job.key_fields)
            return content

        show = sys.stderr.isatty() if self.progress is None else self.progress
        with (
            ThreadPoolExecutor(max_workers=min(cfg.concurrency, len(todo))) as pool,
            tqdm(total=len(todo), desc="generate", unit="req", disable=not show) as bar,
        ):
            futures = {pool.submit(work, job): job for job in todo}
            try:
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        results[job.key] = fut.result()
                    except _GaveUp as exc:
                        results[job.key] = None
                        stats.failed_jobs += 1
                        last_error = str(exc)
                        logger.warning(
                            "skipping request %s #%d to %s: %s", job.emotion, job.index,
                            client.url, exc,
                        )  # fmt: skip
                    bar.update(1)
            except BaseException:
                abort.set()
                for f in futures:
                    f.cancel()
                raise
        return results, last_error


def _generated_dataset(kept: dict[str, list[str]], model: str) -> EmotionDataset:
    texts, ids, intended = [], [], []
    for emotion, rows in kept.items():
        for text in rows:
            texts.append(text)
            intended.append(emotion)
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
            ids.append(f"gen-{emotion}-{digest[:10]}")
    labels = np.zeros((len(texts), NUM_LABELS), dtype=np.uint8)
    labels[np.arange(len(texts)), [LABEL_TO_ID[e] for e in intended]] = 1
    return EmotionDataset(
        texts,
        labels=labels,
        source="generated",
        ids=ids,
        meta={"intended": intended, "model": [model] * len(texts)},
    )


def generate_candidates(
    emotions: Mapping[str, int],
    examples: EmotionDataset | None = None,
    config: GenerationConfig | None = None,
    existing_texts: Iterable[str] | None = None,
    *,
    progress: bool | None = None,
) -> EmotionDataset:
    """Generate candidate texts per emotion with an LLM (see :meth:`LLMGenerator.generate`).

    Examples
    --------
    >>> cfg = GenerationConfig(base_url="http://localhost:8000/v1", model="Qwen2.5-7B-Instruct",
    ...                        cache_dir="cache/llm")  # doctest: +SKIP
    >>> cands = generate_candidates({"grief": 200, "relief": 150}, train, cfg,
    ...                             existing_texts=train.texts + dev.texts)  # doctest: +SKIP
    """
    return LLMGenerator(config, progress=progress).generate(emotions, examples, existing_texts)


# ========================================================================= teacher filter
def _intended_ids(candidates: EmotionDataset, intended: Sequence[Any] | None) -> list[list[int]]:
    n = len(candidates)
    if intended is None:
        if "intended" in candidates.meta:
            intended = candidates.meta["intended"]
        elif candidates.labels is not None:
            return [np.flatnonzero(row).tolist() for row in candidates.labels]
        else:
            raise DataError("candidates have neither meta['intended'] nor labels")
    intended = list(intended)
    if len(intended) != n:
        raise DataError(f"intended has {len(intended)} entries but there are {n} candidates")
    out: list[list[int]] = []
    for i, value in enumerate(intended):
        names = value.split(",") if isinstance(value, str) else list(value or ())
        ids = []
        for name in names:
            key = str(name).strip().lower()
            if key not in LABEL_TO_ID:
                raise DataError(f"row {i} ({candidates.ids[i]}): unknown intended label {name!r}")
            ids.append(LABEL_TO_ID[key])
        out.append(ids)
    return out


def teacher_filter(
    candidates: EmotionDataset,
    teacher: Teacher,
    threshold: float = 0.7,
    intended: Sequence[str | Sequence[str]] | None = None,
    *,
    batch_size: int = 1024,
) -> EmotionDataset:
    """Keep candidates the teacher confidently assigns to their intended emotion.

    Parameters
    ----------
    candidates : EmotionDataset
        Generated (or otherwise new) texts.
    teacher : Teacher
        Any object with ``predict_proba(texts) -> float32[n, 28]``; checked with
        :func:`teacher_proba`.
    threshold : float, default=0.7
        Minimum teacher probability of the intended emotion.
    intended : sequence, optional
        Per row, the intended label name (or several, as a list or a comma-separated string).
        Default: ``candidates.meta["intended"]`` when present, else each row's labels.
    batch_size : int, default=1024
        Texts per teacher call.

    Returns
    -------
    EmotionDataset
        The kept rows, every column preserved, with ``teacher_score`` = the teacher
        probability of the intended emotion (the minimum over them for several).

    Raises
    ------
    TeacherError
        If the teacher output is not a ``(n, 28)`` matrix of probabilities.
    DataError
        If a row has no intended label or an unknown one.
    ConfigError
        If ``threshold`` is outside [0, 1] or ``batch_size < 1``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    n = len(candidates)
    targets = _intended_ids(candidates, intended)
    mask = np.zeros((n, NUM_LABELS), dtype=bool)
    for i, ids in enumerate(targets):
        if not ids:
            raise DataError(f"row {i} ({candidates.ids[i]}): no intended label")
        mask[i, ids] = True
    proba = np.empty((n, NUM_LABELS), dtype=np.float32)
    for s in range(0, n, batch_size):
        proba[s : s + batch_size] = teacher_proba(teacher, candidates.texts[s : s + batch_size])
    score = np.where(mask, proba, np.inf).min(axis=1).astype(np.float32) if n else proba[:, 0]
    scored = EmotionDataset(
        candidates.texts,
        labels=candidates.labels,
        source=candidates.source,
        ids=candidates.ids,
        weight=candidates.weight,
        parent_id=candidates.parent_id,
        teacher_score=score,
        meta=candidates.meta,
    )
    keep = score >= np.float32(threshold)  # in float32, so that a score of 0.7 passes 0.7
    logger.info("teacher filter: kept %d of %d at threshold %.2f", int(keep.sum()), n, threshold)
    return scored.filter(keep)


# ========================================================================= EDA augmenter
# EDA's stop words (Wei & Zou) + contractions and negations, which must never be replaced.
STOPWORDS: frozenset[str] = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now never nothing nobody none
    cannot would could might must shall may also i'm i've i'd i'll you're you've you'd you'll
    he's she's it's we're we've they're they've that's there's what's who's let's im ive dont
    don't doesn't didn't isn't aren't wasn't weren't can't couldn't won't wouldn't shouldn't
    haven't hasn't hadn't ain't cant wont didnt doesnt isnt wasnt n't 's 're 've 'll 'd 'm
    """.split()  # noqa: SIM905
)
"""Words the augmenter never replaces, nor inserts as a synonym."""

EMOTION_SEED_WORDS: frozenset[str] = frozenset(LABELS) | frozenset(
    """happy sad angry mad afraid scared glad sorry thanks thank hate love funny lol lmao proud
    disgusting gross nervous anxious excited confused curious surprised relieved disappointed
    annoyed grateful hope hopeful wow awesome amazing terrible horrible beautiful cute
    """.split()  # noqa: SIM905
)
"""Emotion-bearing words kept as they are (with their close neighbours, see ``protect``)."""

_WORD_RE = re.compile(r"^[a-z0-9']+$")
_ALPHA_RE = re.compile(r"^[a-z][a-z']*[a-z]$")
_NO_SPACE_BEFORE = frozenset(".,!?;:)]}%")
_NO_SPACE_AFTER = frozenset("([{$#")


def _detokenize(tokens: Sequence[str]) -> str:
    parts: list[str] = []
    prev = ""
    for t in tokens:
        if parts and t not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            parts.append(" ")
        parts.append(t)
        prev = t
    return "".join(parts)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


def nearest_neighbours(
    vectors: Vectors,
    words: Iterable[str],
    candidates: Iterable[str],
    k: int = 10,
    min_similarity: float = 0.5,
    chunk_elements: int = 1 << 24,
) -> dict[str, tuple[str, ...]]:
    """Up to ``k`` nearest ``candidates`` of each of ``words`` by cosine similarity.

    Parameters
    ----------
    vectors : Vectors
        Word vectors; words and candidates without a vector are left out.
    words : iterable of str
        Words to find neighbours for.
    candidates : iterable of str
        The allowed neighbours (a word is never its own neighbour).
    k : int, default=10
        Neighbours per word.
    min_similarity : float, default=0.5
        Neighbours below this cosine similarity are dropped.
    chunk_elements : int, default=2**24
        Similarity entries computed at once (bounds memory).

    Returns
    -------
    dict of str to tuple of str
        Most similar first; words without any neighbour are absent.
    """
    qw = sorted({w for w in words if w in vectors.index})
    cw = sorted({w for w in candidates if w in vectors.index})
    if not qw or not cw or k < 1:
        return {}
    q = _unit_rows(vectors.matrix[[vectors.index[w] for w in qw]])
    c = _unit_rows(vectors.matrix[[vectors.index[w] for w in cw]])
    cpos = {w: j for j, w in enumerate(cw)}
    self_col = np.array([cpos.get(w, -1) for w in qw], dtype=np.int64)
    kk = min(k, len(cw))
    step = max(1, chunk_elements // len(cw))
    out: dict[str, tuple[str, ...]] = {}
    for s in range(0, len(qw), step):
        sims = q[s : s + step] @ c.T
        rows = np.arange(sims.shape[0])
        own = self_col[s : s + step]
        sims[rows[own >= 0], own[own >= 0]] = -np.inf
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < len(cw) else None
        if top is None:
            top = np.broadcast_to(np.arange(len(cw)), (sims.shape[0], len(cw)))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_sims = np.take_along_axis(top_sims, order, axis=1)
        good = top_sims >= min_similarity
        for r in np.flatnonzero(good.any(axis=1)):
            out[qw[s + r]] = tuple(cw[j] for j in top[r][good[r]])
    return out


def _python_rng(random_state: Any) -> random.Random:
    if random_state is None or isinstance(random_state, int | np.integer):
        return random.Random(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random.Random(int(random_state.integers(0, 2**63 - 1)))
    if isinstance(random_state, np.random.RandomState):
        return random.Random(int(random_state.randint(0, 2**31 - 1)))
    if isinstance(random_state, random.Random):
        return random_state
    raise ConfigError(
        f"random_state must be None, an int or a numpy Generator, not {random_state!r}"
    )


class _Row:
    """A parent text prepared for augmentation."""

    __slots__ = ("deletable", "replaceable", "tokens", "words")

    def __init__(self, tokens: list[str], syn: Mapping[str, tuple[str, ...]]) -> None:
        self.tokens = tokens
        self.words = [i for i, t in enumerate(tokens) if t in PLACEHOLDERS or _WORD_RE.match(t)]
        self.deletable = [i for i in self.words if tokens[i] not in PLACEHOLDERS]
        self.replaceable = [i for i in self.words if tokens[i] in syn]


class EDAAugmenter:
    """Easy Data Augmentation with word-vector synonyms, for real minority-label examples.

    Each augmented text comes from one operation on the normalised tokens of its parent
    (chosen at random among those possible for that text):

    * synonym replacement (``sr``): ``max(1, alpha_sr * n_words)`` words become one of their
      nearest neighbours;
    * random insertion (``ri``): ``max(1, alpha_ri * n_words)`` times, a neighbour of a random
      word of the text is inserted at a random place;
    * random swap (``rs``): ``max(1, alpha_rs * n_words)`` swaps of two words;
    * random deletion (``rd``): each word is deleted with probability ``p_rd`` (at least one,
      never all, placeholders such as ``[name]`` kept).

    Synonyms are the ``neighbours`` nearest words by cosine similarity (at least
    ``min_similarity``) among the words of the dataset being augmented, computed in one
    vectorised pass for the words of the texts to augment. Stop words, negations, placeholders
    and, with ``protect_emotion_words``, emotion-bearing words (:data:`EMOTION_SEED_WORDS` and
    their neighbours at ``protect_similarity`` or more) are never replaced nor inserted, so
    that ``happy`` does not become its close neighbour ``sad``. Without vectors ``sr`` and
    ``ri`` are no-ops and only swaps and deletions are made.

    Parameters
    ----------
    alpha_sr, alpha_ri, alpha_rs, p_rd : float, default=0.1
        Strength of each operation; 0 disables it.
    n_aug : int, default=4
        Augmented texts per parent when :meth:`augment` gets no ``n_per_label``.
    vectors : Vectors, path or None
        Word vectors for synonyms; a path is read with :func:`load_vectors`, keeping only the
        words needed, at each :meth:`augment` call.
    neighbours : int, default=10
        Synonym candidates per word.
    min_similarity : float, default=0.5
        Minimum cosine similarity of a synonym.
    protect_emotion_words : bool, default=True
        Never replace or insert emotion-bearing words.
    protect_similarity : float, default=0.6
        Words this similar to a seed emotion word count as emotion-bearing.
    max_tries : int, default=10
        Attempts at a new distinct text for a parent before moving on.
    exclude_sources : sequence of str
        Rows of these sources are never parents (only real examples are rewritten).
    random_state : int, numpy Generator or None
        Seed; an int gives the same output at every call.
    """

    def __init__(
        self,
        alpha_sr: float = 0.1,
        alpha_ri: float = 0.1,
        alpha_rs: float = 0.1,
        p_rd: float = 0.1,
        n_aug: int = 4,
        vectors: Vectors | str | os.PathLike[str] | None = None,
        neighbours: int = 10,
        min_similarity: float = 0.5,
        protect_emotion_words: bool = True,
        protect_similarity: float = 0.6,
        max_tries: int = 10,
        exclude_sources: Sequence[str] = ("generated", "augmented", "oversampled"),
        random_state: Any = None,
    ) -> None:
        for name, v in (("alpha_sr", alpha_sr), ("alpha_ri", alpha_ri), ("alpha_rs", alpha_rs)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not 0.0 <= p_rd < 1.0:
            raise ConfigError(f"p_rd must be in [0, 1), got {p_rd}")
        if n_aug < 0 or neighbours < 1 or max_tries < 1:
            raise ConfigError("n_aug must be >= 0, neighbours and max_tries >= 1")
        self.alpha_sr = alpha_sr
        self.alpha_ri = alpha_ri
        self.alpha_rs = alpha_rs
        self.p_rd = p_rd
        self.n_aug = n_aug
        self.vectors = vectors
        self.neighbours = neighbours
        self.min_similarity = min_similarity
        self.protect_emotion_words = protect_emotion_words
        self.protect_similarity = protect_similarity
        self.max_tries = max_tries
        self.exclude_sources = tuple(exclude_sources)
        self.random_state = random_state

    # ------------------------------------------------------------------ synonyms
    def synonyms(
        self, texts_tokens: Sequence[Sequence[str]], vocab_tokens: Iterable[Sequence[str]]
    ) -> dict[str, tuple[str, ...]]:
        """Synonym lists for the content words of ``texts_tokens`` (``{}`` without vectors).

        Candidates are the content words of ``vocab_tokens`` (plus those of ``texts_tokens``).
        """
        if self.vectors is None:
            return {}

        def content(tokens: Iterable[str]) -> set[str]:
            return {t for t in tokens if _ALPHA_RE.match(t) and t not in STOPWORDS}

        query: set[str] = set()
        for toks in texts_tokens:
            query |= content(toks)
        cands = set(query)
        for toks in vocab_tokens:
            cands |= content(toks)
        vectors = self.vectors
        if not isinstance(vectors, Vectors):
            vectors = load_vectors(vectors, words=cands | EMOTION_SEED_WORDS)
        protected: set[str] = set()
        if self.protect_emotion_words:
            protected = set(EMOTION_SEED_WORDS)
            seeds = [w for w in EMOTION_SEED_WORDS if w in vectors.index]
            near = nearest_neighbours(
                vectors, cands, seeds, k=1, min_similarity=self.protect_similarity
            )
            protected |= set(near)
        return nearest_neighbours(
            vectors,
            query - protected,
            cands - protected,
            k=self.neighbours,
            min_similarity=self.min_similarity,
        )

    # ---------------------------------------------------------------- operations
    def _sr(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if not row.replaceable:
            return None
        n = max(1, int(self.alpha_sr * len(row.words)))
        toks = list(row.tokens)
        for i in rng.sample(row.replaceable, min(n, len(row.replaceable))):
            toks[i] = rng.choice(syn[toks[i]])
        return toks

    def _ri(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if not row.replaceable:
            return None
        n = max(1, int(self.alpha_ri * len(row.words)))
        toks = list(row.tokens)
        for _ in range(n):
            src = row.tokens[rng.choice(row.replaceable)]
            toks.insert(rng.randint(0, len(toks)), rng.choice(syn[src]))
        return toks

    def _rs(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if len(row.words) < 2:
            return None
        n = max(1, int(self.alpha_rs * len(row.words)))
        toks = list(row.tokens)
        for _ in range(n):
            a, b = rng.sample(row.words, 2)
            toks[a], toks[b] = toks[b], toks[a]
        return toks

    def _rd(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if len(row.deletable) < 2:
            return None
        drop = {i for i in row.deletable if rng.random() < self.p_rd}
        if not drop:
            drop = {rng.choice(row.deletable)}
        if len(drop) >= len(row.deletable):
            drop.discard(rng.choice(sorted(drop)))
        return [t for i, t in enumerate(row.tokens) if i not in drop]

    # ------------------------------------------------------------------- augment
    def augment(
        self,
        dataset: EmotionDataset,
        n_per_label: Mapping[str, int] | None = None,
        labels: Sequence[str] | None = None,
    ) -> EmotionDataset:
        """Augmented copies of real examples of the given labels.

        Parameters
        ----------
        dataset : EmotionDataset
            Labelled training data; rows whose source is in ``exclude_sources`` are never
            parents, but the words of all rows are synonym candidates.
        n_per_label : mapping of str to int, optional
            New rows wanted per label. Labels are served rarest first, each from its
            least-used parent (ties in a seeded random order), so parents contribute evenly;
            ``n_aug`` is not a cap here. A new row counts for **every**
            requested label it carries (it copies all its parent's labels), so a row made for
            ``grief`` that also carries ``sadness`` reduces what ``sadness`` still needs.
        labels : sequence of str, optional
            Without ``n_per_label``: make ``n_aug`` texts from every row carrying any of these
            labels (every row when ``None``).

        Returns
        -------
        EmotionDataset
            ``source="augmented"``, ``parent_id`` = the parent's id, ids
            ``"{parent_id}#aug{k}"`` (k counts per parent within this call), the parent's
            labels, ``meta={"aug_op": "sr" | "ri" | "rs" | "rd"}``. No text equals (after
            normalisation) its parent, another parent or another output. Fewer rows than asked,
            with a warning, when the parents cannot give enough distinct texts.

        Raises
        ------
        DataError
            If ``dataset`` is unlabelled.
        ConfigError
            On an unknown label, a negative count, or both ``n_per_label`` and ``labels``.
        """
        if dataset.labels is None:
            raise DataError("the dataset to augment must be labelled")
        if n_per_label is not None and labels is not None:
            raise ConfigError("give n_per_label or labels, not both")
        lab = dataset.labels
        rng = _python_rng(self.random_state)
        wanted: dict[int, int] = {}
        if n_per_label is not None:
            for name, n in n_per_label.items():
                j = _label_index(name)
                if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
                    raise ConfigError(f"n_per_label[{name!r}] must be an int >= 0, got {n!r}")
                if n:
                    wanted[j] = wanted.get(j, 0) + int(n)
            label_ids = sorted(wanted)
        else:
            label_ids = (
                list(range(NUM_LABELS))
                if labels is None
                else sorted({_label_index(x) for x in labels})
            )
        eligible = np.array([s not in self.exclude_sources for s in dataset.source], dtype=bool)
        if not len(dataset) or not label_ids:
            return _augmented_dataset(dataset, [], [], [], [])
        pool = np.flatnonzero(eligible & lab[:, label_ids].any(axis=1))
        tokens = {int(i): tokenize(dataset.texts[i]) for i in pool}
        syn: dict[str, tuple[str, ...]] = {}
        if self.vectors is not None:
            vocab_rows = (tokenize(t) for i, t in enumerate(dataset.texts) if i not in tokens)
            syn = self.synonyms(list(tokens.values()), vocab_rows)
        rows = {i: _Row(t, syn) for i, t in tokens.items()}
        seen = {" ".join(t) for t in tokens.values()}
        ops: list[tuple[str, Callable[..., list[str] | None]]] = []
        if self.alpha_sr > 0 and syn:
            ops.append(("sr", self._sr))
        if self.alpha_ri > 0 and syn:
            ops.append(("ri", self._ri))
        if self.alpha_rs > 0:
            ops.append(("rs", self._rs))
        if self.p_rd > 0:
            ops.append(("rd", self._rd))

        out_parent: list[int] = []
        out_tokens: list[list[str]] = []
        out_ops: list[str] = []
        out_k: list[int] = []
        per_parent: dict[int, int] = {}

        def variant(i: int) -> bool:
            row = rows[i]
            possible = {
                "sr": bool(row.replaceable),
                "ri": bool(row.replaceable),
                "rs": len(row.words) >= 2,
                "rd": len(row.deletable) >= 2,
            }
            usable = [(name, op) for name, op in ops if possible[name]]
            if not usable:
                return False
            for _ in range(self.max_tries):
                name, op = usable[rng.randrange(len(usable))]
                new = op(row, syn, rng)
                if new is None:
                    continue
                key = " ".join(new)
                if key in seen:
                    continue
                seen.add(key)
                k = per_parent.get(i, 0)
                per_parent[i] = k + 1
                out_parent.append(i)
                out_tokens.append(new)
                out_ops.append(name)
                out_k.append(k)
                return True
            return False

        if not ops or not len(pool):
            if wanted or len(pool):
                logger.warning("augment: no operation can apply (no parents or all disabled)")
            return _augmented_dataset(dataset, [], [], [], [])
        if n_per_label is None:
            for i in pool.tolist():
                for _ in range(self.n_aug):
                    if not variant(i):
                        break
        else:
            remaining = dict(wanted)
            sizes = {j: int(lab[pool, j].sum()) for j in wanted}
            for j in sorted(wanted, key=lambda j: (sizes[j], j)):
                parents = pool[lab[pool, j] == 1].tolist()
                rng.shuffle(parents)
                # least-used parent first (earlier labels may have used some), ties in the
                # shuffled order: parents contribute evenly across all labels
                heap = [(per_parent.get(i, 0), rank, i) for rank, i in enumerate(parents)]
                heapq.heapify(heap)
                while remaining[j] > 0 and heap:
                    uses, rank, i = heapq.heappop(heap)
                    if not variant(i):
                        continue  # this parent gives no more distinct texts
                    for jj in np.flatnonzero(lab[i]).tolist():
                        if jj in remaining:
                            remaining[jj] -= 1
                    heapq.heappush(heap, (uses + 1, rank, i))
                if remaining[j] > 0:
                    logger.warning(
                        "augment: %s is %d rows short (its %d parents gave no more distinct texts)",
                        LABELS[j],
                        remaining[j],
                        sizes[j],
                    )
        texts = [_detokenize(t) for t in out_tokens]
        return _augmented_dataset(dataset, out_parent, texts, out_ops, out_k)


def _label_index(name: str) -> int:
    key = str(name).strip().lower()
    if key not in LABEL_TO_ID:
        raise ConfigError(f"unknown emotion label {name!r}; expected one of {', '.join(LABELS)}")
    return LABEL_TO_ID[key]


def _augmented_dataset(
    dataset: EmotionDataset,
    parents: list[int],
    texts: list[str],
    ops: list[str],
    ks: list[int],
) -> EmotionDataset:
    assert dataset.labels is not None
    pids = [dataset.ids[i] for i in parents]
    return EmotionDataset(
        texts,
        labels=dataset.labels[np.asarray(parents, dtype=np.int64)].reshape(-1, NUM_LABELS),
        source="augmented",
        ids=[f"{p}#aug{k}" for p, k in zip(pids, ks, strict=True)],
        parent_id=pids,
        meta={"aug_op": ops},
    )
