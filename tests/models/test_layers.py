import pytest
import torch
from torch import nn

from emobalance.models.layers import UniformDropout, use_uniform_dropout


def test_uniform_dropout_is_the_identity_in_eval_mode_and_at_p_zero():
    x = torch.randn(10, 7)
    assert UniformDropout(0.3).eval()(x) is x
    assert UniformDropout(0.0).train()(x) is x
    assert torch.all(UniformDropout(1.0).train()(x) == 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_uniform_dropout_drops_share_p_and_keeps_the_mean(dtype):
    torch.manual_seed(0)
    x = torch.ones(400_000, dtype=dtype)
    out = UniformDropout(0.1).train()(x)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.003  # 400k draws: the standard error is 0.0005
    kept = out[out != 0].float()
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.9), rtol=1e-2, atol=0)
    assert out.dtype == dtype


def test_uniform_dropout_is_seeded_and_passes_gradients_through_the_kept_units():
    x = torch.randn(50, 20, requires_grad=True)
    torch.manual_seed(3)
    a = UniformDropout(0.5).train()(x)
    torch.manual_seed(3)
    b = UniformDropout(0.5).train()(x)
    assert torch.equal(a, b)
    a.sum().backward()
    torch.testing.assert_close(x.grad, (a != 0).float() * 2.0)


def test_use_uniform_dropout_replaces_every_plain_dropout_module():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.2),
                        nn.Sequential(nn.Dropout(0.4), nn.ReLU()))  # fmt: skip
    assert use_uniform_dropout(net) == 2
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert [type(m) for m in drops] == [UniformDropout, UniformDropout]
    assert [m.p for m in drops] == [0.2, 0.4]
    assert use_uniform_dropout(net) == 0  # already replaced


def test_teacher_attention_is_sdpa_in_eval_and_the_same_math_in_training():
    pytest.importorskip("transformers")
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from emobalance.models.layers import register_teacher_attention

    name = register_teacher_attention()
    assert register_teacher_attention() == name  # idempotent
    attention = AttentionInterface()[name]
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, ..., 3:] = False  # the second row's last two keys are padding
    module = nn.Module()
    module.is_causal = False
    want, _ = sdpa_attention_forward(module.eval(), q, k, v, mask, dropout=0.0)
    got, _ = attention(module.eval(), q, k, v, mask, dropout=0.0)  # transformers: 0 in eval
    torch.testing.assert_close(got, want)
    # training with a dropout that keeps every weight: the math path equals SDPA
    train_out, _ = attention(module.train(), q, k, v, mask, dropout=1e-12)
    torch.testing.assert_close(train_out, want, atol=1e-5, rtol=1e-5)
    torch.manual_seed(1)
    dropped, _ = attention(module.train(), q, k, v, mask, dropout=0.5)
    assert not torch.allclose(dropped, want)  # dropout acts in training
