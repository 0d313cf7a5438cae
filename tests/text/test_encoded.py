import numpy as np
import pytest

from emobalance.errors import DataError
from emobalance.text import Vocab, tokenize
from emobalance.text import encoded as enc
from emobalance.text.encoded import EncodedTexts, encode_cached

TEXTS = ["I love this so much", "what a day", "ok", "not sure what to think about this"]


@pytest.fixture(autouse=True)
def empty_cache():
    enc.clear_cache()
    yield
    enc.clear_cache()


def vocab(texts=TEXTS):
    return Vocab.build((tokenize(t) for t in texts), min_freq=1)


def test_encoded_rows_equal_encode_texts_and_batches_slice_them():
    v = vocab()
    e = encode_cached(v, TEXTS, 5)
    plain = v.encode_texts(TEXTS, 5)
    assert len(e) == 4
    assert [r.tolist() for r in e] == [r.tolist() for r in plain]
    ids, lens = e.batch(np.array([2, 1]))
    assert lens.tolist() == [1, 3]
    assert ids.shape == (2, 3) and ids.dtype.is_floating_point is False
    assert ids[0].tolist() == [*plain[2].tolist(), 0, 0]
    with pytest.raises(ValueError):
        e.ids[0, 0] = 7  # shared by the cache: read-only


def test_the_cache_returns_the_same_encoding_for_the_same_vocabulary_and_texts():
    v = vocab()
    first = encode_cached(v, TEXTS, 8)
    assert encode_cached(Vocab(list(v.itos)), list(TEXTS), 8) is first  # equal, not identical


def test_a_changed_vocabulary_or_text_or_max_len_is_a_new_entry():
    v = vocab()
    first = encode_cached(v, TEXTS, 8)
    other_vocab = vocab(TEXTS[:2])  # fewer words: other ids for the same texts
    by_vocab = encode_cached(other_vocab, TEXTS, 8)
    assert by_vocab is not first
    expected = other_vocab.encode_texts(TEXTS, 8)
    assert [r.tolist() for r in by_vocab] == [r.tolist() for r in expected]
    assert [r.tolist() for r in by_vocab] != [r.tolist() for r in first]
    changed = [*TEXTS[:3], "not sure what to think about that"]
    by_text = encode_cached(v, changed, 8)
    assert by_text is not first
    assert by_text[3].tolist() == v.encode_texts(changed[3:], 8)[0].tolist()
    assert encode_cached(v, TEXTS, 2) is not first
    assert encode_cached(v, TEXTS, 2)[3].tolist() == first[3].tolist()[:2]


def test_text_boundaries_are_part_of_the_key():
    v = vocab(["ab", "a", "b"])
    assert encode_cached(v, ["ab"], 4) is not encode_cached(v, ["a", "b"], 4)
    assert len(encode_cached(v, ["a", "b"], 4)) == 2


def test_the_cache_stays_under_its_byte_bound(monkeypatch):
    monkeypatch.setattr(enc, "CACHE_BYTES", 1)
    v = vocab()
    a = encode_cached(v, TEXTS, 8)
    encode_cached(v, TEXTS[:2], 8)
    assert encode_cached(v, TEXTS, 8) is not a  # evicted: only the newest entry is kept


def test_a_text_that_is_not_a_string_is_a_one_line_error_and_nothing_is_cached():
    v = vocab()
    with pytest.raises(DataError, match="text 1 is int"):
        encode_cached(v, ["fine", 3], 8)  # type: ignore[list-item]
    assert not enc._cache


def test_from_sequences_round_trips():
    seqs = [np.array([3, 4, 5]), np.array([2])]
    e = EncodedTexts.from_sequences(seqs)
    assert e.ids.shape == (2, 3)
    assert [r.tolist() for r in e] == [[3, 4, 5], [2]]
    assert e[0].dtype == np.int64
