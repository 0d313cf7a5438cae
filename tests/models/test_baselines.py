import json
import os
import re
import time

import numpy as np
import pytest

from emobalance.data.dataset import EmotionDataset
from emobalance.errors import DataError, ModelError
from emobalance.labels import LABEL_TO_ID, LABELS
from emobalance.metrics import evaluate, tune_thresholds
from emobalance.models.baselines import MODEL_FILES, LinearOneVsRest, TfidfBaseline

WORDS = {
    "gratitude": ["thanks", "thank", "grateful", "appreciate"],
    "anger": ["furious", "angry", "rage", "mad"],
    "joy": ["happy", "glad", "delighted", "yay"],
    "neutral": ["table", "monday", "report", "meeting"],
}


def make_data(n: int, seed: int) -> EmotionDataset:
    rng = np.random.default_rng(seed)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    names = list(WORDS)
    for i in range(n):
        lab = names[i % len(names)]
        words = list(rng.choice(WORDS[lab], size=2)) + list(rng.choice(["the", "a", "so", "it"], 3))
        rng.shuffle(words)
        texts.append(" ".join(words).upper() if i % 7 == 0 else " ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


@pytest.fixture(scope="module")
def data():
    return make_data(120, 0), make_data(40, 1)


@pytest.fixture(scope="module")
def fitted(data):
    train, dev = data
    return TfidfBaseline(C=4.0).fit(train, dev)


def test_fit_predict_proba_shape_dtype(fitted, data):
    _, dev = data
    proba = fitted.predict_proba(dev.texts)
    assert proba.shape == (40, 28) and proba.dtype == np.float32
    assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1
    assert fitted.predict_proba([]).shape == (0, 28)
    assert fitted.n_features_ == fitted.classifier_.coef_.shape[1] > 0
    assert fitted.fit_seconds_ > 0


def test_labels_absent_from_train_get_constant_zero(fitted, data):
    _, dev = data
    proba = fitted.predict_proba(dev.texts)
    absent = [j for j, name in enumerate(LABELS) if name not in WORDS]
    assert np.all(proba[:, absent] == 0.0)
    present = [LABEL_TO_ID[name] for name in WORDS]
    assert np.isnan(fitted.classifier_.constant_[present]).all()


def test_thresholds_tuned_on_dev(fitted, data):
    _, dev = data
    expected = tune_thresholds(dev.labels, fitted.predict_proba(dev.texts))
    np.testing.assert_array_equal(fitted.thresholds_, expected)
    absent = [j for j in range(28) if dev.labels[:, j].sum() == 0]
    assert np.all(fitted.thresholds_[absent] == np.float32(0.5))
    m = fitted.metrics_["dev"]
    assert m is not None and m["macro_f1"] > 0 and "ekman" in m and "macro_f1_at_0_5" in m
    assert m["per_label"]["gratitude"]["f1"] == pytest.approx(1.0)
    json.dumps(m)


def test_predict_names_and_lowercasing(fitted):
    assert fitted.predict(["thanks so much, grateful", "I AM SO FURIOUS AND MAD"]) == [
        ["gratitude"],
        ["anger"],
    ]
    np.testing.assert_array_equal(
        fitted.predict_proba(["Happy YAY"]), fitted.predict_proba(["happy yay"])
    )
    mat = fitted.predict_matrix(["happy glad"])
    assert mat.dtype == np.uint8 and mat[0, LABEL_TO_ID["joy"]] == 1


def test_fit_without_dev_uses_half(data):
    train, _ = data
    model = TfidfBaseline().fit(train)
    assert np.all(model.thresholds_ == np.float32(0.5))
    assert "dev" not in model.metrics_


def test_single_class_column_all_positive_does_not_crash():
    # every row carries neutral -> neutral is constant 1; joy is a normal label
    texts = ["happy day yay", "glad happy", "the table", "a meeting table"] * 3
    labels = np.zeros((12, 28), dtype=np.uint8)
    labels[:, LABEL_TO_ID["neutral"]] = 1
    labels[[0, 1, 4, 5, 8, 9], LABEL_TO_ID["joy"]] = 1
    model = TfidfBaseline(min_df=1).fit(EmotionDataset(texts, labels))
    proba = model.predict_proba(["yay happy", "table"])
    assert np.all(proba[:, LABEL_TO_ID["neutral"]] == 1.0)
    assert proba[0, LABEL_TO_ID["joy"]] > proba[1, LABEL_TO_ID["joy"]]


def test_deterministic_and_n_jobs_independent(data):
    train, dev = data
    a = TfidfBaseline(random_state=3).fit(train).predict_proba(dev.texts)
    b = TfidfBaseline(random_state=3).fit(train).predict_proba(dev.texts)
    np.testing.assert_array_equal(a, b)
    c = TfidfBaseline(random_state=3, n_jobs=2).fit(train).predict_proba(dev.texts)
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_class_weight_and_sample_weight(data):
    train, dev = data
    balanced = TfidfBaseline(class_weight="balanced").fit(train, dev)
    assert balanced.predict(["so grateful thanks"]) == [["gratitude"]]
    weighted = EmotionDataset(train.texts, train.labels, weight=np.full(len(train), 2.0))
    p1 = TfidfBaseline(C=1.0).fit(weighted).predict_proba(dev.texts)
    p2 = TfidfBaseline(C=2.0).fit(train).predict_proba(dev.texts)
    np.testing.assert_allclose(p1, p2, atol=1e-3)  # weight 2 == doubling C


def test_save_load_identical_probabilities(fitted, data, tmp_path):
    _, dev = data
    out = fitted.save(tmp_path / "m")
    for name in (*MODEL_FILES, "metrics.json"):
        assert (out / name).is_file()
    th = json.loads((out / "thresholds.json").read_text())
    assert list(th) == list(LABELS)
    loaded = TfidfBaseline.load(out)
    np.testing.assert_array_equal(loaded.predict_proba(dev.texts), fitted.predict_proba(dev.texts))
    np.testing.assert_array_equal(loaded.thresholds_, fitted.thresholds_)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.metrics_["dev"]["macro_f1"] == pytest.approx(fitted.metrics_["dev"]["macro_f1"])
    assert [f for f in os.listdir(out) if f.startswith(".")] == []  # no temp files left


@pytest.mark.parametrize("name", MODEL_FILES)
def test_load_missing_file_names_it(fitted, tmp_path, name):
    out = fitted.save(tmp_path / "m")
    (out / name).unlink()
    with pytest.raises(ModelError, match=re.escape(name)):
        TfidfBaseline.load(out)


def test_load_errors(fitted, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        TfidfBaseline.load(tmp_path / "nothing")
    out = fitted.save(tmp_path / "m")
    (out / "thresholds.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"thresholds\.json"):
        TfidfBaseline.load(out)
    out = fitted.save(tmp_path / "m2")
    (out / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"model\.joblib"):
        TfidfBaseline.load(out)


def test_input_errors(fitted):
    with pytest.raises(DataError, match="single str"):
        fitted.predict_proba("one text")
    with pytest.raises(DataError, match="text 1"):
        fitted.predict_proba(["ok", 3])
    with pytest.raises(ModelError, match="not fitted"):
        TfidfBaseline().predict_proba(["x"])
    with pytest.raises(DataError, match="labelled"):
        TfidfBaseline().fit(EmotionDataset(["a b", "a b"]))
    with pytest.raises(DataError, match="TF-IDF"):
        TfidfBaseline(min_df=5).fit(make_data(3, 0))


def test_works_as_teacher(fitted):
    from emobalance.teachers import ClassifierTeacher, teacher_proba

    texts = ["thanks a lot", "so angry"] * 5
    out = ClassifierTeacher(fitted, batch_size=3).predict_proba(texts)
    np.testing.assert_array_equal(out, teacher_proba(fitted, texts))


def test_linear_one_vs_rest_direct():
    rng = np.random.default_rng(0)
    X = rng.random((50, 6))
    Y = np.zeros((50, 3), dtype=np.uint8)
    Y[:, 0] = X[:, 0] > 0.5
    Y[:, 2] = 1
    clf = LinearOneVsRest(C=10.0).fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.shape == (50, 3) and proba.dtype == np.float32
    assert ((proba[:, 0] >= 0.5) == Y[:, 0].astype(bool)).mean() > 0.9
    assert np.all(proba[:, 1] == 0.0) and np.all(proba[:, 2] == 1.0)


@pytest.mark.slow
@pytest.mark.data
def test_real_goemotions_reference_measurement():
    from emobalance.data import goemotions

    if not os.environ.get("EMOBALANCE_DATA"):
        pytest.skip("set EMOBALANCE_DATA to the shared data folder")
    train, dev, test = (goemotions.load(s) for s in ("train", "dev", "test"))
    model = TfidfBaseline().fit(train, dev)
    t0 = time.perf_counter()
    proba = model.predict_proba(test.texts)
    rate = len(test) / (time.perf_counter() - t0)
    m = evaluate(test.labels, proba, model.thresholds_)
    print(f"test macro-F1 {m['macro_f1']:.4f}, fit {model.fit_seconds_:.0f}s, {rate:.0f} texts/s")
    assert m["macro_f1"] > 0.45


def test_linear_one_vs_rest_parallel_with_memmapped_input():
    # arrays over joblib's 1 MB threshold reach the workers as read-only memmaps
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    X = sp.random(2000, 5000, density=0.02, format="csr", random_state=1, dtype=np.float64)
    assert X.data.nbytes > 1_000_000
    Y = (rng.random((2000, 2)) < 0.3).astype(np.uint8)
    a = LinearOneVsRest(n_jobs=2).fit(X, Y)
    b = LinearOneVsRest(n_jobs=1).fit(X, Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_load_reads_the_old_metrics_file(fitted, tmp_path):
    out = fitted.save(tmp_path / "m")
    (out / "metrics.json").write_text(json.dumps({"dev": fitted.metrics_["dev"]}))  # <= 0.1
    loaded = TfidfBaseline.load(out)
    assert loaded.metrics_["dev"]["macro_f1"] == pytest.approx(fitted.metrics_["dev"]["macro_f1"])
