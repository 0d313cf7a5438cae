"""Data-parallel training under torchrun: join the job, and this process's rank.

``emobalance train --distributed`` under ``torchrun`` calls :func:`init_distributed`;
:class:`~emobalance.training.Trainer` then wraps the network in DistributedDataParallel (see
``docs/SCALING.md``). Torch only: no Ray needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from ..errors import EmobalanceError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the torchrun job of this process (``RANK``, ``WORLD_SIZE``... in the environment).

    The backend is ``nccl`` when this process trains on CUDA (``device`` ``auto`` with a GPU,
    or ``cuda...``; each process takes GPU ``LOCAL_RANK``), else ``gloo``.

    Raises
    ------
    EmobalanceError
        Outside torchrun, or when the process group cannot be formed within ``timeout_s``.
    """
    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise EmobalanceError(
            "--distributed runs under torchrun, e.g. torchrun --nproc_per_node=2 "
            "-m emobalance.cli train --distributed ..."
        )
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as exc:
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise EmobalanceError(f"torch.distributed: {msg}") from None
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def dist_rank() -> int:
    """This process's rank in an initialised process group, else 0."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
