import numpy as np
import pytest

from emobalance.balance.selection import precision_thresholds, select_soft_mass
from emobalance.labels import LABEL_TO_ID, LABELS, NUM_LABELS

GRIEF, SAD, NEUTRAL = LABEL_TO_ID["grief"], LABEL_TO_ID["sadness"], LABEL_TO_ID["neutral"]


def test_precision_threshold_is_the_lowest_that_reaches_the_target():
    # grief: positives at p = 0.9, 0.8, 0.5; negatives at 0.45, 0.3 (x3).
    # precision at t <= 0.3 is 3/7, at 0.31..0.45 3/4, at 0.46..0.5 3/3
    p = np.zeros((8, NUM_LABELS), np.float32)
    y = np.zeros((8, NUM_LABELS), np.uint8)
    p[:, GRIEF] = [0.9, 0.8, 0.5, 0.45, 0.3, 0.3, 0.3, 0.0]
    y[:3, GRIEF] = 1
    th, info = precision_thresholds(y, p, target_precision=0.75, min_threshold=0.2, min_support=3)
    assert th[GRIEF] == pytest.approx(0.31)
    th, _ = precision_thresholds(y, p, target_precision=0.9, min_threshold=0.2, min_support=3)
    assert th[GRIEF] == pytest.approx(0.46)
    # a label the teacher never predicts gets no threshold (inf) and no estimate
    assert np.isinf(th[SAD]) and info["sadness"]["threshold"] is None
    assert info["sadness"]["estimated_precision"] is None
    # too few predictions to reach the support: no threshold
    th, _ = precision_thresholds(y, p, target_precision=0.9, min_threshold=0.2, min_support=5)
    assert np.isinf(th[GRIEF])


def test_precision_estimate_is_cross_fitted_on_the_other_half():
    rng = np.random.default_rng(0)
    n = 4000
    y = np.zeros((n, NUM_LABELS), np.uint8)
    y[:, GRIEF] = rng.random(n) < 0.1
    p = np.zeros((n, NUM_LABELS), np.float32)
    # a calibrated score: P(y=1 | p) = p for the grief column
    p[:, GRIEF] = rng.random(n)
    y[:, GRIEF] = rng.random(n) < p[:, GRIEF]
    th, info = precision_thresholds(y, p, target_precision=0.8, min_threshold=0.05)
    # precision of p >= t for a uniform calibrated score is (1 + t) / 2 -> t = 0.6
    assert th[GRIEF] == pytest.approx(0.6, abs=0.05)
    est = info["grief"]["estimated_precision"]
    assert est == pytest.approx(0.8, abs=0.03) and info["grief"]["estimate_rows"] > 1000


def test_soft_mass_fills_the_rarest_label_first_by_its_own_rank():
    p = np.full((6, NUM_LABELS), 0.01, np.float32)
    p[:, GRIEF] = [0.6, 0.1, 0.5, 0.02, 0.3, 0.04]
    p[:, SAD] = [0.5, 0.9, 0.1, 0.8, 0.1, 0.1]
    counts = np.full(NUM_LABELS, 100)
    counts[GRIEF], counts[SAD] = 1, 2
    targets = np.full(NUM_LABELS, 3)
    rows, info = select_soft_mass(p, counts, targets, min_proba=0.05)
    # grief (rarest, needs 2.0): rows 0, 2, 4 by p_grief (0.6 + 0.5 + 0.3 = 1.4 < 2), then
    # row 1 (0.1) -> 1.5, row 3 and 5 are below min_proba: a shortfall, not an error
    assert rows[:4].tolist() == [0, 2, 4, 1]
    assert info["grief"]["rows"] == 4 and not info["grief"]["reached"]
    assert info["grief"]["shortfall"] == pytest.approx(0.5, abs=0.01)
    # sadness got 0.5 + 0.1 + 0.1 + 0.9 = 1.6 from the grief rows: reached without row 3
    assert len(rows) == 4 and info["sadness"]["reached"] and info["sadness"]["rows"] == 0
    assert info["sadness"]["mass_after"] == pytest.approx(2 + 1.6, abs=0.01)
    # with a higher sadness target, its own best remaining row (3, p = 0.8) comes next
    targets[SAD] = 4
    rows, info = select_soft_mass(p, counts, targets, min_proba=0.05)
    assert rows.tolist() == [0, 2, 4, 1, 3] and info["sadness"]["rows"] == 1
    # neutral and labels at their target are never filled
    assert info["neutral"]["rows"] == 0 and info["joy"]["rows"] == 0
    assert len(set(rows.tolist())) == len(rows)


def test_soft_mass_with_nothing_to_fill_or_no_candidates():
    p = np.zeros((3, NUM_LABELS), np.float32)
    rows, info = select_soft_mass(p, np.full(NUM_LABELS, 5), np.full(NUM_LABELS, 5))
    assert rows.size == 0 and all(v["reached"] for v in info.values())
    rows, info = select_soft_mass(p, np.zeros(NUM_LABELS), np.full(NUM_LABELS, 5))
    assert rows.size == 0
    assert info["grief"]["shortfall"] == 5 and info["neutral"]["shortfall"] == 0
    rows, _ = select_soft_mass(np.full((9, NUM_LABELS), 0.5, np.float32), np.zeros(NUM_LABELS),
                               np.full(NUM_LABELS, 5), max_rows=4)  # fmt: skip
    assert len(rows) == 4
    assert set(LABELS) == set(info)
