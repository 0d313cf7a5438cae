"""The teacher filter: keep new texts that a teacher confidently assigns to their intended
emotion (used on LLM candidates before the human review)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..log import get_logger
from ..teachers import Teacher, align_teacher, teacher_proba

logger = get_logger(__name__)

__all__ = ["teacher_filter"]


def _intended_ids(candidates: EmotionDataset, intended: Sequence[Any] | None) -> list[list[int]]:
    n = len(candidates)
    if intended is None:
        if "intended" in candidates.meta:
            intended = candidates.meta["intended"]
        elif candidates.labels is not None:
            return [np.flatnonzero(row).tolist() for row in candidates.labels]
        else:
            raise DataError("candidates have neither meta['intended'] nor labels")
    intended = list(intended)
    if len(intended) != n:
        raise DataError(f"intended has {len(intended)} entries but there are {n} candidates")
    return [
        candidates.schema.label_ids(
            value or (), f"row {i} ({candidates.ids[i]})", what="intended label"
        )
        for i, value in enumerate(intended)
    ]


def teacher_filter(
    candidates: EmotionDataset,
    teacher: Teacher,
    threshold: float = 0.7,
    intended: Sequence[str | Sequence[str]] | None = None,
    *,
    batch_size: int = 1024,
) -> EmotionDataset:
    """Keep candidates the teacher confidently assigns to their intended emotion.

    Parameters
    ----------
    candidates : EmotionDataset
        Generated (or otherwise new) texts.
    teacher : Teacher
        Any object with ``predict_proba(texts)`` and ``labels_``; aligned by label name to
        ``candidates.schema`` (a label it lacks scores NaN: such rows never pass) and
        checked with :func:`teacher_proba`.
    threshold : float, default=0.7
        Minimum teacher probability of the intended emotion.
    intended : sequence, optional
        Per row, the intended label name (or several, as a list or a comma-separated string).
        Default: ``candidates.meta["intended"]`` when present, else each row's labels.
    batch_size : int, default=1024
        Texts per teacher call.

    Returns
    -------
    EmotionDataset
        The kept rows, every column preserved, with ``teacher_score`` = the teacher
        probability of the intended emotion (the minimum over them for several).

    Raises
    ------
    TeacherError
        If the teacher output is not a ``(n, L)`` matrix of probabilities.
    DataError
        If a row has no intended label or an unknown one.
    ConfigError
        If ``threshold`` is outside [0, 1] or ``batch_size < 1``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    n = len(candidates)
    schema = candidates.schema
    teacher = align_teacher(teacher, schema, allow_missing=True)
    targets = _intended_ids(candidates, intended)
    mask = np.zeros((n, len(schema)), dtype=bool)
    for i, ids in enumerate(targets):
        if not ids:
            raise DataError(f"row {i} ({candidates.ids[i]}): no intended label")
        mask[i, ids] = True
    proba = np.empty((n, len(schema)), dtype=np.float32)
    for s in range(0, n, batch_size):
        proba[s : s + batch_size] = teacher_proba(teacher, candidates.texts[s : s + batch_size])
    score = np.where(mask, proba, np.inf).min(axis=1).astype(np.float32) if n else proba[:, 0]
    scored = candidates.replace(teacher_score=score)
    with np.errstate(invalid="ignore"):  # NaN (a label the teacher lacks) never passes
        keep = score >= np.float32(threshold)  # in float32, so that a score of 0.7 passes 0.7
    logger.info("teacher filter: kept %d of %d at threshold %.2f", int(keep.sum()), n, threshold)
    return scored.filter(keep)
