"""Greedy ensemble selection on dev (emobalance.ensemble)."""

import numpy as np
import pytest

from emobalance.ensemble import (
    EnsembleSelection,
    crossfit_macro_f1,
    select_ensemble,
    weighted_mean,
)


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 28)) < 0.15).astype(np.uint8)
    y[np.arange(n), rng.integers(0, 28, n)] = 1

    def member(signal, s):
        r = np.random.default_rng(s)
        return np.clip(signal * y + 1.2 * r.random((n, 28)), 0, 1).astype(np.float32)

    # "noise" knows nothing about the labels
    return y, {"good": member(0.6, 1), "also_good": member(0.6, 2), "noise": member(0.0, 3)}


def test_it_picks_the_informative_members_and_keeps_the_best_prefix():
    y, p = _data()
    sel = select_ensemble(p, y, max_steps=6)
    assert len(sel.history) == 6 and sum(sel.counts.values()) <= 6
    assert sel.score == max(h["score"] for h in sel.history)
    assert "noise" not in sel.counts
    assert set(sel.counts) == {"good", "also_good"}  # two independent errors beat one
    assert sel.score > max(sel.single["good"], sel.single["also_good"])
    assert sum(sel.weights.values()) == pytest.approx(1.0)
    # the spec repeats a part by its count, the form build_teacher reads
    spec = sel.spec({"good": "/m/good", "also_good": "minilm"})
    assert sorted(spec.split("+")) == sorted(
        ["/m/good"] * sel.counts["good"] + ["minilm"] * sel.counts["also_good"]
    )


def test_weighted_mean_and_selection_object():
    a, b = np.zeros((2, 28), np.float32), np.ones((2, 28), np.float32)
    np.testing.assert_allclose(weighted_mean({"a": a, "b": b}, {"a": 3, "b": 1}), 0.25)
    assert EnsembleSelection({"x": 2, "y": 2}, 0.5).weights == {"x": 0.5, "y": 0.5}
    with pytest.raises(ValueError, match="at least one member"):
        weighted_mean({"a": a}, {})


def test_crossfit_is_below_the_in_sample_score_on_noise():
    # thresholds tuned and scored on the same rows flatter noise; cross-fitting does not
    from emobalance.metrics import apply_thresholds, macro_f1, tune_thresholds

    rng = np.random.default_rng(0)
    y = (rng.random((400, 28)) < 0.1).astype(np.uint8)
    p = rng.random((400, 28)).astype(np.float32)
    in_sample = macro_f1(y, apply_thresholds(p, tune_thresholds(y, p)))
    assert crossfit_macro_f1(y, p) < in_sample


def test_bad_candidates():
    y, p = _data(100)
    with pytest.raises(ValueError, match="at least one candidate"):
        select_ensemble({}, y)
    with pytest.raises(ValueError, match="candidate 'bad'"):
        select_ensemble({"bad": p["good"][:50]}, y)


def test_the_spec_of_groups_shares_a_group_weight_among_its_parts():
    sel = EnsembleSelection({"g": 2, "x": 1}, 0.5)
    spec = sel.spec({"g": ["a", "b"], "x": "c"}).split("+")
    # g weighs 2, x 1: a and b one each of g's 2 (scaled by lcm 2), c 1 (scaled to 2)
    assert sorted(spec) == ["a", "a", "b", "b", "c", "c"]
    assert EnsembleSelection({"m": 3}, 0.5).spec() == "m+m+m"


# ------------------------------------------------------------------ own label schemas
def _own(n=400, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros((n, k), np.uint8)
    y[np.arange(n), rng.integers(0, k, n)] = 1

    def member(signal, s):
        r = np.random.default_rng(s)
        return np.clip(signal * y + r.random((n, k)), 0, 1).astype(np.float32)

    return y, {"good": member(0.7, 1), "noise": member(0.0, 2)}


def test_selection_on_five_labels_and_other_objectives():
    from emobalance.labels import LabelSchema

    y, p = _own()
    sel = select_ensemble(p, y, max_steps=3, repeats=1)
    assert set(sel.counts) == {"good"}
    jac = select_ensemble(p, y, max_steps=3, repeats=1, objective="jaccard")
    assert set(jac.counts) == {"good"} and 0 < jac.score <= 1
    assert jac.score != sel.score  # scored by the objective's measure
    five = LabelSchema(["a", "b", "c", "d", "e"], name="five")
    same = select_ensemble(p, y, max_steps=3, repeats=1, schemas={"good": five, "noise": five})
    assert same.counts == sel.counts
    from emobalance.errors import ConfigError

    with pytest.raises(ConfigError, match="objective: expected one of f1, micro_f1, jaccard"):
        select_ensemble(p, y, objective="accuracy")


def test_selection_refuses_members_of_different_schemas_in_one_line():
    from emobalance.errors import ConfigError
    from emobalance.labels import LabelSchema

    y, p = _own()
    a = LabelSchema(["a", "b", "c", "d", "e"], name="five")
    b = LabelSchema(["e", "d", "c", "b", "a"], name="reversed")
    with pytest.raises(ConfigError) as err:
        select_ensemble(p, y, schemas={"good": a, "noise": b})
    msg = str(err.value)
    assert "\n" not in msg and "'good'" in msg and "reversed" in msg


def test_selection_on_a_single_label_schema_predicts_the_argmax():
    from emobalance.labels import LabelSchema

    y, p = _own(k=3)
    single = LabelSchema(["pos", "neg", "mixed"], single_label=True, name="polarity")
    sel = select_ensemble(p, y, max_steps=2, repeats=1, schemas=dict.fromkeys(p, single))
    assert set(sel.counts) == {"good"}
    # argmax predictions: exactly the cross-fitted macro-F1 of single-label predictions
    assert sel.single["good"] == crossfit_macro_f1(y, p["good"], 0, 1, single_label=True)
