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


@pytest.mark.parametrize("layers", [1, 2])
def test_padded_bilstm_equals_packed_outputs_and_gradients(layers):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from emobalance.models.cnn_bilstm_attention import padded_bilstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, num_layers=layers, bidirectional=True, batch_first=True).eval()
    x = torch.randn(4, 7, 6, requires_grad=True)
    lens = torch.tensor([7, 3, 5, 1])
    mask = (torch.arange(7)[None, :] < lens[:, None]).unsqueeze(-1)
    packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    ref, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=7)
    out = padded_bilstm(lstm, x, lens)
    torch.testing.assert_close(out * mask, ref * mask, atol=1e-5, rtol=1e-5)
    weights = torch.randn(4, 7, 10)  # a loss that weighs every real state differently
    inputs = [x, *lstm.parameters()]
    g_ref = torch.autograd.grad((ref * mask * weights).sum(), inputs)
    g_out = torch.autograd.grad((out * mask * weights).sum(), inputs)
    for a, b in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_reverse_within_length_reverses_real_steps_only():
    from emobalance.models.cnn_bilstm_attention import reverse_within_length

    x = torch.arange(8.0).reshape(2, 4, 1)
    out = reverse_within_length(x, torch.tensor([4, 2]))
    assert out[..., 0].tolist() == [[3.0, 2.0, 1.0, 0.0], [5.0, 4.0, 6.0, 7.0]]
    torch.testing.assert_close(reverse_within_length(out, torch.tensor([4, 2])), x)


def test_equal_length_batch_equals_the_same_rows_padded_in_a_mixed_batch():
    """The fused bidirectional call (rows of one length) and the padded path (a mixed batch)
    give the same logits and parameter gradients for the same rows."""
    model = make(lstm_layers=1).train()  # dropout 0 in TINY: train mode is deterministic
    ids = torch.randint(2, 50, (3, 5))
    longer = torch.randint(2, 50, (1, 8))
    mixed = torch.cat([torch.cat([ids, torch.zeros(3, 3, dtype=ids.dtype)], 1), longer])
    lens_mixed = torch.tensor([5, 5, 5, 8])

    def grads(logits):
        model.zero_grad()
        logits.sum().backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    alone = model(ids, torch.full((3,), 5))
    g_alone = grads(alone)
    in_mixed = model(mixed, lens_mixed)[:3]
    g_mixed = grads(in_mixed)
    torch.testing.assert_close(alone, in_mixed, atol=1e-5, rtol=1e-5)
    for a, b in zip(g_alone, g_mixed, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
