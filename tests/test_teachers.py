import numpy as np
import pytest

from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError
from emobalance.labels import GOEMOTIONS, LABELS, NUM_LABELS, LabelSchema
from emobalance.teachers import (
    AlignedTeacher,
    CachedTeacher,
    ClassifierTeacher,
    EnsembleTeacher,
    HFTeacher,
    Teacher,
    TeacherError,
    align_proba,
    align_teacher,
    minilm_cache_dir,
    teacher_proba,
)


class Const:
    def __init__(self, value):
        self.value = value

    def predict_proba(self, texts):
        return np.full((len(texts), 28), self.value, dtype=np.float32)


def test_protocol_and_checks():
    assert isinstance(Const(0.1), Teacher)
    with pytest.raises(TeacherError, match="outside"):
        teacher_proba(Const(1.5), ["a"])
    with pytest.raises(TeacherError, match="shape"):
        teacher_proba(type("T", (), {"predict_proba": lambda self, t: np.zeros(3)})(), ["a"])
    with pytest.raises(TeacherError, match="predict_proba"):
        ClassifierTeacher(object())


def test_classifier_teacher_batches():
    calls = []

    class Spy(Const):
        def predict_proba(self, texts):
            calls.append(len(texts))
            return super().predict_proba(texts)

    out = ClassifierTeacher(Spy(0.3), batch_size=4).predict_proba([str(i) for i in range(10)])
    assert out.shape == (10, 28) and calls == [4, 4, 2]


def test_ensemble_mean_and_weights():
    e = EnsembleTeacher([Const(0.2), Const(0.6)])
    np.testing.assert_allclose(e.predict_proba(["x", "y"]), 0.4, atol=1e-6)
    w = EnsembleTeacher([Const(0.2), Const(0.6)], weights=[3, 1])
    np.testing.assert_allclose(w.predict_proba(["x"]), 0.3, atol=1e-6)
    with pytest.raises(TeacherError):
        EnsembleTeacher([])
    with pytest.raises(TeacherError):
        EnsembleTeacher([Const(0.1)], weights=[-1])


def _tiny_hf(tmp_path, labels):
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "so", "happy", "sad", "!"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"))  # transformers >= 5
    if len(tok) != len(vocab):  # transformers 4 names the argument vocab_file
        tok = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert tok.tokenize("i am happy") == ["i", "am", "happy"]
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
        problem_type="multi_label_classification",
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    out = tmp_path / "hf"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, model, tok


def test_hf_teacher_maps_labels_by_name(tmp_path):
    import torch

    shuffled = list(reversed(LABELS))  # the model's order differs from ours
    path, model, tok = _tiny_hf(tmp_path, [s.upper() for s in shuffled])
    t = HFTeacher(path, batch_size=2)
    texts = ["i am so happy !", "sad", "i am"]
    got = t.predict_proba(texts)
    assert got.shape == (3, 28)
    with torch.no_grad():
        enc = tok(texts, padding=True, return_tensors="pt")
        ref = torch.sigmoid(model.eval()(**enc).logits).numpy()
    # our column j is the model's column of the same name
    for j, lab in enumerate(LABELS):
        np.testing.assert_allclose(got[:, j], ref[:, shuffled.index(lab)], atol=1e-5)


def test_a_hugging_face_folder_as_teacher_spec_is_an_hf_teacher(tmp_path):
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.models.registry import find_kind
    from emobalance.teachers import build_teacher

    path, _, _ = _tiny_hf(tmp_path, list(LABELS))
    assert find_kind(path) is None  # its config.json is Hugging Face's, not an emobalance model
    data = EmotionDataset(["i am happy", "sad"], labels=np.zeros((2, 28), np.uint8))
    teacher, name = build_teacher(str(path), data, data, ModelConfig(), TrainConfig())
    assert isinstance(teacher, HFTeacher) and name == teacher.name
    assert teacher.predict_proba(["i am so happy !"]).shape == (1, 28)


def test_hf_teacher_missing_labels(tmp_path):
    path, _, _ = _tiny_hf(tmp_path, list(LABELS[:26]))
    with pytest.raises(TeacherError, match="surprise, neutral"):
        HFTeacher(path)
    with pytest.raises(TeacherError, match="cannot load"):
        HFTeacher(tmp_path / "nope")
    # balancing accepts it: the labels it lacks score 0 everywhere and are named
    t = HFTeacher(path, allow_missing_labels=True)
    assert t.missing_labels == ["surprise", "neutral"]
    p = t.predict_proba(["i am so happy !", "sad"])
    assert p.shape == (2, 28) and (p[:, 26:] == 0).all() and (p[:, :26] > 0).all()


