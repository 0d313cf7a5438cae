"""The one training loop (:class:`Trainer`) and the one length-bucketing rule (batch_groups).

:class:`Trainer` trains the reference network (CNN-BiLSTM-attention over padded ids and
lengths, the defaults) and the transformer teacher (a Hugging Face encoder, through hooks
for its collate, parameter groups and precision policy) with the same AdamW schedule, mixed
precision, clipping, weighted loss, data-parallel steps and best-state early stopping on dev.
It works on per-row inputs (lists of encoded sequences) and an ``(n, k)`` target matrix; the
model classes do the text side. Targets may be soft (probabilities in [0, 1]), which the
distillation path uses.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .errors import ConfigError
from .log import get_logger, progress, progress_enabled
from .metrics import apply_thresholds, macro_f1, predict_single_label, tune_thresholds
from .text.encoded import EncodedTexts

_log = get_logger(__name__)

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


def batch_groups(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    world_size: int = 1,
    *,
    shuffle: bool = True,
    seed: int = 0,
    bucket_batches: int = 50,
    equal_length: bool = False,
) -> list[list[np.ndarray]]:
    """The steps of an epoch over length-bucketed batches: groups of ``world_size`` batches.

    The one bucketing rule of the package: shuffle the rows, cut them into buckets of
    ``bucket_batches * world_size * batch_size`` rows, sort each bucket by length, cut it into
    batches (so dynamic padding stays small), cut the batches into groups of ``world_size``
    and shuffle the group order. Every rank computes the same groups from the same seed and
    trains on ``group[rank]``; a group is one optimiser step over up to
    ``world_size * batch_size`` rows. With ``world_size > 1`` trailing batches that do not
    fill a whole group are dropped for the epoch (a different few each epoch), so that every
    rank takes the same number of steps.

    Parameters
    ----------
    lengths : sequence of int
        Length of every row.
    batch_size : int
        Rows per batch (per rank).
    world_size : int, default 1
        Batches per group (data-parallel processes).
    shuffle : bool, default True
        Shuffle rows and groups; ``False`` keeps row order within buckets of sorted rows.
    seed : int, default 0
        Seed of the shuffles (the trainer passes one per epoch).
    bucket_batches : int, default 50
        Batches per length-sorted bucket (per rank).
    equal_length : bool, default False
        Cut each bucket so that as many batches as possible hold rows of one length (the
        rows of a length that do not fill a whole batch are cut, still in length order,
        into batches with a little padding). A batch without padding runs the LSTM in one
        fused bidirectional call, the reference network's fastest path. Every batch but the
        last of a bucket still holds ``batch_size`` rows, so an epoch has the same number of
        steps.

    Returns
    -------
    list of list of ndarray
        Groups of ``world_size`` index arrays.

    Raises
    ------
    ConfigError
        If there are rows but too few batches to give every rank one step.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    n = len(lengths)
    order = rng.permutation(n) if shuffle else np.arange(n)
    bucket = batch_size * bucket_batches * world_size
    batches: list[np.ndarray] = []
    for start in range(0, n, bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        if equal_length:
            batches.extend(_equal_length_batches(chunk, lengths[chunk], batch_size))
        else:
            batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
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


def _equal_length_batches(
    rows: np.ndarray, sorted_lengths: np.ndarray, batch_size: int
) -> list[np.ndarray]:
    """``rows`` (sorted by length) cut into full batches of one length each, then the rest
    (each length's remainder, in length order) into full mixed batches and one last batch."""
    out: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
    for run in np.split(rows, bounds):
        full = len(run) - len(run) % batch_size
        out.extend(run[i : i + batch_size] for i in range(0, full, batch_size))
        rest.append(run[full:])
    left = np.concatenate(rest) if rest else rows[:0]
    out.extend(left[i : i + batch_size] for i in range(0, len(left), batch_size))
    return out


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
    """Rank ``rank``'s index batches of an epoch: its share of :func:`batch_groups`.

    Batches hold rows of similar length; with ``world_size > 1`` every rank gets the same
    number of batches and no row twice.
    """
    groups = batch_groups(
        lengths, batch_size, world_size, shuffle=shuffle, seed=seed, bucket_batches=bucket_batches
    )
    return [g[rank] for g in groups]


def pad_batch(seqs: Sequence[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the sequences at ``idx`` to the longest of them: ``(ids (B, T), lengths (B,))``.

    An :class:`~emobalance.text.encoded.EncodedTexts` is sliced (its rows are padded once).
    """
    if isinstance(seqs, EncodedTexts):
        return seqs.batch(idx)
    rows = EncodedTexts.from_sequences([seqs[i] for i in idx])
    return rows.batch(np.arange(len(idx)))


def input_lengths(inputs: Sequence[Any]) -> np.ndarray:
    """``len`` of every input row (an :class:`~emobalance.text.encoded.EncodedTexts` knows)."""
    if isinstance(inputs, EncodedTexts):
        return inputs.lengths
    return np.fromiter((len(s) for s in inputs), dtype=np.int64, count=len(inputs))


def collate_padded(
    seqs: Sequence[np.ndarray], idx: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference network's collate hook: :func:`pad_batch`, ids on ``device``.

    The lengths stay on the CPU, where packing the LSTM input wants them.
    """
    ids, lens = pad_batch(seqs, idx)
    return ids.to(device), lens


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

    def summary(self) -> dict[str, Any]:
        """The figures of the run that every trained model keeps in its ``metrics_``."""
        return {
            "train_seconds": self.seconds,
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "mean_epoch_seconds": float(np.mean([h["epoch_seconds"] for h in self.history])),
            "precision": self.precision,
            "device": self.device,
        }


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
    """Logits ``(n, L)`` in input order; batches are length-sorted for speed."""
    model.eval()
    n = len(seqs)
    if n == 0:
        return np.zeros((0, model.classifier.out_features), dtype=np.float32)
    lengths = input_lengths(seqs)
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


def clip_gradients(params: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """:func:`torch.nn.utils.clip_grad_norm_`, skipping the scaling when it would be by 1.

    ``clip_grad_norm_`` multiplies every gradient by ``min(1, max_norm / (norm + 1e-6))``
    even when that is exactly 1; on CPU, where reading the norm costs no device sync, the
    pass over the gradients (the reference network's dense 4M-row embedding gradient among
    them) is skipped then. The result is bit-identical. Returns the total norm.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or grads[0].device.type != "cpu" or not hasattr(nn.utils, "get_total_norm"):
        return nn.utils.clip_grad_norm_(params, max_norm)  # (get_total_norm: torch >= 2.6)
    norm = nn.utils.get_total_norm(grads)
    coef = max_norm / (norm + 1e-6)  # clip_grad_norm_'s coefficient, before its clamp at 1
    if not float(coef) >= 1.0:  # below 1, or NaN: scale as clip_grad_norm_ does
        nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function, float32."""
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


Collate = Callable[[Any, np.ndarray, torch.device], "tuple[Any, ...] | Mapping[str, Any]"]
ParamGroups = Callable[[nn.Module], list[dict[str, Any]]]
Precision = Callable[[torch.device], "torch.dtype | None"]
ScoreDev = Callable[[nn.Module, Any], np.ndarray]


class Trainer:
    """The training loop of every network: AdamW, mixed precision, early stopping on dev.

    In the manner of skorch's ``NeuralNet``, what depends on the network is passed in as
    hooks; the loop itself (length-bucketed batches from :func:`batch_groups`, the
    warm-up/decay schedule of :func:`lr_lambda`, autocast with a GradScaler for fp16,
    gradient clipping, row-weighted loss, data-parallel steps, best-state early stopping on
    dev macro-F1 with tuned thresholds, progress bars and the epoch log) is the same for
    all. The defaults are those of the reference network;
    :meth:`~emobalance.models.transformer.TransformerClassifier.fit` passes its own hooks.

    Parameters
    ----------
    model : nn.Module
        Maps the collated inputs of a batch to logits ``(B, L)``, one per label.
    config : TrainConfig, optional
        Epochs, batch size, learning rate and schedule, loss, clipping, patience, seed,
        precision mode, device, threads, progress.
    distributed : bool, optional
        Data-parallel training in an initialised ``torch.distributed`` process group (default:
        whenever one is initialised, e.g. by ``emobalance train --distributed`` under
        torchrun). Each step is one group of :func:`batch_groups`: rank ``r`` runs batch
        ``r`` of it, DistributedDataParallel averages the gradients, and the loss is
        normalised by the whole group's rows (or weights), so a step equals one process's
        step on the group's rows together. ``batch_size`` is per rank; only rank 0
        evaluates on dev, keeps the best weights and logs; train metrics are summed over
        ranks.
    collate : callable, optional
        ``collate(inputs, idx, device)``: the model inputs of the rows ``idx`` of the
        training inputs, as a tuple (``model(*batch)``) or a mapping (``model(**batch)``).
        Default :func:`collate_padded` (padded ids on ``device`` and their lengths).
    param_groups : callable, optional
        ``param_groups(model)``: the optimiser's parameter groups (dicts with ``params``
        and, where they differ from ``config.lr`` and ``config.weight_decay``, ``lr`` and
        ``weight_decay``). Default: one group of all trainable parameters.
    optimizer : callable, optional
        ``optimizer(groups, lr=..., weight_decay=...)``, e.g. ``torch.optim.AdamW``.
        Default: AdamW, fused on CPU and CUDA.
    precision : callable, optional
        ``precision(device)``: the autocast dtype, or ``None`` for fp32 (a GradScaler runs
        with fp16). Default :func:`resolve_precision` of ``config.mixed_precision``.
    score_dev : callable, optional
        ``score_dev(model, dev_inputs)``: dev probabilities ``(n, L)``. Default: the sigmoid
        of :func:`predict_logits` in batches of ``config.eval_batch_size``.
    epoch_seed : callable, optional
        ``epoch_seed(epoch)``: the bucketing seed of epoch ``1, 2, ...``. Default
        ``config.seed + epoch``.
    reseed : bool, default True
        Seed Python, NumPy and torch from ``config.seed`` when :meth:`fit` starts. A caller
        that seeded before building its network can pass ``False`` to keep the stream
        (dropout masks) going from there.
    equal_length : bool, default True
        Cut the epoch's buckets into batches of one length where the rows allow
        (``batch_groups(equal_length=True)``): the reference network then runs most batches
        without padding, through its fastest LSTM path.
    desc : str, default "epoch"
        Prefix of the progress bar and of the epoch log lines.
    single_label : bool, default False
        The labels are single-label (the model's schema): dev macro-F1 is scored on the
        most probable label of each row, no thresholds tuned.
    threshold_objective : str, default "f1"
        What the dev thresholds of the epoch's macro-F1 are tuned for (one of
        :data:`emobalance.metrics.OBJECTIVES`; the model's ``threshold_objective``).

    Attributes
    ----------
    device : torch.device
    amp_dtype : torch.dtype or None
        The autocast dtype of training.
    rank, world_size : int
        This process's rank and the number of processes (0 and 1 outside DDP).
    optimizer_ : torch.optim.Optimizer
        The optimiser of the last :meth:`fit`.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        distributed: bool | None = None,
        *,
        collate: Collate | None = None,
        param_groups: ParamGroups | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        precision: Precision | None = None,
        score_dev: ScoreDev | None = None,
        epoch_seed: Callable[[int], int] | None = None,
        reseed: bool = True,
        equal_length: bool = True,
        desc: str = "epoch",
        single_label: bool = False,
        threshold_objective: str = "f1",
    ) -> None:
        self.config = config or TrainConfig()
        self.single_label = single_label
        self.threshold_objective = threshold_objective
        self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        self.collate = collate or collate_padded
        self.param_groups = param_groups
        self.optimizer = optimizer
        self.score_dev = score_dev or self._score_dev
        self.epoch_seed = epoch_seed or (lambda epoch: self.config.seed + epoch)
        self.reseed = reseed
        self.equal_length = equal_length
        self.desc = desc
        self.amp_dtype = (
            precision(self.device)
            if precision is not None
            else resolve_precision(self.config.mixed_precision, self.device)
        )
        if distributed is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.distributed = distributed
        self.rank = torch.distributed.get_rank() if distributed else 0
        self.world_size = torch.distributed.get_world_size() if distributed else 1

    # ------------------------------------------------------------------------ hooks
    def _dev_predictions(self, y_dev: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Dev predictions of an epoch, for model selection only: the most probable label
        (single-label), else thresholds tuned on dev itself for the model's objective."""
        if self.single_label:
            return predict_single_label(proba)
        th = tune_thresholds(y_dev, proba, objective=self.threshold_objective)
        return apply_thresholds(proba, th)

    def _score_dev(self, model: nn.Module, dev_inputs: Sequence[np.ndarray]) -> np.ndarray:
        return sigmoid(predict_logits(model, dev_inputs, self.config.eval_batch_size, self.device))

    def _make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        if self.param_groups is not None:
            groups = self.param_groups(model)
        else:
            groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
        make = self.optimizer
        if make is None:
            fused = self.device.type in ("cpu", "cuda")
            return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
        return make(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def epoch_groups(self, lengths: np.ndarray, epoch: int) -> list[list[np.ndarray]]:
        """The steps of an epoch, each a list of one index batch per rank."""
        seed = self.epoch_seed(epoch)
        return batch_groups(lengths, self.config.batch_size, self.world_size, seed=seed,
                            equal_length=self.equal_length)  # fmt: skip

    # -------------------------------------------------------------------- collectives
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

    def _wrap(self) -> nn.Module:
        """The module that steps: the model, or its DistributedDataParallel wrapper."""
        if not self.distributed:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        # DDP broadcasts rank 0's weights here, so every rank starts equal
        ids = None
        if self.device.type == "cuda":  # "cuda" alone means the current device
            ids = [self.device.index if self.device.index is not None
                   else torch.cuda.current_device()]  # fmt: skip
        net = DistributedDataParallel(self.model, device_ids=ids)
        torch.manual_seed(self.config.seed + self.rank)  # dropout masks differ between ranks
        return net

    # --------------------------------------------------------------------------- fit
    def fit(
        self,
        train_inputs: Sequence[Any],
        train_targets: np.ndarray,
        dev_inputs: Sequence[Any] | None = None,
        dev_labels: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
        loss_fn: nn.Module | None = None,
    ) -> TrainResult:
        """Train; keep the weights of the best dev epoch (or the last without dev).

        Parameters
        ----------
        train_inputs : sequence
            One entry per training row (for the default hooks: int arrays of length >= 1,
            encoded texts); batches are bucketed by ``len`` of the entries and built by the
            ``collate`` hook.
        train_targets : ndarray of shape (n, k)
            0/1 labels or soft targets in [0, 1] (``k`` = the labels, or wider for a
            ``loss_fn`` that unpacks more, as distillation's does).
        dev_inputs, dev_labels : optional
            Dev data (scored by the ``score_dev`` hook) for early stopping on macro-F1 with
            thresholds tuned on dev (the most probable label for ``single_label``).
        sample_weight : ndarray of shape (n,), optional
            Per-row loss weights.
        loss_fn : nn.Module, optional
            Per-element loss of ``(logits, targets)``; default :func:`make_loss` of the
            config.

        Returns
        -------
        TrainResult
        """
        cfg = self.config
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if self.reseed:
            set_seed(cfg.seed)
        model, device = self.model, self.device
        rank, world = self.rank, self.world_size
        net = self._wrap()
        targets = torch.as_tensor(np.asarray(train_targets, dtype=np.float32))
        weights = (
            None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        )
        loss_fn = loss_fn or make_loss(cfg, np.asarray(train_targets), device)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = self.optimizer_ = self._make_optimizer(model)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        n = len(train_inputs)
        lengths = input_lengths(train_inputs)
        steps_per_epoch = -(-n // (cfg.batch_size * world))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda(cfg.lr_schedule, cfg.warmup_ratio, steps_per_epoch * cfg.epochs)
        )
        result = TrainResult(precision=_PRECISION_NAMES[self.amp_dtype], device=str(device))
        show = rank == 0 and progress_enabled(cfg.progress)
        has_dev = dev_inputs is not None and dev_labels is not None
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0
        t_start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            groups = self.epoch_groups(lengths, epoch)
            t0 = time.perf_counter()
            total, seen = 0.0, 0
            bar = progress(groups, desc=f"{self.desc} {epoch}/{cfg.epochs}", enabled=show,
                           unit="batch")  # fmt: skip
            for group in bar:
                idx = group[rank]
                batch = self.collate(train_inputs, idx, device)
                y = targets[idx].to(device)
                autocast = (
                    torch.autocast(device.type, dtype=self.amp_dtype)
                    if self.amp_dtype is not None
                    else contextlib.nullcontext()
                )
                with autocast:
                    logits = net(**batch) if isinstance(batch, Mapping) else net(*batch)
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
                elif weights is not None:  # the dataset's row weights (e.g. a balanced set's)
                    w = weights[idx].to(device)
                    loss = (per * w).sum() / w.sum().clamp(min=1e-8)
                else:
                    loss = per.mean()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(opt)
                    clip_gradients(params, cfg.grad_clip)
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
            if has_dev and rank == 0:
                proba = self.score_dev(model, dev_inputs)
                y_dev = np.asarray(dev_labels)
                pred = self._dev_predictions(y_dev, proba)
                rec["dev_macro_f1"] = macro_f1(y_dev, pred)
                improved = not (rec["dev_macro_f1"] <= result.best_score)  # nan-safe
                if improved:
                    result.best_score, result.best_epoch = rec["dev_macro_f1"], epoch
                    # a CPU copy: a large encoder's best weights need not hold device memory
                    best_state = {k: v.detach().to("cpu", copy=True)
                                  for k, v in model.state_dict().items()}  # fmt: skip
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            result.history.append(rec)
            if rank == 0:
                msg = f"{self.desc} {epoch}: loss {rec['train_loss']:.4f}, {epoch_s:.1f}s"
                if "dev_macro_f1" in rec:
                    msg += f", dev macro-F1 {rec['dev_macro_f1']:.4f}"
                _log.info(msg)
            stop = has_dev and bad_epochs > cfg.patience
            if self._from_rank0(float(stop)):  # every rank stops with rank 0
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            result.best_epoch = len(result.history)
        result.seconds = time.perf_counter() - t_start
        return result


_PRECISION_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
