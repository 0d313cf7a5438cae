"""Models of their own label schema: what the contract checks (test_contract.py) leave out.

Folders of earlier versions (only GoEmotions' ``labels``) still load as GoEmotions; a bad
``label_schema`` is one line; thresholds, calibration and views are keyed by the model's
schema; fit refuses a dev of another schema and warns for labels without dev positives.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from emobalance.errors import ConfigError, DataError, ModelError
from emobalance.labels import GOEMOTIONS
from emobalance.models.registry import load_model

TEXTS = ["so happy and glad", "furious rage", "thanks a lot", ""]


def _strip_schema(kind, src, dst):
    """A copy of a saved GoEmotions model as an earlier version wrote it: no label_schema."""
    if kind == "onnx":
        import onnx

        from emobalance.models.onnx import set_metadata

        proto = onnx.load(str(src))
        set_metadata(proto, {"label_schema": None})
        onnx.save(proto, str(dst))
        return dst
    shutil.copytree(src, dst)
    name = "emobalance_transformer.json" if kind == "transformer" else "config.json"
    cfg = json.loads((dst / name).read_text())
    del cfg["label_schema"]
    cfg.pop("threshold_objective", None)
    (dst / name).write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer", "onnx"])
def test_folders_of_earlier_versions_load_as_goemotions(kind, model_kind_paths, tmp_path):
    pytest.importorskip("onnx")
    src = model_kind_paths[kind]
    old = _strip_schema(kind, src, tmp_path / ("old.onnx" if kind == "onnx" else "old"))
    m, new = load_model(old, device="cpu"), load_model(src, device="cpu")
    assert m.labels_ is GOEMOTIONS and m.threshold_objective == "f1"
    np.testing.assert_array_equal(m.predict_proba(TEXTS), new.predict_proba(TEXTS))
    np.testing.assert_array_equal(m.thresholds_, new.thresholds_)


def _refused(path, *fragments):
    with pytest.raises(ModelError) as exc:
        load_model(path, device="cpu")
    msg = str(exc.value)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer"])
def test_a_bad_label_schema_is_one_line(kind, own_kind_paths, tmp_path):
    name = "emobalance_transformer.json" if kind == "transformer" else "config.json"
    cases = [
        ({"label_schema": {"labels": ["a", "A"]}}, "'label_schema'", "given twice"),
        ({"label_schema": {"labels": "abc", "nope": 1}}, "unknown label-schema field"),
        ({"labels": ["happy", "angry", "sad", "thankful", "calm"]}, "label list differs", "five"),
        ({"label_schema": None, "labels": ["happy", "angry", "sad", "calm", "thankful"]},
         *(("lack admiration",) if kind == "transformer" else ("label list differs",
                                                                "goemotions"))),
        ({"threshold_objective": "accuracy"}, "threshold_objective", "'accuracy'"),
    ]  # fmt: skip
    for i, (change, *fragments) in enumerate(cases):
        d = tmp_path / f"m{i}"
        shutil.copytree(own_kind_paths["five"][kind], d)
        cfg = json.loads((d / name).read_text())
        if kind == "tfidf" and "threshold_objective" in change:  # a constructor parameter
            cfg["params"].update(change)
        else:
            cfg.update(change)
        (d / name).write_text(json.dumps(cfg))
        _refused(d, *fragments)


def test_an_onnx_file_with_a_bad_schema_is_one_line(own_kind_paths, tmp_path):
    onnx = pytest.importorskip("onnx")
    from emobalance.models.onnx import set_metadata

    proto = onnx.load(str(own_kind_paths["three"]["onnx"]))
    set_metadata(proto, {"label_schema": json.dumps({"labels": ["pos", "neg"]})})
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    _refused(tmp_path / "bad.onnx", "emobalance.labels", "label list differs")


def test_fit_refuses_a_dev_of_another_schema(own_toy, own_schemas):
    from emobalance.models.baselines import TfidfBaseline

    five, three = own_schemas["five"], own_schemas["three"]
    with pytest.raises(DataError) as exc:
        TfidfBaseline(min_df=1).fit(own_toy(five, 20, 0), own_toy(three, 9, 1))
    msg = str(exc.value)
    assert "\n" not in msg and "five (5 labels" in msg and "three (3 labels" in msg


def test_a_label_without_dev_positives_keeps_0_5_with_a_warning(own_toy, own_schemas, caplog):
    from emobalance.models.baselines import TfidfBaseline

    five = own_schemas["five"]
    dev = own_toy(five, 20, 1)
    dev = dev.replace(labels=np.where(np.arange(5) == 3, 0, dev.labels).astype(np.uint8))
    with caplog.at_level(logging.WARNING, logger="emobalance"):
        m = TfidfBaseline(min_df=1).fit(own_toy(five, 30, 0), dev)
    lines = [r.getMessage() for r in caplog.records if "dev has no example" in r.getMessage()]
    assert lines == ["dev has no example of calm: threshold 0.5 (untuned)"]
    assert m.thresholds_[3] == np.float32(0.5)
    assert m.metrics_["dev"]["per_label"]["calm"]["support"] == 0


def test_an_unknown_objective_is_refused():
    from emobalance.models.baselines import TfidfBaseline
    from emobalance.models.reference import EmotionClassifier

    for make in (TfidfBaseline, EmotionClassifier):
        with pytest.raises(ConfigError, match=r"^threshold_objective: expected one of f1, "):
            make(threshold_objective="accuracy")


def test_user_thresholds_are_keyed_by_the_models_labels(own_kind_paths, tmp_path):
    m = load_model(own_kind_paths["five"]["tfidf"])
    th = m.with_thresholds({"Happy": 0.1}).thresholds_
    assert th[0] == np.float32(0.1) and (th[1:] == m.thresholds_[1:]).all()
    assert (m.with_thresholds([0.3] * 5).thresholds_ == np.float32(0.3)).all()
    with pytest.raises(ConfigError, match="unknown label 'grief'; expected one of happy"):
        m.with_thresholds({"grief": 0.1})
    with pytest.raises(ConfigError, match="must be a list of 5 numbers"):
        m.with_thresholds([0.3] * 28)
    f = tmp_path / "t.json"
    f.write_text('{"calm": 0.2}')
    assert m.with_thresholds(f).thresholds_[3] == np.float32(0.2)


@pytest.mark.parametrize("kind", ["tfidf", "onnx"])
def test_calibration_is_keyed_by_the_models_labels(kind, own_kind_paths, own_toy, tmp_path):
    pytest.importorskip("onnx")
    from emobalance.models.calibration import PlattCalibration

    m = load_model(own_kind_paths["five"][kind])
    dev = own_toy(m.labels_, 30, 5)
    cal = PlattCalibration.fit(dev.labels, m.predict_proba(dev.texts))  # no schema given
    out = m.with_calibration(cal).save(tmp_path / ("c.onnx" if kind == "onnx" else "c"))
    if kind == "tfidf":
        params = json.loads((out / "calibration.json").read_text())["params"]
        assert list(params) == list(m.labels_.names)
    back = load_model(out)
    assert back.calibration_ == cal and back.calibration_.schema == m.labels_
    np.testing.assert_array_equal(back.predict_proba(TEXTS), cal.apply(m.predict_proba(TEXTS)))
    with pytest.raises(ConfigError, match="calibration: 28 labels, the model has 5"):
        m.with_calibration(PlattCalibration.identity())


def test_views_come_from_the_schema(own_kind_paths):
    five = load_model(own_kind_paths["five"]["tfidf"])
    three = load_model(own_kind_paths["three"]["tfidf"])
    with pytest.raises(ConfigError, match=r"^view: expected labels or valence, got 'ekman'$"):
        five.predict_records(TEXTS, view="ekman")
    with pytest.raises(ConfigError, match=r"^view: expected labels, got 'valence'$"):
        three.predict_records(TEXTS, view="valence")
    proba = five.predict_proba(TEXTS)
    recs = five.predict_records(TEXTS, view="valence")
    pos = proba[:, [0, 3, 4]].max(1)
    assert [r["probabilities"]["positive"] for r in recs] == pytest.approx(pos.tolist())
    on = proba >= five.thresholds_
    assert [("positive" in r["labels"]) for r in recs] == on[:, [0, 3, 4]].any(1).tolist()
    assert all(r["valence"] in ("positive", "negative") for r in recs)
    assert all(set(r) == {"labels", "top", "probabilities"} for r in three.predict_records(TEXTS))
    assert all(len(r["labels"]) == 1 for r in three.predict_records(TEXTS))


def test_the_networks_have_one_output_per_label(own_kind_paths):
    for name, n in (("five", 5), ("three", 3)):
        assert load_model(own_kind_paths[name]["reference"]).network_.classifier.out_features == n
        tfm = load_model(own_kind_paths[name]["transformer"], device="cpu")
        assert tfm.network_.head.out_features == n
