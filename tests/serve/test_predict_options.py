"""``/v1/predict``'s optional fields: long_text / aggregate / window, top_k and view; a
request without them is answered as before, to the byte."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient

from emobalance.labels import EKMAN_LABELS, LABELS, SENTIMENT_LABELS, collapse_probabilities
from emobalance.models.reference import EmotionClassifier
from emobalance.serve import create_app

TEXTS = ["thanks so grateful", "furious rage", "happy glad yay. furious rage!"]


@pytest.fixture(scope="module")
def clf(tiny_model_dir):
    return EmotionClassifier.load(tiny_model_dir)


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    with TestClient(create_app(tiny_model_dir)) as c:
        yield c


def _round(values):
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


def test_a_request_without_the_new_fields_gets_the_old_answer_to_the_byte(client, clf):
    r = client.post("/v1/predict", json={"texts": TEXTS})
    assert r.status_code == 200, r.text
    proba = clf.predict_proba(TEXTS)
    ekman = collapse_probabilities(proba, "ekman")
    want = {"predictions": [
        {"labels": [LABELS[j] for j in np.flatnonzero(proba[i] >= clf.thresholds_)],
         "probabilities": dict(zip(LABELS, _round(proba[i]), strict=True)),
         "ekman": EKMAN_LABELS[int(np.argmax(ekman[i]))],
         "ekman_probabilities": dict(zip(EKMAN_LABELS, _round(ekman[i]), strict=True))}
        for i in range(len(TEXTS))
    ]}  # fmt: skip
    assert r.content == json.dumps(want, separators=(",", ":")).encode()


def test_top_k_adds_top_and_the_sentiment_group(client, clf):
    r = client.post("/v1/predict", json={"texts": TEXTS, "top_k": 3})
    assert r.status_code == 200, r.text
    recs = clf.predict_records(TEXTS, top_k=3)
    sentiment = collapse_probabilities(clf.predict_proba(TEXTS), "sentiment")
    for p, rec, s in zip(r.json()["predictions"], recs, sentiment, strict=True):
        assert [t["label"] for t in p["top"]] == [n for n, _ in rec["top"]]
        np.testing.assert_allclose([t["probability"] for t in p["top"]],
                                   [v for _, v in rec["top"]], atol=1e-6)  # fmt: skip
        assert p["labels"] == rec["labels"] and list(p["probabilities"]) == list(LABELS)
        assert p["sentiment"] == rec["sentiment"] in SENTIMENT_LABELS
        assert list(p["sentiment_probabilities"]) == list(SENTIMENT_LABELS)
        np.testing.assert_allclose(list(p["sentiment_probabilities"].values()), s, atol=1e-6)
        assert p["ekman"] == rec["ekman"]


@pytest.mark.parametrize("view, names", [("ekman", EKMAN_LABELS), ("sentiment", SENTIMENT_LABELS)])
def test_view_gives_labels_probabilities_and_top_in_the_groups(client, clf, view, names):
    r = client.post("/v1/predict", json={"texts": TEXTS, "view": view})
    assert r.status_code == 200, r.text
    recs = clf.predict_records(TEXTS, view=view)
    for p, rec in zip(r.json()["predictions"], recs, strict=True):
        assert list(p["probabilities"]) == list(names) and p["labels"] == rec["labels"]
        np.testing.assert_allclose(list(p["probabilities"].values()),
                                   list(rec["probabilities"].values()), atol=1e-6)  # fmt: skip
        assert len(p["top"]) == len(names)  # no top_k: the whole view, most probable first
        assert list(p["ekman_probabilities"]) == list(EKMAN_LABELS)


def test_long_text_fields(client, clf):
    for body, kw in (
        ({"long_text": "sentences"}, {"long_text": "sentences"}),
        ({"long_text": "sentences", "aggregate": "mean"},
         {"long_text": "sentences", "aggregate": "mean"}),
        ({"long_text": "windows", "window": 2}, {"long_text": "windows", "window": 2}),
    ):  # fmt: skip
        r = client.post("/v1/predict", json={"texts": TEXTS, **body})
        assert r.status_code == 200, r.text
        proba = clf.predict_proba(TEXTS, **kw)
        got = [[p["probabilities"][lab] for lab in LABELS] for p in r.json()["predictions"]]
        np.testing.assert_allclose(got, proba, atol=1e-6)
        assert "top" not in r.json()["predictions"][0]  # the answer's shape is the old one
    # the joy sentence and the anger sentence both count with max
    r = client.post("/v1/predict", json={"texts": TEXTS[2:], "long_text": "sentences"})
    assert {"joy", "anger"} <= set(r.json()["predictions"][0]["labels"])


@pytest.mark.parametrize(
    "body, detail",
    [
        ({"long_text": "pages"}, "long_text: Input should be 'truncate', 'sentences' or"),
        ({"aggregate": "mean"}, "aggregate: Value error, needs long_text sentences or windows"),
        ({"long_text": "sentences", "window": 4}, "window: Value error, needs long_text windows"),
        ({"long_text": "windows", "window": 1}, "window: Input should be greater than or equal"),
        ({"top_k": 0}, "top_k: Input should be greater than or equal to 1"),
        ({"top_k": "3"}, "top_k: Input should be a valid integer"),
        ({"view": "plutchik"}, "view: Input should be 'labels', 'ekman' or 'sentiment'"),
    ],
)
def test_bad_fields_are_a_json_422(client, body, detail):
    r = client.post("/v1/predict", json={"texts": ["a"], **body})
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"} and detail in r.json()["detail"], r.json()


def test_the_fields_for_every_kind(model_kind_paths):
    from emobalance.models.registry import load_model

    for kind, path in model_kind_paths.items():
        model = load_model(path, device="cpu")
        with TestClient(create_app(path)) as c:
            r = c.post("/v1/predict", json={"texts": TEXTS, "top_k": 2, "view": "ekman",
                                            "long_text": "sentences"})  # fmt: skip
            assert r.status_code == 200, (kind, r.text)
            recs = model.predict_records(TEXTS, top_k=2, view="ekman", long_text="sentences")
            got = r.json()["predictions"]
            assert [p["labels"] for p in got] == [rec["labels"] for rec in recs], kind
            assert [[t["label"] for t in p["top"]] for p in got] == [
                [n for n, _ in rec["top"]] for rec in recs
            ], kind


def test_a_calibrated_model_and_thresholds_given_at_start_up(tiny_model_dir, clf):
    from emobalance.models.calibration import PlattCalibration

    cal = PlattCalibration(np.full(28, 0.5), np.full(28, -0.5))
    model = clf.with_calibration(cal).with_thresholds({"grief": 0.0})
    with TestClient(create_app(model, model_name="tiny-cal")) as c:
        assert c.get("/healthz").json()["model"] == "tiny-cal"
        r = c.post("/v1/predict", json={"texts": TEXTS})
        got = [[p["probabilities"][lab] for lab in LABELS] for p in r.json()["predictions"]]
        np.testing.assert_allclose(got, cal.apply(clf.predict_proba(TEXTS)), atol=1e-6)
        assert all("grief" in p["labels"] for p in r.json()["predictions"])
        ex = c.post("/v1/explain", json={"text": TEXTS[0]}).json()
        assert "grief" in ex["labels"]
        np.testing.assert_allclose([ex["probabilities"][lab] for lab in LABELS], got[0],
                                   atol=1e-5)  # fmt: skip
