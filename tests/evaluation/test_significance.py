"""paired_seed_test, compare_variants and select_by_dev on examples worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from emobalance.evaluation import compare_variants, paired_seed_test, select_by_dev
from emobalance.labels import LABELS

# the t quantiles t(0.975, df) of a printed table, so the interval is not checked against scipy
T975 = {2: 4.302652729911275, 4: 2.7764451051977987}


def test_t_test_and_interval_by_hand():
    a = [0.60, 0.62, 0.58]
    b = [0.63, 0.63, 0.62]  # differences 0.03, 0.01, 0.04
    r = paired_seed_test(a, b)
    n, mean = 3, (0.03 + 0.01 + 0.04) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in (0.03, 0.01, 0.04)) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    assert r["n"] == 3 and r["wins"] == 3
    assert r["mean_a"] == pytest.approx(0.60) and r["mean_b"] == pytest.approx(1.88 / 3)
    assert r["mean_diff"] == pytest.approx(mean) and r["std_diff"] == pytest.approx(sd)
    assert r["t_stat"] == pytest.approx(t)
    half = T975[2] * sd / math.sqrt(n)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(mean - half), pytest.approx(mean + half))
    # Student's t with 2 degrees of freedom has a closed-form CDF, 1/2 + t / (2 sqrt(2 + t^2)):
    # two-sided p = 1 - t / sqrt(2 + t^2), one-sided half of it (t > 0)
    p = 1 - t / math.sqrt(2 + t * t)
    assert r["p_t"] == pytest.approx(p) and r["p_t_one_sided"] == pytest.approx(p / 2)
    # the signed-rank test: all three positive, 2 / 2^3 two-sided, 1 / 2^3 one-sided
    assert r["p_wilcoxon"] == pytest.approx(0.25)
    assert r["p_wilcoxon_one_sided"] == pytest.approx(0.125)


def test_a_loss_is_negative_and_one_sided_p_large():
    r = paired_seed_test([0.63, 0.63, 0.62], [0.60, 0.62, 0.58])
    assert r["mean_diff"] < 0 and r["wins"] == 0 and r["t_stat"] < 0
    assert r["p_t_one_sided"] == pytest.approx(1 - r["p_t"] / 2)
    assert r["p_wilcoxon_one_sided"] == pytest.approx(1.0)


def test_five_positive_differences_exact_wilcoxon():
    a = [0.50, 0.51, 0.49, 0.50, 0.52]
    b = [0.51, 0.53, 0.52, 0.54, 0.57]  # +0.01 ... +0.05, all distinct
    r = paired_seed_test(a, b)
    # every sign positive: the one arrangement of 2^5 (one-sided), or its mirror (two-sided)
    assert r["p_wilcoxon"] == pytest.approx(2 / 32) == pytest.approx(0.0625)
    assert r["p_wilcoxon_one_sided"] == pytest.approx(1 / 32) == pytest.approx(0.03125)
    assert r["wins"] == 5
    # the t-test can go below 0.05 where the two-sided Wilcoxon cannot
    mean, n = 0.03, 5
    sd = math.sqrt(sum((d - mean) ** 2 for d in (0.01, 0.02, 0.03, 0.04, 0.05)) / (n - 1))
    assert r["t_stat"] == pytest.approx(mean / (sd / math.sqrt(n)))
    assert r["ci_low"] == pytest.approx(mean - T975[4] * sd / math.sqrt(n))
    assert r["p_t"] < 0.05 < r["p_wilcoxon"]


def test_one_seed_gives_no_p_values_and_valid_json():
    r = paired_seed_test([0.5], [0.52])
    assert r["n"] == 1 and r["mean_diff"] == pytest.approx(0.02) and r["wins"] == 1
    for key in ("std_diff", "ci_low", "ci_high", "t_stat", "p_t", "p_t_one_sided",
                "p_wilcoxon", "p_wilcoxon_one_sided"):  # fmt: skip
        assert r[key] is None, key
    json.dumps(r, allow_nan=False)


def test_zero_and_constant_differences():
    same = paired_seed_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same["mean_diff"] == 0 and same["wins"] == 0
    assert same["p_wilcoxon"] is None and same["p_wilcoxon_one_sided"] is None
    assert same["p_t"] is None and same["t_stat"] is None  # 0 / 0
    assert same["ci_low"] == same["ci_high"] == 0
    shift = paired_seed_test([0.5, 0.6, 0.7], [0.52, 0.62, 0.72])  # +0.02 each (in floats)
    assert shift["t_stat"] is None and shift["ci_low"] == pytest.approx(0.02)
    # the equal differences are ties for Wilcoxon: all positive, still 2 / 2^3
    assert shift["p_wilcoxon"] == pytest.approx(0.25)
    json.dumps(shift, allow_nan=False)
    # a zero difference is dropped (Wilcoxon's convention): 2 positive left, 2 / 2^2
    z = paired_seed_test([0.5, 0.6, 0.7], [0.5, 0.61, 0.73])
    assert z["p_wilcoxon"] == pytest.approx(0.5) and z["wins"] == 2


@pytest.mark.parametrize(("a", "b"), [([0.5, 0.6], [0.5]), ([], []), ([0.5, math.nan], [1, 1])])
def test_bad_input(a, b):
    with pytest.raises(ValueError):
        paired_seed_test(a, b)


RARE = ["grief", "pride"]


def entry(variant, seed, test, dev, rare=None, guard=None):
    per = dict.fromkeys(LABELS, 0.5) | dict(zip(RARE, rare or (0.1, 0.3), strict=True))
    e = {"variant": variant, "seed": seed, "dev_macro_f1": dev,
         "test": {"macro_f1": test, "per_label_f1": per}}  # fmt: skip
    if guard is not None:
        e["external"] = {"sentiment140_polarity_guard": {"accuracy": guard[0],
                                                         "macro_f1": guard[1]}}  # fmt: skip
    return e


def run_entries():
    return [
        entry("imbalanced", 0, 0.40, 0.41, guard=(0.80, 0.79)),
        entry("imbalanced", 1, 0.42, 0.43, guard=(0.82, 0.81)),
        entry("imbalanced", 2, 0.41, 0.42, guard=(0.81, 0.80)),
        entry("balanced", 0, 0.43, 0.40, rare=(0.2, 0.4), guard=(0.79, 0.78)),
        entry("balanced", 1, 0.44, 0.41, rare=(0.3, 0.3), guard=(0.80, 0.79)),
        entry("balanced", 3, 0.99, 0.39),  # no imbalanced seed 3: never paired
        entry("tfidf", 1, 0.30, 0.45),
        entry("tfidf", 2, 0.31, 0.46),
    ]


def test_compare_variants_pairs_only_common_seeds():
    rows = compare_variants(run_entries(), rare=RARE)
    assert [r["variant"] for r in rows] == ["balanced", "tfidf"]
    bal, tfidf = rows
    assert bal["baseline"] == "imbalanced" and bal["seeds"] == [0, 1]
    assert tfidf["seeds"] == [1, 2]
    m = bal["metrics"]
    assert m["test_macro_f1"]["n"] == 2 and m["test_macro_f1"]["seeds"] == [0, 1]
    assert m["test_macro_f1"]["mean_diff"] == pytest.approx(0.025)  # seed 3's 0.99 left out
    assert m["test_macro_f1"] == paired_seed_test([0.40, 0.42], [0.43, 0.44]) | {"seeds": [0, 1]}
    # rare-label mean F1: imbalanced 0.2 each seed; balanced 0.3, 0.3
    assert m["rare_mean_f1"]["mean_diff"] == pytest.approx(0.1)
    assert m["dev_macro_f1"]["mean_diff"] == pytest.approx(-0.015)
    assert m["external_accuracy"]["mean_diff"] == pytest.approx(-0.015)
    assert m["external_macro_f1"]["mean_b"] == pytest.approx(0.785)
    # balanced's dev mean is over all its seeds (3 included), tfidf has no external results
    assert bal["dev_mean"] == pytest.approx((0.40 + 0.41 + 0.39) / 3)
    assert "external_accuracy" not in tfidf["metrics"]
    json.dumps(rows, allow_nan=False)


def test_compare_variants_options():
    es = run_entries()
    assert "rare_mean_f1" not in compare_variants(es)[0]["metrics"]  # no rare labels given
    rows = compare_variants(es, rare=RARE, variants=["tfidf", "imbalanced", "no_conv"])
    assert [r["variant"] for r in rows] == ["tfidf"]
    assert compare_variants(es, baseline="no_conv") == []  # no baseline entries
    other = compare_variants(es, baseline="tfidf", external_name="dialogue")
    assert [r["variant"] for r in other] == ["imbalanced", "balanced"]
    assert other[1]["seeds"] == [1] and other[1]["metrics"]["test_macro_f1"]["p_t"] is None
    assert not any(k.startswith("external") for r in other for k in r["metrics"])


def test_select_by_dev_ignores_test():
    es = run_entries()
    # tfidf: worst on test (0.305), best dev mean (0.455 against balanced's 0.40)
    assert select_by_dev(es, ["balanced", "tfidf"]) == "tfidf"
    for e in es:  # test numbers never enter the choice
        e["test"] = {"macro_f1": 1.0 if e["variant"] == "balanced" else 0.0}
    assert select_by_dev(es, ["balanced", "tfidf"]) == "tfidf"
    assert select_by_dev(es, ["balanced", "no_conv"]) == "balanced"
    assert select_by_dev(es, ["no_conv"]) is None


def test_select_by_dev_ties_go_to_the_first_candidate():
    es = [entry("a", 0, 0.1, 0.5), entry("b", 0, 0.9, 0.5), entry("c", 0, 0.9, None)]
    assert select_by_dev(es, ["a", "b"]) == "a"
    assert select_by_dev(es, ["b", "a", "c"]) == "b"


def test_select_by_dev_on_another_metric():
    es = [
        {"variant": "a", "seed": 0, "dev_macro_f1": 0.5, "dev_jaccard": 0.40},
        {"variant": "b", "seed": 0, "dev_macro_f1": 0.4, "dev_jaccard": 0.45},
        {"variant": "c", "seed": 0, "dev_macro_f1": 0.3, "dev": {"jaccard": 0.5}},
    ]
    assert select_by_dev(es, ["a", "b"]) == "a"  # default: dev mean macro-F1
    assert select_by_dev(es, ["a", "b"], metric="jaccard") == "b"
    assert select_by_dev(es, ["a", "b", "c"], metric="jaccard") == "c"  # from the dev dict
    assert select_by_dev(es, ["a", "b"], metric="micro_f1") is None
    with pytest.raises(ValueError, match="metric"):
        select_by_dev(es, ["a"], metric="")
