"""The two chat-completions servers of the generation tests.

* ``llm``: a hand-written fake OpenAI server for fault injection (429 with Retry-After, 5xx,
  timeouts, dropped connections, malformed bodies, fatal 4xx), driven by a script;
* ``real_server``: a REAL OpenAI-compatible server, ``transformers serve`` on a tiny
  random-weight Llama built into a temp folder at session start
  (``tests/fixtures/tiny_chat_model.py``); offline, CPU, one per session, always stopped.
  Skipped only when the serving packages are missing (the ``dev``, ``teacher``, ``serve``
  and ``generate`` extras install them).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TINY_CHAT_MODEL = Path(__file__).parents[1] / "fixtures" / "tiny_chat_model.py"


# ==================================================================== the fake server
class FakeLLM:
    """A script of answers served in arrival order, then 'ok'; records what it was sent.

    An 'ok' answer's content is ``answer(body)``: ``"answer <request number>"`` unless a test
    sets another function. ``sleep_s`` is how long a 'sleep' answer takes.
    """

    def __init__(self) -> None:
        self.script: collections.deque[str] = collections.deque()
        self.requests = 0
        self.auth: list[str | None] = []
        self.headers: list = []  # case-insensitive ``get``
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.base_url = ""
        self.sleep_s = 1.0
        self.answer: Callable[[dict], str] = lambda body: f"answer {self.requests}"


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body, headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _ok(self, message):
            reply = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            self._send(200, json.dumps(reply).encode())

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            with fake.lock:
                fake.requests += 1
                action = fake.script.popleft() if fake.script else "ok"
                fake.auth.append(self.headers.get("Authorization"))
                fake.headers.append(self.headers)
                fake.bodies.append(body)
                fake.paths.append(self.path)
            try:
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                elif action.startswith("429"):  # "429" or "429:<Retry-After value>"
                    value = action.partition(":")[2] or "0"
                    self._send(429, b'{"error": "slow down"}', [("Retry-After", value)])
                elif action in ("408", "425", "500", "502", "503"):
                    self._send(int(action), b'{"error": "boom"}')
                elif action == "notjson":
                    self._send(200, b"<html>oops</html>")
                elif action == "nochoices":
                    self._send(200, b'{"id": "x", "error": {"message": "overloaded"}}')
                elif action == "empty":
                    self._ok({"role": "assistant", "content": "   "})
                elif action == "drop":  # close the connection without an answer
                    self.close_connection = True
                elif action in ("400", "401", "403", "404", "422"):
                    self._send(int(action), b'{"error": {"message": "rejected"}}')
                elif action == "parts":
                    parts = [{"type": "text", "text": "part one, "}, {"text": "two"}]
                    self._ok({"role": "assistant", "content": parts})
                elif action == "text":
                    self._send(200, json.dumps({"choices": [{"text": "legacy text"}]}).encode())
                else:
                    if action == "sleep":
                        time.sleep(fake.sleep_s)
                    self._ok({"role": "assistant", "content": fake.answer(body)})
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # 8 client threads connect at once: no SYN dropped


@pytest.fixture
def llm():
    """A running :class:`FakeLLM`; ``llm.base_url`` is its ``.../v1``."""
    fake = FakeLLM()
    server = _Server(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ==================================================================== the real server
_SERVING = ("torch", "transformers", "fastapi", "uvicorn", "openai")


def _serving_missing() -> str | None:
    missing = [m for m in _SERVING if importlib.util.find_spec(m) is None]
    if not missing and importlib.util.find_spec("transformers.cli.serve") is None:
        missing = ["transformers.cli.serve (transformers 5)"]
    if missing:
        return (
            f"the real-server tests need `transformers serve` (missing: {', '.join(missing)}); "
            "pip install -e '.[dev,teacher,serve,generate]'"
        )
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",  # the CLI asks PyPI for a newer version once a day
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),  # a tiny model on a small CI box
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``GET url`` until it answers 200; raise if the server exits or takes too long."""
    t0 = time.perf_counter()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with opener.open(url, timeout=1.0) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError(f"{url} not ready after {timeout_s:.0f}s")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL after ``grace_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def real_server(tmp_path_factory):
    """``(base_url, model)`` of ``transformers serve`` on the tiny chat model.

    One process builds the model into a temp folder, then serves it on a free loopback port;
    requests must name the folder as their ``model``. Stopped at the end of the session, on a
    failure too (and on its own if this process dies).
    """
    reason = _serving_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("tiny-chat")
    model_dir = root / "model"
    port = _free_port()
    log_path = root / "server.log"
    cmd = [sys.executable, str(TINY_CHAT_MODEL), str(model_dir), "--serve", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches pytest, which then stops the server
        )
        try:
            try:
                _wait_ready(f"http://127.0.0.1:{port}/health", proc, timeout_s=120)
            except (RuntimeError, TimeoutError) as exc:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"transformers serve did not start: {exc}\n{tail}")
            yield f"http://127.0.0.1:{port}/v1", str(model_dir)
        finally:
            _stop(proc)
