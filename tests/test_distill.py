"""Distillation: the loss on hand-made tensors, the targets, and a tiny student."""

import math

import numpy as np
import pytest
import torch

from emobalance.config import DistillConfig
from emobalance.data.dataset import EmotionDataset
from emobalance.distill import (
    DistillationLoss,
    distill_data,
    distillation_loss,
    fit_distilled,
    pack_targets,
    sharpen,
)
from emobalance.errors import DataError
from emobalance.labels import LABEL_TO_ID

TINY_MODEL = dict(
    vectors=None, embedding_dim=16, conv_channels=8, lstm_hidden=8, attention_dim=8,
    max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip
TINY_TRAIN = dict(
    epochs=10, batch_size=8, lr=0.01, loss="asl", lr_schedule="constant", patience=20,
    mixed_precision="off", progress=False, seed=0,
)  # fmt: skip


def bce(z: float, y: float) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_sharpen_by_hand():
    p = np.array([[0.5, 0.8, 0.2]], dtype=np.float32)
    np.testing.assert_allclose(sharpen(p, 1.0), p)
    # T = 0.5 doubles the logit: 0.8 -> 0.8^2 / (0.8^2 + 0.2^2)
    np.testing.assert_allclose(sharpen(p, 0.5), [[0.5, 0.64 / 0.68, 0.04 / 0.68]], rtol=1e-5)
    t = sharpen(torch.tensor(p), 0.5)
    np.testing.assert_allclose(t.numpy(), sharpen(p, 0.5), rtol=1e-5)
    assert sharpen(p, 2.0)[0, 1] < 0.8  # T > 1 softens


def test_distillation_loss_by_hand():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    gold = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[0.9, 0.3], [0.6, 0.2]])
    has_gold = torch.tensor([1.0, 0.0])
    got = distillation_loss(logits, gold, teacher, alpha=0.25, has_gold=has_gold)
    want = [
        # row 0 has gold: 0.25 BCE(gold) + 0.75 BCE(teacher)
        [0.25 * bce(2.0, 1) + 0.75 * bce(2.0, 0.9), 0.25 * bce(-1.0, 0) + 0.75 * bce(-1.0, 0.3)],
        # row 1 has none: the teacher term alone, whatever its gold column says
        [bce(0.5, 0.6), bce(0.0, 0.2)],
    ]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    # alpha = 1 on gold rows is plain BCE; the temperature sharpens the teacher first
    np.testing.assert_allclose(
        distillation_loss(logits, gold, teacher, alpha=1.0).numpy(),
        [[bce(2.0, 1), bce(-1.0, 0)], [bce(0.5, 0), bce(0.0, 1)]], rtol=1e-5,
    )  # fmt: skip
    sharp = distillation_loss(logits, gold, teacher, alpha=0.0, temperature=0.5)
    p09 = 0.81 / (0.81 + 0.01)
    assert sharp[0, 0].item() == pytest.approx(bce(2.0, p09), rel=1e-5)


def test_packed_loss_equals_the_function():
    rng = np.random.default_rng(0)
    gold = (rng.random((5, 28)) < 0.2).astype(np.float32)
    teach = rng.random((5, 28)).astype(np.float32)
    flags = np.array([1, 1, 0, 1, 0], np.float32)
    packed = torch.tensor(pack_targets(gold, teach, flags, temperature=0.5))
    assert packed.shape == (5, 57)
    logits = torch.tensor(rng.normal(size=(5, 28)), dtype=torch.float32)
    got = DistillationLoss(alpha=0.3)(logits, packed)
    want = distillation_loss(logits, torch.tensor(gold), torch.tensor(teach), 0.3, 0.5,
                             torch.tensor(flags))  # fmt: skip
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="must both be"):
        pack_targets(gold, teach[:, :27], flags)


class KeywordTeacher:
    """Probability 0.9 for a label whose keyword is in the text, else 0.05."""

    name = "keywords"

    def predict_proba(self, texts):
        out = np.full((len(texts), 28), 0.05, dtype=np.float32)
        for i, t in enumerate(texts):
            for w, lab in (("thanks", "gratitude"), ("angry", "anger"), ("happy", "joy")):
                if w in t:
                    out[i, LABEL_TO_ID[lab]] = 0.9
        return out


def toy(texts, labels):
    y = np.zeros((len(texts), 28), np.uint8)
    for i, lab in enumerate(labels):
        y[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, y, source="goemotions")


