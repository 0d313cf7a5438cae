import logging
import time
from collections import Counter

import numpy as np
import pytest

from emobalance.balance.augment import EDAAugmenter, nearest_neighbours
from emobalance.data.dataset import EmotionDataset
from emobalance.embeddings import Vectors
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID, LABELS, names_to_matrix
from emobalance.text.normalize import normalize, tokenize

VEHICLES = ("car", "truck", "van")
FILMS = ("movie", "film", "flick")


def tiny_vectors():
    rng = np.random.default_rng(0)
    base = np.eye(6, dtype=np.float32)
    groups = {VEHICLES: 0, FILMS: 1, ("happy", "cheerful", "sad"): 2, ("pizza",): 3}
    words, rows = [], []
    for members, axis in groups.items():
        for w in members:
            words.append(w)
            rows.append(base[axis] + 0.15 * rng.standard_normal(6).astype(np.float32))
    for w in ("the", "yesterday", "today"):  # far from everything
        words.append(w)
        rows.append(base[4 if w != "today" else 5] * 0.5 - base[0] * 0.3)
    return Vectors(words=words, matrix=np.stack(rows).astype(np.float32), dim=6)


@pytest.fixture
def corpus():
    texts = [
        "I watched the movie with my car yesterday and felt happy",
        "My truck broke down after the film, happy it was not worse",
        "That flick about a van made me cry today, yesterday too",
        "We ate pizza in the car, it was a good movie night",
        "[NAME] lost the truck and the movie tickets, what a day",
        "wow",
        "The van movie was generated text, not real",
        "Something sad and cheerful about the weather here",
    ]
    rows = [
        ["relief"],
        ["relief", "joy"],
        ["grief", "sadness"],
        ["grief"],
        ["grief", "sadness"],
        ["fear"],
        ["grief"],
        ["neutral"],
    ]
    src = ["goemotions"] * 6 + ["generated", "goemotions"]
    return EmotionDataset(texts, names_to_matrix(rows), source=src)


def test_nearest_neighbours():
    v = tiny_vectors()
    nn = nearest_neighbours(v, ["car", "movie", "pizza", "unknown"], v.words, k=2)
    assert set(nn["car"]) == {"truck", "van"} and set(nn["movie"]) == {"film", "flick"}
    assert "pizza" not in nn and "unknown" not in nn  # nothing similar enough / no vector
    nn = nearest_neighbours(v, ["car"], v.words, k=5, min_similarity=-1, chunk_elements=1)
    assert len(nn["car"]) == 5 and "car" not in nn["car"]


def test_eda_deterministic_with_provenance(corpus):
    aug = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=7)
    out = aug.augment(corpus, labels=["grief", "relief"])
    again = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=7).augment(
        corpus, labels=["grief", "relief"]
    )
    assert out.texts == again.texts and out.ids == again.ids
    other = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=8).augment(
        corpus, labels=["grief", "relief"]
    )
    assert other.texts != out.texts
    # parents: real rows with grief or relief (the generated row 6 is not a parent)
    assert set(out.parent_id) == {corpus.ids[i] for i in range(5)}
    assert len(out) == 15 and set(out.source) == {"augmented"}
    by_id = {pid: i for i, pid in enumerate(corpus.ids)}
    counts = Counter()
    for k, (rid, pid) in enumerate(zip(out.ids, out.parent_id, strict=True)):
        assert rid == f"{pid}#aug{counts[pid]}"
        counts[pid] += 1
        np.testing.assert_array_equal(out.labels[k], corpus.labels[by_id[pid]])
    keys = [normalize(t) for t in out.texts]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {normalize(t) for t in corpus.texts}
    assert set(out.meta["aug_op"]) <= {"sr", "ri", "rs", "rd"}


def test_eda_synonyms_come_from_the_vectors(corpus):
    groups = [set(VEHICLES), set(FILMS)]
    sr = EDAAugmenter(0.3, 0, 0, 0, n_aug=4, vectors=tiny_vectors(), random_state=0)
    out = sr.augment(corpus, labels=["grief", "relief"])
    assert len(out) > 0 and set(out.meta["aug_op"]) == {"sr"}
    parents = dict(zip(corpus.ids, corpus.texts, strict=True))
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        new, old = tokenize(text), tokenize(parents[pid])
        assert len(new) == len(old)
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert changed
        for a, b in changed:
            assert any(a in g and b in g for g in groups), (a, b)  # never happy -> sad
    ri = EDAAugmenter(0, 0.2, 0, 0, n_aug=4, vectors=tiny_vectors(), random_state=0)
    out = ri.augment(corpus, labels=["grief"])
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        extra = Counter(tokenize(text)) - Counter(tokenize(parents[pid]))
        assert extra and set(extra) <= set(VEHICLES) | set(FILMS)