def test_balancing_with_a_partial_teacher_and_an_empty_corpus_reports_the_shortfall(tmp_path):
    from emobalance.balance.build import run_balance
    from emobalance.config import EmobalanceConfig

    path, _, _ = _tiny_hf(tmp_path, [lab for lab in LABELS if lab != "grief"])
    y = np.zeros((30, 28), np.uint8)
    y[np.arange(30), np.arange(30) % 28] = 1
    train = EmotionDataset([f"i am happy {i}" for i in range(30)], y, source="goemotions")
    dev = EmotionDataset(["sad"], np.eye(28, dtype=np.uint8)[[25]])
    tweets = tmp_path / "tweets.txt"
    tweets.write_text("".join(f"i am so sad ! {i}\n" for i in range(20)))
    cfg = EmobalanceConfig.model_validate({"balance": {
        "teacher": str(path), "target": 2, "sources": ["pseudo_label"],
        "pseudo_label": {"corpus": str(tweets), "threshold": 0.01}}})  # fmt: skip
    _, rep = run_balance(cfg, tmp_path / "out", train=train, dev=dev, test=dev, progress=False)
    assert rep["pseudo_label"]["teacher_uncovered_labels"] == ["grief"]
    assert (
        rep["shortfall"]["grief"] == 1 and rep["pseudo_label"]["per_label"]["grief"]["added"] == 0
    )
    # a corpus with no usable rows: the job finishes and says so
    (tmp_path / "blank.txt").write_text("\n  \n")
    cfg.balance.pseudo_label.corpus = str(tmp_path / "blank.txt")
    _, rep = run_balance(cfg, tmp_path / "out2", train=train, dev=dev, test=dev, progress=False)
    assert (
        rep["pseudo_label"]["kept_rows"] == 0 and "no usable rows" in rep["pseudo_label"]["status"]
    )
    assert rep["n_after"] == 30 and rep["shortfall"]


def test_cached_teacher_scores_each_text_once(tmp_path):
    from emobalance.teachers import CachedTeacher

    seen = []

    class Spy:
        name = "spy"

        def predict_proba(self, texts):
            seen.extend(texts)
            return np.array([[len(t) / 100] * 28 for t in texts], dtype=np.float32)

    t = CachedTeacher(Spy(), "k1", tmp_path)
    a = t.predict_proba(["ab", "abc", "ab"])
    assert seen == ["ab", "abc"] and a.shape == (3, 28)
    np.testing.assert_allclose(a[:, 0], [0.02, 0.03, 0.02])
    # a new instance (another process) reads the file: only the new text is scored
    b = CachedTeacher(Spy(), "k1", tmp_path).predict_proba(["abc", "abcd"])
    assert seen == ["ab", "abc", "abcd"]
    np.testing.assert_allclose(b[:, 0], [0.03, 0.04])
    # another key is another teacher: nothing is shared
    CachedTeacher(Spy(), "k2", tmp_path).predict_proba(["ab"])
    assert seen[-1] == "ab" and sorted(p.name for p in tmp_path.iterdir()) == ["k1.npz", "k2.npz"]
    assert CachedTeacher(Spy(), "k1", tmp_path).predict_proba([]).shape == (0, 28)
    # a corrupt cache file is rebuilt, not trusted
    (tmp_path / "k2.npz").write_bytes(b"junk")
    CachedTeacher(Spy(), "k2", tmp_path).predict_proba(["zz"])
    assert seen[-1] == "zz"


def test_unknown_teacher_spec():
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.teachers import build_teacher

    train = EmotionDataset(["a text", "another"], np.eye(NUM_LABELS, dtype=np.uint8)[[0, 1]])
    dev = EmotionDataset(["dev text"], np.eye(NUM_LABELS, dtype=np.uint8)[[1]])
    with pytest.raises(ConfigError, match=r"teacher: .oracle. is not"):
        build_teacher("oracle", train, dev, ModelConfig(), TrainConfig())


