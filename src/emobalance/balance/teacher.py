"""Teachers: anything with ``predict_proba(texts) -> float32[n, 28]``, plus adapters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import EmobalanceError
from ..labels import NUM_LABELS


class TeacherError(EmobalanceError):
    """A teacher is unusable (wrong output shape, missing labels...)."""


@runtime_checkable
class Teacher(Protocol):
    """The teacher protocol: probabilities over the 28 labels in :data:`LABELS` order."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def teacher_proba(teacher: Teacher, texts: Sequence[str]) -> np.ndarray:
    """Call ``teacher.predict_proba`` and check the result.

    Raises
    ------
    TeacherError
        If the output is not a finite ``(len(texts), 28)`` matrix of values in [0, 1].
    """
    texts = list(texts)
    out = np.asarray(teacher.predict_proba(texts))
    name = type(teacher).__name__
    if out.shape != (len(texts), NUM_LABELS):
        raise TeacherError(
            f"teacher {name} returned shape {out.shape}, expected ({len(texts)}, {NUM_LABELS})"
        )
    if out.size and (not np.isfinite(out).all() or out.min() < 0 or out.max() > 1):
        raise TeacherError(f"teacher {name} returned values outside [0, 1]")
    return out.astype(np.float32, copy=False)