def test_distill_data_rows_targets_and_leakage_guard():
    train = toy(["thanks a lot", "so angry"], ["gratitude", "anger"])
    corpus = EmotionDataset(
        ["happy day", "Thanks  a lot", "the dev text", "happy day", "angry again"],
        source="sentiment140",
    )
    data, t = distill_data(train, KeywordTeacher(), corpus, external_weight=0.5,
                           exclude_texts=["The dev text"])  # fmt: skip
    # the train duplicate, the dev text and the repeated tweet are dropped
    assert data.texts == ["thanks a lot", "so angry", "happy day", "angry again"]
    assert data.source == ["goemotions"] * 2 + ["sentiment140"] * 2
    np.testing.assert_array_equal(t[:, 56], [1, 1, 0, 0])
    np.testing.assert_array_equal(t[:2, :28], train.labels)
    assert t[2:, :28].sum() == 0  # no gold for external rows
    assert t[2, 28 + LABEL_TO_ID["joy"]] == pytest.approx(0.9)
    np.testing.assert_allclose(data.weight, [1, 1, 0.5, 0.5])
    with pytest.raises(DataError, match="labelled"):
        distill_data(EmotionDataset(["x"]), KeywordTeacher())


def test_fit_distilled_tiny_student_learns_from_teacher_labels_only():
    rng = np.random.default_rng(0)
    words = {"gratitude": "thanks", "anger": "angry", "joy": "happy"}
    fill = ["the", "a", "so", "it", "day"]

    def rows(n, labels):
        texts = [" ".join([words[labels[i % len(labels)]], *rng.choice(fill, 3)]) for i in range(n)]
        return toy(texts, [labels[i % len(labels)] for i in range(n)])

    # joy is absent from the gold train rows: the student can only learn it from the
    # teacher's soft labels on the corpus
    train, dev = rows(40, ["gratitude", "anger"]), rows(15, list(words))
    corpus = EmotionDataset(
        [f"{a} happy {b} {c}" for a in fill for b in fill for c in fill[:2]], source="user"
    )
    clf = fit_distilled(
        train, dev, KeywordTeacher(), corpus, model=TINY_MODEL,
        train_config={**TINY_TRAIN, "lr": 0.03, "epochs": 8},
        # vocab "all": "happy" occurs only in the corpus, so it must enter the vocabulary
        distill=DistillConfig(alpha=0.5, temperature=0.5, vocab="all"),
    )  # fmt: skip
    p = clf.predict_proba(["happy it day", "thanks so"])
    j = LABEL_TO_ID["joy"]
    assert p[0, j] > p[1, j] + 0.2
    # with the dev-tuned thresholds: joy for the happy text only
    assert [("joy" in labs) for labs in clf.predict(["happy it day", "thanks so"])] == [1, 0]
    d = clf.metrics_["distillation"]
    assert d["teacher"] == "keywords" and d["external_rows"] == 50 and d["alpha"] == 0.5
    assert "happy" in clf.vocab_.stoi


def test_default_student_keeps_the_labelled_vocabulary():
    train = toy(["thanks a lot", "so angry"] * 4, ["gratitude", "anger"] * 4)
    corpus = EmotionDataset(["happy happy day", "glad day"], source="user")
    clf = fit_distilled(train, train, KeywordTeacher(), corpus, model=TINY_MODEL,
                        train_config={**TINY_TRAIN, "epochs": 1})  # fmt: skip
    assert "happy" not in clf.vocab_.stoi and "thanks" in clf.vocab_.stoi
    assert clf.metrics_["distillation"]["vocab"] == "labelled"
    assert clf.metrics_["distillation"]["external_rows"] == 2


def test_soft_label_balancing_keeps_only_rows_that_fill_the_rare_labels():
    from emobalance.config import BalanceConfig
    from emobalance.distill import balance_targets

    train = toy(["thanks a lot", "so angry", "thanks again", "thanks!"],
                ["gratitude", "anger", "gratitude", "gratitude"])  # fmt: skip
    corpus = EmotionDataset(["happy day", "angry again", "the bus", "happy x", "thanks mate"],
                            source="sentiment140")  # fmt: skip
    targets = np.zeros(28)
    targets[LABEL_TO_ID["joy"]] = 1.5  # joy needs two rows at 0.9; anger and gratitude none
    info = {}
    data, t = distill_data(train, KeywordTeacher(), corpus, corpus_targets=targets,
                           selection_info=info)  # fmt: skip
    assert data.texts[4:] == ["happy day", "happy x"]  # in corpus order
    assert info["kept_rows"] == 2 and info["corpus_rows"] == 5
    assert info["per_label"]["joy"]["rows"] == 2 and info["per_label"]["joy"]["reached"]
    np.testing.assert_array_equal(t[4:, 56], [0, 0])
    # the balance section's targets: the median label count of train by default
    got = balance_targets(BalanceConfig(target=3), train)
    assert got.tolist() == [3] * 28
