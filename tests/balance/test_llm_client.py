"""ChatClient (on the openai SDK) and ResponseCache, against a real and a fake server.

The servers are the fixtures of conftest.py: ``real_server`` (``transformers serve`` on a tiny
random-weight Llama) and ``llm`` (the fake server, for fault injection).
"""

import hashlib
import json
import logging
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emobalance.balance.generate import LLMGenerator
from emobalance.balance.llm_client import (
    Aborted,
    ChatClient,
    GenerationError,
    RequestFailed,
    ResponseCache,
    _retry_after,
    cache_key,
)
from emobalance.config import GenerationConfig
from emobalance.data.dataset import EmotionDataset
from emobalance.labels import LABEL_TO_ID, names_to_matrix

TIMEOUT_S = 0.3  # the client timeout; the fake server's "sleep" answer takes 1 s
MESSAGES = [
    {"role": "system", "content": "You answer with a JSON list of strings."},
    {"role": "user", "content": "Write 3 Reddit comments expressing relief."},
]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)


def payload(model="fake-model", **kw):
    body = {"model": model, "messages": MESSAGES, "temperature": 1.0, "max_tokens": 16}
    body.update(kw)
    return body


def test_retry_after_parsing():
    assert _retry_after({"Retry-After": "2"}) == 2.0
    assert _retry_after({"Retry-After": "-3"}) == 0.0
    assert 8 < _retry_after({"Retry-After": formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({}) is None


class _Always500(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def test_chat_client_counts_attempts_gives_up_and_aborts():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Always500)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        cfg = GenerationConfig(
            base_url=f"http://127.0.0.1:{server.server_port}/v1",
            max_retries=2,
            backoff_base_s=0.001,
            backoff_max_s=0.01,
        )
        client = ChatClient(cfg)
        assert client.url.endswith("/v1/chat/completions")
        with pytest.raises(RequestFailed, match="3 attempts failed, last: HTTP 500"):
            client.complete({"model": "m", "messages": []}, random.Random(0))
        assert client.requests == 3 and client.retries == 2
        client.abort()
        with pytest.raises(Aborted):
            client.complete({"model": "m", "messages": []}, random.Random(0))
        assert client.requests == 3  # nothing sent after abort()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_response_cache_round_trip(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    key = cache_key({"model": "m", "sample": 0})
    assert key == cache_key({"sample": 0, "model": "m"})  # canonical: key order is irrelevant
    assert cache.get(key) is None
    cache.put(key, "some text", {"model": "m", "sample": 0})
    assert cache.get(key) == "some text"
    assert cache.path(key) == tmp_path / "c" / key[:2] / f"{key}.json"
    cache.path(key).write_text("{broken", encoding="utf-8")
    assert cache.get(key) is None  # unreadable entries are ignored, never trusted


# ==================================================================== the real server
def real_cfg(base_url, **kw):
    args = {"base_url": base_url, "timeout_s": 30.0, "max_retries": 2, "backoff_base_s": 0.01}
    args.update(kw)
    return GenerationConfig(**args)


def test_real_server_completion(real_server):
    base_url, model = real_server
    with ChatClient(real_cfg(base_url)) as client:
        text = client.complete(payload(model, seed=1), random.Random(0))
    assert isinstance(text, str) and text.strip()
    assert client.requests == 1 and client.retries == 0


def test_real_server_seed_is_reproducible(real_server):
    base_url, model = real_server
    with ChatClient(real_cfg(base_url)) as client:
        a = client.complete(payload(model, seed=11), random.Random(0))
        b = client.complete(payload(model, seed=11), random.Random(0))
        c = client.complete(payload(model, seed=12), random.Random(0))
    assert a == b
    assert a != c


def test_real_server_concurrent_requests(real_server):
    base_url, model = real_server
    with ChatClient(real_cfg(base_url)) as client, ThreadPoolExecutor(4) as pool:
        outs = list(
            pool.map(lambda i: client.complete(payload(model, seed=i), random.Random(i)), range(8))
        )
    assert all(isinstance(t, str) and t.strip() for t in outs)
    assert client.requests == 8


def test_real_server_unknown_model_is_fatal(real_server):
    base_url, _ = real_server
    client = ChatClient(real_cfg(base_url, max_retries=5))
    with client, pytest.raises(GenerationError, match=r"answered HTTP 400 Bad Request: .*pinned"):
        client.complete(payload("no-such-model"), random.Random(0))
    assert client.requests == 1


def test_real_server_wrong_base_url_is_404(real_server):
    base_url, model = real_server
    root = base_url.removesuffix("/v1")
    client = ChatClient(real_cfg(root))
    with client, pytest.raises(GenerationError, match=r"HTTP 404 Not Found \(check base_url"):
        client.complete(payload(model), random.Random(0))
    assert client.requests == 1


def test_real_server_answer_is_cached(real_server, tmp_path):
    base_url, model = real_server
    cfg = real_cfg(base_url)
    fields = {"base_url": cfg.endpoint(), "model": model, "messages": MESSAGES, "seed": 3}
    key = cache_key(fields)
    cache = ResponseCache(tmp_path / "cache")
    with ChatClient(cfg) as client:
        text = client.complete(payload(model, seed=3), random.Random(0))
    cache.put(key, text, fields)
    assert cache.get(key) == text
    stored = json.loads(cache.path(key).read_text(encoding="utf-8"))
    assert stored["request"]["model"] == model and stored["key"] == key


def test_real_server_generation_end_to_end(real_server, tmp_path):
    """The whole generation path (prompts, thread pool, client, cache, parser, dedup) on a
    real server. Random weights answer byte soup, so this checks the mechanics, not texts."""
    base_url, model = real_server
    examples = EmotionDataset(
        ["I miss her so much, rest in peace", "Phew, the test came back negative"],
        names_to_matrix([["grief"], ["relief"]]),
        source="goemotions",
    )
    wanted = {"grief": 4, "relief": 2}
    cfg = GenerationConfig(
        base_url=base_url, model=model, per_request=2, max_tokens=48, concurrency=2,
        max_rounds=2, timeout_s=60.0, max_retries=1, backoff_base_s=0.01,
        examples_per_prompt=1, cache_dir=tmp_path / "cache", seed=0,
    )  # fmt: skip
    gen = LLMGenerator(cfg, progress=False)
    out = gen.generate(wanted, examples)
    stats = gen.stats_
    # round 1 asks ceil(4/2) + ceil(2/2) = 3 completions; round 2 only for what is short
    assert 3 <= stats.jobs <= 6
    assert stats.cache_hits == 0 and stats.failed_jobs == 0 and stats.retries == 0
    assert stats.requests == stats.jobs
    files = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(files) == stats.jobs  # one entry per completion, each a real answer
    for f in files:
        entry = json.loads(f.read_text(encoding="utf-8"))
        assert entry["request"]["model"] == model
        assert entry["request"]["base_url"] == f"{base_url}/chat/completions"
        assert isinstance(entry["content"], str) and entry["content"].strip()
    # whatever the parser kept is well formed
    assert stats.kept == len(out) <= stats.texts_parsed
    counts = Counter(out.meta["intended"])
    assert all(counts[e] <= n for e, n in wanted.items()) and set(counts) <= set(wanted)
    assert set(out.source) <= {"generated"} and set(out.meta["model"]) <= {model}
    for i, emotion in enumerate(out.meta["intended"]):
        assert out.labels[i].tolist() == [int(j == LABEL_TO_ID[emotion]) for j in range(28)]
        assert re.fullmatch(rf"gen-{emotion}-[0-9a-f]{{10}}", out.ids[i])
    # a second run is answered from the cache alone, with the same result
    again = LLMGenerator(cfg, progress=False)
    out2 = again.generate(wanted, examples)
    assert again.stats_.requests == 0 and again.stats_.cache_hits == again.stats_.jobs
    assert again.stats_.jobs == stats.jobs
    assert out2.texts == out.texts and out2.ids == out.ids


# =================================================================== the fake server
def make_cfg(base_url, **kw):
    args = {
        "base_url": base_url,
        "model": "fake-model",
        "timeout_s": TIMEOUT_S,
        "max_retries": 8,
        "backoff_base_s": 0.001,
        "backoff_max_s": 0.01,
    }
    args.update(kw)
    return GenerationConfig(**args)


def complete(cfg, body=None, seed=0):
    """The text of one request through a fresh client."""
    with ChatClient(cfg) as client:
        return client.complete(body or payload(), random.Random(seed))


def test_transient_failures_are_retried(llm):
    failures = ["429", "500", "502", "503", "408", "425", "sleep", "drop", "notjson",
                "nochoices", "empty"]  # fmt: skip
    llm.script.extend(failures)
    t0 = time.perf_counter()
    with ChatClient(make_cfg(llm.base_url, max_retries=len(failures))) as client:
        text = client.complete(payload(), random.Random(0))
    assert time.perf_counter() - t0 < 20  # short backoffs (loose: a busy CI machine)
    assert text == f"answer {len(failures) + 1}"
    assert llm.requests == len(failures) + 1
    assert client.requests == len(failures) + 1 and client.retries == len(failures)


def test_gives_up_after_max_retries(llm):
    llm.script.extend(["500"] * 3)
    client = ChatClient(make_cfg(llm.base_url, max_retries=2))
    with client, pytest.raises(RequestFailed, match=r"^3 attempts failed, last: HTTP 500$"):
        client.complete(payload(), random.Random(0))
    assert llm.requests == 3
    assert client.requests == 3 and client.retries == 2


@pytest.mark.parametrize(
    ("script", "last"),
    [
        (["notjson"] * 2, r"malformed response \(not JSON\): b'<html>oops</html>'"),
        (
            ["nochoices"] * 2,
            r"malformed response \(no choices\[0\]\.message\.content\): "
            r"\{'message': 'overloaded'\}",
        ),
        (["sleep"] * 2, r"timeout: ReadTimeout\('timed out'\)"),
        (["drop"] * 2, r"connection error: RemoteProtocolError\("),
    ],
)
def test_last_transient_error_is_named(llm, script, last):
    llm.script.extend(script)
    with pytest.raises(RequestFailed, match=r"2 attempts failed, last: " + last):
        complete(make_cfg(llm.base_url, max_retries=1))


def test_retry_after_is_honoured_and_capped(llm):
    llm.script.append("429:0.5")
    t0 = time.perf_counter()
    complete(make_cfg(llm.base_url))
    assert 0.5 <= time.perf_counter() - t0 < 10
    llm.script.append("429:30")  # capped by retry_after_max_s
    t0 = time.perf_counter()
    complete(make_cfg(llm.base_url, retry_after_max_s=0.2))
    assert 0.2 <= time.perf_counter() - t0 < 10  # far below the 30 s asked for
    llm.script.append("429:" + formatdate(time.time() + 1.5, usegmt=True))  # HTTP date
    t0 = time.perf_counter()
    complete(make_cfg(llm.base_url))
    assert 0.3 <= time.perf_counter() - t0 < 10


class _RecordingEvent(threading.Event):
    def __init__(self):
        super().__init__()
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return False


def test_backoff_is_exponential_capped_and_seeded(llm):
    llm.script.extend(["500"] * 4)
    cfg = make_cfg(llm.base_url, backoff_base_s=1.0, backoff_max_s=3.0)
    with ChatClient(cfg) as client:
        client._abort = _RecordingEvent()
        client.complete(payload(), random.Random(42))
    rng = random.Random(42)
    expected = [cap * (0.5 + 0.5 * rng.random()) for cap in (1.0, 2.0, 3.0, 3.0)]
    assert client._abort.waits == pytest.approx(expected)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("400", "Bad Request"), ("401", "Unauthorized"), ("403", "Forbidden"),
     ("404", "Not Found"), ("422", "Unprocessable Entity")],
)  # fmt: skip
def test_client_errors_are_fatal_at_once(llm, status, reason):
    llm.script.append(status)
    url = re.escape(f"{llm.base_url}/chat/completions")
    with pytest.raises(GenerationError, match=rf"^{url} answered HTTP {status} {reason}") as ei:
        complete(make_cfg(llm.base_url, max_retries=5))
    msg = str(ei.value)
    assert llm.requests == 1
    assert msg.endswith(': {"error": {"message": "rejected"}}')
    if status in ("401", "403"):
        assert "(no API key sent: $OPENAI_API_KEY is not set)" in msg
    elif status == "404":
        assert "(check base_url: it should end in /v1" in msg
    else:
        assert "(" not in msg.split(reason)[1].split(":")[0]


