"""The CLI's rich tables over a model's or dataset's own labels (5 labels, single-label)."""

from __future__ import annotations

import numpy as np

from emobalance.cli_tables import (
    print_explanation,
    print_external,
    print_metrics,
    print_thresholds,
    summary_rows,
)
from emobalance.labels import LabelSchema
from emobalance.metrics import evaluate

FIVE = LabelSchema(["joy", "anger", "fear", "trust", "calm"], name="five")
SINGLE = LabelSchema(["pos", "neg", "other"], name="three", single_label=True)


def _metrics(schema: LabelSchema) -> dict:
    rng = np.random.default_rng(0)
    y = np.zeros((30, len(schema)), np.uint8)
    y[np.arange(30), rng.integers(0, len(schema), 30)] = 1
    proba = rng.random((30, len(schema))).astype(np.float32)
    m = evaluate(y, proba, 0.5, schema=schema)
    m["macro_f1_at_0_5"] = m["macro_f1"]
    return m


def test_evaluate_table_shows_jaccard_and_micro_f1_and_the_schemas_labels(capsys):
    m = _metrics(FIVE)
    summary = {k: m[k] for k in ("n", "macro_f1", "micro_f1", "exact_match")}
    rows = summary_rows(m, summary)
    assert list(rows) == ["n", "macro_f1", "micro_f1", "jaccard", "exact_match",
                          "macro_f1_at_0_5"]  # fmt: skip
    assert rows["jaccard"] == m["jaccard"]
    print_metrics(m, "five on test", summary)
    out = capsys.readouterr().out
    assert "jaccard" in out and f"{m['jaccard']:.4f}" in out and "micro_f1" in out
    for lab in FIVE.names:
        assert lab in out
    assert "admiration" not in out


def test_evaluate_table_of_a_single_label_model_shows_accuracy(capsys):
    m = _metrics(SINGLE)
    rows = summary_rows(m, {"n": m["n"], "micro_f1": m["micro_f1"]})
    assert list(rows)[:4] == ["n", "micro_f1", "jaccard", "accuracy"]
    print_metrics(m, "three on test", {"n": m["n"], "micro_f1": m["micro_f1"]})
    assert f"{m['accuracy']:.4f}" in capsys.readouterr().out


def test_thresholds_table_lists_the_models_labels(capsys):
    th = np.array([0.3, 0.5, 0.5, 0.7, 0.5], np.float32)
    saved = np.full(5, 0.5, np.float32)
    print_thresholds(th, saved, "five", schema=FIVE)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "trust" in line]
    assert lines and "0.70" in lines[0] and "0.50" in lines[0]  # changed: saved shown
    assert "calm" in out and "admiration" not in out
    print_thresholds(np.full(28, 0.5), np.full(28, 0.5), "goemotions")  # 28: GoEmotions'
    assert "admiration" in capsys.readouterr().out


def test_explanation_without_an_ekman_group(capsys):
    ex = {"tokens": ["so", "happy"], "attention": [0.2, 0.8], "labels": ["joy"],
          "top": [{"label": "joy", "probability": 0.9}]}  # fmt: skip
    print_explanation(ex)
    out = capsys.readouterr().out
    assert "joy" in out and "Ekman" not in out
    print_explanation(ex | {"ekman": "joy"})
    assert "Ekman group: joy" in capsys.readouterr().out


def test_external_table_names_the_models_schema_for_unmapped_targets(capsys):
    m = {"mode": "single_label", "macro_f1": 0.5, "accuracy": 0.5, "n_rows": 2, "n_scored": 2,
         "n_skipped": 0, "per_target": {}, "unmapped_targets": ["anticipation"],
         "gold_unmapped": {}, "gold_outside_map": {}}  # fmt: skip
    print_external(m, "x", schema=FIVE)
    assert "no five counterpart" in capsys.readouterr().out
    print_external(m, "x")
    assert "no GoEmotions counterpart" in capsys.readouterr().out
