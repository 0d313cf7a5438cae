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
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID, LabelSchema

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


# ------------------------------------------------------------------ own label schemas
FIVE = LabelSchema(["joy", "anger", "fear", "anticipation", "trust"], name="five")
SINGLE = LabelSchema(["positive", "negative", "mixed"], single_label=True, name="polarity")
OWN_WORDS = {"happy": "joy", "angry": "anger", "scared": "fear", "waiting": "anticipation",
             "trust": "trust", "good": "positive", "bad": "negative", "meh": "mixed"}  # fmt: skip


class OwnTeacher:
    """0.9 for a label whose keyword is in the text, else 0.05, over its own schema."""

    name = "own"

    def __init__(self, schema):
        self.labels_ = schema

    def predict_proba(self, texts):
        out = np.full((len(texts), len(self.labels_)), 0.05, dtype=np.float32)
        for i, t in enumerate(texts):
            for w, lab in OWN_WORDS.items():
                if w in t and lab in self.labels_:
                    out[i, self.labels_.label_id(lab)] = 0.9
        return out


def own(schema, texts, labels):
    return EmotionDataset(texts, schema.names_to_matrix([[lab] for lab in labels]), schema=schema)


@pytest.mark.parametrize("schema", [FIVE, SINGLE], ids=["five", "single"])
def test_distill_targets_have_the_schemas_width(schema):
    names = schema.names
    train = own(schema, [f"text {n}" for n in names], names)
    corpus = EmotionDataset(["happy good day", "angry bad night"], source="sentiment140")
    # the teacher speaks the same labels in another order: aligned by name
    teacher = OwnTeacher(LabelSchema(list(reversed(names)), name="reversed"))
    data, t = distill_data(train, teacher, corpus)
    k = len(schema)
    assert t.shape == (len(names) + 2, 2 * k + 1) and data.schema is schema
    np.testing.assert_array_equal(t[:, 2 * k], [1] * len(names) + [0, 0])
    np.testing.assert_array_equal(t[: len(names), :k], train.labels)
    first = "joy" if schema is FIVE else "positive"
    assert t[len(names), k + schema.label_id(first)] == pytest.approx(0.9)
    # the packed loss reads L from the width
    logits = torch.zeros((len(t), k))
    loss = DistillationLoss(0.5)(logits, torch.as_tensor(t))
    assert loss.shape == (len(t), k)


def test_distillation_refuses_a_teacher_lacking_labels_in_one_line():
    train = own(FIVE, ["happy", "angry"], ["joy", "anger"])
    teacher = OwnTeacher(LabelSchema(["joy", "anger", "trust"], name="three"))
    with pytest.raises(ConfigError) as err:
        distill_data(train, teacher)
    msg = str(err.value)
    assert "\n" not in msg and "lacks fear, anticipation" in msg
    assert "three (3 labels" in msg and "five (5 labels" in msg
    with pytest.raises(ConfigError, match="lacks"):
        fit_distilled(train, train, teacher, model=TINY_MODEL, train_config=TINY_TRAIN)


def test_pack_targets_any_width():
    t = pack_targets(np.ones((2, 3)), np.full((2, 3), 0.5), np.array([1, 0]))
    assert t.shape == (2, 7) and t[:, 6].tolist() == [1, 0]
    with pytest.raises(DataError, match=r"must both be \(n, L\)"):
        pack_targets(np.ones((2, 3)), np.ones((2, 4)), np.ones(2))


def test_soft_label_balancing_targets_of_an_own_schema():
    train = own(FIVE, ["a", "b", "c", "d"], ["joy", "joy", "joy", "fear"])
    from emobalance.config import BalanceConfig
    from emobalance.distill import balance_targets

    assert balance_targets(BalanceConfig(target=3), train).tolist() == [3] * 5
    corpus = EmotionDataset([f"scared {i}" for i in range(5)] + ["waiting"], source="user")
    info = {}
    data, t = distill_data(train, OwnTeacher(FIVE), corpus, corpus_targets=np.full(5, 3.0),
                           selection_info=info)  # fmt: skip
    assert list(info["per_label"]) == list(FIVE.names) and t.shape[1] == 11
    assert "waiting" in data.texts and data.schema is FIVE


def _student_speaks_schemas() -> bool:
    """Whether the reference network takes its labels from the data (the models' side of
    the schema work, which carries ``threshold_objective`` with it)."""
    from emobalance.models.reference import EmotionClassifier

    return hasattr(EmotionClassifier(), "threshold_objective")


@pytest.mark.skipif("not _student_speaks_schemas()", reason="EmotionClassifier is 28-only here")
def test_fit_distilled_on_an_own_schema():
    words = ["happy", "angry", "scared", "waiting", "trust"]
    texts = [f"{words[i % 5]} the day {i}" for i in range(40)]
    train = own(FIVE, texts, [FIVE.names[i % 5] for i in range(40)])
    clf = fit_distilled(train, train, OwnTeacher(FIVE), model=TINY_MODEL, train_config=TINY_TRAIN)
    assert clf.labels_ == FIVE and clf.predict_proba(["happy"]).shape == (1, 5)
