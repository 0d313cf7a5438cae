"""``emobalance serve MODEL`` for every model kind: a reference folder, its ``.onnx`` export, a
TF-IDF folder and a transformer folder (a tiny BERT built locally with random weights)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient

from emobalance.labels import EKMAN, LABELS
from emobalance.models.registry import load_model
from emobalance.serve import create_app

METHOD = {
    "reference": "attention",
    "onnx": "attention",
    "tfidf": "leave_one_token_out",
    "transformer": "leave_one_token_out",
}


@pytest.mark.parametrize("kind", list(METHOD))
def test_predict_and_explain_for_every_kind(kind, model_kind_paths):
    path = model_kind_paths[kind]
    model = load_model(path, device="cpu")
    texts = ["thanks so much", "I am furious", "so happy and glad"]
    with TestClient(create_app(path)) as client:
        assert client.get("/healthz").json()["model"] == path.name
        r = client.post("/v1/predict", json={"texts": texts})
        assert r.status_code == 200, r.text
        preds = r.json()["predictions"]
        proba = model.predict_proba(texts)
        got = np.array([[p["probabilities"][lab] for lab in LABELS] for p in preds])
        np.testing.assert_allclose(got, proba, atol=1e-5)
        assert [p["labels"] for p in preds] == model.predict(texts)

        r = client.post("/v1/explain", json={"text": "so happy and glad", "top_k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == METHOD[kind]
        assert len(body["tokens"]) == len(body["attention"]) == 4
        assert sum(body["attention"]) == pytest.approx(1, abs=1e-4)
        assert len(body["top"]) == 3 and body["ekman"] in EKMAN
        labels = client.get("/v1/labels").json()["thresholds"]
        np.testing.assert_allclose([labels[lab] for lab in LABELS], model.thresholds_, atol=1e-6)


def test_an_object_without_the_contract_is_refused():
    from emobalance.errors import ModelError

    class NoExplain:
        thresholds_ = np.full(28, 0.5, np.float32)

        def predict_proba(self, texts):
            return np.zeros((len(texts), 28), np.float32)

    with pytest.raises(ModelError, match="no explain"):
        create_app(NoExplain())


def test_cli_serve_any_kind_loads_before_binding(model_kind_paths, monkeypatch):
    import torch
    import uvicorn

    from emobalance.cli import main

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    seen = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(app))
    for kind in ("onnx", "tfidf", "transformer"):
        with pytest.raises(SystemExit) as exc:
            main(["serve", str(model_kind_paths[kind]), "--port", "0"])
        assert exc.value.code == 0
        assert seen[-1].state.classifier.kind == kind
