"""LLM generation of candidate texts for rare emotions.

:func:`generate_candidates` (and :class:`LLMGenerator`) asks any OpenAI-compatible
chat-completions endpoint (OpenAI, vLLM, llama.cpp ``server``, Ollama, ...) for short
Reddit-style comments expressing a given emotion. Prompts carry a definition of the emotion and
a few real training examples as style anchors (:mod:`~emobalance.balance.prompts`, sampled with
the seed). Requests run in a bounded thread pool through
:class:`~emobalance.balance.llm_client.ChatClient` (retries with seeded jitter, ``Retry-After``
honoured, fatal errors stop the run) and are cached on disk, keyed by the request, so a re-run
does not pay twice. :func:`parse_completion` reads the texts out of each answer; duplicates of
existing texts and of each other are dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..config import GenerationConfig
from ..data.dataset import EmotionDataset
from ..labels import GOEMOTIONS, LabelSchema
from ..log import get_logger, progress
from ..text.normalize import normalize
from .llm_client import ChatClient, GenerationError, RequestFailed, ResponseCache, cache_key
from .prompts import build_messages, example_pools, sample_examples

logger = get_logger(__name__)

__all__ = [
    "GenerationConfig",
    "GenerationError",
    "GenerationStats",
    "LLMGenerator",
    "generate_candidates",
    "parse_completion",
]


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


# ============================================================================= generation
def _check_emotions(emotions: Mapping[str, int], schema: LabelSchema) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, n in emotions.items():
        key = schema.names[schema.label_id(name, what="emotion", error=GenerationError)]
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
        Show a progress bar over requests; default only when stderr is a TTY.

    Attributes
    ----------
    stats_ : GenerationStats
        Counters of the last :meth:`generate` run.
    """

    def __init__(self, config: GenerationConfig | None = None, progress: bool | None = None):
        self.config = config or GenerationConfig()
        self.progress = progress
        self.stats_ = GenerationStats()
        self.schema_: LabelSchema = GOEMOTIONS

    def generate(
        self,
        emotions: Mapping[str, int],
        examples: EmotionDataset | None = None,
        existing_texts: Iterable[str] | None = None,
        schema: LabelSchema | None = None,
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
        schema : LabelSchema, optional
            The labels (their descriptions define them in the prompts); default
            ``examples.schema``, else GoEmotions'.

        Returns
        -------
        EmotionDataset
            In ``schema``; ``source="generated"``, the intended emotion as the only label, ids
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
        if schema is None:
            schema = examples.schema if examples is not None else GOEMOTIONS
        self.schema_ = schema
        wanted = _check_emotions(emotions, schema)
        self.stats_ = stats = GenerationStats()
        pools = example_pools(examples, wanted, cfg)
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
        out = _generated_dataset(kept, cfg.model, schema)
        stats.kept = len(out)
        logger.info("generation: %s", stats.as_dict())
        return out

    def _job(self, emotion: str, index: int, pool: list[str]) -> _Job:
        cfg = self.config
        schema = self.schema_
        ex = sample_examples(pool, cfg.examples_per_prompt, cfg.seed, emotion, index, schema)
        messages = build_messages(emotion, ex, cfg.per_request, cfg, schema)
        fields = {
            "base_url": cfg.endpoint(),
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "sample": index,
            "seed": cfg.seed if cfg.send_seed else None,
        }
        return _Job(emotion, index, messages, cache_key(fields), fields)

    def _run(
        self, jobs: list[_Job], stats: GenerationStats
    ) -> tuple[dict[str, str | None], str | None]:
        """Contents by job key (``None`` for a failed job) and the last transient error."""
        cfg = self.config
        cache = ResponseCache(cfg.cache_dir) if cfg.cache_dir is not None else None
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
        client = ChatClient(cfg)
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

        bar = progress(None, desc="generate", total=len(todo), unit="req", enabled=self.progress)
        try:
            with ThreadPoolExecutor(max_workers=min(cfg.concurrency, len(todo))) as pool, bar:
                futures = {pool.submit(work, job): job for job in todo}
                try:
                    for fut in as_completed(futures):
                        job = futures[fut]
                        try:
                            results[job.key] = fut.result()
                        except RequestFailed as exc:
                            results[job.key] = None
                            stats.failed_jobs += 1
                            last_error = str(exc)
                            logger.warning(
                                "skipping request %s #%d to %s: %s", job.emotion, job.index,
                                client.url, exc,
                            )  # fmt: skip
                        bar.update(1)
                except BaseException:
                    client.abort()
                    for f in futures:
                        f.cancel()
                    raise
        finally:  # after the pool has shut down, so that every attempt is counted
            stats.requests += client.requests
            stats.retries += client.retries
            client.close()
        return results, last_error


def _generated_dataset(
    kept: dict[str, list[str]], model: str, schema: LabelSchema
) -> EmotionDataset:
    texts, ids, intended = [], [], []
    for emotion, rows in kept.items():
        for text in rows:
            texts.append(text)
            intended.append(emotion)
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
            ids.append(f"gen-{emotion}-{digest[:10]}")
    labels = np.zeros((len(texts), len(schema)), dtype=np.uint8)
    labels[np.arange(len(texts)), [schema.label_id(e) for e in intended]] = 1
    return EmotionDataset(
        texts,
        labels=labels,
        source="generated",
        ids=ids,
        meta={"intended": intended, "model": [model] * len(texts)},
        schema=schema,
    )


def generate_candidates(
    emotions: Mapping[str, int],
    examples: EmotionDataset | None = None,
    config: GenerationConfig | None = None,
    existing_texts: Iterable[str] | None = None,
    *,
    progress: bool | None = None,
    schema: LabelSchema | None = None,
) -> EmotionDataset:
    """Generate candidate texts per emotion with an LLM (see :meth:`LLMGenerator.generate`).

    Examples
    --------
    >>> cfg = GenerationConfig(base_url="http://localhost:8000/v1", model="Qwen2.5-7B-Instruct",
    ...                        cache_dir="cache/llm")  # doctest: +SKIP
    >>> cands = generate_candidates({"grief": 200, "relief": 150}, train, cfg,
    ...                             existing_texts=train.texts + dev.texts)  # doctest: +SKIP
    """
    return LLMGenerator(config, progress=progress).generate(
        emotions, examples, existing_texts, schema
    )
