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


# ------------------------------------------------------------ a model of its own labels
_CUES = {"up": ["happy", "glad", "yay"], "down": ["sad", "tears", "gloomy"],
         "mad": ["furious", "angry", "rage"], "flat": ["table", "monday", "report"]}  # fmt: skip


def _own_data(n, seed):
    import numpy as np

    from emobalance.data.dataset import EmotionDataset
    from emobalance.labels import LabelSchema

    schema = LabelSchema(list(_CUES), single_label=True, name="moods")
    rng = np.random.default_rng(seed)
    names = list(_CUES)
    texts = [" ".join([*rng.choice(_CUES[names[i % 4]], 2), "the"]) for i in range(n)]
    labels = np.eye(4, dtype=np.uint8)[[i % 4 for i in range(n)]]
    return EmotionDataset(texts, labels, source="user", schema=schema)


@pytest.fixture(scope="module")
def own_packaged(tmp_path_factory):
    from emobalance.models.reference import EmotionClassifier

    root = tmp_path_factory.mktemp("own_pkg")
    ref = EmotionClassifier(
        model=dict(vectors=None, pretrained=False, embedding_dim=16, conv_channels=8,
                   lstm_hidden=8, attention_dim=8, max_len=20, min_freq=1),
        train=dict(epochs=3, batch_size=8, lr=0.02, mixed_precision="off", progress=False),
    ).fit(_own_data(64, 0), _own_data(32, 1))  # fmt: skip
    src = ref.save(root / "ref")
    splits = (_own_data(32, 1), _own_data(40, 2))
    out = root / "mine"
    train = _own_data(64, 0)  # a (train, dev, test) triple, as a run holds it: train unused
    m = package_model(src, out, max_f1_drop=1.0, splits=lambda: (train, *splits))
    return src, out, splits, m


def test_a_model_of_its_own_labels_packages_on_its_splits(own_packaged):
    _src, out, (dev, test), m = own_packaged
    assert m["label_schema"] == dev.schema.to_dict()
    assert m["polarity_guard"].startswith("skipped")
    assert "polarity_guard_accuracy" not in m["metrics"]
    clf = load_default(out)  # the --out folder loads, checked against its manifest
    assert clf.labels_ == dev.schema and clf.calibration_ is not None
    assert clf.evaluate(test)["macro_f1"] == pytest.approx(
        m["metrics"]["test"]["macro_f1"], abs=1e-4
    )
    card = (out / CARD).read_text(encoding="utf-8")
    assert all(f"| {label} |" in card for label in dev.schema.names)
    assert "polarity guard was skipped" in card and "Reddit" not in card
    assert "4 sigmoid outputs" in card and "test accuracy" in card


def test_packaging_refuses_splits_of_another_schema(own_packaged, tmp_path):
    src, _out, (dev, _test), _m = own_packaged
    from emobalance.data.dataset import EmotionDataset

    other = EmotionDataset(["a"], [[1] + [0] * 27])  # GoEmotions
    with pytest.raises(ModelError) as e:
        package_model(src, tmp_path / "x", splits=(dev, other))
    assert "\n" not in str(e.value) and "moods (4 labels" in str(e.value)
    assert "goemotions (28 labels" in str(e.value)


def test_a_packaged_folder_loads_by_its_path_checked(own_packaged, tmp_path):
    import shutil

    from emobalance.models.registry import find_kind, load_model

    _, out, (dev, _), _m = own_packaged
    assert find_kind(out) == "onnx"
    model = load_model(out)
    assert model.labels_ == dev.schema
    assert len(model.predict(["so happy"])[0]) == 1  # single-label: one class
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    data = bytearray((bad / MODEL_FILE).read_bytes())
    data[-1] ^= 1
    (bad / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch") as e:
        load_model(bad)
    assert "\n" not in str(e.value)
