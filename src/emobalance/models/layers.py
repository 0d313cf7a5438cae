"""Layers shared by the networks, chosen for speed on CPU with the same behaviour."""

from __future__ import annotations

import torch
from torch import nn


def dropout_scale(x: torch.Tensor, p: float) -> torch.Tensor:
    """The factor of inverted dropout for ``x``: 0 with probability ``p``, else
    ``1 / (1 - p)``; drawn with ``uniform_`` in float32, then cast to ``x``'s dtype."""
    # one buffer: uniform numbers -> 0/1 -> 0 or 1/(1-p), in place
    scale = torch.rand(x.shape, device=x.device)
    scale.ge_(p).mul_(1.0 / (1.0 - p))
    return scale.to(x.dtype)


class UniformDropout(nn.Dropout):
    """Inverted dropout whose mask comes from ``rand_like(x) >= p``.

    The same distribution as :class:`torch.nn.Dropout`; on CPU it is 2.3x faster, because
    ``bernoulli_`` (what ``nn.Dropout`` draws with) runs on one thread at about half the rate
    of ``uniform_`` (docs/BENCHMARKS.md). In the reference network the embedding dropout acts
    on every token's 300-d vector: with ``bernoulli_`` it was 14% of a training step. The
    uniform numbers are float32 whatever the input's dtype (bf16 ones take only 256 values,
    which would bias ``p``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        return x * dropout_scale(x, self.p)


def use_uniform_dropout(module: nn.Module) -> int:
    """Replace every plain :class:`torch.nn.Dropout` inside ``module`` by a
    :class:`UniformDropout` of the same ``p`` (in place); the number replaced.

    Used on the Hugging Face encoder of the teacher, whose 13 dropout layers drew 10% of a
    fine-tune step's time through ``bernoulli_``. Functional dropout calls (attention
    probabilities) are not modules and stay as they are.
    """
    n = 0
    for parent in module.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, UniformDropout(child.p))
                n += 1
    return n


TEACHER_ATTENTION = "emobalance_sdpa"
"""The attention implementation the teacher's encoder runs (registered with transformers)."""
_teacher_attention_registered = False


def register_teacher_attention() -> str:
    """Register :data:`TEACHER_ATTENTION` with transformers (idempotent); return its name.

    In eval mode it is transformers' own SDPA attention. In training, where SDPA on CPU
    falls back to its math path and draws the attention-probability dropout with
    ``bernoulli_`` (measured 4% of a fine-tune step), it computes the same math with the
    mask drawn as :class:`UniformDropout` draws it. Masks come in SDPA's form (boolean,
    True where a key may be attended to, or None without padding).
    """
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import sdpa_mask

    global _teacher_attention_registered
    if _teacher_attention_registered:
        return TEACHER_ATTENTION

    def attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                  **kwargs):  # fmt: skip
        if not module.training or dropout == 0.0 or getattr(module, "is_causal", False):
            return sdpa_attention_forward(module, query, key, value, attention_mask,
                                          dropout=dropout, scaling=scaling, **kwargs)  # fmt: skip
        scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
            else:
                scores = scores + attention_mask
        weights = torch.softmax(scores, dim=-1)
        out = torch.matmul(weights * dropout_scale(weights, dropout), value)
        return out.transpose(1, 2).contiguous(), None

    AttentionInterface.register(TEACHER_ATTENTION, attention)
    AttentionMaskInterface.register(TEACHER_ATTENTION, sdpa_mask)
    _teacher_attention_registered = True
    return TEACHER_ATTENTION
