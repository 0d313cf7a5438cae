"""The web page's script (static/app.js) run under node against a fake DOM and the answers of
real apps: it builds its view selector and group boxes from v1/labels (GoEmotions' and a
5-label schema's). Skipped without node; the headless-browser test covers the real page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the `serve` extra")
pytest.importorskip("httpx", reason="TestClient needs httpx")

from fastapi.testclient import TestClient

from emobalance.serve import create_app
from emobalance.serve.app import STATIC_DIR

from .test_own_labels import FIVE, FIVE_GROUPED, Spelled

HARNESS = Path(__file__).with_name("page_harness.js")
NODE = shutil.which("node")


def run_page(tmp_path: Path, model, view: str | None = None) -> dict:
    """What the page shows after one "Analyse" of a text (the answers come from ``model``)."""
    with TestClient(create_app(model)) as c:
        labels = c.get("/v1/labels").json()
        body = {"texts": ["joy=0.9 fear=0.3"], "top_k": 5, "view": view or "labels"}
        predict = c.post("/v1/predict", json=body).json()
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "predict.json").write_text(json.dumps(predict))
    out = subprocess.run(
        [NODE, str(HARNESS), str(STATIC_DIR / "app.js"), str(tmp_path / "labels.json"),
         str(tmp_path / "predict.json"), *([view] if view else [])],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_page_of_a_goemotions_model_offers_ekman_and_sentiment(tmp_path):
    shown = run_page(tmp_path, Spelled())
    assert shown["views"] == ["labels", "ekman", "sentiment"]
    assert not shown["ekmanHidden"] and shown["ekman"] == "joy"
    assert shown["requests"][0]["body"] == {"texts": ["hello"], "top_k": 5, "view": "labels"}
    assert len(shown["bars"]) == 28 and shown["bars"][0] == "joy"
    assert not shown["resultHidden"] and shown["status"] == ""


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_page_of_a_five_label_model_offers_its_labels_only(tmp_path):
    shown = run_page(tmp_path, Spelled(FIVE))
    assert shown["views"] == ["labels"]
    assert shown["ekmanHidden"] and shown["sentimentHidden"]
    assert "5 labels of five" in shown["lead"]
    assert shown["bars"] == ["joy", "fear", "anger", "trust", "neutral"]
    grouped = run_page(tmp_path, Spelled(FIVE_GROUPED), view="valence")
    assert grouped["views"] == ["labels", "valence"]
    # the chosen view is asked for, top_k capped at its 3 groups
    assert grouped["requests"][0]["body"] == {"texts": ["hello"], "top_k": 3, "view": "valence"}
    assert grouped["bars"] == ["good", "bad", "none"]
