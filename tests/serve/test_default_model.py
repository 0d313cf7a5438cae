"""The HTTP service of the packaged default model (`emobalance serve` with no model)."""

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")

from fastapi.testclient import TestClient

from emobalance.serve import create_app

SAD = "I miss her so much"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("default")) as c:
        yield c


def test_it_serves_the_packaged_model(client):
    assert client.get("/healthz").json()["model"] == "default"
    r = client.post("/v1/predict", json={"texts": [SAD]})
    assert r.status_code == 200, r.text
    assert "sadness" in r.json()["predictions"][0]["labels"]


def test_explain_on_the_default_model(client):
    r = client.post("/v1/explain", json={"text": SAD, "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "attention" and len(body["tokens"]) == 5
    assert "explain" in client.get("/").text.lower()  # the web page has the explain view
