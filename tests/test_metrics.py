import json
import time
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from emobalance.labels import (
    EKMAN_LABELS,
    GOEMOTIONS,
    GROUPINGS,
    LABEL_TO_ID,
    LABELS,
    SENTIMENT_LABELS,
    LabelSchema,
    collapse_labels,
    collapse_probabilities,
)
from emobalance.metrics import (
    DEFAULT_GRID,
    SUMMARY_KEYS,
    apply_thresholds,
    evaluate,
    f1_per_label,
    macro_f1,
    mean_f1,
    micro_f1,
    per_label_prf,
    rare_labels,
    tune_thresholds,
)

AVERAGES = ("micro", "macro", "weighted", "samples")


def random_case(seed: int, n: int = 300, rate: float = 0.08):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 28)) < rate).astype(np.uint8)
    y[:, LABEL_TO_ID["grief"]] = 0  # a label with no positives
    y[:, LABEL_TO_ID["pride"]] = 1  # a label with no negatives
    proba = np.clip(0.35 * y + 0.65 * rng.random((n, 28)), 0, 1).astype(np.float32)
    return y, proba


def assert_matches_sklearn(m: dict, y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for avg in AVERAGES:
            p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
            assert m[f"{avg}_precision"] == pytest.approx(p, abs=1e-12), avg
            assert m[f"{avg}_recall"] == pytest.approx(r, abs=1e-12), avg
            assert m[f"{avg}_f1"] == pytest.approx(f, abs=1e-12), avg
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    names = list(m["per_label"])
    for j, name in enumerate(names):
        row = m["per_label"][name]
        assert row["precision"] == pytest.approx(p[j], abs=1e-12)
        assert row["recall"] == pytest.approx(r[j], abs=1e-12)
        assert row["f1"] == pytest.approx(f[j], abs=1e-12)
        assert row["support"] == s[j]
        assert m["per_label_f1"][name] == row["f1"]
        if 0 < y[:, j].sum() < len(y):
            assert row["auc"] == pytest.approx(skm.roc_auc_score(y[:, j], proba[:, j]))
        else:
            assert row["auc"] is None and name in m["auc_skipped"]
    assert m["exact_match"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    assert m["micro_auc"] == pytest.approx(skm.roc_auc_score(y.ravel(), proba.ravel()))
    kept = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    expected_macro_auc = np.mean([skm.roc_auc_score(y[:, j], proba[:, j]) for j in kept])
    assert m["macro_auc"] == pytest.approx(expected_macro_auc)


# ------------------------------------------------------------------ apply_thresholds
def test_apply_thresholds_scalar_and_per_label():
    proba = np.array([[0.5] * 28, [0.2] * 28], dtype=np.float32)
    assert apply_thresholds(proba).tolist() == [[1] * 28, [0] * 28]  # >= threshold
    assert apply_thresholds(proba, 0.6).sum() == 0
    th = np.full(28, 0.9, dtype=np.float32)
    th[3] = 0.1
    out = apply_thresholds(proba, th)
    assert out.dtype == np.uint8 and out.shape == (2, 28)
    assert out.sum() == 2 and out[:, 3].tolist() == [1, 1]


def test_apply_thresholds_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(n, k\)"):
        apply_thresholds(np.zeros(3))
    assert apply_thresholds(np.zeros((3, 5))).shape == (3, 5)  # any schema's width
    with pytest.raises(ValueError, match="thresholds"):
        apply_thresholds(np.zeros((3, 28)), np.zeros(5))


# ------------------------------------------------------------------ evaluate vs sklearn
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_matches_sklearn_on_random_matrices(seed):
    y, proba = random_case(seed)
    rng = np.random.default_rng(seed + 100)
    th = rng.uniform(0.2, 0.8, size=28).astype(np.float32)
    pred = apply_thresholds(proba, th)
    m = evaluate(y, proba, th)
    assert_matches_sklearn(m, y, pred, proba)
    assert set(m["auc_skipped"]) == {"grief", "pride"}
    assert m["n"] == len(y)


def test_evaluate_with_all_zero_prediction_rows_and_empty_label():
    y, proba = random_case(3, n=60)
    proba[:7] = 0.01  # rows predicting nothing at threshold 0.5
    pred = apply_thresholds(proba, 0.5)
    assert (pred[:7] == 0).all()
    m = evaluate(y, proba, 0.5)
    assert_matches_sklearn(m, y, pred, proba)
    # grief has no positives: F1 0 (zero_division=0), it still counts in the macro mean
    assert m["per_label"]["grief"]["support"] == 0
    assert m["per_label"]["grief"]["f1"] == 0.0


def test_evaluate_hand_made_28_labels():
    a, j, n = LABEL_TO_ID["anger"], LABEL_TO_ID["joy"], LABEL_TO_ID["neutral"]
    y = np.zeros((4, 28), dtype=np.uint8)
    y[0, a] = y[1, j] = y[2, n] = y[3, j] = y[3, a] = 1
    proba = np.zeros((4, 28), dtype=np.float32)
    proba[0, a] = 0.9  # tp anger
    proba[1, j] = 0.8  # tp joy
    proba[2, j] = 0.7  # fp joy; neutral missed
    proba[3, j] = 0.6  # tp joy; anger missed
    m = evaluate(y, proba, 0.5, groupings=())
    assert m["per_label"]["anger"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "auc": 0.75}
    )
    assert m["per_label"]["joy"]["precision"] == pytest.approx(2 / 3)
    assert m["per_label"]["joy"]["recall"] == 1.0
    assert m["per_label"]["neutral"]["f1"] == 0.0
    assert m["micro_precision"] == pytest.approx(3 / 4)
    assert m["micro_recall"] == pytest.approx(3 / 5)
    assert m["exact_match"] == pytest.approx(2 / 4)  # rows 0 and 1
    assert m["hamming_loss"] == pytest.approx(3 / (4 * 28))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 28)
    assert "ekman" not in m and "sentiment" not in m