def test_401_with_a_key_has_no_key_hint(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "bad")
    llm.script.append("401")
    with pytest.raises(GenerationError) as ei:
        complete(make_cfg(llm.base_url))
    assert "no API key sent" not in str(ei.value)


def test_wrong_path_gets_the_404_hint(llm):
    root = llm.base_url.removesuffix("/v1")
    with pytest.raises(GenerationError, match=r"HTTP 404 Not Found \(check base_url"):
        complete(make_cfg(root))
    assert llm.paths == ["/chat/completions"]


def test_unreachable_endpoint_fails_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = make_cfg(f"http://127.0.0.1:{port}/v1", backoff_base_s=1.0, max_retries=5)
    url = re.escape(cfg.endpoint())
    client = ChatClient(cfg)
    t0 = time.perf_counter()
    with (
        client,
        pytest.raises(
            GenerationError,
            match=rf"^cannot reach {url}: connection refused \(is the server running",
        ),
    ):
        client.complete(payload(), random.Random(0))
    assert time.perf_counter() - t0 < 10  # no retry (a retry would wait >= 1 s each)
    assert client.requests == 1


def test_unresolvable_host_is_fatal(monkeypatch):
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kw):  # no DNS query leaves the machine
        if host == "llm.example.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(GenerationError, match=r"cannot reach .*: host name not resolved"):
        complete(make_cfg("http://llm.example.invalid/v1", backoff_base_s=1.0))


