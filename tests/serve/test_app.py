"""The serving app through FastAPI's TestClient on a tiny model: endpoints, limits, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient

from emobalance.cli import main
from emobalance.errors import ConfigError, ModelError
from emobalance.labels import EKMAN, EKMAN_LABELS, LABELS
from emobalance.models.reference import EmotionClassifier
from emobalance.serve import create_app
from emobalance.serve.app import STATIC_DIR

LIMITS = dict(max_texts=4, max_chars=200, max_body_bytes=20_000)
EXTERNAL = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    with TestClient(create_app(tiny_model_dir, **LIMITS)) as c:
        yield c


@pytest.fixture(scope="module")
def clf(tiny_model_dir):
    return EmotionClassifier.load(tiny_model_dir)


def _is_json_error(r, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"]


def _counter(text: str, **labels: str) -> float:
    """Value of the ``emobalance_http_requests_total`` series with these labels (0 if absent)."""
    for line in text.splitlines():
        if line.startswith("emobalance_http_requests_total{") and all(
            f'{k}="{v}"' in line for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# ------------------------------------------------------------------------ endpoints
def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "tiny"


def test_labels(client, clf):
    body = client.get("/v1/labels").json()
    assert body["labels"] == list(LABELS)
    assert body["ekman"] == {k: list(v) for k, v in EKMAN.items()}
    np.testing.assert_allclose(
        [body["thresholds"][lab] for lab in LABELS], clf.thresholds_, atol=1e-6
    )
    assert body["limits"] == LIMITS


def test_predict_labels_probabilities_and_ekman(client, clf):
    texts = ["thanks so grateful", "furious rage", "happy glad yay", ""]
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == len(texts)
    proba = clf.predict_proba(texts)
    for p, row in zip(preds, proba, strict=True):
        assert list(p["probabilities"]) == list(LABELS)
        np.testing.assert_allclose(list(p["probabilities"].values()), row, atol=1e-5)
        assert p["labels"] == [
            lab for lab, v, t in zip(LABELS, row, clf.thresholds_, strict=True) if v >= t
        ]
        assert list(p["ekman_probabilities"]) == list(EKMAN_LABELS)
        assert p["ekman"] == max(p["ekman_probabilities"], key=p["ekman_probabilities"].get)
    assert "gratitude" in preds[0]["labels"] and preds[0]["ekman"] == "joy"
    assert "anger" in preds[1]["labels"] and preds[1]["ekman"] == "anger"


def test_explain_tokens_and_attention(client, clf):
    r = client.post("/v1/explain", json={"text": "so happy and glad", "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tokens"] == ["so", "happy", "and", "glad"]
    assert len(body["attention"]) == 4 and sum(body["attention"]) == pytest.approx(1, abs=1e-4)
    assert len(body["top"]) == 3
    assert body["top"][0]["probability"] >= body["top"][1]["probability"]
    assert body["top"][0]["label"] == "joy" and body["ekman"] == "joy"
    assert body["labels"] == clf.explain("so happy and glad")["labels"]
    assert list(body["probabilities"]) == list(LABELS)


def test_openapi_and_docs_are_local(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/explain", "/v1/labels", "/healthz", "/metrics"} <= set(
        spec["paths"]
    )
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert not EXTERNAL.search(html), f"{page} references an external host"
        for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert asset.startswith("/docs-assets/")
            assert client.get(asset).status_code == 200
    assert '"validatorUrl": null' in client.get("/docs").text


def test_page_and_assets_served_locally(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assets = re.findall(r'(?:src|href)="(static/[^"]+)"', html)
    assert sorted(assets) == ["static/app.js", "static/style.css"]
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{name} references an external host"
    for asset in assets:
        a = client.get("/" + asset)
        assert a.status_code == 200 and a.text == (STATIC_DIR / asset[7:]).read_text()
    assert 'id="text"' in html and 'id="analyse"' in html


# --------------------------------------------------------------------------- limits
def test_too_many_texts_is_413(client):
    _is_json_error(client.post("/v1/predict", json={"texts": ["a"] * 5}), 413)
    assert client.post("/v1/predict", json={"texts": ["a"] * 4}).status_code == 200


def test_too_long_text_is_413(client):
    r = client.post("/v1/predict", json={"texts": ["ok", "x" * 201]})
    _is_json_error(r, 413)
    assert "texts[1]" in r.json()["detail"]
    _is_json_error(client.post("/v1/explain", json={"text": "x" * 201}), 413)
    assert client.post("/v1/explain", json={"text": "x" * 200}).status_code == 200


def test_body_over_limit_is_413_declared_or_chunked(client):
    body = json.dumps({"texts": ["a" * 150] * 200}).encode()
    _is_json_error(client.post("/v1/predict", content=body, headers=_JSON), 413)

    def chunks():  # no Content-Length: the guard must count what arrives
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    _is_json_error(client.post("/v1/predict", content=chunks(), headers=_JSON), 413)


def test_create_app_checks_its_arguments(tmp_path, tiny_model_dir):
    with pytest.raises(ModelError, match="not found"):
        create_app(tmp_path / "missing")
    with pytest.raises(ConfigError, match="max_texts"):
        create_app(tiny_model_dir, max_texts=0)


# ----------------------------------------------------------------------- bad inputs
_JSON = {"content-type": "application/json"}
BAD_PREDICT = {
    "invalid JSON": (b'{"texts": ["a",', _JSON, 400),
    "not JSON at all": (b"hello", _JSON, 400),
    "texts is a string": (b'{"texts": "hello"}', _JSON, 422),
    "texts holds an int": (b'{"texts": ["ok", 3]}', _JSON, 422),
    "texts holds null": (b'{"texts": [null]}', _JSON, 422),
    "texts is null": (b'{"texts": null}', _JSON, 422),
    "texts missing": (b'{"text": ["a"]}', _JSON, 422),
    "body is a list": (b'["a", "b"]', _JSON, 422),
    "body is a number": (b"42", _JSON, 422),
    "empty list": (b'{"texts": []}', _JSON, 422),
    "empty body": (b"", _JSON, 422),
    "non-UTF-8 bytes": (b'{"texts": ["caf\xe9 \xff"]}', _JSON, 400),
    "10 MB body": (b'{"texts": ["' + b"a" * 10_000_000 + b'"]}', _JSON, 413),
    "plain text content type": (b'{"texts": ["a"]}', {"content-type": "text/plain"}, 422),
    "nested lists": (b'{"texts": [["a"]]}', _JSON, 422),
}
BAD_EXPLAIN = {
    "text is an int": (b'{"text": 5}', _JSON, 422),
    "text is a list": (b'{"text": ["a"]}', _JSON, 422),
    "top_k zero": (b'{"text": "a", "top_k": 0}', _JSON, 422),
    "top_k too big": (b'{"text": "a", "top_k": 29}', _JSON, 422),
    "top_k a word": (b'{"text": "a", "top_k": "many"}', _JSON, 422),
    "invalid JSON": (b"{text: a}", _JSON, 400),
    "non-UTF-8 bytes": (b'{"text": "\xc3\x28"}', _JSON, 400),
    "lone surrogate escape": (b'{"text": "abc\\ud800def"}', _JSON, 422),
}


def test_lone_surrogate_in_predict_is_422(client):
    r = client.post("/v1/predict", content=b'{"texts": ["ok", "x\\udfff"]}', headers=_JSON)
    _is_json_error(r, 422)
    assert "texts[1]" in r.text


@pytest.mark.parametrize("name", list(BAD_PREDICT))
def test_bad_predict_input_is_a_json_4xx(client, name):
    body, headers, status = BAD_PREDICT[name]
    _is_json_error(client.post("/v1/predict", content=body, headers=headers), status)


@pytest.mark.parametrize("name", list(BAD_EXPLAIN))
def test_bad_explain_input_is_a_json_4xx(client, name):
    body, headers, status = BAD_EXPLAIN[name]
    _is_json_error(client.post("/v1/explain", content=body, headers=headers), status)


def test_unknown_path_and_wrong_method_are_json(client):
    _is_json_error(client.get("/v2/nothing"), 404)
    _is_json_error(client.get("/v1/predict"), 405)


def test_still_serving_after_bad_input(client):
    for body, headers, _ in [*BAD_PREDICT.values(), *BAD_EXPLAIN.values()]:
        assert client.post("/v1/predict", content=body, headers=headers).status_code < 500
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/predict", json={"texts": ["thanks"]}).status_code == 200


def test_unexpected_error_is_a_json_500(tiny_model_dir, monkeypatch):
    app = create_app(tiny_model_dir)

    def boom(texts):
        raise RuntimeError("kaput")

    monkeypatch.setattr(app.state.classifier, "predict_proba", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/predict", json={"texts": ["a"]})
        assert r.status_code == 500 and r.json() == {
            "error": "internal_server_error",
            "detail": "internal server error",
        }
        assert 'status="500"' in c.get("/metrics").text


# -------------------------------------------------------------------------- metrics
def test_metrics_count_requests_by_path_and_status(client):
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/v1/predict", json={"texts": ["hello"]})
    client.post("/v1/predict", json={"texts": []})
    client.post("/v1/predict", json={"texts": ["a"] * 9})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text
    ok = dict(method="POST", path="/v1/predict", status="200")
    assert _counter(after, **ok) - _counter(before, **ok) == 3
    bad = dict(method="POST", path="/v1/predict", status="422")
    assert _counter(after, **bad) - _counter(before, **bad) == 1
    big = dict(method="POST", path="/v1/predict", status="413")
    assert _counter(after, **big) - _counter(before, **big) == 1
    assert "# TYPE emobalance_http_request_duration_seconds histogram" in after
    assert 'emobalance_http_request_duration_seconds_bucket{le="0.005",method="POST"' in after
    assert "emobalance_texts_total" in after and "process_resident_memory_bytes" in after
    client.get("/no/such/page/123")
    assert _counter(client.get("/metrics").text, path="other", status="404") >= 1


# ------------------------------------------------------------------------------ CLI
@pytest.fixture
def torch_threads(monkeypatch):
    """Records ``torch.set_num_threads`` calls instead of changing this test process."""
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


def test_cli_serve_missing_model_is_one_line_exit_2(tmp_path, capsys, monkeypatch, torch_threads):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started"))
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tmp_path / "nope")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model directory not found" in err
    assert err.count("\n") == 1


def test_cli_serve_passes_options_to_uvicorn(tiny_model_dir, monkeypatch, torch_threads):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tiny_model_dir), "--port", "8123", "--max-texts", "7",
              "--no-access-log", "--threads", "2"])  # fmt: skip
    assert exc.value.code == 0
    assert torch_threads == [2]
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["access_log"] is False
    assert seen["app"].state.limits["max_texts"] == 7


def test_cli_serve_port_in_use_is_one_line_exit_2(
    tiny_model_dir, capsys, monkeypatch, torch_threads
):
    import socket

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exc:
            main(["serve", str(tiny_model_dir), "--port", str(port)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: 127.0.0.1:{port}: cannot listen") and err.count("\n") == 1
