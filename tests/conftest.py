"""Shared fixtures: the hand-written fixture folder and the real data folder (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

# The fuzz suite's budget: `ci` (the default) bounds every property test so that the whole
# suite stays within CI's time; HYPOTHESIS_PROFILE=long searches harder on a workstation.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_REAL_FILES = (
    "goemotions/train.tsv",
    "goemotions/dev.tsv",
    "goemotions/test.tsv",
    "goemotions/emotions.txt",
    "goemotions/ekman_mapping.json",
    "goemotions/sentiment_dict.json",
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/fixtures``: tiny hand-written files (never the real data)."""
    return FIXTURES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (``$EMOBALANCE_DATA``); skips the test when unset or incomplete."""
    root = os.environ.get("EMOBALANCE_DATA")
    if not root:
        pytest.skip("EMOBALANCE_DATA is not set")
    path = Path(root).expanduser()
    missing = [f for f in _REAL_FILES if not (path / f).is_file()]
    if missing:
        pytest.skip(f"EMOBALANCE_DATA={root} lacks {', '.join(missing)}")
    return path


@pytest.fixture(scope="session")
def real_train(data_dir):
    """The official GoEmotions train split, parsed once per session."""
    from emobalance.data import goemotions

    return goemotions.read_tsv(data_dir / "goemotions" / "train.tsv")


# ------------------------------------------------------------------ one model of each kind
_KIND_WORDS = {
    "gratitude": ["thanks", "thank", "grateful"],
    "anger": ["furious", "angry", "rage"],
    "joy": ["happy", "glad", "yay"],
    "neutral": ["table", "monday", "report"],
}


def kind_toy_data(n: int, seed: int):
    """Toy texts of four labels, shared by the tests that run every model kind."""
    import numpy as np

    from emobalance.data.dataset import EmotionDataset
    from emobalance.labels import LABEL_TO_ID

    rng = np.random.default_rng(seed)
    names = list(_KIND_WORDS)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    for i in range(n):
        lab = names[i % len(names)]
        words = list(rng.choice(_KIND_WORDS[lab], size=2)) + list(rng.choice(["the", "so"], 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A 1-layer BERT encoder with random weights over the fixture WordPiece vocabulary."""
    pytest.importorskip("transformers")
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny_bert_base")
    vocab = FIXTURES / "tiny_bert" / "vocab.txt"
    n_vocab = len(vocab.read_text().splitlines())
    tok = BertTokenizerFast(vocab=str(vocab))  # transformers >= 5
    if len(tok) != n_vocab:  # transformers 4 names the argument vocab_file
        tok = BertTokenizerFast(vocab_file=str(vocab))
    cfg = BertConfig(
        vocab_size=n_vocab, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def model_kind_paths(tmp_path_factory, tiny_bert_dir):
    """``{kind: saved path}``: one tiny model of every kind, fitted once on toy data with dev."""
    pytest.importorskip("onnxruntime")
    import torch

    from emobalance.export import export_onnx
    from emobalance.models.baselines import TfidfBaseline
    from emobalance.models.reference import EmotionClassifier
    from emobalance.models.transformer import TransformerClassifier

    root = tmp_path_factory.mktemp("kinds")
    train, dev = kind_toy_data(96, 0), kind_toy_data(32, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: one thread is 5-100x faster here
    try:
        ref = EmotionClassifier(
            model=dict(vectors=None, pretrained=False, embedding_dim=16, conv_channels=8,
                       lstm_hidden=8, attention_dim=8, max_len=20, min_freq=1, dropout=0.0,
                       embedding_dropout=0.0),
            train=dict(epochs=6, batch_size=8, lr=0.02, loss="asl", lr_schedule="constant",
                       patience=20, mixed_precision="off", progress=False, seed=0),
        ).fit(train, dev)  # fmt: skip
        tfm = TransformerClassifier(
            dict(base=str(tiny_bert_dir), epochs=2, batch_size=8, lr=1e-2, head_lr=3e-2,
                 warmup_ratio=0.0, dropout=0.0, mixed_precision="off", device="cpu",
                 progress=False, max_length=16)
        ).fit(train, dev)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    paths = {
        "reference": ref.save(root / "reference"),
        "tfidf": TfidfBaseline(min_df=1).fit(train, dev).save(root / "tfidf"),
        "transformer": tfm.save(root / "transformer"),
    }
    paths["onnx"] = export_onnx(paths["reference"], root / "reference.onnx")
    return paths


@pytest.fixture(scope="session")
def kind_splits(tmp_path_factory):
    """Labelled toy ``dev.jsonl`` (64 rows) and ``test.parquet`` (48 rows) in the words of
    :func:`kind_toy_data`, for the commands that fit on dev and measure on test."""
    d = tmp_path_factory.mktemp("kind_splits")
    kind_toy_data(64, 21).to_jsonl(d / "dev.jsonl")
    kind_toy_data(48, 22).to_parquet(d / "test.parquet")
    return d / "dev.jsonl", d / "test.parquet"


# ------------------------------------------------------------------ the CLI in-process
@pytest.fixture
def cli(capsys):
    """``cli(args) -> (exit code, stdout, stderr)``: the emobalance CLI run in this process."""
    from emobalance.cli import main

    def run(args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run
