"""A few DDP steps on a tiny model; run by tests/test_distributed.py under torchrun (gloo).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/ddp_worker.py OUT.npz

Rank 0 writes the trained parameters to OUT.npz. :func:`problem` and :func:`train` are also
imported by the test, which trains one process on the same global batches.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from emobalance.config import ModelConfig, TrainConfig
from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention
from emobalance.training import Trainer, batch_groups

WORLD = 2
CONFIG = TrainConfig(
    epochs=2, batch_size=8, lr=0.003, lr_schedule="constant", warmup_ratio=0.0, loss="asl",
    grad_clip=1.0, mixed_precision="off", device="cpu", num_threads=1, progress=False, seed=0,
)  # fmt: skip
MODEL = ModelConfig(
    vectors=None, pretrained=False, embedding_dim=16, conv_channels=8, lstm_hidden=8,
    attention_dim=8, max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip


def problem(n: int = 200, vocab: int = 60):
    """A fixed tiny problem: sequences, targets, sample weights and an initialised network."""
    rng = np.random.default_rng(0)
    seqs = [rng.integers(2, vocab, size=int(k)) for k in rng.integers(1, 20, size=n)]
    targets = (rng.random((n, 28)) < 0.1).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
    torch.manual_seed(0)
    return seqs, targets, weights, CNNBiLSTMAttention(vocab, MODEL)


class OneProcessTrainer(Trainer):
    """One process stepping on the union of each DDP group (the reference of the test)."""

    def epoch_groups(self, lengths, epoch):
        groups = batch_groups(lengths, self.config.batch_size, WORLD, seed=self.config.seed + epoch,
                              equal_length=self.equal_length)  # fmt: skip
        return [[np.concatenate(g)] for g in groups]


def train(distributed: bool) -> dict[str, np.ndarray]:
    """Train the tiny problem; the parameters as numpy arrays."""
    seqs, targets, weights, net = problem()
    cls = Trainer if distributed else OneProcessTrainer
    cls(net, CONFIG, distributed=distributed).fit(seqs, targets, sample_weight=weights)
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def main(out: str) -> None:
    from emobalance.distributed import init_distributed

    info = init_distributed("cpu")
    assert info.world_size == WORLD and info.backend == "gloo"
    params = train(distributed=True)
    if info.rank == 0:
        np.savez(out, **params)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
