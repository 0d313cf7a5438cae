"""Distillation: the reference network learns from a teacher's probabilities.

The student is the unchanged reference network (same size and speed: by default its vocabulary
is built from the labelled rows only); its targets and loss change. On GoEmotions train rows
the loss is (plain BCE, as the distillation recipe asks, in place of ``train.loss``)
``alpha * BCE(logits, gold) + (1 - alpha) * BCE(logits, sharpen(teacher, T))``; rows of an
external corpus (the Sentiment140 sample) have no gold labels and learn from the teacher's
soft labels alone, all of them (not only the confident ones that pseudo-labelling keeps).
Early stopping and thresholds use dev gold labels, as for every model.

Any label schema works: targets are ``[gold (L) | teacher (L) | has_gold]`` with
``L = len(train.schema)``, and the teacher is aligned to the train split's schema by label
name; a teacher lacking some of its labels is refused (one line naming them and both schemas).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import DistillConfig, ModelConfig, TrainConfig
from .data.dataset import EmotionDataset
from .errors import DataError
from .text.normalize import normalize


def sharpen(proba: np.ndarray | torch.Tensor, temperature: float) -> Any:
    """``sigmoid(logit(p) / temperature)``: < 1 sharpens, > 1 softens, 1 is the identity."""
    if temperature == 1.0:
        return proba
    if isinstance(proba, torch.Tensor):
        p = proba.clamp(1e-6, 1 - 1e-6)
        return torch.sigmoid(torch.logit(p) / temperature)
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-6, 1 - 1e-6)
    return (1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / temperature))).astype(np.float32)


def distillation_loss(
    logits: torch.Tensor,
    gold: torch.Tensor,
    teacher: torch.Tensor,
    alpha: float = 0.5,
    temperature: float = 1.0,
    has_gold: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-element distillation loss ``(B, L)``.

    Parameters
    ----------
    logits : (B, L) student logits
    gold : (B, L) 0/1 labels (ignored where ``has_gold`` is 0)
    teacher : (B, L) teacher probabilities
    alpha : float
        Weight of the gold term on rows with gold labels.
    temperature : float
        Applied to the teacher probabilities (:func:`sharpen`).
    has_gold : (B,) 0/1, optional
        Rows without gold labels use the teacher term alone; default all rows have them.
    """
    soft = sharpen(teacher, temperature)
    hard_term = F.binary_cross_entropy_with_logits(logits, gold, reduction="none")
    soft_term = F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
    if has_gold is None:
        a = torch.full_like(logits[:, :1], alpha)
    else:
        a = alpha * has_gold.reshape(-1, 1).to(logits.dtype)
    return a * hard_term + (1 - a) * soft_term


class DistillationLoss(nn.Module):
    """The trainer-facing form: targets packed as ``[gold (L) | teacher (L) | has_gold]``.

    ``L`` is read from the targets' width (``2 L + 1``). The teacher column block is stored
    already sharpened, so the temperature is applied once when the targets are built
    (:func:`pack_targets`), not at every step.
    """

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        k = (targets.shape[1] - 1) // 2
        return distillation_loss(
            logits, targets[:, :k], targets[:, k : 2 * k], self.alpha, 1.0, targets[:, 2 * k]
        )


def pack_targets(
    gold: np.ndarray, teacher: np.ndarray, has_gold: np.ndarray, temperature: float = 1.0
) -> np.ndarray:
    """``float32 (n, 2 L + 1)``: gold labels, sharpened teacher probabilities, has-gold flag."""
    gold = np.asarray(gold, dtype=np.float32)
    teacher = np.asarray(teacher, dtype=np.float32)
    if gold.shape != teacher.shape or gold.ndim != 2 or gold.shape[1] == 0:
        raise DataError(f"gold {gold.shape} and teacher {teacher.shape} must both be (n, L)")
    return np.concatenate(
        [gold, sharpen(teacher, temperature), np.asarray(has_gold, np.float32)[:, None]], axis=1
    )


