import json
import math

import numpy as np
import pytest

from emobalance.balance.stats import (
    ImbalanceStats,
    imbalance_stats,
    irlbl,
    mean_ir,
    mean_ir_from_counts,
    plot_label_counts,
)
from emobalance.data import EmotionDataset
from emobalance.labels import GOEMOTIONS, LABELS, NUM_LABELS


def matrix(*names_per_row):
    y = np.zeros((len(names_per_row), NUM_LABELS), dtype=np.uint8)
    for i, names in enumerate(names_per_row):
        for name in names:
            y[i, LABELS.index(name)] = 1
    return y


# counts: admiration 3, grief 1, neutral 2 -> IRLbl 1, 3, 1.5
TINY = matrix(["admiration", "grief"], ["admiration"], ["admiration", "neutral"], ["neutral"])


def test_tiny_matrix_by_hand():
    s = imbalance_stats(TINY)
    assert isinstance(s, ImbalanceStats)
    assert s.n == 4
    assert {k: v for k, v in s.label_counts.items() if v} == {
        "admiration": 3,
        "grief": 1,
        "neutral": 2,
    }
    assert s.label_share["admiration"] == 0.75 and s.label_share["joy"] == 0.0
    assert s.irlbl == {"admiration": 1.0, "grief": 3.0, "neutral": 1.5}
    mean = (1.0 + 3.0 + 1.5) / 3
    assert s.mean_ir == pytest.approx(mean)
    assert s.max_ir == 3.0
    sd = math.sqrt(((1.0 - mean) ** 2 + (3.0 - mean) ** 2 + (1.5 - mean) ** 2) / (3 - 1))
    assert s.cvir == pytest.approx(sd / mean)
    assert s.cvir == pytest.approx(0.5677270, abs=1e-6)
    # SCUMBLE: rows with one label give 0; row 0 has IRLbl {1, 3}, row 2 has {1, 1.5}
    row0 = 1 - math.sqrt(1.0 * 3.0) / ((1.0 + 3.0) / 2)
    row2 = 1 - math.sqrt(1.0 * 1.5) / ((1.0 + 1.5) / 2)
    assert s.scumble == pytest.approx((row0 + 0 + row2 + 0) / 4)
    assert s.scumble == pytest.approx(0.0385447, abs=1e-6)
    assert s.cardinality == 1.5
    assert s.density == pytest.approx(1.5 / 28)
    assert s.labels_per_example == {1: 2, 2: 2}
    # without neutral: admiration 3, grief 1 -> IRLbl 1, 3
    assert s.mean_ir_without_neutral == pytest.approx(2.0)
    assert len(s.absent_labels) == 25 and "joy" in s.absent_labels
    assert "grief" not in s.absent_labels
    co = s.cooccurrence
    a, g, n = LABELS.index("admiration"), LABELS.index("grief"), LABELS.index("neutral")
    assert co.shape == (28, 28)
    assert co[a, a] == 3 and co[a, g] == co[g, a] == 1 and co[a, n] == 1 and co[g, n] == 0
    assert mean_ir(TINY) == pytest.approx(mean)


def test_three_labels_in_a_row_by_hand():
    # counts: joy 4, love 2, grief 1 -> IRLbl 1, 2, 4
    y = matrix(["joy", "love", "grief"], ["joy", "love"], ["joy"], ["joy"])
    s = imbalance_stats(y)
    assert s.irlbl == {"grief": 4.0, "joy": 1.0, "love": 2.0}
    assert s.max_ir == 4.0
    row0 = 1 - (1.0 * 2.0 * 4.0) ** (1 / 3) / ((1.0 + 2.0 + 4.0) / 3)
    row1 = 1 - math.sqrt(1.0 * 2.0) / 1.5
    assert s.scumble == pytest.approx((row0 + row1) / 4)
    assert s.labels_per_example == {1: 2, 2: 1, 3: 1}


def test_balanced_and_degenerate_matrices():
    eye = np.eye(28, dtype=np.uint8)
    s = imbalance_stats(eye)
    assert s.mean_ir == 1.0 and s.max_ir == 1.0 and s.cvir == 0.0 and s.scumble == 0.0
    assert s.absent_labels == []
    one = imbalance_stats(matrix(["joy"], ["joy"]))
    assert one.mean_ir == 1.0 and one.cvir == 0.0  # a single present label
    assert math.isnan(one.mean_ir_without_neutral) is False
    empty = imbalance_stats(np.zeros((0, 28), dtype=np.uint8))
    assert empty.n == 0 and math.isnan(empty.mean_ir) and math.isnan(empty.max_ir)
    assert empty.cardinality == 0.0 and empty.scumble == 0.0
    assert empty.labels_per_example == {}
    assert len(empty.absent_labels) == 28
    only_neutral = imbalance_stats(matrix(["neutral"]))
    assert math.isnan(only_neutral.mean_ir_without_neutral)
    # any width: a bare 5-column matrix gets column names, a schema of another width is refused
    assert list(imbalance_stats(np.zeros((3, 5))).label_counts) == [f"label_{j}" for j in range(5)]
    with pytest.raises(ValueError, match="goemotions has 28 labels, the matrix 5"):
        imbalance_stats(np.zeros((3, 5)), schema=GOEMOTIONS)
    with pytest.raises(ValueError, match=r"shape \(n, q\)"):
        imbalance_stats(np.zeros(5))


