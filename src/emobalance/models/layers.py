"""Layers shared by the networks, chosen for speed on CPU with the same behaviour."""

from __future__ import annotations

import torch
from torch import nn


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
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


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