def test_evaluate_is_json_serialisable_plain_python():
    y, proba = random_case(4, n=50)
    m = evaluate(y, proba, tune_thresholds(y, proba))
    json.dumps(m)  # no numpy scalars, no nan

    def walk(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        else:
            assert obj is None or type(obj) in (int, float, str), type(obj)
            if isinstance(obj, float):
                assert np.isfinite(obj)

    walk(m)
    for key in SUMMARY_KEYS:
        assert key in m and key in m["ekman"] and key in m["sentiment"]
    assert list(m["per_label"]) == list(LABELS)
    assert list(m["ekman"]["per_label"]) == list(EKMAN_LABELS)
    assert list(m["sentiment"]["per_label_f1"]) == list(SENTIMENT_LABELS)


def test_auc_none_when_undefined():
    y = np.zeros((5, 28), dtype=np.uint8)  # no positives anywhere
    m = evaluate(y, np.full((5, 28), 0.3), 0.5, groupings=())
    assert m["macro_auc"] is None and m["micro_auc"] is None
    assert m["auc_skipped"] == list(LABELS)
    assert m["macro_f1"] == 0.0


def test_evaluate_validation_messages():
    y, proba = random_case(5, n=10)
    with pytest.raises(ValueError, match="y_true has 10 rows but proba has 9"):
        evaluate(y, proba[:9])
    with pytest.raises(ValueError, match="y_true has 28 labels but proba has 27"):
        evaluate(y, proba[:, :27])
    bad = y.astype(np.int64)
    bad[2, 3] = 2
    with pytest.raises(ValueError, match="only 0 and 1; row 2, column 3"):
        evaluate(bad, proba)
    nanp = proba.copy()
    nanp[1, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        evaluate(y, nanp)
    with pytest.raises(ValueError, match="unknown grouping"):
        evaluate(y, proba, groupings=("plutchik",))
    with pytest.raises(ValueError, match="zero rows"):
        evaluate(y[:0], proba[:0])


# ------------------------------------------------------------------ groupings
def test_group_metrics_by_hand():
    """Ekman: anger={anger, annoyance, disapproval}, joy={joy, ...}, surprise, neutral ..."""
    L = LABEL_TO_ID
    y = np.zeros((3, 28), dtype=np.uint8)
    proba = np.zeros((3, 28), dtype=np.float32)
    # row 0: true annoyance; predicted anger (different fine label, same Ekman group)
    y[0, L["annoyance"]] = 1
    proba[0, L["anger"]] = 0.9
    proba[0, L["annoyance"]] = 0.2
    # row 1: true joy + neutral; predicted love only
    y[1, L["joy"]] = y[1, L["neutral"]] = 1
    proba[1, L["love"]] = 0.7
    # row 2: true curiosity; predicted sadness
    y[2, L["curiosity"]] = 1
    proba[2, L["sadness"]] = 0.6
    proba[2, L["confusion"]] = 0.4
    m = evaluate(y, proba, 0.5)
    ek = m["ekman"]
    # 28-level: no true positive at all
    assert m["micro_f1"] == 0.0
    # Ekman level: anger tp (row 0), joy tp (row 1), neutral fn (row 1),
    # surprise fn (row 2), sadness fp (row 2)
    assert ek["per_label"]["anger"] == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "auc": 1.0}
    )
    assert ek["per_label"]["joy"]["f1"] == 1.0
    assert ek["per_label"]["neutral"]["f1"] == 0.0
    assert ek["per_label"]["surprise"]["f1"] == 0.0
    assert ek["per_label"]["sadness"]["precision"] == 0.0
    assert ek["per_label"]["sadness"]["support"] == 0
    assert ek["micro_precision"] == pytest.approx(2 / 3)
    assert ek["micro_recall"] == pytest.approx(2 / 4)
    assert ek["macro_f1"] == pytest.approx(2 / 7)  # anger + joy, over 7 groups
    assert ek["exact_match"] == pytest.approx(1 / 3)  # row 0 only
    assert ek["hamming_loss"] == pytest.approx(3 / 21)
    # probabilities collapse with max: surprise score of row 2 is max(confusion)=0.4
    assert set(ek["auc_skipped"]) == {"disgust", "fear", "sadness"}
    # sentiment: anger+annoyance negative (row 0 tp), joy positive (row 1 tp),
    # neutral fn, ambiguous fn (curiosity), negative fp (sadness) on row 2
    se = m["sentiment"]
    assert se["per_label"]["negative"]["precision"] == pytest.approx(1 / 2)
    assert se["per_label"]["negative"]["recall"] == 1.0
    assert se["per_label"]["positive"]["f1"] == 1.0
    assert se["per_label"]["ambiguous"]["f1"] == 0.0
    assert se["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 4)


def test_group_metrics_match_sklearn_on_random():
    from emobalance.labels import collapse_labels, collapse_probabilities

    y, proba = random_case(6)
    y[:, LABEL_TO_ID["pride"]] = 0  # keep every Ekman group with both classes
    th = tune_thresholds(y, proba)
    m = evaluate(y, proba, th)
    pred = apply_thresholds(proba, th)
    for g in ("ekman", "sentiment"):
        assert_matches_sklearn(
            m[g], collapse_labels(y, g), collapse_labels(pred, g), collapse_probabilities(proba, g)
        )


# ------------------------------------------------------------------ tune_thresholds
def test_tune_thresholds_known_best():
    # label 0: positives at 0.30..0.39, negatives below 0.25 -> any t in (0.25, 0.30] is
    # perfect; the closest to 0.5 of the grid is 0.30
    n = 40
    y = np.zeros((n, 28), dtype=np.uint8)
    proba = np.zeros((n, 28), dtype=np.float32)
    y[:10, 0] = 1
    proba[:10, 0] = np.linspace(0.30, 0.39, 10)
    proba[10:, 0] = np.linspace(0.0, 0.25, 30)
    # label 1: positives at 0.8, two negatives above them at 0.9, the rest at 0.1
    y[:5, 1] = 1
    proba[:5, 1] = 0.8
    proba[5:7, 1] = 0.9
    proba[7:, 1] = 0.1
    # label 2: perfectly separated at 0.7 vs 0.65 -> perfect for t in (0.65, 0.7]: 0.66..0.70
    y[:3, 2] = 1
    proba[:3, 2] = 0.7
    proba[3:, 2] = 0.65
    th = tune_thresholds(y, proba)
    assert th.dtype == np.float32 and th.shape == (28,)
    assert th[0] == pytest.approx(0.30)
    # label 1: t <= 0.8 -> tp 5, fp 2 -> F1 10/12; t > 0.8 -> tp 0 -> F1 0. Among t in
    # (0.1, 0.8] the closest to 0.5 is 0.5
    assert th[1] == pytest.approx(0.5)
    assert th[2] == pytest.approx(0.66)
    # labels without positives keep 0.5
    assert np.all(th[3:] == np.float32(0.5))
    pred = apply_thresholds(proba, th)
    assert (pred[:, 0] == y[:, 0]).all() and (pred[:, 2] == y[:, 2]).all()


def test_tune_thresholds_tie_prefers_smaller_when_equally_close():
    y = np.zeros((4, 28), dtype=np.uint8)
    proba = np.zeros((4, 28), dtype=np.float32)
    y[:2, 0] = 1
    proba[:2, 0] = 0.9
    proba[2:, 0] = 0.1
    # every grid threshold in (0.1, 0.9] is perfect -> 0.5 itself
    assert tune_thresholds(y, proba)[0] == pytest.approx(0.5)
    # with a grid lacking 0.5, 0.4 and 0.6 tie on distance -> the smaller wins
    assert tune_thresholds(y, proba, grid=[0.4, 0.6])[0] == pytest.approx(0.4)


def test_tune_thresholds_maximises_f1_on_the_grid():
    y, proba = random_case(7, n=500)
    th = tune_thresholds(y, proba)
    grid = DEFAULT_GRID.astype(np.float32)
    assert np.isin(th[y.sum(0) > 0], grid).all()
    for j in range(28):
        if y[:, j].sum() == 0:
            assert th[j] == np.float32(0.5)
            continue
        # brute force: every grid threshold, F1 from counts
        pred = proba[:, j, None] >= grid[None, :]
        pos = y[:, j, None] == 1
        f1s = 2 * (pred & pos).sum(0) / (pred.sum(0) + pos.sum())
        got = skm.f1_score(y[:, j], proba[:, j] >= th[j], zero_division=0)
        assert got == pytest.approx(f1s.max(), abs=1e-12)
    # tuned thresholds never lose to 0.5 on the same data
    assert (
        evaluate(y, proba, th, groupings=())["macro_f1"]
        >= evaluate(y, proba, 0.5, groupings=())["macro_f1"]
    )


def test_tune_thresholds_float64_and_float32_agree():
    y, proba = random_case(8, n=400)
    np.testing.assert_array_equal(
        tune_thresholds(y, proba), tune_thresholds(y, proba.astype(np.float64))
    )


def test_tune_thresholds_is_fast():
    rng = np.random.default_rng(9)
    y = (rng.random((5000, 28)) < 0.05).astype(np.uint8)
    proba = rng.random((5000, 28)).astype(np.float32)
    t0 = time.perf_counter()
    tune_thresholds(y, proba)
    assert time.perf_counter() - t0 < 0.5


def test_tune_thresholds_validation():
    y, proba = random_case(10, n=10)
    with pytest.raises(ValueError, match="rows"):
        tune_thresholds(y[:5], proba)
    with pytest.raises(ValueError, match="grid"):
        tune_thresholds(y, proba, grid=[])


# ------------------------------------------------------------------ helpers
def test_macro_micro_f1_helpers_match_sklearn():
    y, proba = random_case(11)
    pred = apply_thresholds(proba, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert macro_f1(y, pred) == pytest.approx(
            skm.f1_score(y, pred, average="macro", zero_division=0)
        )
        assert micro_f1(y, pred) == pytest.approx(
            skm.f1_score(y, pred, average="micro", zero_division=0)
        )
    prf = per_label_prf(y, pred)
    assert prf["support"].tolist() == y.sum(0).tolist()


def test_per_label_prf_of_one_column_is_one_label():
    y = np.array([[1], [0], [1], [1]])
    pred = np.array([[1], [1], [0], [1]])
    prf = per_label_prf(y, pred)
    assert prf["support"].tolist() == [3]
    np.testing.assert_allclose(prf["precision"], [2 / 3])
    np.testing.assert_allclose(prf["recall"], [2 / 3])
    np.testing.assert_array_equal(prf["f1"], f1_per_label(y, pred))


def test_rare_labels_and_mean_f1():
    counts = {name: 100 + i for i, name in enumerate(LABELS)}
    counts["grief"], counts["pride"], counts["relief"] = 5, 5, 7
    assert rare_labels(counts, k=3) == ["grief", "pride", "relief"]  # ties in LABELS order
    arr = np.array([counts[name] for name in LABELS])
    assert rare_labels(arr, k=3) == rare_labels(counts, k=3)
    with pytest.raises(ValueError, match="unknown label"):
        rare_labels({"happiness": 3}, schema=GOEMOTIONS)
    assert rare_labels({"b": 3, "a": 1, "c": 1}, k=2) == ["a", "c"]  # any labels
    y, proba = random_case(12)
    m = evaluate(y, proba, 0.5, groupings=())
    names = ["joy", "anger"]
    assert mean_f1(m, names) == pytest.approx(
        (m["per_label_f1"]["joy"] + m["per_label_f1"]["anger"]) / 2
    )


# ------------------------------------------------ evaluate on sklearn == the numpy evaluate
# The numpy implementation evaluate() had before it moved onto scikit-learn's
# precision_recall_fscore_support, kept frozen as the reference: the metrics JSON of a run
# must not change by a single bit.
def _old_div(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _old_prf(tp, fp, fn):
    return _old_div(tp, tp + fp), _old_div(tp, tp + fn), _old_div(2 * tp, 2 * tp + fp + fn)


def _old_summary(y, proba, pred, names):
    n = y.shape[0]
    tp, fp, fn = (y & pred).sum(0), (~y & pred).sum(0), (y & ~pred).sum(0)
    support = tp + fn
    precision, recall, f1 = _old_prf(tp, fp, fn)
    mp, mr, mf = (float(v) for v in _old_prf(tp.sum(), fp.sum(), fn.sum()))
    total = support.sum()
    rtp, rt, rp = (y & pred).sum(1), y.sum(1), pred.sum(1)
    sp, sr, sf = _old_div(rtp, rp), _old_div(rtp, rt), _old_div(2 * rtp, rt + rp)
    aucs = [
        float(skm.roc_auc_score(y[:, j].astype(np.int8), proba[:, j]))
        if 0 < support[j] < n
        else None
        for j in range(len(names))
    ]
    kept = [a for a in aucs if a is not None]
    flat = y.ravel()
    micro_auc = (
        float(skm.roc_auc_score(flat.astype(np.int8), proba.ravel()))
        if 0 < int(flat.sum()) < flat.size
        else None
    )
    return {
        "n": int(n),
        "exact_match": float((y == pred).all(1).mean()),
        "hamming_loss": float((y != pred).mean()),
        "micro_precision": mp,
        "micro_recall": mr,
        "micro_f1": mf,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": float(_old_div((precision * support).sum(), total)),
        "weighted_recall": float(_old_div((recall * support).sum(), total)),
        "weighted_f1": float(_old_div((f1 * support).sum(), total)),
        "samples_precision": float(sp.mean()),
        "samples_recall": float(sr.mean()),
        "samples_f1": float(sf.mean()),
        "macro_auc": float(np.mean(kept)) if kept else None,
        "micro_auc": micro_auc,
        "auc_skipped": [name for name, a in zip(names, aucs, strict=True) if a is None],
        "per_label": {
            name: {
                "precision": float(precision[j]),
                "recall": float(recall[j]),
                "f1": float(f1[j]),
                "support": int(support[j]),
                "auc": aucs[j],
            }
            for j, name in enumerate(names)
        },
        "per_label_f1": {name: float(f1[j]) for j, name in enumerate(names)},
    }


def _old_evaluate(y_true, proba, thresholds):
    y = np.asarray(y_true).astype(bool)
    pred = apply_thresholds(proba, thresholds).astype(bool)
    out = _old_summary(y, proba, pred, LABELS)
    for g in ("ekman", "sentiment"):
        gy, gpred = collapse_labels(y, g).astype(bool), collapse_labels(pred, g).astype(bool)
        out[g] = _old_summary(gy, collapse_probabilities(proba, g), gpred, tuple(GROUPINGS[g]))
    return out


NEW_KEYS = ("jaccard", "f1_undefined")  # added since the reference implementation


def assert_same_metrics(new, old, path="", tol=1e-12):
    """Same keys in the same order, same types, floats equal within ``tol``."""
    if isinstance(new, dict):
        new = {k: v for k, v in new.items() if k not in NEW_KEYS}
    if isinstance(old, dict):
        assert isinstance(new, dict) and list(new) == list(old), path
        for k in old:
            assert_same_metrics(new[k], old[k], f"{path}/{k}", tol)
    elif isinstance(old, float):
        assert type(new) is float and abs(new - old) <= tol, (path, new, old)
    else:
        assert type(new) is type(old) and new == old, (path, new, old)


def _without_new(metrics):
    if isinstance(metrics, dict):
        return {k: _without_new(v) for k, v in metrics.items() if k not in NEW_KEYS}
    return metrics


# per-label counts and labels-per-row of the GoEmotions test split (5427 rows)
GOEMOTIONS_TEST_COUNTS = [
    504, 264, 198, 320, 351, 135, 153, 284, 83, 151, 267, 123, 37, 103, 78, 352, 6, 161, 238,
    23, 186, 16, 145, 11, 56, 156, 141, 1787,
]  # fmt: skip


def real_shaped_case(seed: int, n: int = 5427):
    """Labels with GoEmotions' test frequencies (1-4 per row) and a model-like float32 proba."""
    rng = np.random.default_rng(seed)
    prior = np.asarray(GOEMOTIONS_TEST_COUNTS, dtype=np.float64)
    prior /= prior.sum()
    k = rng.choice([1, 2, 3, 4], size=n, p=[0.846, 0.143, 0.0106, 0.0004])
    y = np.zeros((n, 28), dtype=np.uint8)
    for i in range(n):
        y[i, rng.choice(28, size=k[i], replace=False, p=prior)] = 1
    logits = 2.5 * y - 3.0 + rng.normal(0, 1.2, y.shape)
    return y, (1 / (1 + np.exp(-logits))).astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_evaluate_equals_the_numpy_implementation_on_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = [1, 2, 7, 40, 300, 1000][seed]
    y = (rng.random((n, 28)) < rng.uniform(0.0, 0.4)).astype(np.uint8)
    if seed == 2:
        y[:] = 0  # no positives at all: weighted averages are 0, AUCs undefined
    proba = rng.random((n, 28)) if seed % 2 else rng.random((n, 28)).astype(np.float32)
    for th in (0.5, rng.uniform(0.05, 0.95, 28), 0.0, 1.0):
        assert_same_metrics(evaluate(y, proba, th), _old_evaluate(y, proba, th), tol=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_equals_the_numpy_implementation_on_real_shaped(seed):
    y, proba = real_shaped_case(seed)
    th = tune_thresholds(y, proba)
    for t in (th, 0.5):
        new, old = evaluate(y, proba, t), _old_evaluate(y, proba, t)
        assert_same_metrics(new, old, tol=1e-12)
        assert json.dumps(_without_new(new)) == json.dumps(old)  # the metrics JSON, to the byte


def test_f1_per_label_is_sklearn_and_the_inner_loop_formulas():
    y, proba = real_shaped_case(2, n=800)
    pred = apply_thresholds(proba, tune_thresholds(y, proba))
    f1 = f1_per_label(y, pred)
    assert f1.dtype == np.float64 and f1.shape == (28,)
    np.testing.assert_array_equal(f1, skm.f1_score(y, pred, average=None, zero_division=0))
    np.testing.assert_array_equal(f1, per_label_prf(y, pred)["f1"])
    # the re-implementations it replaces: training.macro_f1_tuned and report.paired_bootstrap
    tp = (pred & (y > 0)).sum(0).astype(np.float64)
    denom = 2 * tp + (pred & (y == 0)).sum(0) + ((pred == 0) & (y > 0)).sum(0)
    np.testing.assert_array_equal(f1, np.divide(2 * tp, denom, out=np.zeros(28), where=denom > 0))
    assert macro_f1(y, pred) == float(f1.mean())
    assert macro_f1(y, pred) == evaluate(y, proba, tune_thresholds(y, proba))["macro_f1"]
    assert f1_per_label(np.zeros((3, 4)), np.zeros((3, 4))).tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="equal 2-d shapes"):
        f1_per_label(y, pred[:, :5])


# ---------------------------------------------------------------- calibration error
def test_expected_calibration_error_by_hand():
    from emobalance.metrics import expected_calibration_error as ece

    # 2 rows x 3 labels = 6 pairs in 5 bins of width 0.2:
    #   bin [0.0, 0.2): p 0.1, 0.1 with y 0, 1  -> |1 - 0.2| = 0.8
    #   bin [0.6, 0.8): p 0.7 with y 1          -> |1 - 0.7| = 0.3
    #   bin [0.8, 1.0]: p 0.9, 1.0, 0.8 y 1,1,0 -> |2 - 2.7| = 0.7  (1.0 in the last bin)
    y = [[0, 1, 1], [1, 1, 0]]
    p = [[0.1, 0.7, 0.9], [0.1, 1.0, 0.8]]
    assert ece(y, p, n_bins=5) == pytest.approx((0.8 + 0.3 + 0.7) / 6)
    assert ece(y, p, n_bins=1) == pytest.approx(abs(4 - 3.6) / 6)  # one bin: mean gap
    assert ece([[1, 0]], [[1.0, 0.0]]) == 0.0  # perfect
    assert ece(np.zeros((0, 28)), np.zeros((0, 28))) == 0.0
    for bad in ({"proba": [[1.5, 0, 0], [0, 0, 0]]}, {"n_bins": 0}, {"proba": [[0.1]]}):
        kwargs = {"y_true": y, "proba": p, **bad}
        with pytest.raises(ValueError):
            ece(**kwargs)


def test_expected_calibration_error_weighs_every_label_row_pair_once():
    from emobalance.metrics import expected_calibration_error as ece

    rng = np.random.default_rng(0)
    p = rng.uniform(size=(50, 28))
    y = (rng.uniform(size=p.shape) < p).astype(np.uint8)
    assert ece(y, p) == pytest.approx(ece(y.ravel()[:, None], p.ravel()[:, None]))
    assert ece(y, p) == pytest.approx(ece(y.T, p.T))  # pooled: rows and labels alike


# ------------------------------------------------------------------ schemas, Jaccard, objectives
def test_jaccard_samples_counts_empty_rows_as_one():
    from emobalance.metrics import jaccard_samples

    assert jaccard_samples([[1, 1, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 0]]) == 0.75
    assert jaccard_samples([[0, 0]], [[1, 0]]) == 0.0
    y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    p = np.array([[1, 1, 1], [0, 1, 0], [0, 0, 1]])
    assert jaccard_samples(y, p) == pytest.approx((2 / 3 + 1 + 0) / 3)
    m = evaluate(y, p.astype(float), 0.5)  # 3 columns: unnamed labels
    assert m["jaccard"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert list(m["per_label_f1"]) == ["label_0", "label_1", "label_2"]


@pytest.mark.parametrize("objective", ["micro_f1", "jaccard"])
@pytest.mark.parametrize("seed", [0, 1])
def test_tune_thresholds_objectives_never_lose_to_per_label_f1(objective, seed):
    from emobalance.metrics import jaccard_samples, micro_f1

    rng = np.random.default_rng(seed)
    y = (rng.random((300, 5)) < [0.4, 0.2, 0.1, 0.05, 0.3]).astype(np.uint8)
    proba = np.clip(y * 0.35 + rng.random((300, 5)) * 0.65, 0, 1)
    score = {"micro_f1": micro_f1, "jaccard": jaccard_samples}[objective]
    base = tune_thresholds(y, proba)
    tuned = tune_thresholds(y, proba, objective=objective)
    assert tuned.dtype == np.float32 and tuned.shape == (5,)
    s_base = score(y, apply_thresholds(proba, base))
    s_tuned = score(y, apply_thresholds(proba, tuned))
    assert s_tuned >= s_base
    # a local optimum: no single label's grid move improves the measure
    for j in range(5):
        for t in (0.1, 0.3, 0.5, 0.7):
            th = tuned.copy()
            th[j] = t
            assert score(y, apply_thresholds(proba, th)) <= s_tuned + 1e-12


def test_tune_thresholds_default_for_labels_without_positives():
    from emobalance.metrics import labels_without_positives

    y = np.array([[1, 0], [0, 0], [1, 0]], dtype=np.uint8)
    proba = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.2]])
    th = tune_thresholds(y, proba, default=0.35, objective="jaccard")
    assert th[1] == np.float32(0.35)
    schema = LabelSchema(["joy", "anger"])
    assert labels_without_positives(y, schema) == ["anger"]
    with pytest.raises(ValueError, match="unknown objective 'f2'"):
        tune_thresholds(y, proba, objective="f2")


def test_evaluate_single_label_schema_predicts_the_argmax_and_reports_accuracy():
    schema = LabelSchema(["joy", "anger", "fear"], single_label=True, name="three")
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.uint8)
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.1, 0.15], [0.1, 0.1, 0.2], [0.5, 0.4, 0.0]])
    m = evaluate(y, proba, 0.99, schema=schema)  # thresholds play no part
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert list(m["per_label_f1"]) == ["joy", "anger", "fear"]
    assert m["per_label"]["fear"]["f1"] == 1.0
    assert "ekman" not in m  # a schema without groupings has none


def test_evaluate_names_labels_whose_f1_is_undefined():
    schema = LabelSchema(["joy", "anger", "fear"])
    y = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.uint8)
    m = evaluate(y, np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1]]), 0.5, schema=schema)
    assert m["f1_undefined"] == ["fear"] and m["macro_f1"] == pytest.approx(2 / 3)
