"""Teachers: anything with ``predict_proba(texts) -> float32[n, 28]``, plus adapters."""

from __future__ import annotations

import os
import zipfile
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
    through a sigmoid. A folder saved by
    :class:`~emobalance.models.transformer.TransformerClassifier` (``emobalance teacher
    train``) is loaded with its mean-pooling head. Needs the ``teacher`` extra
    (``pip install emobalance[teacher]``).

    Parameters
    ----------
    name_or_path : str
        A local directory or a hub name (hub names need network access).
    batch_size : int, default=128
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
        batch_size: int = 128,
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
        self.batch_size = batch_size
        self.max_length = max_length
        from ..models.transformer import TransformerClassifier, is_transformer_dir

        if is_transformer_dir(src):
            # a teacher fine-tuned by emobalance (mean pooling + our head, dev thresholds)
            from ..errors import ModelError

            try:
                self.classifier = TransformerClassifier.load(src, device=device)
            except ModelError as exc:
                raise TeacherError(str(exc)) from None
            self.name = f"hf:{Path(src).name}"
            return
        self.classifier = None
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
        if self.classifier is not None:
            return self.classifier.predict_proba(texts, batch_size=self.batch_size)
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


class CachedTeacher:
    """Memoise a teacher's probabilities on disk, keyed by the teacher and each text.

    Scoring 100k tweets with a transformer takes minutes on a CPU; balancing, distillation
    and every seed of a run ask for the same texts, so the rows are stored once in
    ``cache_dir/<key>.npz`` (sha1 of each text -> its 28 probabilities) and reused.

    Parameters
    ----------
    teacher : Teacher
    key : str
        Identifies the teacher's weights (e.g. the hash of its config and training data);
        a different teacher must have a different key.
    cache_dir : path
    """

    def __init__(self, teacher: Teacher, key: str, cache_dir: str | os.PathLike[str]) -> None:
        self.teacher = teacher
        self.key = key
        self.path = Path(cache_dir) / f"{key}.npz"
        self.name = _name(teacher)
        self._known: dict[bytes, np.ndarray] | None = None

    def _read(self) -> dict[bytes, np.ndarray]:
        if self._known is not None:  # read once per instance
            return self._known
        self._known = self._load()
        return self._known

    def _load(self) -> dict[bytes, np.ndarray]:
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path) as z:
                return dict(zip((bytes(k) for k in z["keys"]), z["proba"], strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return {}  # an unreadable cache is rebuilt, never trusted

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import hashlib

        from ..io import atomic_path

        texts = list(texts)
        keys = [
            hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest().encode() for t in texts
        ]
        known = self._read()
        todo = sorted({i for i, k in enumerate(keys) if k not in known})
        if todo:
            # one call per distinct missing text; duplicates share a row
            first: dict[bytes, int] = {}
            for i in todo:
                first.setdefault(keys[i], i)
            idx = list(first.values())
            fresh = teacher_proba(self.teacher, [texts[i] for i in idx])
            for i, row in zip(idx, fresh, strict=True):
                known[keys[i]] = row
            with atomic_path(self.path, suffix=".npz") as tmp:
                np.savez(
                    tmp,
                    keys=np.array(list(known), dtype="S40"),
                    proba=np.stack(list(known.values())).astype(np.float32),
                )
        if not texts:
            return np.zeros((0, NUM_LABELS), np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def __repr__(self) -> str:
        return f"CachedTeacher({self.name}, {self.key})"
