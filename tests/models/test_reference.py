import json

import numpy as np
import pytest

from emobalance.data.dataset import EmotionDataset
from emobalance.errors import DataError, ModelError
from emobalance.labels import LABEL_TO_ID, LABELS
from emobalance.models.reference import EmotionClassifier

TINY_MODEL = dict(
    vectors=None, embedding_dim=16, conv_channels=8, lstm_hidden=8, attention_dim=8,
    max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip
TINY_TRAIN = dict(
    epochs=10,
    batch_size=8,
    lr=0.01,
    loss="asl",
    lr_schedule="constant",
    patience=20,
    mixed_precision="off",
    progress=False,
    seed=0,
)

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
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


@pytest.fixture(scope="module")
def fitted():
    train, dev = make_data(160, 0), make_data(40, 1)
    return EmotionClassifier(model=TINY_MODEL, train=TINY_TRAIN).fit(train, dev), dev


def test_fit_learns_and_tunes_thresholds_on_dev(fitted):
    clf, dev = fitted
    proba = clf.predict_proba(dev.texts)
    assert proba.shape == (40, 28) and proba.dtype == np.float32
    assert clf.thresholds_.shape == (28,)
    # labels absent from dev keep 0.5; present ones were tuned
    absent = [j for j in range(28) if dev.labels[:, j].sum() == 0]
    assert np.all(clf.thresholds_[absent] == 0.5)
    assert clf.metrics_["dev"]["macro_f1"] > 0
    assert len(clf.history_) >= 1
    pred = clf.predict(["thanks so much, grateful"])
    assert pred == [["gratitude"]]


def test_thresholds_come_from_dev_only(fitted):
    from emobalance.metrics import tune_thresholds

    clf, dev = fitted
    np.testing.assert_array_equal(
        clf.thresholds_, tune_thresholds(dev.labels, clf.predict_proba(dev.texts))
    )


def test_save_load_round_trip_identical(fitted, tmp_path):
    clf, dev = fitted
    clf.save(tmp_path / "m")
    for name in ("config.json", "vocab.json", "model.safetensors", "thresholds.json",
                 "metrics.json"):  # fmt: skip
        assert (tmp_path / "m" / name).is_file()
    loaded = EmotionClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(dev.texts), clf.predict_proba(dev.texts))
    np.testing.assert_array_equal(loaded.thresholds_, clf.thresholds_)
    assert loaded.predict(dev.texts) == clf.predict(dev.texts)


def test_explain_attention_over_tokens(fitted):
    clf, _ = fitted
    ex = clf.explain("so happy and glad today!")
    assert ex["tokens"][:2] == ["so", "happy"]
    assert len(ex["attention"]) == len(ex["tokens"])
    assert sum(ex["attention"]) == pytest.approx(1.0, abs=1e-5)
    assert len(ex["top"]) == 5 and ex["top"][0]["probability"] >= ex["top"][1]["probability"]
    assert ex["ekman"] in ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


def test_bad_inputs(fitted):
    clf, _ = fitted
    proba = clf.predict_proba(["", "   ", "x" * 100_000, "word " * 50_000])
    assert proba.shape == (4, 28) and np.isfinite(proba).all()
    assert clf.explain("")["tokens"]
    with pytest.raises(DataError, match="text 1 is int"):
        clf.predict_proba(["ok", 3])
    with pytest.raises(DataError, match="single str"):
        clf.predict_proba("just one string")
    with pytest.raises(DataError):
        clf.explain(None)


def test_unfitted_model_errors():
    with pytest.raises(ModelError, match="not fitted"):
        EmotionClassifier().predict_proba(["hi"])


@pytest.mark.parametrize("missing", ["config.json", "vocab.json", "model.safetensors",
                                     "thresholds.json", "metrics.json"])  # fmt: skip
def test_load_refuses_missing_file(fitted, tmp_path, missing):
    clf, _ = fitted
    d = clf.save(tmp_path / "m")
    (d / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        EmotionClassifier.load(d)


def test_load_refuses_mismatched_files(fitted, tmp_path):
    clf, _ = fitted
    d = clf.save(tmp_path / "m")
    vocab = json.loads((d / "vocab.json").read_text())
    key = "itos" if "itos" in vocab else next(iter(vocab))
    vocab[key] = vocab[key][:-3]
    (d / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelError, match=r"vocab\.json"):
        EmotionClassifier.load(d)

    d2 = clf.save(tmp_path / "m2")
    cfg = json.loads((d2 / "config.json").read_text())
    cfg["model"]["lstm_hidden"] = 9
    (d2 / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        EmotionClassifier.load(d2)

    d3 = clf.save(tmp_path / "m3")
    (d3 / "thresholds.json").write_text(json.dumps({"joy": 0.5}))
    with pytest.raises(ModelError, match=r"thresholds\.json"):
        EmotionClassifier.load(d3)

    (d3 / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config\.json"):
        EmotionClassifier.load(d3)
    with pytest.raises(ModelError, match="not found"):
        EmotionClassifier.load(tmp_path / "nope")


def test_ablation_without_pretrained_and_without_attention():
    train = make_data(48, 2)
    clf = EmotionClassifier(
        model={**TINY_MODEL, "pretrained": False, "use_attention": False},
        train={**TINY_TRAIN, "epochs": 1},
    ).fit(train)
    assert clf.embedding_info_["source"] == "random"
    ex = clf.explain("happy table")
    assert ex["attention"] == [0.0, 0.0]
    assert np.all(clf.thresholds_ == 0.5)  # no dev: default thresholds


def test_labels_order_in_explain(fitted):
    clf, _ = fitted
    ex = clf.explain("thanks")
    assert list(ex["probabilities"]) == list(LABELS)