def test_eda_protects_emotion_words(corpus):
    # "happy" has close neighbours "cheerful" and "sad" (row 7): replacing it could flip the
    # emotion, so emotion words are neither replaced nor inserted unless asked to
    def swaps(protect):
        aug = EDAAugmenter(
            0.5, 0.5, 0, 0, n_aug=10, vectors=tiny_vectors(), protect_emotion_words=protect,
            random_state=0,
        )  # fmt: skip
        out = aug.augment(corpus, labels=["relief"])
        return Counter(w for t in out.texts for w in tokenize(t))

    assert swaps(protect=False)["sad"] > 0
    protected = swaps(protect=True)
    assert protected["sad"] == protected["cheerful"] == 0


def test_eda_without_vectors_only_swaps_and_deletes(corpus):
    out = EDAAugmenter(random_state=0).augment(corpus, labels=["grief", "relief"])
    assert len(out) == 20 and set(out.meta["aug_op"]) <= {"rs", "rd"}
    parents = dict(zip(corpus.ids, corpus.texts, strict=True))
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        assert not Counter(tokenize(text)) - Counter(tokenize(parents[pid]))
    sr_only = EDAAugmenter(0.3, 0.3, 0, 0, random_state=0)  # sr/ri are no-ops without vectors
    assert len(sr_only.augment(corpus, labels=["grief"])) == 0


def test_eda_n_per_label(corpus, caplog):
    aug = EDAAugmenter(vectors=tiny_vectors(), random_state=1)
    out = aug.augment(corpus, n_per_label={"relief": 5, "sadness": 4})
    counts = dict(zip(LABELS, out.labels.sum(axis=0).tolist(), strict=True))
    assert counts["relief"] == 5 and counts["sadness"] == 4 and len(out) == 9
    # a row made for grief also carries sadness: it counts for both
    out = aug.augment(corpus, n_per_label={"grief": 6, "sadness": 4})
    counts = dict(zip(LABELS, out.labels.sum(axis=0).tolist(), strict=True))
    assert counts["grief"] == 6 and counts["sadness"] >= 4 and len(out) == 6
    parents_used = Counter(out.parent_id)  # cycled evenly over the 3 real grief rows
    assert sorted(parents_used.values()) == [2, 2, 2]
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.augment"):
        short = aug.augment(corpus, n_per_label={"fear": 3})  # only parent: "wow"
    assert len(short) == 0 and any("fear is 3 rows short" in r.getMessage() for r in caplog.records)


def test_eda_vectors_from_a_file(corpus, tmp_path):
    v = tiny_vectors()
    path = tmp_path / "tiny.vec"
    lines = [f"{len(v)} {v.dim}"] + [w + " " + " ".join(f"{x:.6f}" for x in v[w]) for w in v.words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    a = EDAAugmenter(vectors=path, random_state=3).augment(corpus, labels=["grief"])
    b = EDAAugmenter(vectors=v, random_state=3).augment(corpus, labels=["grief"])
    assert a.texts == b.texts


def test_eda_errors(corpus):
    with pytest.raises(DataError, match="labelled"):
        EDAAugmenter().augment(EmotionDataset(["a b c"]))
    with pytest.raises(ConfigError, match="not both"):
        EDAAugmenter().augment(corpus, n_per_label={"grief": 1}, labels=["grief"])
    with pytest.raises(ConfigError, match="unknown emotion label"):
        EDAAugmenter().augment(corpus, n_per_label={"griefs": 1})
    with pytest.raises(ConfigError):
        EDAAugmenter(alpha_sr=2)


def test_eda_is_fast():
    rng = np.random.default_rng(0)
    vocab = ["".join(rng.choice(list("abcdefghij"), 5)) for _ in range(2000)]
    texts = [" ".join(rng.choice(vocab, size=rng.integers(6, 25))) + "!" for _ in range(2000)]
    labels = np.zeros((2000, 28), dtype=np.uint8)
    labels[:, LABEL_TO_ID["grief"]] = 1
    ds = EmotionDataset(texts, labels, source="goemotions")
    centers = rng.standard_normal((100, 50)).astype(np.float32)
    matrix = centers[np.arange(2000) % 100] + 0.3 * rng.standard_normal((2000, 50))
    vec = Vectors(words=vocab, matrix=matrix.astype(np.float32), dim=50)
    aug = EDAAugmenter(vectors=vec, n_aug=4, random_state=0)
    t0 = time.perf_counter()
    out = aug.augment(ds, labels=["grief"])
    elapsed = time.perf_counter() - t0
    assert len(out) == 8000 and {"sr", "ri", "rs", "rd"} == set(out.meta["aug_op"])
    assert len(out) / elapsed > 2000, f"{len(out) / elapsed:.0f} rows/s"
