import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from emobalance.balance.resample import MLROS, MLRUS, oversample_to_targets
from emobalance.balance.stats import irlbl, mean_ir
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID, LABELS, NUM_LABELS

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def label_matrices(draw, max_rows=40, min_labels=2, max_labels=6):
    n = draw(st.integers(1, max_rows))
    q = draw(st.integers(min_labels, max_labels))
    return draw(hnp.arrays(np.uint8, (n, q), elements=st.integers(0, 1)))


@st.composite
def single_label_matrices(draw):
    """One label per row, skewed counts: the textbook imbalanced case."""
    counts = draw(st.lists(st.integers(1, 30), min_size=2, max_size=6))
    y = np.zeros((sum(counts), len(counts)), dtype=np.uint8)
    y[np.arange(len(y)), np.repeat(np.arange(len(counts)), counts)] = 1
    return y


def goemotions_like(seed, n=600):
    """Skewed single labels, 15% of rows with a second label."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, NUM_LABELS + 1) ** 1.3
    p /= p.sum()
    y = np.zeros((n, NUM_LABELS), dtype=np.uint8)
    for i in range(n):
        k = 2 if rng.random() < 0.15 else 1
        y[i, rng.choice(NUM_LABELS, size=k, replace=False, p=p)] = 1
    return y


def as_dataset(y, prefix="r"):
    n = len(y)
    return EmotionDataset(
        [f"text {i}" for i in range(n)],
        y,
        source="goemotions",
        ids=[f"{prefix}{i}" for i in range(n)],
        weight=np.linspace(0.5, 1.5, n),
        teacher_score=np.full(n, np.nan),
        meta={"polarity": list(range(n))},
    )


# ------------------------------------------------------------------------------ ML-ROS
@FAST
@given(
    y=label_matrices(),
    ratio=st.floats(0.01, 1.0),
    max_copies=st.one_of(st.none(), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
)
def test_ros_properties(y, ratio, max_copies, seed):
    n = len(y)
    X = np.arange(n) * 10
    ros = MLROS(sampling_ratio=ratio, max_copies=max_copies, random_state=seed)
    X_res, y_res = ros.fit_resample(X, y)
    idx = ros.sample_indices_
    # only input rows: the input first, unchanged, then clones of input rows
    assert np.array_equal(idx[:n], np.arange(n))
    assert idx.min() >= 0 and idx.max() < n
    assert np.array_equal(X_res, X[idx]) and np.array_equal(y_res, y[idx])
    assert y_res.dtype == y.dtype
    # never lowers a label's count; adds at most the requested number of rows
    assert np.all(y_res.sum(0) >= y.sum(0))
    assert ros.n_added_ == len(idx) - n <= ros.n_requested_ == int(np.floor(n * ratio + 0.5))
    copies = np.bincount(idx[n:], minlength=n)
    assert np.array_equal(copies, ros.copies_)
    if max_copies is not None:
        assert copies.max(initial=0) <= max_copies
    # clones only carry minority labels of the input
    if ros.n_added_:
        assert y[idx[n:]][:, ros.minority_labels_].any(axis=1).all()
    assert ros.mean_ir_after_ == pytest.approx(mean_ir(y_res), nan_ok=True)
    # deterministic for a seed
    again = MLROS(sampling_ratio=ratio, max_copies=max_copies, random_state=seed)
    again.fit_resample(X, y)
    assert np.array_equal(again.sample_indices_, idx)


@FAST
@given(y=single_label_matrices(), ratio=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_ros_mean_ir_does_not_increase_single_label(y, ratio, seed):
    ros = MLROS(sampling_ratio=ratio, random_state=seed)
    _, y_res = ros.fit_resample(list(range(len(y))), y)
    assert mean_ir(y_res) <= mean_ir(y) + 1e-12
    # the most frequent label is never cloned past; minority labels stop at MeanIR
    assert y_res.sum(0).max() == y.sum(0).max()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ros_lowers_mean_ir_on_goemotions_like_data(seed):
    y = goemotions_like(seed)
    ros = MLROS(sampling_ratio=0.25, random_state=seed)
    _, y_res = ros.fit_resample(np.arange(len(y)), y)
    assert 0 < ros.n_added_ <= 150
    assert mean_ir(y_res) < mean_ir(y)
    assert ros.mean_ir_before_ == pytest.approx(mean_ir(y))


def test_ros_stops_when_minority_reaches_mean_ir():
    y = np.zeros((21, 4), dtype=np.uint8)  # counts 12, 6, 2, 1 -> IRLbl 1, 2, 6, 12, MeanIR 5.25
    y[:12, 0] = 1
    y[12:18, 1] = 1
    y[18:20, 2] = 1
    y[20, 3] = 1
    ros = MLROS(sampling_ratio=1.0, random_state=0)
    _, y_res = ros.fit_resample(np.arange(21), y)
    assert ros.minority_labels_.tolist() == [3, 2]  # rarest first
    assert y_res.sum(0).tolist() == [12, 6, 3, 3]  # 12/3 = 4 <= 5.25: both left the bag
    assert ros.n_added_ == 3 < ros.n_requested_ == 21


def test_ros_max_copies_and_labels_restriction():
    # counts 100, 100, 1, 2 -> IRLbl 1, 1, 100, 50, MeanIR 38: label 2 needs 3 rows, label 3 needs 3
    y = np.zeros((203, 4), dtype=np.uint8)
    y[:100, 0] = 1
    y[100:200, 1] = 1
    y[200, 2] = 1
    y[201:, 3] = 1
    X = np.arange(203)
    _, y_res = MLROS(sampling_ratio=1.0, random_state=0).fit_resample(X, y)
    assert y_res.sum(0).tolist() == [100, 100, 3, 3]
    ros = MLROS(sampling_ratio=1.0, max_copies=1, random_state=0)
    _, y_res = ros.fit_resample(X, y)
    assert y_res.sum(0).tolist() == [100, 100, 2, 3]  # the grief-like row is capped at 1 copy
    assert ros.copies_.max() == 1
    ros = MLROS(sampling_ratio=1.0, random_state=0, labels=[3])
    _, y_res = ros.fit_resample(X, y)
    assert y_res.sum(0).tolist() == [100, 100, 1, 3]
    assert ros.minority_labels_.tolist() == [3]


def test_ros_accepts_lists_and_dataframes():
    y = goemotions_like(3, n=80)
    texts = [f"t{i}" for i in range(80)]
    ros = MLROS(random_state=5)
    X_res, y_res = ros.fit_resample(texts, y)
    assert isinstance(X_res, list) and X_res == [texts[i] for i in ros.sample_indices_]
    df = pd.DataFrame({"text": texts})
    X_df, y_df = MLROS(random_state=5).fit_resample(df, pd.DataFrame(y))
    assert X_df["text"].tolist() == X_res and np.array_equal(y_df, y_res)


# ------------------------------------------------------------------------------ targets
@FAST
@given(
    y=label_matrices(max_rows=30),
    data=st.data(),
    max_copies=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_target_mode_properties(y, data, max_copies, seed):
    n, q = y.shape
    targets = np.array(data.draw(st.lists(st.integers(-1, 40), min_size=q, max_size=q)))
    tol = 0.1
    ros = MLROS(targets=targets, max_copies=max_copies, random_state=seed, tolerance=tol)
    _, y_res = ros.fit_resample(np.arange(n), y)
    before, after = y.sum(0), y_res.sum(0)
    assert np.all(after >= before)
    ceiling = np.maximum(np.floor(targets * (1 + tol)), targets)
    for j in range(q):
        if targets[j] < 0:
            continue
        # strict: clones never push a label past its ceiling
        assert after[j] <= max(ceiling[j], before[j])
        # a label is either filled or reported short by exactly its deficit
        left = max(targets[j] - after[j], 0)
        assert ros.unmet_.get(j, 0) == left
    if max_copies is not None:
        assert ros.copies_.max(initial=0) <= max_copies
    again = MLROS(targets=targets, max_copies=max_copies, random_state=seed, tolerance=tol)
    again.fit_resample(np.arange(n), y)
    assert np.array_equal(again.sample_indices_, ros.sample_indices_)


def targets_example():
    g, s, j = (LABEL_TO_ID[x] for x in ("grief", "sadness", "joy"))
    y = np.zeros((12, NUM_LABELS), dtype=np.uint8)
    y[0, [g, s]] = 1  # grief + sadness (sadness is at its target)
    y[1, [g, j]] = 1  # grief + joy (joy is under its target)
    y[2:12, s] = 1
    y[2:4, j] = 1
    return y, [g, s, j]  # counts: grief 2, sadness 11, joy 3


def test_targets_never_pass_a_ceiling():
    y, cols = targets_example()
    ros = MLROS(targets={"grief": 4, "sadness": 11, "joy": 10}, tolerance=0.0, random_state=0)
    _, y_res = ros.fit_resample(np.arange(12), y)
    # with tolerance 0 sadness (at 11) may not grow: only row 1 (grief + joy) is cloned, until
    # grief reaches 4; joy is left short
    assert y_res[:, cols].sum(0).tolist() == [4, 11, 5]
    assert ros.copies_.tolist() == [0, 2] + [0] * 10
    assert ros.unmet_ == {"joy": 5}
    assert ros.n_requested_ == 2 + 7


def test_targets_prefer_rows_whose_other_labels_are_under_target():
    y, cols = targets_example()
    ros = MLROS(targets={"grief": 4, "sadness": 11, "joy": 10}, tolerance=0.5, random_state=0)
    _, y_res = ros.fit_resample(np.arange(12), y)
    # grief is served by row 1 (joy under target), never by row 0 (sadness at target); joy
    # then by rows 2-3, within sadness's ceiling 16
    assert ros.copies_[0] == 0 and ros.copies_[1] == 2
    assert y_res[:, cols].sum(0).tolist() == [4, 16, 10]
    assert ros.unmet_ == {}


def test_targets_non_strict_overshoots_when_no_choice():
    y = np.zeros((10, 2), dtype=np.uint8)
    y[0] = [1, 1]  # the only label-0 row also carries label 1, which is at target
    y[1:10, 1] = 1
    strict = MLROS(targets=[3, 10], tolerance=0.0, random_state=0)
    _, y_res = strict.fit_resample(np.arange(10), y)
    assert y_res.sum(0).tolist() == [1, 10] and strict.unmet_ == {0: 2}
    loose = MLROS(targets=[3, 10], tolerance=0.0, random_state=0, strict=False)
    _, y_res = loose.fit_resample(np.arange(10), y)
    assert y_res.sum(0).tolist() == [3, 12] and loose.unmet_ == {}


def test_oversample_to_targets_dataset_counts_and_only_new():
    y = goemotions_like(4, n=300)
    ds = as_dataset(y)
    counts = y.sum(0)
    targets = dict.fromkeys(LABELS, int(np.median(counts)))
    out = oversample_to_targets(ds, targets, max_copies=5, random_state=0)
    after = out.labels.sum(0)
    assert np.all(after >= counts)
    assert np.all(after <= np.maximum(np.floor(np.median(counts) * 1.1), counts))
    # counts of a larger set: labels already filled elsewhere get no clones
    extra = np.where(np.arange(NUM_LABELS) < 10, 0, 10_000)
    new = oversample_to_targets(
        ds, targets, max_copies=5, random_state=0, counts=counts + extra, only_new=True
    )
    assert len(new) and set(new.source) == {"oversampled"}
    assert set(new.parent_id) <= set(ds.ids)
    # labels far over their ceiling are never touched: clones carry only the first 10 labels
    assert new.labels[:, 10:].sum() == 0


# ------------------------------------------------------------------------------ ML-RUS
@FAST
@given(
    y=label_matrices(),
    ratio=st.floats(0.01, 1.0),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_rus_properties(y, ratio, data, seed):
    n, q = y.shape
    protected = data.draw(st.lists(st.integers(0, q - 1), max_size=2, unique=True))
    rus = MLRUS(sampling_ratio=ratio, random_state=seed, protected_labels=protected)
    X = [f"x{i}" for i in range(n)]
    X_res, y_res = rus.fit_resample(X, y)
    idx = rus.sample_indices_
    assert np.all(np.diff(idx) > 0)  # kept rows, in order, no repeats
    assert X_res == [X[i] for i in idx] and np.array_equal(y_res, y[idx])
    removed = np.setdiff1d(np.arange(n), idx)
    assert len(removed) == rus.n_removed_ <= rus.n_requested_
    ir = irlbl(y.sum(0))
    present = np.isfinite(ir)
    minority = np.flatnonzero(present & (ir > ir[present].mean())) if present.any() else []
    assert np.array_equal(rus.minority_labels_, minority)
    never = sorted(set(protected) | set(np.asarray(minority).tolist()))
    assert not y[removed][:, never].any()
    # a protected or minority label keeps every row
    assert np.array_equal(y_res.sum(0)[never], y.sum(0)[never])
    again = MLRUS(sampling_ratio=ratio, random_state=seed, protected_labels=protected)
    again.fit_resample(X, y)
    assert np.array_equal(again.sample_indices_, idx)


@pytest.mark.parametrize("seed", [0, 1])
def test_rus_on_goemotions_like_data(seed):
    y = goemotions_like(seed)
    rus = MLRUS(sampling_ratio=0.25, random_state=seed, protected_labels="neutral")
    _, y_res = rus.fit_resample(np.arange(len(y)), y)
    assert 0 < rus.n_removed_ <= 150
    assert y_res[:, LABEL_TO_ID["neutral"]].sum() == y[:, LABEL_TO_ID["neutral"]].sum()
    assert rus.mean_ir_after_ == pytest.approx(mean_ir(y_res))
    assert LABEL_TO_ID["neutral"] in rus.protected_labels_


def test_rus_dataset_keeps_rows_unchanged():
    ds = as_dataset(goemotions_like(7, n=200))
    rus = MLRUS(sampling_ratio=0.2, random_state=0)
    out = rus.resample_dataset(ds)
    assert len(out) == len(ds) - rus.n_removed_
    assert out.ids == [ds.ids[i] for i in rus.sample_indices_]
    assert out.meta["polarity"] == rus.sample_indices_.tolist()
    assert set(out.source) == {"goemotions"}


# ------------------------------------------------------------------------------ datasets
def test_ros_dataset_provenance():
    ds = as_dataset(goemotions_like(11, n=200))
    ros = MLROS(sampling_ratio=0.3, max_copies=3, random_state=0)
    out = ros.resample_dataset(ds)
    n = len(ds)
    assert len(out) == n + ros.n_added_ and ros.n_added_ > 0
    # the original rows keep everything
    assert out.texts[:n] == ds.texts and out.ids[:n] == ds.ids
    assert np.array_equal(out.labels[:n], ds.labels) and out.source[:n] == ds.source
    assert np.array_equal(out.weight[:n], ds.weight)
    # clones: oversampled, unique ids, parent = the copied row
    assert len(set(out.ids)) == len(out)
    by_id = {x: i for i, x in enumerate(ds.ids)}
    for k in range(n, len(out)):
        assert out.source[k] == "oversampled"
        parent = by_id[out.parent_id[k]]
        assert parent == ros.sample_indices_[k]
        assert out.ids[k].startswith(f"{ds.ids[parent]}#ros")
        assert out.texts[k] == ds.texts[parent]
        assert np.array_equal(out.labels[k], ds.labels[parent])
        assert out.meta["polarity"][k] == parent
    assert out.parent_id[:n] == [None] * n
    # a second pass: ids stay unique and copies of copies point at the original
    again = MLROS(sampling_ratio=0.3, random_state=1).resample_dataset(out)
    assert len(set(again.ids)) == len(again)
    ros_parents = {
        p for p, s in zip(again.parent_id, again.source, strict=True) if s == "oversampled"
    }
    assert ros_parents <= set(ds.ids)


def test_parquet_round_trip_of_oversampled_dataset(tmp_path):
    ds = as_dataset(goemotions_like(2, n=60))
    out = MLROS(random_state=0).resample_dataset(ds)
    back = EmotionDataset.from_parquet(out.to_parquet(tmp_path / "ros.parquet"))
    assert back.ids == out.ids and back.parent_id == out.parent_id and back.source == out.source


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.arange(3), np.array([1, 0, 1]), "2-D"),
        (np.arange(3), np.array([[1, 0], [0, 2], [1, 1]]), "row 1"),
        (np.arange(4), np.array([[1, 0], [0, 1], [1, 1]]), "X has 4 rows but y has 3"),
        (np.arange(2), np.array([["a", "b"], ["c", "d"]]), "numeric"),
        (np.arange(2), np.zeros((2, 0)), "no label columns"),
    ],
)
def test_bad_input_raises_data_error(X, y, match):
    with pytest.raises(DataError, match=match):
        MLROS().fit_resample(X, y)
    with pytest.raises(DataError, match=match):
        MLRUS().fit_resample(X, y)


@pytest.mark.parametrize("ratio", [0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_bad_ratio(ratio):
    y = np.eye(3, dtype=np.uint8)
    with pytest.raises(ConfigError, match="sampling_ratio"):
        MLROS(sampling_ratio=ratio).fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="sampling_ratio"):
        MLRUS(sampling_ratio=ratio).fit_resample(np.arange(3), y)


def test_bad_parameters():
    y = np.eye(3, dtype=np.uint8)
    with pytest.raises(ConfigError, match="max_copies"):
        MLROS(max_copies=0).fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="28-column"):
        MLROS(labels=["joy"]).fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="unknown emotion label"):
        MLRUS(protected_labels=["happyness"]).fit_resample(
            np.arange(3), np.zeros((3, NUM_LABELS), np.uint8)
        )
    with pytest.raises(ConfigError, match="outside"):
        MLRUS(protected_labels=[5]).fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="random_state"):
        MLROS(random_state="seed").fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="targets"):
        MLROS(targets=[1, 2]).fit_resample(np.arange(3), y)
    with pytest.raises(ConfigError, match="tolerance"):
        MLROS(targets=[1, 2, 3], tolerance=-1).fit_resample(np.arange(3), y)
    with pytest.raises(DataError, match="unlabelled"):
        MLROS().resample_dataset(EmotionDataset(["a", "b"]))
    with pytest.raises(DataError, match="counts must have shape"):
        oversample_to_targets(as_dataset(np.eye(NUM_LABELS, dtype=np.uint8)), {"joy": 3},
                              counts=[1, 2])  # fmt: skip


def test_empty_and_balanced_inputs_are_returned_unchanged():
    y = np.zeros((0, 4), dtype=np.uint8)
    X_res, y_res = MLROS().fit_resample(np.zeros((0, 2)), y)
    assert X_res.shape == (0, 2) and y_res.shape == (0, 4)
    y = np.eye(4, dtype=np.uint8)  # every IRLbl = MeanIR = 1
    _, y_res = MLROS(sampling_ratio=1.0).fit_resample(np.arange(4), y)
    assert np.array_equal(y_res, y)
    _, y_res = MLRUS(sampling_ratio=1.0).fit_resample(np.arange(4), y)
    assert np.array_equal(y_res, y)
