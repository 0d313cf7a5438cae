"""Trainer for the reference network: buckets, mixed precision, early stopping on dev.

The trainer works on encoded sequences (lists of int arrays) and a ``(n, 28)`` target matrix;
:class:`~emobalance.classifier.EmotionClassifier` does the text side. Targets may be soft
(probabilities in [0, 1]), which the distillation path uses.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import TrainConfig
from .errors import ConfigError
from .metrics import apply_thresholds, tune_thresholds

# ----------------------------------------------------------------------------- setup


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16 or AMX); emulated bf16 is slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def resolve_precision(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or ``None`` for fp32.

    ``auto``: fp16 on CUDA; on CPU bf16 where the CPU has native bf16 instructions (measured
    faster there, docs/BENCHMARKS.md), else fp32 (emulated bf16 runs at about half speed).
    """
    if mode == "off":
        return None
    if mode == "fp16":
        return torch.float16 if device.type == "cuda" else None
    if mode == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else None


# --------------------------------------------------------------------------- batching


def length_bucketed_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    bucket_batches: int = 50,
    rank: int = 0,
    world_size: int = 1,
) -> list[np.ndarray]:
    """Index batches of similar lengths (dynamic padding stays small).

    Shuffle, cut into buckets of ``bucket_batches * batch_size`` rows, sort each bucket by
    length, cut batches, shuffle the batch order. With ``world_size > 1`` every rank gets the
    same number of batches (the global list is cut into groups of ``world_size`` batches of
    similar length; rank ``r`` takes the ``r``-th of each group, see :func:`batch_groups`).
    """
    if world_size > 1:
        groups = batch_groups(
            lengths, batch_size, world_size, shuffle=shuffle, seed=seed,
            bucket_batches=bucket_batches,
        )  # fmt: skip
        return [g[rank] for g in groups]
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    batches = _bucket(lengths, batch_size, bucket_batches, rng, shuffle)
    if shuffle:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return batches


def batch_groups(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    world_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    bucket_batches: int = 50,
) -> list[list[np.ndarray]]:
    """The global batches of a data-parallel epoch: groups of ``world_size`` rank batches.

    Every rank computes the same groups from the same seed and trains on ``group[rank]``; a
    group is one optimiser step over up to ``world_size * batch_size`` rows, its batches of
    similar length (cut from one length-sorted bucket). Trailing rows that do not fill a
    whole group are dropped for the epoch (a different few each epoch), so that every rank
    takes the same number of steps.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    batches = _bucket(lengths, batch_size, bucket_batches * world_size, rng, shuffle)
    groups = [batches[i : i + world_size] for i in range(0, len(batches), world_size)]
    groups = [g for g in groups if len(g) == world_size]  # equal steps on every rank
    if not groups and len(batches):
        raise ConfigError(
            f"{len(batches)} batch(es) of {batch_size} cannot give each of {world_size} "
            "processes a step; use fewer processes or a smaller batch_size"
        )
    if shuffle:
        rng.shuffle(groups)  # type: ignore[arg-type]
    return groups


def _bucket(
    lengths: np.ndarray,
    batch_size: int,
    bucket_batches: int,
    rng: np.random.Generator,
    shuffle: bool,
) -> list[np.ndarray]:
    """Shuffled rows cut into length-sorted buckets, cut into batches (bucket order kept)."""
    n = len(lengths)
    order = rng.permutation(n) if shuffle else np.arange(n)
    bucket = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, n, bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return batches


def pad_batch(seqs: Sequence[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the sequences at ``idx`` to the longest of them: ``(ids (B, T), lengths (B,))``."""
    lens = np.fromiter((len(seqs[i]) for i in idx), dtype=np.int64, count=len(idx))
    out = np.zeros((len(idx), max(int(lens.max(initial=1)), 1)), dtype=np.int64)
    for row, i in enumerate(idx):
        s = seqs[i]
        out[row, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lens)


