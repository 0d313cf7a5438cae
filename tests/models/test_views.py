"""Top-k and the Ekman / sentiment views of a prediction: equal to labels.collapse_probabilities
and to the ekman / sentiment LabelMaps, for a scripted model and for every kind."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance.errors import ConfigError
from emobalance.evaluation.label_maps import get_label_map
from emobalance.labels import (
    EKMAN_LABELS,
    LABEL_TO_ID,
    LABELS,
    NUM_LABELS,
    SENTIMENT_LABELS,
    collapse_probabilities,
)
from emobalance.models.views import prediction_records, view_scores

rng = np.random.default_rng(0)
PROBA = rng.uniform(0, 1, (6, NUM_LABELS)).astype(np.float32)
PROBA[0, :] = 0.1  # ties everywhere but one label
PROBA[0, LABEL_TO_ID["grief"]] = 0.7
THRESHOLDS = rng.uniform(0.3, 0.8, NUM_LABELS).astype(np.float32)


def test_top_k_is_most_probable_first_ties_in_label_order():
    recs = prediction_records(PROBA, THRESHOLDS, top_k=3)
    assert recs[0]["top"] == [("grief", pytest.approx(0.7)), ("admiration", pytest.approx(0.1)),
                              ("amusement", pytest.approx(0.1))]  # fmt: skip
    for rec, row in zip(recs, PROBA, strict=True):
        names = [n for n, _ in rec["top"]]
        assert names == [LABELS[j] for j in np.argsort(-row, kind="stable")[:3]]
        values = [p for _, p in rec["top"]]
        assert values == sorted(values, reverse=True)
    assert all(len(r["top"]) == NUM_LABELS for r in prediction_records(PROBA, THRESHOLDS))


def test_labels_view_is_the_thresholded_28():
    for rec, row in zip(prediction_records(PROBA, THRESHOLDS), PROBA, strict=True):
        assert rec["labels"] == [lab for lab, p, t in zip(LABELS, row, THRESHOLDS, strict=True)
                                 if p >= t]  # fmt: skip
        assert list(rec["probabilities"]) == list(LABELS)
        np.testing.assert_array_equal(list(rec["probabilities"].values()), row)


@pytest.mark.parametrize("view, names", [("ekman", EKMAN_LABELS), ("sentiment", SENTIMENT_LABELS)])
def test_group_views_equal_collapse_probabilities_and_the_label_map(view, names):
    m = get_label_map(view)
    got_names, scores, on = view_scores(PROBA, THRESHOLDS, view)
    assert got_names == names == m.labels
    np.testing.assert_array_equal(scores, collapse_probabilities(PROBA, view))
    np.testing.assert_array_equal(on, m.predict_matrix(PROBA, THRESHOLDS).astype(bool))
    recs = prediction_records(PROBA, THRESHOLDS, top_k=10, view=view)
    for i, rec in enumerate(recs):
        assert list(rec["probabilities"]) == list(names)
        np.testing.assert_array_equal(list(rec["probabilities"].values()), scores[i])
        assert rec["labels"] == [n for n, o in zip(names, on[i], strict=True) if o]
        assert len(rec["top"]) == len(names)  # top_k over the view's size: all of them
        assert rec["top"][0][0] == names[int(np.argmax(scores[i]))]


def test_every_record_names_both_groups():
    ek = collapse_probabilities(PROBA, "ekman").argmax(1)
    se = collapse_probabilities(PROBA, "sentiment").argmax(1)
    for view in ("labels", "ekman", "sentiment"):
        recs = prediction_records(PROBA, THRESHOLDS, view=view)
        assert [r["ekman"] for r in recs] == [EKMAN_LABELS[j] for j in ek]
        assert [r["sentiment"] for r in recs] == [SENTIMENT_LABELS[j] for j in se]
    assert prediction_records(PROBA[:1], THRESHOLDS)[0]["ekman"] == "sadness"  # grief


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"view": "plutchik"}, r"^view: expected labels, ekman or sentiment, got 'plutchik'$"),
        ({"view": None}, r"^view: .* got NoneType$"),
        ({"top_k": 0}, r"^top_k: expected an int >= 1, got 0$"),
        ({"top_k": 2.5}, r"^top_k: expected an int >= 1, got float$"),
        ({"top_k": True}, r"^top_k: expected an int >= 1, got True$"),
    ],
)
def test_bad_view_or_top_k_is_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        prediction_records(PROBA, THRESHOLDS, **kwargs)


@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer", "onnx"])
def test_predict_records_for_every_kind(kind, model_kind_paths):
    from emobalance.models.registry import load_model

    m = load_model(model_kind_paths[kind], device="cpu")
    texts = ["thanks so much", "I am furious", "so happy and glad"]
    proba = m.predict_proba(texts)
    recs = m.predict_records(texts, top_k=2)
    assert [r["labels"] for r in recs] == m.predict(texts)
    assert recs == prediction_records(proba, m.thresholds_, top_k=2)
    ek = m.predict_records(texts, view="ekman", top_k=1)
    assert [r["top"][0][0] for r in ek] == [r["ekman"] for r in ek]
    with pytest.raises(ConfigError, match=r"^view"):
        m.predict_records(texts, view="nope")
