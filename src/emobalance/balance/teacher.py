"""Teachers: anything with ``predict_proba(texts) -> float32[n, 28]``, plus adapters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import EmobalanceError
from ..labels import LABELS, NUM_LABELS


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


class ClassifierTeacher:
    """Adapter for any model with ``predict_proba`` (EmotionClassifier, TfidfBaseline).

    Parameters
    ----------
    model : object with ``predict_proba(texts)``
    batch_size : int, default=4096
        Texts per call (bounds memory on large corpora).
    name : str, optional
        Shown in reports; default the model's class name.
    """

    def __init__(self, model: object, batch_size: int = 4096, name: str | None = None) -> None:
        if not callable(getattr(model, "predict_proba", None)):
            raise TeacherError(f"{type(model).__name__} has no predict_proba(texts)")
        self.model = model
        self.batch_size = batch_size
        self.name = name or type(model).__name__

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        parts = [
            teacher_proba(self.model, texts[s : s + self.batch_size])  # type: ignore[arg-type]
            for s in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, NUM_LABELS), np.float32)

    def __repr__(self) -> str:
        return f"ClassifierTeacher({self.name})"


class EnsembleTeacher:
    """Mean (optionally weighted) of several teachers' probabilities.

    Parameters
    ----------
    teachers : sequence of Teacher
    weights : sequence of float, optional
        Non-negative weights; default equal.
    """

    def __init__(self, teachers: Sequence[Teacher], weights: Sequence[float] | None = None) -> None:
        self.teachers = list(teachers)
        if not self.teachers:
            raise TeacherError("an ensemble needs at least one teacher")
        w = np.ones(len(self.teachers)) if weights is None else np.asarray(weights, float)
        if w.shape != (len(self.teachers),) or (w < 0).any() or w.sum() <= 0:
            raise TeacherError("ensemble weights must be non-negative, one per teacher")
        self.weights = w / w.sum()
        self.name = "ensemble(" + ", ".join(_name(t) for t in self.teachers) + ")"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), NUM_LABELS), dtype=np.float64)
        for w, t in zip(self.weights, self.teachers, strict=True):
            out += w * teacher_proba(t, texts)
        return out.astype(np.float32)

    def __repr__(self) -> str:
        return self.name


def _name(teacher: object) -> str:
    return str(getattr(teacher, "name", type(teacher).__name__))


class HFTeacher:
    """A Hugging Face sequence-classification model as a multi-label teacher.

    The model's ``id2label`` names are mapped to ours by name (case-insensitive); logits go
    through a sigmoid. Needs the ``teacher`` extra (``pip install emobalance[teacher]``).

    Parameters
    ----------
    name_or_path : str
        A local directory or a hub name (hub names need network access).
    batch_size : int, default=32
    max_length : int, default=128
    device : str, default="auto"

    Raises
    ------
    TeacherError
        If ``transformers`` is missing, the model cannot be loaded, or its labels do not
        cover the 28 emotions (the missing names are listed).
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        batch_size: int = 32,
        max_length: int = 128,
        device: str = "auto",
    ) -> None:
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError:
            raise TeacherError(
                "the Hugging Face teacher needs transformers: pip install 'emobalance[teacher]'"
            ) from None
        import torch

        src = str(name_or_path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(src)
            self.model = AutoModelForSequenceClassification.from_pretrained(src)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc)
            raise TeacherError(
                f"{src}: cannot load a sequence-classification model ({first})"
            ) from None
        id2label = {int(k): str(v).strip().lower() for k, v in self.model.config.id2label.items()}
        by_name = {v: k for k, v in id2label.items()}
        missing = [lab for lab in LABELS if lab not in by_name]
        if missing:
            raise TeacherError(f"{src}: the model's labels lack {', '.join(missing)}")
        self.columns = np.array([by_name[lab] for lab in LABELS])
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.name = f"hf:{Path(src).name or src}"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), NUM_LABELS), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                idx = order[s : s + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**enc).logits.float()
                out[idx] = torch.sigmoid(logits).cpu().numpy()[:, self.columns]
        return out

    def __repr__(self) -> str:
        return f"HFTeacher({self.name})"
