"""`emobalance package`: export, calibrate, measure and package a default model."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from emobalance.errors import ModelError
from emobalance.io import sha256_file
from emobalance.jobs import evaluate_model
from emobalance.labels import LABELS
from emobalance.models.default import CARD, MANIFEST, MODEL_FILE, load_default
from emobalance.packaging import package_model

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def packaged(data_dir, model_kind_paths, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "default_model"
    m = package_model(model_kind_paths["reference"], out, recipe="tests", max_f1_drop=1.0)
    return out, m


def test_the_folder_is_whole_and_loads(packaged):
    out, m = packaged
    assert sorted(p.name for p in out.iterdir()) == sorted([CARD, MANIFEST, MODEL_FILE])
    assert json.loads((out / MANIFEST).read_text()) == m
    assert m["sha256"] == sha256_file(out / MODEL_FILE) and m["recipe"] == "tests"
    clf = load_default(out)
    assert clf.calibration_ is not None  # calibrated on dev
    # the manifest's figures are the packaged file's own
    assert evaluate_model(clf, "test")["macro_f1"] == pytest.approx(
        m["metrics"]["test"]["macro_f1"], abs=1e-4
    )


def test_the_card_is_written_from_the_measured_figures(packaged):
    out, m = packaged
    card = (out / CARD).read_text(encoding="utf-8")
    assert f"{m['metrics']['test']['macro_f1']:.4f}" in card
    assert f"{m['metrics']['polarity_guard_accuracy']:.4f}" in card
    assert all(f"| {label} |" in card for label in LABELS)
    assert m["sha256"] in card


def test_a_model_that_fails_the_bar_leaves_the_old_one(packaged, model_kind_paths):
    out, m = packaged
    with pytest.raises(ModelError, match=r"loses .* test macro-F1") as e:
        package_model(model_kind_paths["reference"], out, max_f1_drop=-1.0)
    assert "\n" not in str(e.value)
    assert sha256_file(out / MODEL_FILE) == m["sha256"]
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temp left


def test_only_the_reference_network_is_packaged(data_dir, model_kind_paths, tmp_path):
    with pytest.raises(ModelError, match="only that model is packaged"):
        package_model(model_kind_paths["tfidf"], tmp_path / "x")