def test_a_cached_tfidf_teacher_keeps_its_scores_beside_minilm_s(tmp_path, monkeypatch):
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.teachers import CachedTeacher, build_teacher

    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    words = ["happy", "sad", "angry", "thanks", "wow", "sorry", "love", "ugh"]
    texts = [" ".join(rng.choice(words, 4)) for _ in range(60)]
    labels = np.zeros((60, 28), np.uint8)
    for i, t in enumerate(texts):
        labels[i, LABELS.index("joy") if "happy" in t else LABELS.index("sadness")] = 1
    data = EmotionDataset(texts, labels=labels)
    first, _ = build_teacher("tfidf", data, data, ModelConfig(), TrainConfig(), cache_dir=tmp_path)
    assert isinstance(first, CachedTeacher)
    want = first.predict_proba(["happy wow", "sad ugh"])
    assert first.path.is_file()  # the scores are on disk
    again, _ = build_teacher("tfidf", data, data, ModelConfig(), TrainConfig(), cache_dir=tmp_path)
    assert again.path == first.path
    np.testing.assert_array_equal(again.predict_proba(["happy wow", "sad ugh"]), want)
    plain, _ = build_teacher("tfidf", data, data, ModelConfig(), TrainConfig())
    assert not isinstance(plain, CachedTeacher)  # no cache folder: nothing kept


def test_a_fine_tuned_transformer_folder_keeps_its_scores_under_its_id(
    tmp_path, monkeypatch, model_kind_paths
):
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.teachers import CachedTeacher, build_teacher, teacher_id

    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))
    path = model_kind_paths["transformer"]
    data = EmotionDataset(["i am happy", "sad"], labels=np.zeros((2, 28), np.uint8))
    teacher, _ = build_teacher(str(path), data, data, ModelConfig(), TrainConfig())
    assert isinstance(teacher, CachedTeacher)
    assert teacher.path.name.startswith(f"transformer-{teacher_id(path)}")
    want = teacher.predict_proba(["thanks so much", "so angry"])
    assert teacher.path.is_file()
    again, _ = build_teacher(str(path), data, data, ModelConfig(), TrainConfig())
    np.testing.assert_array_equal(again.predict_proba(["thanks so much", "so angry"]), want)


def test_a_repeated_part_weighs_by_its_count_and_runs_once():
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.teachers import build_teacher

    calls = {"a": 0, "b": 0}

    class Counting:
        def __init__(self, name, value):
            self.name, self.value = name, value

        def predict_proba(self, texts):
            calls[self.name] += 1
            return np.full((len(texts), 28), self.value, np.float32)

    data = EmotionDataset(["x"], labels=np.zeros((1, 28), np.uint8))
    provided = {"a": Counting("a", 0.2), "b": Counting("b", 0.6)}
    teacher, name = build_teacher(
        "a+b+a+a", data, data, ModelConfig(), TrainConfig(), provided=provided
    )
    np.testing.assert_allclose(teacher.predict_proba(["x", "y"]), 0.3, atol=1e-6)
    assert calls == {"a": 1, "b": 1}
    assert name == "ensemble(a x3, b)"


# ------------------------------------------------------------------ own label schemas
FIVE = LabelSchema(["joy", "anger", "fear", "anticipation", "trust"], name="five")
SINGLE = LabelSchema(["positive", "negative", "mixed"], single_label=True, name="polarity")


class Columns:
    """Column ``j`` of every row is ``(j + 1) / 10``, in its own schema."""

    def __init__(self, schema):
        self.labels_ = schema
        self.name = schema.name

    def predict_proba(self, texts):
        row = (np.arange(len(self.labels_), dtype=np.float32) + 1) / 10
        return np.tile(row, (len(texts), 1))


def test_teachers_expose_their_schema():
    own = Columns(FIVE)
    assert ClassifierTeacher(own).labels_ is FIVE
    assert CachedTeacher(own, "k", "/nonexistent").labels_ is FIVE
    assert EnsembleTeacher([own, own]).labels_ is FIVE
    assert EnsembleTeacher([Const(0.1)]).labels_ is GOEMOTIONS  # no labels_: GoEmotions' 28
    assert teacher_proba(own, ["a", "b"]).shape == (2, 5)
    with pytest.raises(TeacherError, match=r"expected \(1, 5\)"):
        teacher_proba(type("T", (), {"labels_": FIVE, "predict_proba": Const(0.1).predict_proba})(),
                      ["a"])  # fmt: skip


def test_align_by_name_reorders_and_marks_missing_labels():
    teacher = Columns(LabelSchema(["trust", "fear", "joy", "anger"], name="four"))
    aligned = align_teacher(teacher, FIVE, allow_missing=True)
    assert isinstance(aligned, AlignedTeacher) and aligned.labels_ is FIVE
    assert aligned.missing_labels == ["anticipation"]
    p = teacher_proba(aligned, ["x"])[0]
    np.testing.assert_allclose(p[[0, 1, 2, 4]], [0.3, 0.4, 0.2, 0.1])  # joy, anger, fear, trust
    assert np.isnan(p[3])
    # the same through a probability matrix
    m = align_teacher(teacher.predict_proba(["x"]), FIVE, allow_missing=True,
                      teacher_schema=teacher.labels_)  # fmt: skip
    np.testing.assert_array_equal(np.isnan(m), np.isnan(p[None]))
    # the same labels in the same order: the teacher itself, untouched (GoEmotions runs)
    assert align_teacher(Const(0.2), GOEMOTIONS, allow_missing=False).__class__ is Const
    same = np.zeros((1, 5), np.float32)
    assert align_proba(same, FIVE, FIVE, allow_missing=False) is same