def test_irlbl_marks_absent_labels_infinite():
    out = irlbl(np.array([4, 0, 2]))
    assert out.tolist() == [1.0, math.inf, 2.0]


def test_mean_ir_from_counts_is_the_one_mean_ir():
    assert mean_ir_from_counts([12, 6, 2, 1]) == 5.25
    assert mean_ir_from_counts([12, 6, 2, 1, 0]) == 5.25  # absent labels left out
    assert mean_ir_from_counts(np.array([3.0, 1.5])) == 1.5  # fractional counts too
    assert math.isnan(mean_ir_from_counts([0, 0])) and math.isnan(mean_ir_from_counts([]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = (rng.random((int(rng.integers(1, 200)), 28)) < rng.uniform(0, 0.3)).astype(np.uint8)
        counts = y.sum(0)
        # the formula resample.py and planner.py each had (bit for bit)
        c = counts[counts > 0].astype(np.float64)
        expected = float((c.max() / c).mean()) if c.size else float("nan")
        got = mean_ir_from_counts(counts)
        assert got == expected or (math.isnan(got) and math.isnan(expected))
        assert got == mean_ir(y) or math.isnan(got)
        s = imbalance_stats(y)
        assert s.mean_ir == got or math.isnan(got)
    assert irlbl(np.array([2.0, 0.5, 0.0])).tolist() == [1.0, 4.0, math.inf]


def test_stats_of_a_dataset_and_to_dict():
    ds = EmotionDataset(["a", "b", "c", "d"], TINY)
    s = imbalance_stats(ds)
    assert s.mean_ir == imbalance_stats(TINY).mean_ir
    d = s.to_dict()
    assert "cooccurrence" not in d
    assert d["labels_per_example"] == {"1": 2, "2": 2}
    json.dumps(d)  # JSON-ready
    assert {"n", "label_counts", "mean_ir", "max_ir", "cvir", "scumble", "cardinality"} <= set(d)
    with_co = s.to_dict(cooccurrence=True)
    assert with_co["cooccurrence"][0][0] == 3 and len(with_co["cooccurrence"]) == 28
    with pytest.raises(Exception, match="unlabelled"):
        imbalance_stats(EmotionDataset(["x"]))


def test_plot_label_counts_writes_png(tmp_path):
    s = imbalance_stats(TINY)
    out = plot_label_counts(s, tmp_path / "figs" / "counts.png", title="tiny")
    assert out == tmp_path / "figs" / "counts.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_label_counts({"joy": 3, "grief": 0}, tmp_path / "dict.png")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["counts.png", "dict.png"]


@pytest.mark.data
def test_mean_ir_of_real_train_by_hand(data_dir, real_train):
    # count labels straight from the file, no package helpers
    counts = [0] * 28
    rows = 0
    with open(data_dir / "goemotions" / "train.tsv", encoding="utf-8") as f:
        for line in f:
            rows += 1
            for item in line.rstrip("\n").split("\t")[1].split(","):
                counts[int(item)] += 1
    assert rows == 43410
    assert counts[27] == 14219 and counts[16] == 77
    largest = 0
    for c in counts:
        if c > largest:
            largest = c
    total = 0.0
    present = 0
    for c in counts:
        if c > 0:
            total += largest / c
            present += 1
    by_hand = total / present
    worst = 0.0
    for c in counts:
        if c > 0 and largest / c > worst:
            worst = largest / c
    s = imbalance_stats(real_train)
    assert s.label_counts == dict(zip(LABELS, counts, strict=True))
    assert s.mean_ir == pytest.approx(by_hand, rel=1e-12)
    assert mean_ir(real_train.labels) == pytest.approx(by_hand, rel=1e-12)
    assert s.max_ir == pytest.approx(worst) == pytest.approx(14219 / 77)
    assert s.absent_labels == []
    total_nn, largest_nn = 0.0, max(counts[:27])
    for c in counts[:27]:
        total_nn += largest_nn / c
    assert s.mean_ir_without_neutral == pytest.approx(total_nn / 27, rel=1e-12)
