"""Label maps and cross-dataset evaluation for models of their own label schema (5 labels,
single-label): members resolved by name against the model's schema, maps of other labels
refused in one line naming both schemas."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance import evaluate_external
from emobalance.errors import ConfigError
from emobalance.evaluation import LabelMap, get_label_map, read_label_map
from emobalance.labels import GOEMOTIONS, LabelSchema

from .conftest import ScriptedModel

FIVE = LabelSchema(["joy", "anger", "fear", "trust", "neutral"], name="five")
SINGLE = LabelSchema(["pos", "neg", "other"], name="three", single_label=True)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_map_from_a_five_label_schema_scores_by_name():
    lm = LabelMap("mine", {"good": ("joy", "trust"), "bad": ("anger", "fear")}, FIVE)
    proba = np.array([[0.9, 0.1, 0.2, 0.3, 0.0], [0.1, 0.4, 0.6, 0.2, 0.9]], np.float32)
    np.testing.assert_allclose(lm.scores(proba), [[0.9, 0.2], [0.2, 0.6]], rtol=1e-6)
    th = np.array([0.5, 0.3, 0.7, 0.5, 0.5], np.float32)
    assert lm.predict_matrix(proba, th).tolist() == [[1, 0], [0, 1]]
    assert lm.predict(proba) == ["good", "bad"]
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        lm.scores(np.zeros((1, 28), np.float32))


def test_builtin_goemotions_map_with_a_five_label_model_is_one_line_naming_both():
    with pytest.raises(ConfigError) as info:
        get_label_map("ekman", FIVE)
    message = str(info.value)
    assert "\n" not in message
    assert "goemotions (28 labels" in message and "five (5 labels" in message
    with pytest.raises(ConfigError, match="five"):
        get_label_map(LabelMap("x", {"good": ("joy",)}), FIVE)  # a GoEmotions LabelMap
    # and the other way: a five-label map with a GoEmotions model
    with pytest.raises(ConfigError, match="goemotions"):
        LabelMap("x", {"good": ("joy", "trust")}, FIVE).check_model(ScriptedModel())
    assert get_label_map("ekman", GOEMOTIONS).labels[0] == "anger"  # GoEmotions unchanged


def test_yaml_map_members_resolved_against_the_models_schema(tmp_path):
    path = _write(tmp_path, "map.yaml", "good: [Joy, trust]\nbad:\n  - anger\n  - fear\n")
    lm = read_label_map(path, FIVE)
    assert lm.source is FIVE and lm.to_dict() == {
        "good": ["joy", "trust"],
        "bad": ["anger", "fear"],
    }
    # trust is no GoEmotions label: the same file is refused for a GoEmotions model
    with pytest.raises(ConfigError, match=r"map.yaml: line 1: .*unknown GoEmotions label 'trust'"):
        get_label_map(path)
    bad = _write(tmp_path, "bad.yaml", "good: [joy]\nbad: [admiration]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line 2: .*unknown five label 'admiration'"):
        get_label_map(bad, FIVE)


def test_evaluate_external_with_a_five_label_model(tmp_path):
    data = _write(
        tmp_path,
        "ext.csv",
        "text,label\n"
        "joy=0.9,positive\n"
        "trust=0.8 anger=0.3,positive\n"
        "anger=0.7,negative\n"
        "fear=0.6 joy=0.55,negative\n"  # argmax good (0.55 < 0.6: bad), see below
        "neutral=0.9,mixed\n",
    )
    lm = _write(tmp_path, "map.yaml", "positive: [joy, trust]\nnegative: [anger, fear]\n")
    model = ScriptedModel(schema=FIVE)
    m = evaluate_external(model, data, lm)
    # scores: row 4 good 0.55 < bad 0.6 -> negative; "mixed" is outside the map
    assert m["labels"] == ["positive", "negative"] and m["n_scored"] == 4
    assert m["accuracy"] == pytest.approx(1.0) and m["macro_f1"] == pytest.approx(1.0)
    assert m["gold_outside_map"] == {"mixed": 1}
    with pytest.raises(ConfigError, match="but the model speaks five"):
        evaluate_external(model, data, "polarity")


def test_evaluate_external_with_a_single_label_model_multi_label_data(tmp_path):
    data = _write(tmp_path, "multi.csv", 'text,label\npos=0.9,"good"\nneg=0.8 pos=0.6,"bad,good"\n')
    lm = _write(tmp_path, "map.yaml", "good: [pos]\nbad: [neg]\n")
    m = evaluate_external(ScriptedModel(schema=SINGLE), data, lm, multi_label=True)
    # at the 0.5 thresholds: row 1 good; row 2 good and bad
    assert m["mode"] == "multi_label" and m["micro_f1"] == pytest.approx(1.0)
    assert m["per_target"]["bad"]["tp"] == 1
