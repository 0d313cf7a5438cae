"""Vocab: building, encoding, decoding, storage."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from emobalance.errors import DataError
from emobalance.text import PAD, UNK, Vocab, tokenize

CORPUS = [
    ["b", "a", "c", "a"],
    ["c", "a", "d"],
    ["b", "e"],
]  # a:3, b:2, c:2, d:1, e:1


def test_build_orders_by_frequency_then_alphabet() -> None:
    v = Vocab.build(CORPUS)
    assert v.itos == [PAD, UNK, "a", "b", "c", "d", "e"]
    assert v.stoi == {t: i for i, t in enumerate(v.itos)}
    assert (v.pad_id, v.unk_id) == (0, 1)
    assert v.counts == {"a": 3, "b": 2, "c": 2, "d": 1, "e": 1}
    # order of the input does not matter
    assert Vocab.build(reversed(CORPUS)).itos == v.itos


def test_build_min_freq_and_max_size() -> None:
    assert Vocab.build(CORPUS, min_freq=2).itos == [PAD, UNK, "a", "b", "c"]
    # max_size counts the two specials
    assert Vocab.build(CORPUS, max_size=4).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(CORPUS, max_size=2).itos == [PAD, UNK]
    with pytest.raises(ValueError):
        Vocab.build(CORPUS, min_freq=0)
    with pytest.raises(ValueError):
        Vocab.build(CORPUS, max_size=1)


def test_build_ignores_literal_specials_and_accepts_generators() -> None:
    v = Vocab.build(iter([[PAD, "x", UNK], ["x"]]))
    assert v.itos == [PAD, UNK, "x"]


def test_len_contains_encode_decode() -> None:
    v = Vocab.build(CORPUS, min_freq=2)
    assert len(v) == 5
    assert "a" in v and "zzz" not in v and PAD in v
    ids = v.encode(["a", "zzz", "c"])
    assert ids == [2, v.unk_id, 4]
    assert v.decode(ids) == ["a", UNK, "c"]
    assert v.decode(np.array([0, 2])) == [PAD, "a"]
    with pytest.raises(IndexError, match="99"):
        v.decode([99])


def test_invalid_itos() -> None:
    with pytest.raises(DataError, match="must start"):
        Vocab(["a", "b"])
    with pytest.raises(DataError, match="more than once"):
        Vocab([PAD, UNK, "a", "a"])


def test_encode_texts() -> None:
    v = Vocab.build([tokenize(t) for t in ["I love it!", "I hate it"]])
    out = v.encode_texts(["I LOVE it!!!!", "", "   ", "unknown words here"], max_len=3)
    assert all(a.dtype == np.int64 for a in out)
    assert v.decode(out[0]) == ["i", "love", "it"]  # truncated to max_len
    assert out[1].tolist() == [v.unk_id] and out[2].tolist() == [v.unk_id]
    assert out[3].tolist() == [v.unk_id] * 3
    # every sequence has length 1..max_len
    assert all(1 <= len(a) <= 3 for a in out)
    with pytest.raises(ValueError):
        v.encode_texts(["x"], max_len=0)
    with pytest.raises(DataError, match="text 1 is NoneType"):
        v.encode_texts(["ok", None], max_len=3)  # type: ignore[list-item]


def test_encode_texts_huge_text_is_fast() -> None:
    v = Vocab.build([["soo", "good"]])
    huge = "sooo good 😂 " * 10_000  # 130k characters
    start = time.perf_counter()
    (ids,) = v.encode_texts([huge], max_len=64)
    assert time.perf_counter() - start < 0.5
    assert len(ids) == 64
    assert v.decode(ids[:2]) == ["soo", "good"]


def test_save_load_round_trip(tmp_path) -> None:
    v = Vocab.build([tokenize("Don't stop [NAME] 😂 café")])
    path = tmp_path / "sub" / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w == v
    assert w.itos == v.itos and w.counts == v.counts and w.stoi == v.stoi
    assert not list(path.parent.glob(".vocab.json.*"))  # no temp file left behind
    # to_dict / from_dict
    assert Vocab.from_dict(v.to_dict()) == v
    no_counts = Vocab(v.itos)
    assert Vocab.from_dict(json.loads(json.dumps(no_counts.to_dict()))).counts is None


def test_load_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError, match=r"nope\.json: no such file"):
        Vocab.load(missing)
    bad = tmp_path / "bad.json"
    bad.write_text('{"itos": [', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: line 1: invalid JSON"):
        Vocab.load(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"itos": ["a", "b"]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"wrong\.json: .*must start"):
        Vocab.load(wrong)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match=r"other\.json: not an emobalance vocabulary"):
        Vocab.load(other)
