"""ONNX export and the onnxruntime predictor: parity with PyTorch, int8, explain, errors."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import torch

from emobalance.data.dataset import EmotionDataset
from emobalance.errors import EmobalanceError, ModelError
from emobalance.export import check_export, export_onnx
from emobalance.labels import LABEL_TO_ID
from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention
from emobalance.models.onnx import OnnxEmotionClassifier
from emobalance.models.reference import EmotionClassifier
from emobalance.text import Vocab

TINY = dict(
    vectors=None, embedding_dim=16, conv_channels=8, lstm_hidden=8, attention_dim=8,
    max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip
WORDS = {
    "gratitude": ["thanks", "thank", "grateful", "appreciate"],
    "anger": ["furious", "angry", "rage", "mad"],
    "joy": ["happy", "glad", "delighted", "yay"],
    "neutral": ["table", "monday", "report", "meeting"],
}
FILLER = ["the", "a", "so", "it", "was", "is", "and", "really"]
TOL = 1e-4


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    for i in range(n):
        lab = list(WORDS)[i % 4]
        words = [*rng.choice(WORDS[lab], 2), *rng.choice(FILLER, 3)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


def texts_of_length(n_tokens, count, seed=0):
    """``count`` texts of exactly ``n_tokens`` tokens (known words and an unknown one)."""
    rng = np.random.default_rng(seed)
    pool = [w for ws in WORDS.values() for w in ws] + FILLER + ["zzzunknown"]
    return [" ".join(rng.choice(pool, n_tokens)) for _ in range(count)]


@pytest.fixture(scope="module")
def fitted():
    train = {"epochs": 4, "batch_size": 8, "lr": 0.01, "lr_schedule": "constant",
             "mixed_precision": "off", "progress": False, "seed": 0}  # fmt: skip
    return EmotionClassifier(model=TINY, train=train).fit(make_data(120, 0), make_data(40, 1))


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    fitted.save(d / "model")
    path = export_onnx(d / "model")
    return d, path, OnnxEmotionClassifier.load(path)


def random_classifier(**model):
    """An untrained classifier of another architecture (parity needs no training)."""
    clf = EmotionClassifier(model={**TINY, **model})
    clf.vocab_ = Vocab.build([t.split() for t in make_data(40, 0).texts])
    torch.manual_seed(0)
    clf.network_ = CNNBiLSTMAttention(len(clf.vocab_), clf.model_config).eval()
    clf.thresholds_ = np.full(28, 0.5, dtype=np.float32)
    return clf


def test_export_writes_one_self_contained_file(exported, fitted):
    d, path, onnx_clf = exported
    assert path == d / "model" / "model.onnx" and path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    np.testing.assert_array_equal(onnx_clf.thresholds_, fitted.thresholds_)
    assert onnx_clf.vocab_.itos == fitted.vocab_.itos
    assert onnx_clf.model_config == fitted.model_config and onnx_clf.quantize_ == "none"
    assert OnnxEmotionClassifier.load(d / "model").path_ == path  # a directory finds model.onnx


@pytest.mark.parametrize("n_tokens", [1, 2, 7, 20, 30])  # 30 is truncated to max_len 20
@pytest.mark.parametrize("batch_size", [1, 64])
def test_parity_per_length_and_batch_size(exported, fitted, n_tokens, batch_size):
    _, _, onnx_clf = exported
    texts = texts_of_length(n_tokens, 70, seed=n_tokens)
    got = onnx_clf.predict_proba(texts, batch_size=batch_size)
    want = fitted.predict_proba(texts, batch_size=batch_size)
    assert got.shape == (70, 28) and got.dtype == np.float32
    assert np.abs(got - want).max() <= TOL


def test_parity_mixed_lengths_in_one_call(exported, fitted):
    _, _, onnx_clf = exported
    rng = np.random.default_rng(1)
    texts = [t for k in range(1, 24) for t in texts_of_length(k, int(rng.integers(1, 9)), k)]
    texts += ["", "   ", "😂", "THANKS!!! so much"]
    texts = [texts[i] for i in rng.permutation(len(texts))]
    for bs in (1, 3, 64, 512):
        got = onnx_clf.predict_proba(texts, batch_size=bs)
        assert np.abs(got - fitted.predict_proba(texts, batch_size=bs)).max() <= TOL
    for threads, workers in ((1, 1), (3, 3), (2, 1)):  # batches one at a time or at once
        other = OnnxEmotionClassifier.load(onnx_clf.path_, threads, workers)
        np.testing.assert_allclose(other.predict_proba(texts, 3), got, atol=1e-6)
    assert onnx_clf.predict(texts) == fitted.predict(texts)
    np.testing.assert_array_equal(onnx_clf.predict_matrix(texts), fitted.predict_matrix(texts))
    assert onnx_clf.predict_proba([]).shape == (0, 28)


@pytest.mark.parametrize(
    "arch",
    [
        {"conv_kernel_sizes": [2, 3, 5]},  # even kernel: output cut to T
        {"conv_kernel_sizes": [3, 1]},
        {"use_conv": False},
        {"use_attention": False},
        {"attention_max_pool": False, "lstm_layers": 2},
    ],
)
def test_parity_other_architectures(arch, tmp_path):
    clf = random_classifier(**arch)
    path = export_onnx(clf, tmp_path / "m.onnx")
    texts = [t for k in (1, 2, 4, 9) for t in texts_of_length(k, 5, k)]
    assert check_export(clf, path, texts) <= TOL
    onnx_ex = OnnxEmotionClassifier.load(path).explain("thanks so much")
    assert np.allclose(clf.explain("thanks so much")["attention"], onnx_ex["attention"], atol=1e-5)


def test_int8_export_is_close(exported, fitted):
    d, _, _ = exported
    path = export_onnx(d / "model", quantize="int8")
    assert path.name == "model.int8.onnx"
    q = OnnxEmotionClassifier.load(path)
    assert q.quantize_ == "int8"
    texts = make_data(40, 2).texts + texts_of_length(12, 10)
    assert np.abs(q.predict_proba(texts) - fitted.predict_proba(texts)).max() <= 0.05


def test_explain_parity(exported, fitted):
    _, _, onnx_clf = exported
    for text in ("thanks so much, I really appreciate it", "", "furious " * 30):
        a, b = fitted.explain(text), onnx_clf.explain(text)
        assert set(a) == set(b)
        assert a["tokens"] == b["tokens"] and a["labels"] == b["labels"]
        assert a["ekman"] == b["ekman"]
        assert [x["label"] for x in a["top"]] == [x["label"] for x in b["top"]]
        assert np.allclose(a["attention"], b["attention"], atol=1e-5)
        assert abs(sum(b["attention"]) - 1) < 1e-5
        pa, pb = np.array(list(a["probabilities"].values())), list(b["probabilities"].values())
        assert np.abs(pa - pb).max() <= TOL


def test_load_errors_name_the_file(exported, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    with pytest.raises(ModelError, match=r"missing\.onnx: ONNX model file not found"):
        OnnxEmotionClassifier.load(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match=r"model\.onnx: ONNX model file not found"):
        OnnxEmotionClassifier.load(tmp_path)
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07not a protobuf at all" * 10)
    with pytest.raises(ModelError, match=r"corrupt\.onnx: not a readable ONNX model"):
        OnnxEmotionClassifier.load(bad)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(exported[1].read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        OnnxEmotionClassifier.load(cut)
    # a valid ONNX graph that is not an emobalance export
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), other)
    with pytest.raises(ModelError, match=r"other\.onnx: not an emobalance ONNX export"):
        OnnxEmotionClassifier.load(other)


def test_export_errors(exported, tmp_path):
    d, _, _ = exported
    with pytest.raises(EmobalanceError, match="quantize"):
        export_onnx(d / "model", tmp_path / "m.onnx", quantize="int4")
    with pytest.raises(ModelError, match="nope"):
        export_onnx(tmp_path / "nope", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnxruntime_says_what_to_install(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    hint = r"onnxruntime is not installed: pip install onnxruntime"
    with pytest.raises(EmobalanceError, match=hint):
        OnnxEmotionClassifier.load(exported[1])


def test_missing_onnx_names_the_extra(monkeypatch):
    from emobalance.models.onnx import require

    monkeypatch.setitem(sys.modules, "onnx", None)
    hint = r"onnx is not installed: pip install emobalance\[onnx\]"
    with pytest.raises(EmobalanceError, match=hint):
        require("onnx")


def test_prediction_needs_no_torch(exported):
    code = (
        "import sys; from emobalance.models.onnx import OnnxEmotionClassifier as C; "
        f"c = C.load({str(exported[1])!r}); c.predict_proba(['thanks', 'so happy']); "
        "c.explain('thanks'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