def test_align_refuses_missing_labels_for_distillation_in_one_line():
    teacher = Columns(LabelSchema(["trust", "fear", "joy"], name="three"))
    with pytest.raises(ConfigError) as err:
        align_teacher(teacher, FIVE, allow_missing=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert "lacks anger, anticipation" in msg and "three (3 labels" in msg and "five (5" in msg
    with pytest.raises(ConfigError, match="none of the labels"):
        align_teacher(Columns(SINGLE), FIVE, allow_missing=True)


def test_ensemble_members_share_a_schema_or_are_aligned():
    a, b = Columns(FIVE), Columns(LabelSchema(list(reversed(FIVE.names)), name="rev"))
    with pytest.raises(TeacherError) as err:
        EnsembleTeacher([a, b])
    assert "\n" not in str(err.value) and "five" in str(err.value) and "rev" in str(err.value)
    ens = EnsembleTeacher([a, b], schema=FIVE)
    # b aligned: its joy column is 0.5 (5th of its own), a's 0.1 -> mean 0.3 for every label
    np.testing.assert_allclose(ens.predict_proba(["x"]), [[0.3] * 5], rtol=1e-6)
    with pytest.raises(ConfigError, match="lacks"):
        EnsembleTeacher([a, Columns(LabelSchema(["joy"], name="one"))], schema=FIVE)
    # members aligned with missing labels: each label is the mean of those that have it
    part = align_teacher(Columns(LabelSchema(["fear", "joy"], name="two")), FIVE,
                         allow_missing=True)  # fmt: skip
    mixed = EnsembleTeacher([a, part]).predict_proba(["x"])[0]
    np.testing.assert_allclose(mixed, [0.15, 0.2, 0.2, 0.4, 0.5], rtol=1e-6)


def test_cache_keys_include_a_schema_other_than_goemotions():
    y = np.eye(28, dtype=np.uint8)[:5]
    texts = [f"t{i}" for i in range(5)]
    go = EmotionDataset(texts, y)
    # the same texts and 0/1 matrix under another 28-label schema must not share the cache
    other = LabelSchema([f"l{j}" for j in range(28)], name="other28")
    mine = EmotionDataset(texts, y, schema=other)
    d_go, key_go = minilm_cache_dir(go, go)
    d_mine, key_mine = minilm_cache_dir(mine, mine)
    assert key_go != key_mine and d_go != d_mine
    # GoEmotions' key has no schema part: the key of before schemas (caches stay valid)
    from emobalance.teachers import _schema_key

    assert _schema_key(go) == () and _schema_key(mine) == (other.to_dict(),)


def test_cached_teacher_rebuilds_a_cache_of_another_width(tmp_path):
    five = CachedTeacher(Columns(FIVE), "k", tmp_path)
    assert five.predict_proba(["a"]).shape == (1, 5)
    single = CachedTeacher(Columns(SINGLE), "k", tmp_path)  # same key, another width
    np.testing.assert_allclose(single.predict_proba(["a"]), [[0.1, 0.2, 0.3]])


def test_build_teacher_aligns_its_parts_to_the_train_schema():
    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.teachers import build_teacher

    train = EmotionDataset(["a", "b"], FIVE.names_to_matrix([["joy"], ["fear"]]), schema=FIVE)
    four = Columns(LabelSchema(["trust", "fear", "joy", "anger"], name="four"))
    args = (train, train, ModelConfig(), TrainConfig())
    t, name = build_teacher("tfidf", *args, provided={"tfidf": four}, allow_missing_labels=True)
    assert name == "tfidf" and t.labels_ is FIVE and t.missing_labels == ["anticipation"]
    with pytest.raises(ConfigError, match="lacks anticipation"):
        build_teacher("tfidf", *args, provided={"tfidf": four})
    # an ensemble of aligned parts speaks the train schema too
    ens, _ = build_teacher("tfidf+reference", *args, provided={"tfidf": four, "reference": four},
                           allow_missing_labels=True)  # fmt: skip
    assert ens.labels_ is FIVE and np.isnan(ens.predict_proba(["x"])[0, 3])