def test_request_on_the_wire(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-env")  # not ours to send
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-env")
    body = payload(seed=123, top_k=5)  # top_k: not an SDK argument, sent as is
    complete(make_cfg(llm.base_url), body)
    assert llm.bodies == [body]
    assert llm.paths == ["/v1/chat/completions"]
    headers = llm.headers[0]
    assert headers["User-Agent"] == "emobalance"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers
    assert "OpenAI-Organization" not in headers and "OpenAI-Project" not in headers
    # no SDK telemetry (x-stainless-raw-response only tells the SDK how to hand back the body)
    sdk = [h for h in headers if h.lower().startswith("x-stainless")]
    assert sdk in ([], ["x-stainless-raw-response"])
    # a URL that already ends in /chat/completions is used as is
    complete(make_cfg(f"{llm.base_url}/chat/completions"))
    assert llm.paths[-1] == "/v1/chat/completions"


def test_api_key_from_the_configured_variable(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-this-one")
    monkeypatch.setenv("EMOB_TEST_KEY", "  sekret ")
    complete(make_cfg(llm.base_url, api_key_env="EMOB_TEST_KEY"))
    assert llm.headers[-1].get("Authorization") == "Bearer sekret"
    monkeypatch.delenv("EMOB_TEST_KEY")  # unset: no header, $OPENAI_API_KEY is not used
    complete(make_cfg(llm.base_url, api_key_env="EMOB_TEST_KEY"))
    assert "Authorization" not in llm.headers[-1]


def test_loopback_ignores_proxy_variables(llm, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert complete(make_cfg(llm.base_url, max_retries=0)) == "answer 1"


def test_content_forms(llm):
    llm.script.extend(["parts", "text"])
    assert complete(make_cfg(llm.base_url)) == "part one, two"
    assert complete(make_cfg(llm.base_url)) == "legacy text"


def test_abort_stops_a_waiting_retry_and_later_requests(llm):
    llm.script.append("429:20")
    client = ChatClient(make_cfg(llm.base_url, retry_after_max_s=20))
    errors = []

    def run():
        try:
            client.complete(payload(), random.Random(0))
        except Aborted as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t0 = time.perf_counter()
    t.start()
    while llm.requests == 0 and time.perf_counter() - t0 < 5:
        time.sleep(0.01)
    client.abort()
    t.join(5)
    assert not t.is_alive() and len(errors) == 1
    assert time.perf_counter() - t0 < 10  # well inside the 20 s Retry-After
    with pytest.raises(Aborted):
        client.complete(payload(), random.Random(0))
    assert llm.requests == 1 and client.requests == 1
    client.close()


def test_one_client_shared_by_threads(llm):
    llm.script.extend(["500", "429", "drop", "notjson"] * 3)
    cfg = make_cfg(llm.base_url, timeout_s=10.0)  # no slow answer here; a busy CI box
    with ChatClient(cfg) as client, ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: client.complete(payload(), random.Random(i)), range(24)))
    assert len(outs) == 24 and all(t.startswith("answer") for t in outs)
    assert client.requests == llm.requests == 24 + 12 and client.retries == 12


def test_missing_sdk_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(GenerationError, match="needs the openai package"):
        ChatClient(make_cfg("http://127.0.0.1:9/v1"))


# ========================================================================== the cache
FIELDS = {
    "base_url": "http://127.0.0.1:8000/v1/chat/completions",
    "model": "m",
    "messages": [{"role": "user", "content": "héllo"}],
    "temperature": 1.0,
    "max_tokens": 1024,
    "sample": 0,
    "seed": 0,
}


def test_cache_key_is_the_same_as_before():
    blob = json.dumps(FIELDS, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert cache_key(FIELDS) == hashlib.sha256(blob.encode("utf-8")).hexdigest()
    assert cache_key(dict(reversed(FIELDS.items()))) == cache_key(FIELDS)
    assert cache_key({**FIELDS, "sample": 1}) != cache_key(FIELDS)


def test_cache_round_trip_and_layout(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    key = cache_key(FIELDS)
    assert cache.get(key) is None and not (tmp_path / "c").exists()
    cache.put(key, "some text", FIELDS)
    path = tmp_path / "c" / key[:2] / f"{key}.json"
    assert cache.path(key) == path and path.is_file()
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["key"] == key and stored["content"] == "some text"
    assert stored["request"] == FIELDS and isinstance(stored["created"], float)
    assert cache.get(key) == "some text"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_bad_cache_entries_are_ignored(tmp_path, caplog):
    cache = ResponseCache(tmp_path)
    keys = [cache_key({"n": i}) for i in range(3)]
    for k in keys:
        cache.put(k, "x", {})
    cache.path(keys[0]).write_text("{not json", encoding="utf-8")
    cache.path(keys[1]).write_text(json.dumps({"key": "other", "content": "x"}), "utf-8")
    cache.path(keys[2]).write_text(json.dumps({"key": keys[2], "content": 3}), "utf-8")
    with caplog.at_level(logging.WARNING, logger="emobalance"):
        assert [cache.get(k) for k in keys] == [None, None, None]
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("unreadable cache entry" in m for m in msgs) == 1
    assert sum("malformed cache entry" in m for m in msgs) == 2