# ------------------------------------------------------------------------------ losses


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss (Lin et al., 2017), per element (no reduction)."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    return (1 - p_t).pow(gamma) * bce


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Asymmetric loss (Ridnik et al., 2021), per element (no reduction)."""
    p = torch.sigmoid(logits)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = targets * torch.log(p.clamp(min=eps)) * (1 - p).pow(gamma_pos)
    loss_neg = (1 - targets) * torch.log((1 - p_neg).clamp(min=eps)) * p_neg.pow(gamma_neg)
    return -(loss_pos + loss_neg)


def make_loss(config: TrainConfig, train_targets: np.ndarray, device: torch.device) -> nn.Module:
    """The loss module chosen by ``config.loss`` (per-element, reduced by the trainer)."""
    pos_weight = None
    if config.loss == "bce_pos_weight":
        pos = np.asarray(train_targets, dtype=np.float64).sum(0)
        neg = len(train_targets) - pos
        pw = np.clip(neg / np.maximum(pos, 1.0), 1.0, config.pos_weight_cap)
        pos_weight = torch.tensor(pw, dtype=torch.float32, device=device)
    return _Loss(config, pos_weight)


class _Loss(nn.Module):
    def __init__(self, config: TrainConfig, pos_weight: torch.Tensor | None) -> None:
        super().__init__()
        self.kind = config.loss
        self.cfg = config
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "focal":
            return focal_loss(logits, targets, self.cfg.focal_gamma)
        if self.kind == "asl":
            c = self.cfg
            return asymmetric_loss(logits, targets, c.asl_gamma_neg, c.asl_gamma_pos, c.asl_clip)
        return F.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=self.pos_weight, reduction="none"
        )


# ----------------------------------------------------------------------------- trainer


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` learned about the run."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("nan")
    seconds: float = 0.0
    precision: str = "fp32"
    device: str = "cpu"


def lr_lambda(schedule: str, warmup_ratio: float, total_steps: int):
    """Multiplier of the base learning rate at each step (warm-up, then the schedule)."""
    warmup = max(int(warmup_ratio * total_steps), 0)

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        if schedule == "linear":
            return max(1.0 - progress, 0.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    seqs: Sequence[np.ndarray],
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Logits ``(n, 28)`` in input order; batches are length-sorted for speed."""
    model.eval()
    n = len(seqs)
    if n == 0:
        return np.zeros((0, model.classifier.out_features), dtype=np.float32)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    order = np.argsort(lengths, kind="stable")
    out = np.empty((n, model.classifier.out_features), dtype=np.float32)
    for idx in inference_batches(lengths[order], batch_size):
        idx = order[idx]
        ids, lens = pad_batch(seqs, idx)
        logits = model(ids.to(device), lens)
        out[idx] = logits.float().cpu().numpy()
    return out


