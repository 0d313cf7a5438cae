import numpy as np
import pytest

from emobalance.annotation import (
    fleiss_kappa,
    fleiss_kappa_table,
)
from emobalance.errors import DataError

WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    # P_bar = 0.378, P_e = 0.213 (Fleiss' kappa article): kappa = 0.210
    assert fleiss_kappa_table(WIKIPEDIA) == pytest.approx(0.210, abs=5e-4)
    c = np.array(WIKIPEDIA, dtype=float)
    p_j = c.sum(0) / 140
    assert p_j == pytest.approx([0.143, 0.200, 0.279, 0.150, 0.229], abs=5e-4)


def test_fleiss_kappa_small_table_by_hand():
    # 3 subjects, 3 raters, binary: P_i = 1, 1, 1/3 -> P_bar 7/9; p = 4/9, 5/9 -> P_e 41/81
    # kappa = (7/9 - 41/81) / (40/81) = 22/40
    assert fleiss_kappa_table([[0, 3], [3, 0], [1, 2]]) == pytest.approx(0.55)
    assert fleiss_kappa_table([[3, 0], [0, 3]]) == pytest.approx(1.0)
    assert np.isnan(fleiss_kappa_table([[3, 0], [3, 0]]))  # no variation: undefined
    with pytest.raises(DataError, match="same number of raters"):
        fleiss_kappa_table([[1, 2], [2, 2]])
    with pytest.raises(DataError, match="at least 2 raters"):
        fleiss_kappa_table([[1, 0], [0, 1]])


def test_fleiss_kappa_from_votes_per_label_and_overall(votes_from):
    # the hand example above as the "joy" votes of 3 texts; "love" chosen by nobody
    votes = votes_from(
        {
            ("t1", "a"): ["joy"],
            ("t1", "b"): ["joy"],
            ("t1", "c"): ["joy"],
            ("t2", "a"): [],
            ("t2", "b"): [],
            ("t2", "c"): [],
            ("t3", "a"): ["joy"],
            ("t3", "b"): ["joy"],
            ("t3", "c"): [],
            # a text with 1 annotator: not the modal number, left out of kappa
            ("t4", "a"): ["joy"],
        }
    )
    k = fleiss_kappa(votes)
    assert k["kappa_texts"] == 3 and k["kappa_raters"] == 3
    assert k["kappa_per_label"]["joy"] == pytest.approx(0.55)
    assert k["kappa_per_label"]["love"] is None
    # overall: pooled over the labels someone chose (only joy here)
    assert k["kappa"] == pytest.approx(0.55)
    assert fleiss_kappa(votes.iloc[:0])["kappa"] is None


# ------------------------------------------------------------------------------ Label Studio
