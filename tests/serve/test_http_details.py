"""HTTP details through TestClient and raw ASGI calls (issue 14, class 11).

A client gone mid-body, the body limit derived from the text limits, nosniff and the docs' CSP,
HEAD/OPTIONS on every route, stalled bodies, odd JSON, and a fuzz of request bodies whose
property is "a JSON answer below 500". What only a real server shows is in test_live.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re

import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emobalance.errors import ConfigError
from emobalance.serve import DEFAULT_MAX_BODY_BYTES, body_limit, create_app, http_protocol
from emobalance.serve.app import DEFAULT_MAX_CHARS, DEFAULT_MAX_TEXTS
from emobalance.serve.protocol import json_400

_JSON = {"content-type": "application/json"}
GET_ROUTES = ["/", "/healthz", "/metrics", "/v1/labels", "/openapi.json", "/docs", "/redoc",
              "/static/app.js", "/docs-assets/swagger-ui.css"]  # fmt: skip
POST_ROUTES = ["/v1/predict", "/v1/explain"]


@pytest.fixture(scope="module")
def app(tiny_model_dir):
    return create_app(tiny_model_dir)  # the defaults: 64 texts, 5,000 characters, derived body


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def _counter(text: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith("emobalance_http_requests_total{") and all(
            f'{k}="{v}"' in line for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _asgi(app, method: str, path: str, messages: list[dict], delay: float = 0.0) -> list[dict]:
    """Run one request through the ASGI app with these receive messages; what it sent."""
    sent: list[dict] = []
    queue = list(messages)

    async def receive():
        if not queue:
            await asyncio.sleep(3600)  # a client that sends nothing more
        if delay:
            await asyncio.sleep(delay)
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json"),
                                     (b"content-length", b"100")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent


# ------------------------------------------------------------ client gone mid-body
def test_client_gone_mid_body_is_499_not_500(app, client):
    before = client.get("/metrics").text
    sent = _asgi(
        app,
        "POST",
        "/v1/predict",
        [{"type": "http.request", "body": b'{"texts": [', "more_body": True},
         {"type": "http.disconnect"}],
    )  # fmt: skip
    assert sent == []  # nothing was answered
    after = client.get("/metrics").text
    gone = dict(method="POST", path="/v1/predict", status="499")
    assert _counter(after, **gone) - _counter(before, **gone) == 1
    assert not re.search(r'status="5\d\d"', after)


def test_a_crash_is_still_counted_500(tiny_model_dir, monkeypatch):
    app = create_app(tiny_model_dir)
    monkeypatch.setattr(app.state.classifier, "predict_proba", lambda texts: 1 / 0)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/predict", json={"texts": ["a"]})
        assert r.status_code == 500 and r.headers["x-content-type-options"] == "nosniff"
        assert _counter(c.get("/metrics").text, status="500") == 1
        assert _counter(c.get("/metrics").text, status="499") == 0


# ------------------------------------------------------------------ body limit
def test_default_body_limit_follows_the_text_limits(tiny_model_dir):
    assert DEFAULT_MAX_BODY_BYTES == body_limit(64, 5000) == 64 * (12 * 5000 + 64) + 4096
    app = create_app(tiny_model_dir, max_texts=3, max_chars=10)
    assert app.state.limits["max_body_bytes"] == body_limit(3, 10) == 3 * 184 + 4096


@pytest.mark.parametrize("indent", [None, 4], ids=["compact", "indented"])
def test_worst_case_request_within_the_limits_fits(client, indent):
    # json.dumps escapes an emoji as "\ud83d\ude00": 12 bytes for one character
    texts = ["\U0001f600" * DEFAULT_MAX_CHARS] * DEFAULT_MAX_TEXTS
    body = json.dumps({"texts": texts}, indent=indent).encode()
    assert len(body) > 12 * DEFAULT_MAX_CHARS * DEFAULT_MAX_TEXTS
    r = client.post("/v1/predict", content=body, headers=_JSON)
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["predictions"]) == DEFAULT_MAX_TEXTS
    explain = json.dumps({"text": texts[0], "top_k": 28}, indent=indent).encode()
    assert client.post("/v1/explain", content=explain, headers=_JSON).status_code == 200


def test_one_byte_over_the_computed_limit_is_413(client):
    body = json.dumps({"texts": ["\U0001f600" * DEFAULT_MAX_CHARS] * DEFAULT_MAX_TEXTS}).encode()
    at_limit = body + b" " * (DEFAULT_MAX_BODY_BYTES - len(body))  # JSON allows the spaces
    assert client.post("/v1/predict", content=at_limit, headers=_JSON).status_code == 200
    r = client.post("/v1/predict", content=at_limit + b" ", headers=_JSON)
    assert r.status_code == 413 and f"{DEFAULT_MAX_BODY_BYTES:,} bytes" in r.json()["detail"]


def test_create_app_checks_limits_and_timeout(tiny_model_dir, caplog):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="max_body_bytes"):
            create_app(tiny_model_dir, max_body_bytes=bad)
    for bad in (0, -1, float("nan"), float("inf"), "5", True):
        with pytest.raises(ConfigError, match="body_idle_timeout_s"):
            create_app(tiny_model_dir, body_idle_timeout_s=bad)
    with pytest.raises(ConfigError, match="max_chars"):
        create_app(tiny_model_dir, max_chars=-3)
    create_app(tiny_model_dir, max_body_bytes=1000)  # allowed, but said to be too small
    assert "may get 413" in caplog.text


# --------------------------------------------------------------- headers, CSP
def test_every_answer_says_nosniff(client):
    answers = [client.get(p) for p in GET_ROUTES]
    answers += [client.get("/nope"), client.get("/v1/predict"), client.options("/healthz")]
    answers += [client.post("/v1/predict", content=b"{", headers=_JSON)]  # 400 of the app
    answers += [client.post("/v1/predict", content=b"\xff", headers=_JSON)]  # 400 of the guard
    big = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    answers += [client.post("/v1/predict", content=big, headers=_JSON)]  # 413 of the guard
    answers += [client.post("/v1/predict", json={"texts": []})]
    assert {r.status_code for r in answers} >= {200, 400, 404, 405, 413, 422}
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", (r.request.url, r.status_code)
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'self'")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_docs_csp_allows_exactly_their_inline_code(client):
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
        assert (
            "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        )
        assert "http" not in r.headers["content-security-policy"]  # no other host
        for script in re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL):
            assert _sha256(script) in csp["script-src"]
    # Swagger's inline bootstrap is hashed; ReDoc inserts <style> elements at run time
    assert "'sha256-" in client.get("/docs").headers["content-security-policy"]
    redoc = client.get("/redoc").headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in redoc and "worker-src 'self' blob:" in redoc


def test_docs_csp_follows_the_root_path(tiny_model_dir):
    with TestClient(create_app(tiny_model_dir), root_path="/emo") as c:
        r = c.get("/docs")
        assert "/emo/openapi.json" in r.text
        (script,) = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
        assert _sha256(script) in r.headers["content-security-policy"]


# ------------------------------------------------------------------- HEAD, OPTIONS
@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_on_every_get_route_is_get_without_body(client, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    if path not in ("/metrics", "/docs", "/redoc"):  # these change between two calls
        assert head.headers["content-length"] == get.headers["content-length"]


@pytest.mark.parametrize("path", POST_ROUTES)
def test_head_and_get_on_post_routes_are_json_405(client, path):
    for method in ("HEAD", "GET", "PUT", "DELETE"):
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        if method != "HEAD":
            assert r.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("path", GET_ROUTES + POST_ROUTES)
def test_options_is_a_json_405(client, path):
    r = client.options(path)
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_head_is_counted_as_head(client):
    client.head("/healthz")
    assert _counter(client.get("/metrics").text, method="HEAD", path="/healthz", status="200")


def test_openapi_has_no_head_operations(client):
    spec = client.get("/openapi.json").json()
    assert all(set(ops) <= {"get", "post"} for ops in spec["paths"].values())


# ---------------------------------------------------------------- slow bodies
def test_a_stalled_body_is_408_and_closes(tiny_model_dir):
    app = create_app(tiny_model_dir, body_idle_timeout_s=0.2)
    sent = _asgi(app, "POST", "/v1/predict",
                 [{"type": "http.request", "body": b'{"texts": [', "more_body": True}])  # fmt: skip
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"] == "request_timeout"


def test_a_slow_but_moving_body_is_served(tiny_model_dir):
    app = create_app(tiny_model_dir, body_idle_timeout_s=0.5)
    body = b'{"texts": ["thanks so much"]}'
    parts = [body[i : i + 5] for i in range(0, len(body), 5)]  # 7 parts, 0.1 s apart
    messages = [{"type": "http.request", "body": p, "more_body": True} for p in parts[:-1]]
    messages.append({"type": "http.request", "body": parts[-1], "more_body": False})
    sent = _asgi(app, "POST", "/v1/predict", messages, delay=0.1)
    assert sent[0]["status"] == 200


# ------------------------------------------------------------------- odd JSON
ODD = {
    "nested 100,000 deep": (b'{"texts": ' + b"[" * 100_000, 400),
    "huge integer top_k": (b'{"text": "a", "top_k": 1' + b"0" * 5000 + b"}", 400),
    "1e999 top_k": (b'{"text": "a", "top_k": 1e999}', 422),
    "NaN top_k": (b'{"text": "a", "top_k": NaN}', 422),
    "-Infinity top_k": (b'{"text": "a", "top_k": -Infinity}', 422),
    "top_k a bool": (b'{"text": "a", "top_k": true}', 422),
    "top_k a numeric string": (b'{"text": "a", "top_k": "5"}', 422),
    "top_k a float": (b'{"text": "a", "top_k": 5.0}', 422),
    "texts an object": (b'{"texts": {"a": 1}}', 422),
    "UTF-8 BOM": (b'\xef\xbb\xbf{"texts": ["a"]}', 200),
    "NUL escape in a text": (b'{"texts": ["a\\u0000b"]}', 200),
    "overlong UTF-8": (b'{"texts": ["\xc0\xaf"]}', 400),
    "UTF-8 surrogate bytes": (b'{"texts": ["\xed\xa0\x80"]}', 400),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_json_is_answered_below_500(client, name):
    body, status = ODD[name]
    path = "/v1/explain" if b'"text"' in body else "/v1/predict"
    r = client.post(path, content=body, headers=_JSON)
    assert r.status_code == status, r.text[:300]
    if status >= 400:
        assert set(r.json()) == {"error", "detail"}
    if status == 400:
        assert "not valid" in r.json()["detail"]


def test_unicode_and_odd_headers_are_harmless(client):
    r = client.get("/healthz", headers={"x-name": "café ☃".encode()})  # raw UTF-8 bytes
    assert r.status_code == 200
    r = client.post("/v1/predict", json={"texts": ["a"]},
                    headers={"content-type": "application/json; charset=latin-1"})  # fmt: skip
    assert r.status_code == 200
    assert client.get("/%ff%fe/..%2f..%2fetc/passwd").status_code == 404
    assert client.get("/static/..%2f..%2fapp.py").status_code == 404


# -------------------------------------------------- the parser's 400 in JSON
def test_parser_400_is_the_services_json():
    import h11

    try:
        raise h11.RemoteProtocolError("bad Content-Length", error_status_hint=400)
    except h11.RemoteProtocolError as exc:
        raw = json_400("Invalid HTTP request received.", exc, [(b"server", b"uvicorn")])
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\nserver: uvicorn\r\n")
    assert b"content-type: application/json" in head and b"connection: close" in head
    assert b"x-content-type-options: nosniff" in head
    assert json.loads(body) == {"error": "bad_request",
                                "detail": "invalid HTTP request: bad Content-Length"}  # fmt: skip
    assert int(re.search(rb"content-length: (\d+)", head)[1]) == len(body)
    big = json_400("x", h11.RemoteProtocolError("too long", error_status_hint=431), [])
    assert big.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    assert issubclass(http_protocol(), AutoHTTPProtocol) and http_protocol() is http_protocol()


# ------------------------------------------------------------------------- fuzz
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"texts": _json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"text": _json_values, "top_k": _json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.lists(st.text(max_size=40), max_size=6).map(lambda t: json.dumps({"texts": t}).encode()),
)


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, path=st.sampled_from(POST_ROUTES))
def test_fuzz_any_body_gets_a_json_answer_below_500(client, body, path):
    r = client.post(path, content=body, headers=_JSON)
    assert r.status_code < 500, (body[:200], r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "detail"} and r.json()["detail"]


# -------------------------------------------------------------------------- CLI
def test_cli_serve_derives_the_body_limit_and_uses_the_json_protocol(tiny_model_dir, monkeypatch):
    import torch
    import uvicorn

    from emobalance.cli import main

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    with pytest.raises(SystemExit):
        main(["serve", str(tiny_model_dir), "--port", "0", "--max-texts", "7",
              "--max-chars", "300"])  # fmt: skip
    assert seen["app"].state.limits["max_body_bytes"] == body_limit(7, 300)
    assert seen["http"] is http_protocol()
    with pytest.raises(SystemExit):
        main(["serve", str(tiny_model_dir), "--port", "0", "--max-body-bytes", "12345"])
    assert seen["app"].state.limits["max_body_bytes"] == 12345
