"""A tiny model trained in about a second, shared by the serving tests."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance.data.dataset import EmotionDataset
from emobalance.labels import LABEL_TO_ID

WORDS = {
    "gratitude": ["thanks", "thank", "grateful"],
    "anger": ["furious", "angry", "rage"],
    "joy": ["happy", "glad", "yay"],
    "neutral": ["table", "monday", "report"],
}
TINY_MODEL = dict(
    vectors=None, pretrained=False, embedding_dim=16, conv_channels=8, lstm_hidden=8,
    attention_dim=8, max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip
TINY_TRAIN = dict(
    epochs=10, batch_size=8, lr=0.02, loss="asl", lr_schedule="constant", patience=20,
    mixed_precision="off", progress=False, seed=0,
)  # fmt: skip


def make_data(n: int, seed: int) -> EmotionDataset:
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    for i in range(n):
        lab = names[i % len(names)]
        words = list(rng.choice(WORDS[lab], size=2)) + list(rng.choice(["the", "a", "so"], 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, labels, source="user")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny model directory (trained once per session)."""
    import torch

    from emobalance.models.reference import EmotionClassifier

    threads = torch.get_num_threads()
    # One thread: on a busy 2-core machine two OpenMP threads make this 5-100x slower.
    torch.set_num_threads(1)
    try:
        clf = EmotionClassifier(model=TINY_MODEL, train=TINY_TRAIN).fit(
            make_data(120, 0), make_data(40, 1)
        )
    finally:
        torch.set_num_threads(threads)
    return clf.save(tmp_path_factory.mktemp("serve") / "tiny")
