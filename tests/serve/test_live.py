"""What only a real server shows: uvicorn in a subprocess on a free 127.0.0.1 port, raw sockets.

A client that drops mid-body, ``Content-Length: -1`` and other requests the HTTP parser refuses
(answered in the service's JSON by :func:`~emobalance.serve.http_protocol`), raw UTF-8 header
bytes, HEAD/OPTIONS, the worst-case escaped request at the CLI's defaults, and SIGTERM with
requests in flight. Every server started here is stopped (SIGTERM, then SIGKILL) by its fixture.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("uvicorn", reason="needs the `serve` extra")

from emobalance.serve import DEFAULT_MAX_CHARS, DEFAULT_MAX_TEXTS

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLI_SERVER = (
    "import sys; from emobalance.cli import main; "
    "main(['serve', sys.argv[1], '--port', sys.argv[2], '--no-access-log'])"
)
# the app as the CLI builds it, with a short idle timeout to show a stalled body during shutdown
SCRIPT_SERVER = (
    "import sys, uvicorn; from emobalance.serve import create_app, http_protocol; "
    "app = create_app(sys.argv[1], body_idle_timeout_s=3); "
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), http=http_protocol(), "
    "log_level='info')"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess; ``log`` is its stdout and stderr."""

    def __init__(self, code: str, model_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.log_path = log
        env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(model_dir), str(self.port)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"server did not start:\n{self.log}")
            time.sleep(0.2)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def raw(self, data: bytes) -> bytes:
        """Send ``data`` on a new connection; everything it answers until it closes."""
        with self.connect() as s:
            s.sendall(data)
            return _read_all(s)

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as r:
            return r.read().decode()


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def _split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    srv = Server(CLI_SERVER, tiny_model_dir, tmp_path_factory.mktemp("live") / "server.log")
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log, srv.log


# --------------------------------------------------------------------- client drops
def test_client_dropping_mid_body_is_not_a_5xx(server):
    for _ in range(3):
        with server.connect() as s:
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                      b"\r\nContent-Length: 100\r\n\r\n" + b'{"texts": ["half a bo')  # fmt: skip
        # closed here, after headers + half a body
    deadline = time.monotonic() + 10
    while "499" not in server.metrics() and time.monotonic() < deadline:
        time.sleep(0.1)
    metrics = server.metrics()
    assert re.search(r'path="/v1/predict",status="499"} 3\.0', metrics), metrics
    assert not re.search(r'status="5\d\d"', metrics)


# ------------------------------------------------------------- the parser's 400s
PARSER_REFUSES = {
    "Content-Length -1": b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "Content-Length x": b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
    "two Content-Lengths": b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Content-Length: 2\r\n\r\n",
    "space in a header name": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    "no Host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "bad chunk size": b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\nzz\r\n",
}


@pytest.mark.parametrize("name", list(PARSER_REFUSES))
def test_requests_the_parser_refuses_get_the_services_json_400(server, name):
    status, headers, body = _split(server.raw(PARSER_REFUSES[name]))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff" and headers["connection"] == "close"
    error = json.loads(body)
    assert error["error"] == "bad_request" and error["detail"].startswith("invalid HTTP request")
    if name == "Content-Length -1":
        assert error["detail"] == "invalid HTTP request: bad Content-Length"
    with urllib.request.urlopen(server.url("/healthz"), timeout=10) as r:
        assert r.status == 200  # still serving


def test_headers_over_the_parser_limit_are_a_json_431(server):
    # h11 enforces its 16 KiB while the headers are incomplete: send them without their end
    with server.connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000)
        status, _, body = _split(_read_all(s))
    assert status == 431 and json.loads(body)["error"] == "request_header_fields_too_large"


def test_raw_utf8_and_latin1_header_bytes_are_harmless(server):
    answer = server.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Name: café ☃ 😀\r\n"
                        "Connection: close\r\n\r\n".encode())  # fmt: skip
    assert _split(answer)[0] == 200
    answer = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-N: \xe9\xff\r\nConnection: close"
                        b"\r\n\r\n")  # fmt: skip
    assert _split(answer)[0] == 200


# -------------------------------------------------------------------- methods
@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/v1/labels", "/docs", "/redoc",
                                  "/openapi.json", "/static/app.js"])  # fmt: skip
def test_head_and_options_on_a_real_server(server, path):
    head = server.raw(f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status, headers, body = _split(head)
    assert status == 200 and body == b"" and headers["x-content-type-options"] == "nosniff"
    options = server.raw(
        f"OPTIONS {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    status, headers, body = _split(options)
    assert status == 405 and json.loads(body)["error"] == "method_not_allowed"


# -------------------------------------------------------------------- limits
def test_worst_case_escaped_request_fits_the_cli_defaults(server):
    texts = ["\U0001f600" * DEFAULT_MAX_CHARS] * DEFAULT_MAX_TEXTS
    body = json.dumps({"texts": texts}).encode()  # 12 bytes per emoji
    request = urllib.request.Request(
        server.url("/v1/predict"), data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 200 and len(json.loads(r.read())["predictions"]) == DEFAULT_MAX_TEXTS


# ------------------------------------------------------------------- shutdown
def test_sigterm_lets_in_flight_requests_finish(tiny_model_dir, tmp_path):
    srv = Server(SCRIPT_SERVER, tiny_model_dir, tmp_path / "server.log")
    try:
        body = json.dumps({"texts": ["thanks so much", "furious"]}).encode()
        head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        moving, stalled = srv.connect(), srv.connect()
        moving.sendall(head + body[:10])
        stalled.sendall(head + body[:10])
        time.sleep(0.5)  # both requests are in flight, waiting for the rest of their body
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert srv.proc.poll() is None  # waiting for the in-flight requests
        with pytest.raises(OSError):  # no new connections once shutting down
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        moving.sendall(body[10:])
        status, _, answer = _split(_read_all(moving))
        assert status == 200 and len(json.loads(answer)["predictions"]) == 2
        # the stalled one gets its 408 after the idle timeout, so shutdown is bounded
        status, _, answer = _split(_read_all(stalled))
        assert status == 408 and json.loads(answer)["error"] == "request_timeout"
        moving.close()
        stalled.close()
        # uvicorn re-raises the signal once shut down: the status says "ended by SIGTERM"
        assert srv.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        srv.stop()
    log = srv.log
    assert "Traceback" not in log and "ERROR" not in log, log
    assert "Finished server process" in log