def distill_data(
    train: EmotionDataset,
    teacher: Any,
    corpus: EmotionDataset | None = None,
    *,
    temperature: float = 1.0,
    external_weight: float = 1.0,
    exclude_texts: Any = (),
    corpus_targets: np.ndarray | None = None,
    min_proba: float = 0.05,
    selection_info: dict[str, Any] | None = None,
) -> tuple[EmotionDataset, np.ndarray]:
    """The student's training rows and packed targets.

    ``train`` (labelled) keeps its gold labels; every ``corpus`` row gets the teacher's soft
    labels and zero gold labels flagged as absent. Corpus rows equal (after normalisation)
    to a text of ``exclude_texts`` (dev and test) or of ``train`` are dropped. With
    ``corpus_targets`` (per-label targets, soft-label balancing) only the corpus rows that
    :func:`~emobalance.balance.selection.select_soft_mass` keeps for the labels under their
    target are used; ``selection_info``, when given, receives its per-label report.

    The teacher is aligned to ``train.schema`` by label name (:func:`align_teacher`).

    Returns
    -------
    data : EmotionDataset
        ``train`` followed by the kept corpus rows (``weight`` = ``external_weight`` there),
        all in ``train.schema``.
    targets : ndarray of shape (len(data), 2 * len(train.schema) + 1)
        See :func:`pack_targets`.

    Raises
    ------
    ConfigError
        If the teacher lacks labels of ``train.schema`` (one line naming them and both
        schemas).
    """
    from .teachers import align_teacher, teacher_proba

    if not train.is_labelled:
        raise DataError("distillation needs a labelled training dataset")
    schema = train.schema
    teacher = align_teacher(teacher, schema, allow_missing=False)
    parts = [train]
    gold = [train.labels.astype(np.float32)]
    soft = [teacher_proba(teacher, train.texts)]
    flags = [np.ones(len(train), np.float32)]
    weights = [train.weight if train.weight is not None else np.ones(len(train), np.float32)]
    if corpus is not None and len(corpus):
        forbidden = {normalize(t) for t in exclude_texts} | {normalize(t) for t in train.texts}
        keep, seen = [], set()
        for i, t in enumerate(corpus.texts):
            k = normalize(t)
            if k and k not in forbidden and k not in seen:
                seen.add(k)
                keep.append(i)
        ext = corpus.subset(np.array(keep, dtype=np.int64))
        n = len(ext)
        # the corpus' own labels, weights and scores do not take part: the teacher's do
        ext = ext.replace(labels=np.zeros((n, len(schema)), np.uint8), weight=None,
                          parent_id=None, teacher_score=None, meta={}, schema=schema)  # fmt: skip
        ext_soft = teacher_proba(teacher, ext.texts)
        if corpus_targets is not None:
            from .balance.selection import select_soft_mass

            rows, info = select_soft_mass(
                ext_soft, train.labels.sum(0), corpus_targets, min_proba=min_proba, schema=schema
            )
            rows = np.sort(rows)  # corpus order: the row order does not depend on the labels
            ext, ext_soft, n = ext.subset(rows), ext_soft[rows], len(rows)
            if selection_info is not None:
                selection_info.update({"corpus_rows": len(keep), "kept_rows": n, "per_label": info})
        parts.append(ext)
        gold.append(np.zeros((n, len(schema)), np.float32))
        soft.append(ext_soft)
        flags.append(np.zeros(n, np.float32))
        weights.append(np.full(n, external_weight, np.float32))
    data = EmotionDataset.concat(parts).replace(weight=np.concatenate(weights))
    targets = pack_targets(np.concatenate(gold), np.concatenate(soft), np.concatenate(flags),
                           temperature)  # fmt: skip
    return data, targets


def fit_distilled(
    train: EmotionDataset,
    dev: EmotionDataset,
    teacher: Any,
    corpus: EmotionDataset | None = None,
    *,
    model: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    distill: DistillConfig | None = None,
    exclude_texts: Any = (),
    teacher_name: str | None = None,
    corpus_targets: np.ndarray | None = None,
) -> Any:
    """Train the reference network on ``train`` (+ ``corpus``) distilled from ``teacher``.

    ``corpus_targets`` (per-label targets, see :func:`balance_targets`) are required when
    ``distill.corpus_selection`` is ``balance``: only the corpus rows that fill the labels
    under their target are kept. Returns a fitted
    :class:`~emobalance.models.reference.EmotionClassifier` whose ``metrics_`` records the
    distillation settings, the teacher and, with selection, the per-label report.
    """
    from .models.reference import EmotionClassifier

    dc = distill or DistillConfig()
    if dc.corpus_selection == "balance" and corpus_targets is None and corpus is not None:
        raise DataError("distill.corpus_selection 'balance' needs per-label corpus_targets")
    info: dict[str, Any] = {}
    data, targets = distill_data(
        train, teacher, corpus, temperature=dc.temperature,
        external_weight=dc.external_weight, exclude_texts=exclude_texts,
        corpus_targets=corpus_targets if dc.corpus_selection == "balance" else None,
        min_proba=dc.min_proba, selection_info=info,
    )  # fmt: skip
    clf = EmotionClassifier(model=model, train=train_config)
    vocab_texts = train.texts if dc.vocab == "labelled" else None
    clf.fit(data, dev, targets=targets, loss_fn=DistillationLoss(dc.alpha), vocab_texts=vocab_texts)
    clf.metrics_["distillation"] = {
        "teacher": teacher_name or str(getattr(teacher, "name", type(teacher).__name__)),
        "alpha": dc.alpha,
        "temperature": dc.temperature,
        "external_rows": int(len(data) - len(train)),
        "external_weight": dc.external_weight,
        "vocab": dc.vocab,
        "train_rows": len(train),
        "corpus_selection": dc.corpus_selection,
    }
    if info:
        clf.metrics_["distillation"]["selection"] = info
    return clf


def balance_targets(balance: Any, train: EmotionDataset) -> np.ndarray:
    """The per-label targets of the ``balance`` section (a :class:`BalanceConfig`) for
    ``train``: what soft-label balancing fills toward."""
    from .balance.planner import BalancePlanner

    planner = BalancePlanner(
        strategy=balance.strategy, target=balance.target,
        mean_ir_target=balance.mean_ir_target, tolerance=balance.tolerance, undersample=None,
    )  # fmt: skip
    return planner.compute_targets(train.labels.sum(0), train.schema)
