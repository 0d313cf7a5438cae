import random
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emobalance.balance.llm_client import (
    Aborted,
    ChatClient,
    RequestFailed,
    ResponseCache,
    _retry_after,
    cache_key,
)
from emobalance.config import GenerationConfig


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
