"""Serving a model of its own label schema: a GoEmotions model and a 5-label model (and a
single-label one) served side by side, each answering with its own labels and views."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient

from emobalance.errors import ModelError
from emobalance.labels import EKMAN_LABELS, LABELS, SENTIMENT_LABELS, LabelSchema
from emobalance.models.base import EmotionModel
from emobalance.serve import create_app
from emobalance.serve.app import STATIC_DIR

FIVE = LabelSchema(["joy", "anger", "fear", "trust", "neutral"], name="five")
FIVE_GROUPED = FIVE.replace(
    name="five_grouped",
    groupings={
        "valence": {"good": ["joy", "trust"], "bad": ["anger", "fear"], "none": ["neutral"]}
    },
)
SINGLE = LabelSchema(["pos", "neg", "other"], name="three", single_label=True)


class Spelled(EmotionModel):
    """A model whose text ``"joy=0.9 anger=0.2"`` gets those probabilities (0.01 elsewhere),
    over the labels of ``schema`` (None: a model of before schemas, GoEmotions' 28)."""

    kind = "spelled"

    def __init__(self, schema: LabelSchema | None = None) -> None:
        if schema is not None:
            self.labels_ = schema
        self.names = list(LABELS if schema is None else schema.names)
        self.thresholds_ = np.full(len(self.names), 0.5, dtype=np.float32)
        self.metrics_ = {}

    def _predict_proba(self, texts, batch_size=None):
        out = np.full((len(texts), len(self.names)), 0.01, dtype=np.float32)
        for i, text in enumerate(texts):
            for item in text.split():
                name, _, p = item.partition("=")
                if name in self.names and p:
                    out[i, self.names.index(name)] = float(p)
        return out

    def explain(self, text, top_k=5):
        # the shared explain of EmotionModel reads GoEmotions' labels until the model classes
        # carry schemas; this one is enough to serve: no token matters
        proba = self.predict_proba([text])[0]
        order = np.argsort(-proba, kind="stable")[:top_k]
        return {
            "tokens": text.split(),
            "attention": [0.0] * len(text.split()),
            "method": "leave_one_token_out",
            "labels": [self.names[j] for j in np.flatnonzero(proba >= self.thresholds_)],
            "top": [{"label": self.names[j], "probability": float(proba[j])} for j in order],
            "probabilities": dict(zip(self.names, map(float, proba), strict=True)),
        }

    def save(self, path):  # pragma: no cover - served in memory
        raise NotImplementedError

    @classmethod
    def load(cls, path):  # pragma: no cover
        raise NotImplementedError


@pytest.fixture(scope="module")
def clients():
    """Two apps side by side: GoEmotions' 28 labels and a 5-label schema."""
    with (
        TestClient(create_app(Spelled(), model_name="goemotions")) as go,
        TestClient(create_app(Spelled(FIVE), model_name="five")) as five,
    ):
        yield go, five


def test_side_by_side_each_answers_with_its_own_labels(clients):
    go, five = clients
    body = {"texts": ["joy=0.9 anger=0.6", "fear=0.7"]}
    a, b = go.post("/v1/predict", json=body), five.post("/v1/predict", json=body)
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    pa, pb = a.json()["predictions"], b.json()["predictions"]
    assert list(pa[0]["probabilities"]) == list(LABELS)
    assert pa[0]["labels"] == ["anger", "joy"]  # LABELS order
    assert pa[0]["ekman"] == "joy" and list(pa[0]["ekman_probabilities"]) == list(EKMAN_LABELS)
    assert list(pb[0]["probabilities"]) == list(FIVE.names)
    assert pb[0]["labels"] == ["joy", "anger"]  # the 5-label schema's order
    assert pb[1] == {
        "labels": ["fear"],
        "probabilities": {"joy": 0.01, "anger": 0.01, "fear": 0.7, "trust": 0.01, "neutral": 0.01},
    }  # no Ekman field: that schema has no ekman grouping


def test_labels_endpoint_gives_the_schema(clients):
    go, five = clients
    a, b = go.get("/v1/labels").json(), five.get("/v1/labels").json()
    assert a["labels"] == list(LABELS) and set(a["ekman"]) == set(EKMAN_LABELS)
    assert a["views"] == ["labels", "ekman", "sentiment"] and a["schema"] == "goemotions"
    assert a["groupings"]["sentiment"]["ambiguous"][0] == "realization"
    assert b["labels"] == list(FIVE.names) and "ekman" not in b
    assert b["views"] == ["labels"] and b["groupings"] == {} and b["single_label"] is False
    assert list(b["thresholds"]) == list(FIVE.names) and b["schema"] == "five"


def test_views_come_from_the_schema(clients):
    go, five = clients
    r = go.post("/v1/predict", json={"texts": ["joy=0.9 fear=0.8"], "view": "sentiment"})
    pred = r.json()["predictions"][0]
    assert list(pred["probabilities"]) == list(SENTIMENT_LABELS)
    assert pred["sentiment"] == "positive" and pred["ekman"] == "joy"

    r = five.post("/v1/predict", json={"texts": ["joy=0.9 fear=0.8"], "top_k": 2})
    pred = r.json()["predictions"][0]
    assert pred["top"] == [
        {"label": "joy", "probability": 0.9},
        {"label": "fear", "probability": 0.8},
    ]
    assert "ekman" not in pred and "sentiment" not in pred
    bad = five.post("/v1/predict", json={"texts": ["x"], "view": "ekman"})
    assert bad.status_code == 422 and "'labels'" in bad.json()["detail"]
    too_many = five.post("/v1/predict", json={"texts": ["x"], "top_k": 6})
    assert too_many.status_code == 422 and "5" in too_many.json()["detail"]
    assert five.post("/v1/explain", json={"text": "x", "top_k": 6}).status_code == 422


def test_a_grouping_of_a_custom_schema_is_a_view():
    with TestClient(create_app(Spelled(FIVE_GROUPED))) as c:
        assert c.get("/v1/labels").json()["views"] == ["labels", "valence"]
        r = c.post("/v1/predict", json={"texts": ["trust=0.7 anger=0.6"], "view": "valence"})
        pred = r.json()["predictions"][0]
        assert pred["labels"] == ["good", "bad"]
        assert pred["probabilities"] == {"good": 0.7, "bad": 0.6, "none": 0.01}
        assert pred["top"][0] == {"label": "good", "probability": 0.7}
        detail = c.post("/v1/predict", json={"texts": ["x"], "view": "ekman"}).json()["detail"]
        assert "'labels' or 'valence'" in detail


def test_single_label_model_predicts_its_most_probable_label():
    with TestClient(create_app(Spelled(SINGLE))) as c:
        r = c.post("/v1/predict", json={"texts": ["pos=0.3 neg=0.4", "pos=0.9 neg=0.8"]})
        assert [p["labels"] for p in r.json()["predictions"]] == [["neg"], ["pos"]]
        assert c.get("/v1/labels").json()["single_label"] is True


def test_explain_answers_without_an_ekman_group(clients):
    _, five = clients
    r = five.post("/v1/explain", json={"text": "joy=0.9 fear=0.3", "top_k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "ekman" not in body and body["labels"] == ["joy"]
    assert [t["label"] for t in body["top"]] == ["joy", "fear"]


def test_thresholds_of_another_width_are_refused():
    model = Spelled(FIVE)
    model.thresholds_ = np.full(28, 0.5, dtype=np.float32)
    with pytest.raises(ModelError, match="28 thresholds for five"):
        create_app(model)


def test_page_builds_its_labels_and_views_from_the_labels_endpoint():
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert 'fetch("v1/labels")' in js and "info.views" in js and "info.groupings" in js
    assert 'id="view"' in html and "view: view.value" in js
    # no label list is written into the page: the options come from the schema
    assert not re.search(r"\b(admiration|amusement|disgust)\b", js)
    assert 'id="ekman-box"' in html and 'id="sentiment-box"' in html
