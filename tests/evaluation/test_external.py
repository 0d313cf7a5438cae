"""evaluate_external on fixtures whose every number is worked out by hand (see the comments)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emobalance import evaluate_external
from emobalance.evaluation import LabelMap, read_external
from emobalance.evaluation.external import plot_confusion
from emobalance.labels import LABEL_TO_ID

from .conftest import ScriptedModel

EKMAN6 = ["anger", "disgust", "fear", "joy", "sadness", "surprise"]


def test_single_label_by_hand(external_dir):
    # gold   : joy joy anger fear sadness disgust disgust surprise (love) sadness
    # argmax : joy joy anger fear joy     surprise disgust surprise  -    sadness
    model = ScriptedModel()
    m = evaluate_external(model, external_dir / "single.csv", "ekman6")
    assert (m["mode"], m["n_rows"], m["n_scored"], m["n_skipped"]) == ("single_label", 10, 9, 1)
    assert m["labels"] == m["scored_labels"] == EKMAN6
    f1 = {"anger": 1.0, "disgust": 2 / 3, "fear": 1.0, "joy": 0.8, "sadness": 2 / 3,
          "surprise": 2 / 3}  # fmt: skip
    for name, value in f1.items():
        assert m["per_target"][name]["f1"] == pytest.approx(value)
    assert m["per_target"]["joy"]["precision"] == pytest.approx(2 / 3)
    assert m["per_target"]["disgust"]["recall"] == pytest.approx(0.5)
    assert [m["per_target"][n]["support"] for n in EKMAN6] == [1, 2, 1, 2, 2, 1]
    assert m["macro_f1"] == pytest.approx(0.8)
    assert m["accuracy"] == pytest.approx(7 / 9)
    assert m["confusion_matrix"] == {"labels": EKMAN6, "matrix": [
        [1, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 1],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 2, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ]}  # fmt: skip
    assert m["gold_outside_map"] == {"love": 1} and m["gold_unmapped"] == {}
    assert len(model.calls[0]) == 9  # only the rows that are scored are scored
    json.dumps(m)  # what --json prints


def test_single_label_abstain_and_thresholds(external_dir):
    # annoyance's threshold 0.3 makes row 4 fire "negative"; rows 3 and 5 fire nothing
    # gold : positive negative neutral positive neutral (mixed)
    # pred : positive negative neutral negative neutral
    model = ScriptedModel({"annoyance": 0.3})
    m = evaluate_external(model, external_dir / "polarity_abstain.jsonl", "polarity",
                          abstain="neutral")  # fmt: skip
    assert m["labels"] == ["positive", "negative", "neutral"] and m["abstain"] == "neutral"
    assert m["per_target"]["positive"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert m["per_target"]["negative"]["f1"] == pytest.approx(2 / 3)
    assert m["per_target"]["neutral"]["f1"] == 1.0
    assert m["macro_f1"] == pytest.approx(7 / 9) and m["accuracy"] == pytest.approx(0.8)
    assert m["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 2]]
    assert m["gold_outside_map"] == {"mixed": 1} and m["n_scored"] == 5
    # without abstain, "neutral" is a gold label the polarity map does not cover
    plain = evaluate_external(model, external_dir / "polarity_abstain.jsonl", "polarity")
    assert plain["gold_outside_map"] == {"neutral": 2, "mixed": 1}
    assert plain["n_scored"] == 3 and plain["accuracy"] == pytest.approx(2 / 3)


MULTI = ["happy", "angry", "sad", "scared"]


def _check_multi(m):
    # gold             pred (OR of members at the thresholds; annoyance 0.3)
    # happy angry      happy angry
    # happy            happy
    # angry sad        angry
    # sad              happy sad
    # (none)           (none)
    # happy (bored)    happy
    # (bored)          skipped
    assert (m["mode"], m["n_rows"], m["n_scored"], m["n_skipped"]) == ("multi_label", 7, 6, 1)
    assert m["labels"] == MULTI and m["scored_labels"] == ["happy", "angry", "sad"]
    assert m["per_target"]["happy"] == pytest.approx({"precision": 0.75, "recall": 1.0,
        "f1": 6 / 7, "support": 3, "tp": 3, "fp": 1, "fn": 0, "tn": 2})  # fmt: skip
    assert m["per_target"]["angry"]["f1"] == 1.0
    assert m["per_target"]["sad"] == pytest.approx({"precision": 1.0, "recall": 0.5,
        "f1": 2 / 3, "support": 2, "tp": 1, "fp": 0, "fn": 1, "tn": 4})  # fmt: skip
    assert m["per_target"]["scared"]["support"] == 0
    assert m["macro_f1"] == pytest.approx(53 / 63)  # (6/7 + 1 + 2/3) / 3
    assert m["micro_f1"] == pytest.approx(6 / 7)  # tp 6, fp 1, fn 1
    assert m["confusion_matrix"]["matrix"] == [[3, 1, 0, 0], [1, 2, 0, 0], [1, 1, 1, 0],
                                               [0, 0, 0, 0]]  # fmt: skip
    assert m["gold_outside_map"] == {"bored": 2}


def test_multi_label_by_hand_in_every_format(external_dir, tmp_path):
    model = ScriptedModel({"annoyance": 0.3})
    lmap = external_dir / "multi_map.yaml"
    m = evaluate_external(model, external_dir / "multi.csv", lmap, label_column="emotions",
                          multi_label=True, label_sep="|")  # fmt: skip
    _check_multi(m)
    df = pd.read_csv(external_dir / "multi.csv", keep_default_na=False)
    df["emotions"] = [[x for x in v.split("|") if x] for v in df["emotions"]]
    df.to_json(tmp_path / "multi.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "multi.parquet")
    for name in ("multi.jsonl", "multi.parquet"):
        again = evaluate_external(model, tmp_path / name, lmap, label_column="emotions",
                                  multi_label=True)  # fmt: skip
        _check_multi(again)


def test_label_map_on_predict_proba():
    lm = LabelMap("toy", {"up": ("joy", "love"), "down": ("sadness",), "later": ()})
    proba = ScriptedModel().predict_proba(["joy=0.3 love=0.6 sadness=0.5", "sadness=0.4"])
    assert lm.labels == ("up", "down") and lm.unmapped == ("later",)
    np.testing.assert_allclose(lm.scores(proba), [[0.6, 0.5], [0.01, 0.4]])
    th = np.full(28, 0.5)
    assert lm.predict_matrix(proba, th).tolist() == [[1, 1], [0, 0]]
    th[LABEL_TO_ID["sadness"]] = 0.35  # the model's own thresholds decide
    assert lm.predict_matrix(proba, th).tolist() == [[1, 1], [0, 1]]
    assert lm.predict(proba) == ["up", "down"]
    with pytest.raises(ValueError, match=r"shape \(n, 28\)"):
        lm.scores(proba[:, :5])


def test_unmapped_targets_are_reported_not_dropped(tmp_path):
    path = tmp_path / "plutchik.csv"
    path.write_text("text,label\njoy=0.9,joy\njoy=0.8,anticipation\nfear=0.7,fear\n")
    m = evaluate_external(ScriptedModel(), path, "plutchik")
    assert m["unmapped_targets"] == ["anticipation"]
    assert m["gold_unmapped"] == {"anticipation": 1} and m["gold_outside_map"] == {}
    assert m["n_scored"] == 2 and m["accuracy"] == 1.0
    assert m["scored_labels"] == ["joy", "fear"] and m["macro_f1"] == 1.0


def test_no_covered_row_is_counted_not_a_crash(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("text,label\njoy=0.9,x\njoy=0.9,y\n")
    model = ScriptedModel()
    m = evaluate_external(model, path, "ekman")
    assert m["n_scored"] == 0 and m["macro_f1"] is None and m["accuracy"] is None
    assert m["gold_outside_map"] == {"x": 1, "y": 1} and model.calls == []


def test_plot_confusion_writes_a_png(external_dir, tmp_path):
    m = evaluate_external(ScriptedModel(), external_dir / "single.csv", "ekman6")
    out = plot_confusion(m, tmp_path / "cm.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temporary left


def test_a_dataset_object_and_a_path_give_the_same_result(external_dir):
    ds = read_external(external_dir / "single.csv")
    model = ScriptedModel()
    by_object = evaluate_external(model, ds, "ekman6")
    assert by_object == evaluate_external(model, external_dir / "single.csv", "ekman6")