def inference_batches(sorted_lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Positions of length-sorted rows cut into batches of one length each where that length
    has at least a quarter batch of rows (no padding: the fast unpacked LSTM path), the rest
    in mixed batches of up to ``batch_size``."""
    n = len(sorted_lengths)
    out: list[np.ndarray] = []
    pending: list[int] = []
    bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True):
        if hi - lo >= max(batch_size // 4, 1):
            for s in range(lo, hi, batch_size):
                out.append(np.arange(s, min(s + batch_size, hi)))
        else:
            pending.extend(range(lo, hi))
            while len(pending) >= batch_size:
                out.append(np.array(pending[:batch_size]))
                pending = pending[batch_size:]
    if pending:
        out.append(np.array(pending))
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function, float32."""
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def macro_f1_tuned(y: np.ndarray, proba: np.ndarray) -> float:
    """Dev macro-F1 with thresholds tuned on the same dev data (model selection only)."""
    pred = apply_thresholds(proba, tune_thresholds(y, proba))
    tp = (pred & (y > 0)).sum(0).astype(np.float64)
    fp = (pred & (y == 0)).sum(0)
    fn = ((pred == 0) & (y > 0)).sum(0)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


class Trainer:
    """Train a network with AdamW over length-bucketed batches and early stopping on dev.

    Parameters
    ----------
    model : nn.Module
        Maps ``(ids, lengths)`` to logits ``(B, 28)``.
    config : TrainConfig
    distributed : bool, optional
        Data-parallel training in an initialised ``torch.distributed`` process group (default:
        whenever one is initialised, e.g. by ``emobalance train --distributed`` under
        torchrun). Each step is one group of :func:`batch_groups`: rank ``r`` runs batch
        ``r`` of it, DistributedDataParallel averages the gradients, and the loss is
        normalised by the whole group's rows (or weights), so a step equals one process's
        step on the group's rows together. ``batch_size`` is per rank; only rank 0
        evaluates on dev, keeps the best weights and logs; train metrics are summed over
        ranks.
    """

    def __init__(
        self, model: nn.Module, config: TrainConfig | None = None, distributed: bool | None = None
    ) -> None:
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        self.amp_dtype = resolve_precision(self.config.mixed_precision, self.device)
        if distributed is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.distributed = distributed
        self.rank = torch.distributed.get_rank() if distributed else 0
        self.world_size = torch.distributed.get_world_size() if distributed else 1

    def _progress(self) -> bool:
        if self.rank != 0:
            return False
        p = self.config.progress
        return sys.stderr.isatty() if p is None else p

    def epoch_groups(self, lengths: np.ndarray, epoch: int) -> list[list[np.ndarray]]:
        """The steps of an epoch, each a list of one index batch per rank."""
        cfg = self.config
        if not self.distributed:
            return [
                [b] for b in length_bucketed_batches(lengths, cfg.batch_size, seed=cfg.seed + epoch)
            ]
        return batch_groups(lengths, cfg.batch_size, self.world_size, seed=cfg.seed + epoch)

    def _all_sum(self, values: list[float]) -> list[float]:
        """Sum over ranks (the collective runs on the device NCCL needs)."""
        if not self.distributed:
            return values
        dev = self.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor(values, dtype=torch.float64, device=dev)
        torch.distributed.all_reduce(t)
        return t.cpu().tolist()

    def _from_rank0(self, value: float) -> float:
        if not self.distributed:
            return value
        dev = self.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor([value], dtype=torch.float64, device=dev)
        torch.distributed.broadcast(t, 0)
        return float(t.item())

    def fit(
        self,
        train_seqs: Sequence[np.ndarray],
        train_targets: np.ndarray,
        dev_seqs: Sequence[np.ndarray] | None = None,
        dev_labels: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
        loss_fn: nn.Module | None = None,
    ) -> TrainResult:
        """Train; keep the weights of the best dev epoch (or the last without dev).

        Parameters
        ----------
        train_seqs : sequence of int arrays
            Encoded training texts (each of length >= 1).
        train_targets : ndarray of shape (n, 28)
            0/1 labels or soft targets in [0, 1].
        dev_seqs, dev_labels : optional
            Dev data for early stopping on macro-F1 (thresholds tuned on dev).
        sample_weight : ndarray of shape (n,), optional
            Per-row loss weights.
        loss_fn : nn.Module, optional
            Overrides the configured loss (per-element loss of ``(logits, targets)``).
        """
        cfg = self.config
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        set_seed(cfg.seed)
        model, device = self.model, self.device
        rank, world = self.rank, self.world_size
        net: nn.Module = model
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            # DDP broadcasts rank 0's weights here, so every rank starts equal
            ids = None
            if device.type == "cuda":  # "cuda" alone means the current device
                ids = [device.index if device.index is not None else torch.cuda.current_device()]
            net = DistributedDataParallel(model, device_ids=ids)
            torch.manual_seed(cfg.seed + rank)  # dropout masks differ between ranks
        targets = torch.as_tensor(np.asarray(train_targets, dtype=np.float32))
        weights = (
            None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        )
        loss_fn = loss_fn or make_loss(cfg, np.asarray(train_targets), device)
        params = [p for p in model.parameters() if p.requires_grad]
        fused = device.type in ("cpu", "cuda")
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        lengths = np.fromiter((len(s) for s in train_seqs), dtype=np.int64, count=len(train_seqs))
        steps_per_epoch = -(-len(train_seqs) // (cfg.batch_size * world))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda(cfg.lr_schedule, cfg.warmup_ratio, steps_per_epoch * cfg.epochs)
        )
        result = TrainResult(
            precision={None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype],
            device=str(device),
        )
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0
        t_start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            groups = self.epoch_groups(lengths, epoch)
            t0 = time.perf_counter()
            total, seen = 0.0, 0
            bar = tqdm(
                groups,
                desc=f"epoch {epoch}/{cfg.epochs}",
                disable=not self._progress(),
                leave=False,
                unit="batch",
            )
            for group in bar:
                idx = group[rank]
                ids, lens = pad_batch(train_seqs, idx)
                y = targets[idx].to(device)
                autocast = (
                    torch.autocast(device.type, dtype=self.amp_dtype)
                    if self.amp_dtype is not None
                    else contextlib.nullcontext()
                )
                with autocast:
                    logits = net(ids.to(device), lens)
                per = loss_fn(logits.float(), y).mean(dim=1)
                if self.distributed:
                    # mean over the whole group: DDP divides the summed gradients by `world`
                    rows = sum(len(g) for g in group)
                    if weights is not None:
                        w = weights[idx].to(device)
                        norm = float(weights[np.concatenate(group)].sum().clamp(min=1e-8))
                        loss = (per * w).sum() * (world / norm)
                    else:
                        loss = per.sum() * (world / rows)
                elif weights is not None:
                    w = weights[idx].to(device)
                    loss = (per * w).sum() / w.sum().clamp(min=1e-8)
                else:
                    loss = per.mean()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                if self.distributed:  # this rank's share of the group loss x group rows
                    total += float(loss.detach()) / world * rows
                else:
                    total += float(loss.detach()) * len(idx)
                seen += len(idx)
                bar.set_postfix(loss=f"{total / seen:.4f}")
            total, seen = self._all_sum([total, float(seen)])
            seen = int(seen)
            epoch_s = time.perf_counter() - t0
            rec: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": total / max(seen, 1),
                "epoch_seconds": epoch_s,
                "train_texts_per_s": seen / epoch_s if epoch_s > 0 else math.nan,
            }
            if dev_seqs is not None and dev_labels is not None and rank == 0:
                proba = sigmoid(predict_logits(model, dev_seqs, cfg.eval_batch_size, device))
                rec["dev_macro_f1"] = macro_f1_tuned(np.asarray(dev_labels), proba)
                improved = not (rec["dev_macro_f1"] <= result.best_score)  # nan-safe
                if improved:
                    result.best_score, result.best_epoch = rec["dev_macro_f1"], epoch
                    best_state = copy.deepcopy(model.state_dict())
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            result.history.append(rec)
            if (self._progress() or os.environ.get("EMOBALANCE_LOG")) and rank == 0:
                msg = f"epoch {epoch}: loss {rec['train_loss']:.4f}, {epoch_s:.1f}s"
                if "dev_macro_f1" in rec:
                    msg += f", dev macro-F1 {rec['dev_macro_f1']:.4f}"
                tqdm.write(msg, file=sys.stderr)
            stop = dev_seqs is not None and bad_epochs > cfg.patience
            if self._from_rank0(float(stop)):  # every rank stops with rank 0
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            result.best_epoch = len(result.history)
        result.seconds = time.perf_counter() - t_start
        return result


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of ``size`` over ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
