"""Models of non-GoEmotions label schemas, one of every kind: a 5-label multi-label schema with
a grouping, and a 3-label single-label one (tiny networks, no vectors), fitted once."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance.labels import LabelSchema

FIVE = LabelSchema(
    ["happy", "angry", "sad", "calm", "thankful"],
    {"valence": {"positive": ["happy", "calm", "thankful"], "negative": ["angry", "sad"]}},
    name="five",
)
"""A multi-label schema of 5 labels with one grouping."""

THREE = LabelSchema(["pos", "neg", "other"], single_label=True, allow_empty=False, name="three")
"""A single-label schema of 3 classes, without groupings."""

_WORDS = {
    "happy": ["happy", "glad", "yay"],
    "angry": ["furious", "angry", "rage"],
    "sad": ["sad", "tears", "gloomy"],
    "calm": ["calm", "quiet", "still"],
    "thankful": ["thanks", "thank", "grateful"],
    "pos": ["happy", "glad", "great"],
    "neg": ["awful", "angry", "sad"],
    "other": ["table", "monday", "report"],
}


def own_toy_data(schema: LabelSchema, n: int, seed: int):
    """Toy texts of ``schema``'s labels: two cue words of a label (of two for some rows of a
    multi-label schema) and two filler words."""
    from emobalance.data.dataset import EmotionDataset

    rng = np.random.default_rng(seed)
    texts, labels = [], np.zeros((n, len(schema)), dtype=np.uint8)
    for i in range(n):
        ids = [i % len(schema)]
        if not schema.single_label and i % 5 == 4:
            ids.append((i + 1) % len(schema))
        words = [w for j in ids for w in rng.choice(_WORDS[schema.names[j]], size=2)]
        words += list(rng.choice(["the", "so"], 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, ids] = 1
    return EmotionDataset(texts, labels, source="user", schema=schema)


def _fit_every_kind(root, schema: LabelSchema, tiny_bert_dir, objective: str = "f1"):
    import torch

    from emobalance.export import export_onnx
    from emobalance.models.baselines import TfidfBaseline
    from emobalance.models.reference import EmotionClassifier
    from emobalance.models.transformer import TransformerClassifier

    train, dev = own_toy_data(schema, 80, 0), own_toy_data(schema, 30, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = EmotionClassifier(
            model=dict(vectors=None, pretrained=False, embedding_dim=16, conv_channels=8,
                       lstm_hidden=8, attention_dim=8, max_len=20, min_freq=1, dropout=0.0,
                       embedding_dropout=0.0),
            train=dict(epochs=5, batch_size=8, lr=0.02, loss="asl", lr_schedule="constant",
                       patience=20, mixed_precision="off", progress=False, seed=0),
            threshold_objective=objective,
        ).fit(train, dev)  # fmt: skip
        tfm = TransformerClassifier(
            dict(base=str(tiny_bert_dir), epochs=1, batch_size=8, lr=1e-2, head_lr=3e-2,
                 warmup_ratio=0.0, dropout=0.0, mixed_precision="off", device="cpu",
                 progress=False, max_length=16),
            threshold_objective=objective,
        ).fit(train, dev)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    paths = {
        "reference": ref.save(root / "reference"),
        "tfidf": TfidfBaseline(min_df=1, threshold_objective=objective)
        .fit(train, dev)
        .save(root / "tfidf"),
        "transformer": tfm.save(root / "transformer"),
    }
    paths["onnx"] = export_onnx(paths["reference"], root / "reference.onnx")
    return paths


@pytest.fixture(scope="session")
def own_kind_paths(tmp_path_factory, tiny_bert_dir):
    """``{schema name: {kind: saved path}}`` for :data:`FIVE` and :data:`THREE`."""
    pytest.importorskip("onnxruntime")
    return {
        "five": _fit_every_kind(tmp_path_factory.mktemp("five"), FIVE, tiny_bert_dir, "jaccard"),
        "three": _fit_every_kind(tmp_path_factory.mktemp("three"), THREE, tiny_bert_dir),
    }


@pytest.fixture(scope="session")
def own_schemas():
    """``{"five": FIVE, "three": THREE}`` (test modules cannot import this conftest)."""
    return {"five": FIVE, "three": THREE}


@pytest.fixture(scope="session")
def own_toy():
    """:func:`own_toy_data`: ``own_toy(schema, n, seed)``."""
    return own_toy_data
