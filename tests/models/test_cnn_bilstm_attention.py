import pytest
import torch

from emobalance.config import ModelConfig
from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention, count_parameters

TINY = dict(
    embedding_dim=12, conv_channels=8, lstm_hidden=6, attention_dim=5, dropout=0.0,
    embedding_dropout=0.0, max_len=20,
)  # fmt: skip


def make(**kw):
    torch.manual_seed(0)
    return CNNBiLSTMAttention(50, ModelConfig(**{**TINY, **kw})).eval()


def batch():
    ids = torch.tensor([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0], [7, 0, 0, 0, 0]])
    return ids, torch.tensor([5, 2, 1])


def test_output_shape_and_attention_masks_padding():
    model = make()
    ids, lens = batch()
    logits, w = model(ids, lens, return_attention=True)
    assert logits.shape == (3, 28)
    assert w.shape == (3, 5)
    torch.testing.assert_close(w.sum(1), torch.ones(3))
    mask = torch.arange(5)[None, :] < lens[:, None]
    assert torch.all(w[~mask] == 0)
    assert torch.all(w[mask] > 0)


@pytest.mark.parametrize(
    "kw", [{}, {"use_conv": False}, {"use_attention": False}, {"conv_kernel_sizes": [2, 3, 4]}]
)
def test_padding_does_not_change_outputs(kw):
    model = make(**kw)
    ids, lens = batch()
    with torch.no_grad():
        full = model(ids, lens)
        extra = torch.cat([ids, torch.zeros(3, 4, dtype=ids.dtype)], 1)
        padded = model(extra, lens)
        alone = model(ids[1:2, :2], lens[1:2])
    torch.testing.assert_close(full, padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full[1:2], alone, atol=1e-5, rtol=1e-5)


def test_ablation_flags_change_module_graph():
    full = make()
    no_conv = make(use_conv=False)
    no_att = make(use_attention=False)
    names = lambda m: {n for n, _ in m.named_modules()}  # noqa: E731
    assert "convs" in names(full) and "attention" in names(full)
    assert "convs" not in names(no_conv) and "attention" in names(no_conv)
    assert "attention" not in names(no_att) and "convs" in names(no_att)
    assert no_conv.lstm.input_size == 12
    assert no_att.classifier.in_features == 4 * 6  # mean + max of the 2H states
    _, w = no_att(*batch(), return_attention=True)
    assert w is None
    assert count_parameters(full) != count_parameters(no_conv) != count_parameters(no_att)


def test_freeze_embeddings_and_pretrained_init():
    import numpy as np

    emb = np.random.default_rng(0).normal(size=(50, 12)).astype("float32")
    model = CNNBiLSTMAttention(50, ModelConfig(**TINY, freeze_embeddings=True), emb)
    assert not model.embedding.weight.requires_grad
    np.testing.assert_allclose(model.embedding.weight.detach().numpy(), emb)
    with pytest.raises(ValueError, match="shape"):
        CNNBiLSTMAttention(49, ModelConfig(**TINY), emb)
