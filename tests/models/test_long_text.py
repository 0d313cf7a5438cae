"""The long-text policy: splitting by hand, aggregation by hand on a model whose
probabilities are known, and every kind scoring a short text as ``truncate`` does."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance.errors import ConfigError, DataError, ModelError
from emobalance.labels import LABEL_TO_ID, NUM_LABELS
from emobalance.models.base import MAX_TEXT_CHARS, EmotionModel
from emobalance.models.calibration import PlattCalibration
from emobalance.models.long_text import (
    DEFAULT_WINDOW_WORDS,
    LongTextPolicy,
    aggregate_pieces,
    split_text,
    split_texts,
    window_for_tokens,
)

JOY, ANGER = LABEL_TO_ID["joy"], LABEL_TO_ID["anger"]


class Counting(EmotionModel):
    """p(joy) = 0.2 per "yay", p(anger) = 0.25 per "grr" (capped at 1), 0.01 elsewhere; it
    records the texts it is asked to score."""

    kind = "counting"

    def __init__(self, max_tokens: int | None = None) -> None:
        self.thresholds_ = np.full(NUM_LABELS, 0.5, dtype=np.float32)
        self.metrics_ = {}
        self.calls: list[list[str]] = []
        self._max = max_tokens

    @property
    def max_tokens(self):
        return self._max

    def _predict_proba(self, texts, batch_size=None):
        self.calls.append(list(texts))
        out = np.full((len(texts), NUM_LABELS), 0.01, dtype=np.float32)
        for i, t in enumerate(texts):
            words = t.replace(".", " ").replace("!", " ").split()
            out[i, JOY] = min(1.0, 0.2 * words.count("yay"))
            out[i, ANGER] = min(1.0, 0.25 * words.count("grr"))
        return out

    def save(self, path):  # pragma: no cover - not needed here
        raise NotImplementedError

    @classmethod
    def load(cls, path):  # pragma: no cover
        raise NotImplementedError


# ------------------------------------------------------------------------- splitting
def test_sentences_split_after_end_marks_and_at_line_breaks():
    text = 'Yay yay. Grr! "Is it?" Then\nnew line… ok'
    assert split_text(text, "sentences", 48) == ["Yay yay.", "Grr!", '"Is it?"', "Then",
                                                 "new line…", "ok"]  # fmt: skip
    # one sentence (or none): the text itself, untouched, as truncate scores it
    for one in ("no end mark here", "  padded.  ", "", "   "):
        assert split_text(one, "sentences", 48) == [one]


def test_windows_of_n_words_with_stride_n_over_2_and_the_last_at_the_end():
    words = [f"w{i}" for i in range(10)]
    assert split_text(" ".join(words), "windows", 4) == [
        "w0 w1 w2 w3", "w2 w3 w4 w5", "w4 w5 w6 w7", "w6 w7 w8 w9"
    ]  # fmt: skip
    assert split_text(" ".join(words[:5]), "windows", 4) == ["w0 w1 w2 w3", "w1 w2 w3 w4"]
    assert split_text("a  b\tc", "windows", 3) == ["a  b\tc"]  # fits: the text as it is
    assert split_text(" ".join(words[:7]), "windows", 5) == ["w0 w1 w2 w3 w4", "w2 w3 w4 w5 w6"]


def test_split_texts_counts_pieces_per_text():
    pieces, counts = split_texts(["a. b. c.", "one", ""], LongTextPolicy("sentences"), 48)
    assert pieces == ["a.", "b.", "c.", "one", ""]
    assert counts.tolist() == [3, 1, 1]


def test_default_window_follows_what_the_model_reads():
    assert window_for_tokens(64) == 48 and window_for_tokens(20) == 15
    assert window_for_tokens(2) == 2 and window_for_tokens(None) == DEFAULT_WINDOW_WORDS


def test_aggregate_by_hand():
    proba = np.array([[0.2, 0.9], [0.6, 0.1], [0.4, 0.5]], dtype=np.float32)
    counts = np.array([2, 1])
    np.testing.assert_allclose(aggregate_pieces(proba, counts, "max"), [[0.6, 0.9], [0.4, 0.5]])
    np.testing.assert_allclose(aggregate_pieces(proba, counts, "mean"), [[0.4, 0.5], [0.4, 0.5]])
    same = aggregate_pieces(proba, np.ones(3, dtype=np.int64), "mean")
    assert same is proba  # one piece each: nothing to aggregate


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "paragraphs"}, r"^long_text: expected truncate, sentences or windows"),
        ({"aggregate": "median"}, r"^aggregate: expected max or mean, got 'median'"),
        ({"window": 1}, r"^window: expected an int in \[2, 100000\]"),
        ({"window": True}, r"^window: expected an int .* got bool"),
        ({"mode": 3}, r"^long_text: .* got int"),
    ],
)
def test_bad_policy_is_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match) as info:
        LongTextPolicy(**kwargs)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------ the shared predict_proba
TEXT = "yay yay. grr grr grr. ok"  # pieces: joy .4/0/0, anger 0/.75/0


def test_sentences_max_and_mean_by_hand():
    m = Counting()
    whole = m.predict_proba([TEXT])
    assert whole[0, JOY] == pytest.approx(0.4) and whole[0, ANGER] == pytest.approx(0.75)
    assert m.calls == [[TEXT]]  # truncate: the text as it is
    mx = m.predict_proba([TEXT, "yay"], long_text="sentences")
    assert m.calls[-1] == ["yay yay.", "grr grr grr.", "ok", "yay"]
    assert mx[0, JOY] == pytest.approx(0.4) and mx[0, ANGER] == pytest.approx(0.75)
    assert mx[1, JOY] == pytest.approx(0.2)
    mean = m.predict_proba([TEXT], long_text="sentences", aggregate="mean")
    assert mean[0, JOY] == pytest.approx(0.4 / 3) and mean[0, ANGER] == pytest.approx(0.25)
    assert mean[0, 0] == pytest.approx(0.01) and mean.dtype == np.float32


def test_windows_by_hand_and_the_default_window():
    m = Counting(max_tokens=8)  # window 6, stride 3
    text = "yay a b c d e f g grr grr"  # 10 words: windows at 0, 3 and 4
    p = m.predict_proba([text], long_text="windows", aggregate="mean")
    assert m.calls[-1] == ["yay a b c d e", "c d e f g grr", "d e f g grr grr"]
    assert p[0, JOY] == pytest.approx(0.2 / 3)
    assert p[0, ANGER] == pytest.approx((0 + 0.25 + 0.5) / 3)
    p = m.predict_proba([text], long_text="windows", window=4)  # stride 2: 0, 2, 4, 6
    assert len(m.calls[-1]) == 4 and p[0, ANGER] == pytest.approx(0.5)


def test_model_level_policy_reaches_predict_and_evaluate_and_copies_are_independent():
    m = Counting()
    s = m.with_long_text("sentences", "mean")
    assert s is not m and m.long_text_policy.mode == "truncate"
    assert s.predict_proba([TEXT])[0, ANGER] == pytest.approx(0.25)
    assert s.predict_matrix([TEXT])[0, ANGER] == 0  # 0.25 < 0.5
    assert m.predict_matrix([TEXT])[0, ANGER] == 1  # 0.75
    assert m.predict([TEXT], long_text="sentences", aggregate="mean") == [[]]
    # a per-call option wins over the model's policy
    assert s.predict_proba([TEXT], long_text="truncate")[0, ANGER] == pytest.approx(0.75)


def test_calibration_is_applied_to_each_piece_before_aggregation():
    cal = PlattCalibration(np.full(NUM_LABELS, 2.0), np.full(NUM_LABELS, -1.0))
    m = Counting().with_calibration(cal)
    raw = Counting()._predict_proba(["yay yay.", "grr grr grr.", "ok"])
    want = cal.apply(raw).mean(axis=0)
    got = m.predict_proba([TEXT], long_text="sentences", aggregate="mean")[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_text_length_limit_names_the_text_and_its_length():
    m = Counting()
    assert m.max_text_chars == MAX_TEXT_CHARS == 1_000_000
    m.max_text_chars = 10
    with pytest.raises(DataError) as info:
        m.predict_proba(["short", "x" * 11])
    assert str(info.value) == ("text 1 has 11 characters, over the limit of 10 (max_text_chars)")
    with pytest.raises(DataError, match="text 0 has 12 characters"):
        m.explain("y" * 12)
    m.max_text_chars = None
    assert m.predict_proba(["x" * 100]).shape == (1, NUM_LABELS)


def test_bad_options_fail_before_any_scoring():
    m = Counting()
    for kwargs in ({"long_text": "pages"}, {"aggregate": "sum", "long_text": "sentences"},
                   {"window": 0, "long_text": "windows"}):  # fmt: skip
        with pytest.raises(ConfigError):
            m.predict_proba([TEXT], **kwargs)
    with pytest.raises(ConfigError, match="batch_size"):
        m.predict_proba([TEXT], batch_size=0, long_text="sentences")
    assert m.calls == []


def test_a_subclass_with_its_own_predict_proba_keeps_working_without_the_options():
    class Old(Counting):
        def predict_proba(self, texts, batch_size=None):
            return self._predict_proba(list(texts))

    m = Old()
    assert m.predict([TEXT]) == [["anger"]]
    assert m.predict_records([TEXT], top_k=1)[0]["top"][0][0] == "anger"
    with pytest.raises(ModelError, match="long_text need the shared one"):
        m.predict([TEXT], long_text="sentences")


def test_explain_reads_the_text_as_truncate_does_whatever_the_policy():
    m = Counting()
    plain = m.explain(TEXT)
    assert m.with_long_text("sentences", "mean").explain(TEXT) == plain


# ------------------------------------------------------------------------ every kind
KINDS = ("reference", "tfidf", "transformer", "onnx")
SHORT = ["thanks so much", "I am furious", "so happy and glad", ""]
LONG = "thanks so much. " * 3 + "I am furious! " * 3 + "the monday report " * 40


@pytest.fixture(scope="module")
def models(model_kind_paths):
    from emobalance.models.registry import load_model

    return {kind: load_model(p, device="cpu") for kind, p in model_kind_paths.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_scores_one_piece_texts_as_truncate(kind, models):
    m = models[kind]
    base = m.predict_proba(SHORT)
    for mode in ("sentences", "windows"):
        np.testing.assert_array_equal(m.predict_proba(SHORT, long_text=mode), base)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_aggregates_the_pieces_of_a_long_text(kind, models):
    m = models[kind]
    for mode in ("sentences", "windows"):
        pieces, _ = split_texts([LONG], LongTextPolicy(mode), window_for_tokens(m.max_tokens))
        assert len(pieces) > 1
        each = m.predict_proba(pieces)
        np.testing.assert_allclose(m.predict_proba([LONG], long_text=mode)[0], each.max(0),
                                   atol=1e-6)  # fmt: skip
        mean = m.predict_proba([LONG], long_text=mode, aggregate="mean", batch_size=3)[0]
        np.testing.assert_allclose(mean, each.mean(0), atol=1e-5)
