"""The Sentiment140 polarity guard: a fixed slice held out of every corpus and training set."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from emobalance.config import DistillConfig, EmobalanceConfig
from emobalance.data import EmotionDataset
from emobalance.data.corpora import (
    GUARD_PER_CLASS,
    guard_keys,
    load_corpus,
    polarity_guard,
    resolve_corpus,
)
from emobalance.labels import NUM_LABELS
from emobalance.text.normalize import normalize

N = 60  # tweets per polarity: the guard takes 10% of each, 6


def _sample(root, neg, pos):
    s140 = root / "sentiment140_sample_100k"
    s140.mkdir(parents=True, exist_ok=True)
    (s140 / "negative.txt").write_text("".join(f"{t}\n" for t in neg))
    (s140 / "positive.txt").write_text("".join(f"{t}\n" for t in pos))
    return s140


@pytest.fixture
def sample(tmp_path, monkeypatch):
    neg = [f"so sad about the rain {i}" for i in range(N)] + ["@amy meh"]
    pos = [f"so glad about the sun {i}" for i in range(N)] + ["@bob meh"]  # "[user] meh": both
    _sample(tmp_path / "data", neg, pos)
    monkeypatch.setenv("EMOBALANCE_DATA", str(tmp_path / "data"))
    return neg, pos


def _smallest(texts, k):
    return sorted(texts, key=lambda t: hashlib.sha256(normalize(t).encode()).digest())[:k]


def test_the_guard_is_the_smallest_hashes_of_each_polarity(sample):
    neg, pos = sample
    guard = polarity_guard()
    assert guard.meta["polarity"] == [0] * 6 + [4] * 6
    assert set(guard.texts[:6]) == set(_smallest(neg[:N], 6))  # "meh" has both polarities
    assert set(guard.texts[6:]) == set(_smallest(pos[:N], 6))
    assert guard_keys() == {normalize(t) for t in guard.texts}


def test_the_guard_depends_only_on_the_content(sample, tmp_path, monkeypatch):
    neg, pos = sample
    first = set(polarity_guard().texts)
    rng = np.random.default_rng(0)
    _sample(tmp_path / "other", list(rng.permutation(neg)), list(rng.permutation(pos)))
    monkeypatch.setenv("EMOBALANCE_DATA", str(tmp_path / "other"))
    assert set(polarity_guard().texts) == first


def test_every_resolved_corpus_lacks_the_guard(sample, tmp_path):
    neg, pos = sample
    guard = set(polarity_guard().texts)
    corpus = resolve_corpus("sentiment140")
    assert len(corpus) == 2 * N + 2 - 12 and not guard & set(corpus.texts)
    # another copy of the tweets (a text file; case and spacing changed) loses them too
    copy = tmp_path / "tweets.csv"
    copy.write_text("text\n" + "".join(f"{t.upper()}   \n" for t in neg + pos))
    other = resolve_corpus(str(copy))
    assert len(other) == 2 * N + 2 - 12
    assert not guard_keys() & {normalize(t) for t in other.texts}
    assert len(load_corpus(DistillConfig(corpus="sentiment140", max_rows=500))) == len(corpus)


class Confident:
    """A teacher sure of every emotion of every text: it keeps every corpus row."""

    name = "confident"

    def predict_proba(self, texts):
        return np.full((len(texts), NUM_LABELS), 0.95, dtype=np.float32)


def _labelled(texts, label):
    y = np.zeros((len(texts), NUM_LABELS), np.uint8)
    y[:, label] = 1
    return EmotionDataset(texts, y, source="goemotions")


def test_pseudo_label_and_distillation_sets_never_hold_a_guard_tweet(sample, tmp_path):
    from emobalance.balance.build import run_balance
    from emobalance.balance.pseudo_label import pseudo_label
    from emobalance.distill import distill_data

    keys = guard_keys()
    assert len(keys) == 12
    train = _labelled([f"thanks a lot {i}" for i in range(20)], 15)
    dev, test = _labelled(["thanks dev"], 15), _labelled(["thanks test"], 15)
    cfg = EmobalanceConfig.model_validate(
        {
            "balance": {
                "target": 10_000,
                "sources": ["pseudo_label"],
                "pseudo_label": {"part_rows": 16},
            }
        }
    )
    balanced, report = run_balance(cfg, tmp_path / "bal", train=train, dev=dev, test=test,
                                   teacher=Confident())  # fmt: skip
    # the pool the balancing job fills from, built the way run_balance builds it
    pool = pseudo_label(resolve_corpus(cfg.balance.pseudo_label.corpus), Confident())
    assert report["pseudo_label"]["corpus_rows"] == 2 * N + 2 - 12
    assert report["pseudo_label"]["kept_rows"] == 2 * N + 2 - 12  # every other tweet kept
    added = [t for t, s in zip(balanced.texts, balanced.source, strict=True) if s != "goemotions"]
    assert len(added) > 0 and len(pool) > 0
    for texts in (balanced.texts, pool.texts):
        assert not keys & {normalize(t) for t in texts}
    data, _ = distill_data(train, Confident(), load_corpus(DistillConfig()))
    # distillation also drops repeats: the two "[user] meh" tweets become one row
    assert len(data) == len(train) + 2 * N + 2 - 12 - 1
    assert not keys & {normalize(t) for t in data.texts}


@pytest.mark.data
def test_the_real_guard(data_dir, monkeypatch):
    monkeypatch.setenv("EMOBALANCE_DATA", str(data_dir))
    if not (data_dir / "sentiment140_sample_100k").is_dir():
        pytest.skip("no Sentiment140 sample")
    guard = polarity_guard()
    assert guard.meta["polarity"] == [0] * GUARD_PER_CLASS + [4] * GUARD_PER_CLASS
    corpus = resolve_corpus("sentiment140")
    assert not guard_keys() & {normalize(t) for t in corpus.texts}
