"""Teachers: anything with ``predict_proba(texts) -> float32[n, L]`` and ``labels_`` (its
label schema), its adapters, and the resolver of teacher specs.

A teacher speaks its own schema (``labels_``; one without it speaks GoEmotions' 28, see
:func:`~emobalance.labels.schema_of`). :func:`align_teacher` reorders its columns by label
name to a student's or dataset's schema: labels the teacher lacks become NaN for balancing
(its report states each label's shortfall) and are refused for distillation.

The adapters wrap a model (:class:`ClassifierTeacher`), average several
(:class:`EnsembleTeacher`), load a Hugging Face classifier or an emobalance transformer folder
(:class:`HFTeacher`) and memoise probabilities on disk (:class:`CachedTeacher`).
:func:`build_teacher` turns a spec such as ``minilm+tfidf`` into a teacher, training and caching
its parts when needed. Balancing, distillation and the CLI import this module; it never imports
the balancing job.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .config import ModelConfig, TrainConfig, TransformerConfig
from .data import goemotions
from .data.dataset import EmotionDataset
from .errors import ConfigError, EmobalanceError, ModelError
from .io import atomic_path
from .labels import GOEMOTIONS, LabelSchema, schema_of
from .log import get_logger

logger = get_logger(__name__)

__all__ = [
    "AlignedTeacher",
    "CachedTeacher",
    "ClassifierTeacher",
    "EnsembleTeacher",
    "HFTeacher",
    "Teacher",
    "TeacherError",
    "align_proba",
    "align_teacher",
    "build_teacher",
    "dataset_hash",
    "minilm_cache_dir",
    "minilm_teacher",
    "resolve_teacher_spec",
    "teacher_id",
    "teacher_proba",
]


class TeacherError(EmobalanceError):
    """A teacher is unusable (wrong output shape, missing labels...)."""


@runtime_checkable
class Teacher(Protocol):
    """The teacher protocol: probabilities over its ``labels_`` (GoEmotions' 28 without one)."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def teacher_proba(teacher: Teacher, texts: Sequence[str]) -> np.ndarray:
    """Call ``teacher.predict_proba`` and check the result.

    Raises
    ------
    TeacherError
        If the output is not a ``(len(texts), len(labels_))`` matrix of values in [0, 1]
        (NaN only in the columns of labels an :class:`AlignedTeacher` lacks).
    """
    texts = list(texts)
    out = np.asarray(teacher.predict_proba(texts))
    name = type(teacher).__name__
    width = len(schema_of(teacher))
    if out.shape != (len(texts), width):
        raise TeacherError(
            f"teacher {name} returned shape {out.shape}, expected ({len(texts)}, {width})"
        )
    known = getattr(teacher, "covered", None) if isinstance(teacher, AlignedTeacher) else None
    vals = out if known is None else out[:, known]
    if vals.size and (not np.isfinite(vals).all() or vals.min() < 0 or vals.max() > 1):
        raise TeacherError(f"teacher {name} returned values outside [0, 1]")
    return out.astype(np.float32, copy=False)


def align_proba(
    proba: np.ndarray,
    teacher_schema: LabelSchema,
    student_schema: LabelSchema,
    *,
    allow_missing: bool,
    what: str = "the teacher",
) -> np.ndarray:
    """A teacher's ``(n, len(teacher_schema))`` probabilities in ``student_schema``'s order.

    Columns are matched by label name. With ``allow_missing`` a label the teacher lacks is a
    NaN column (never above a threshold; balancing reports its shortfall); without it such a
    teacher is refused. The same labels in the same order return ``proba`` itself.

    Raises
    ------
    ConfigError
        Without ``allow_missing``, naming the missing labels and both schemas (one line); or
        when the teacher shares no label with the student.
    """
    if teacher_schema.same_labels(student_schema):
        return proba
    cols = _columns(teacher_schema, student_schema, allow_missing, what)
    proba = np.asarray(proba)
    out = np.full((proba.shape[0], len(student_schema)), np.nan, dtype=np.float32)
    have = np.array([c is not None for c in cols])
    out[:, have] = proba[:, [c for c in cols if c is not None]]
    return out


def _columns(
    teacher_schema: LabelSchema, student_schema: LabelSchema, allow_missing: bool, what: str
) -> list[int | None]:
    """For each student label, its teacher column (None where missing), refusals checked."""
    cols = student_schema.positions_of(teacher_schema)
    missing = student_schema.missing_from(teacher_schema)
    if len(missing) == len(cols):
        raise ConfigError(
            f"{what} speaks {teacher_schema.describe()}, none of the labels of "
            f"{student_schema.describe()}"
        )
    if missing and not allow_missing:
        raise ConfigError(
            f"{what} lacks {', '.join(missing)}: it speaks {teacher_schema.describe()} but the "
            f"student speaks {student_schema.describe()}"
        )
    return cols


class AlignedTeacher:
    """A teacher whose columns are reordered by label name to another schema.

    Made by :func:`align_teacher`. ``missing_labels`` names the labels the wrapped teacher
    lacks (NaN columns); ``covered`` is the boolean mask of the others.
    """

    def __init__(
        self,
        teacher: Teacher,
        schema: LabelSchema,
        allow_missing: bool,
        source: LabelSchema | None = None,
    ) -> None:
        self.teacher = teacher
        self.labels_ = schema
        self.source_labels = source or schema_of(teacher)
        cols = _columns(self.source_labels, schema, allow_missing, f"teacher {_name(teacher)}")
        self.covered = np.array([c is not None for c in cols])
        self.missing_labels = [lab for lab, c in zip(schema.names, cols, strict=True) if c is None]
        self.name = _name(teacher)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return align_proba(
            teacher_proba(self.teacher, texts), self.source_labels, self.labels_,
            allow_missing=True,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"AlignedTeacher({self.name} -> {self.labels_.name})"


def align_teacher(
    teacher: Teacher | np.ndarray,
    student_schema: LabelSchema,
    *,
    allow_missing: bool,
    teacher_schema: LabelSchema | None = None,
) -> Any:
    """A teacher (or a teacher's probabilities) aligned by label name to ``student_schema``.

    Parameters
    ----------
    teacher : Teacher or ndarray
        A teacher (its schema is ``labels_``, see :func:`~emobalance.labels.schema_of`) or
        probabilities of ``teacher_schema``.
    student_schema : LabelSchema
        The schema of the dataset or student the teacher serves.
    allow_missing : bool
        Balancing: True (labels the teacher lacks are NaN, never selected; the report states
        the shortfall). Distillation: False (a teacher lacking labels is refused).
    teacher_schema : LabelSchema, optional
        The schema of ``teacher`` when it is a probability matrix (required then).

    Returns
    -------
    Teacher or ndarray
        ``teacher`` itself when it already speaks the student's labels in order (so
        GoEmotions runs are unchanged to the bit), else an :class:`AlignedTeacher` (or the
        reordered matrix).

    Raises
    ------
    ConfigError
        One line naming the missing labels and both schemas (without ``allow_missing``).
    """
    if isinstance(teacher, np.ndarray):
        if teacher_schema is None:
            raise TypeError("align_teacher: teacher_schema is required for a probability matrix")
        return align_proba(teacher, teacher_schema, student_schema, allow_missing=allow_missing)
    source = teacher_schema or schema_of(teacher)
    if source.same_labels(student_schema):
        return teacher
    if isinstance(teacher, AlignedTeacher):  # re-align the original, not the wrapper
        teacher, source = teacher.teacher, teacher.source_labels
    return AlignedTeacher(teacher, student_schema, allow_missing, source)


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
        self.labels_: LabelSchema = schema_of(model)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        parts = [
            teacher_proba(self.model, texts[s : s + self.batch_size])  # type: ignore[arg-type]
            for s in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels_)), np.float32)

    def __repr__(self) -> str:
        return f"ClassifierTeacher({self.name})"


class EnsembleTeacher:
    """Mean (optionally weighted) of several teachers' probabilities.

    Parameters
    ----------
    teachers : sequence of Teacher
        Members speaking one schema (``labels_``), unless ``schema`` is given.
    weights : sequence of float, optional
        Non-negative weights; default equal.
    schema : LabelSchema, optional
        Align every member to this schema by label name (a member lacking one of its labels
        is refused). Without it, members of different schemas are refused.

    Raises
    ------
    TeacherError
        No member, bad weights, or members of different schemas (one line naming both).
    ConfigError
        A member lacking labels of ``schema``.
    """

    def __init__(
        self,
        teachers: Sequence[Teacher],
        weights: Sequence[float] | None = None,
        schema: LabelSchema | None = None,
    ) -> None:
        self.teachers = list(teachers)
        if not self.teachers:
            raise TeacherError("an ensemble needs at least one teacher")
        if schema is not None:
            self.teachers = [align_teacher(t, schema, allow_missing=False) for t in self.teachers]
        self.labels_: LabelSchema = schema or schema_of(self.teachers[0])
        for t in self.teachers[1:]:
            self.labels_.check_same(
                schema_of(t), f"ensemble member {_name(self.teachers[0])}",
                f"member {_name(t)}", TeacherError,
            )  # fmt: skip
        w = np.ones(len(self.teachers)) if weights is None else np.asarray(weights, float)
        if w.shape != (len(self.teachers),) or (w < 0).any() or w.sum() <= 0:
            raise TeacherError("ensemble weights must be non-negative, one per teacher")
        self.weights = w / w.sum()
        self.name = "ensemble(" + ", ".join(_name(t) for t in self.teachers) + ")"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        probs = [teacher_proba(t, texts) for t in self.teachers]
        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
        if not any(np.isnan(p).any() for p in probs):
            for w, p in zip(self.weights, probs, strict=True):
                out += w * p
            return out.astype(np.float32)
        # members aligned with missing labels (NaN): each label is the weighted mean of the
        # members that have it, NaN where none has
        den = np.zeros_like(out)
        for w, p in zip(self.weights, probs, strict=True):
            known = ~np.isnan(p)
            out += w * np.where(known, p, 0.0)
            den += w * known
        return np.divide(out, den, out=np.full_like(out, np.nan), where=den > 0).astype(np.float32)

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
    allow_missing_labels : bool, default=False
        Accept a model that lacks some of the schema's labels: their probabilities are 0
        (never above a threshold) and ``missing_labels`` names them. Balancing uses this (the
        report states each label's shortfall); distillation needs every label.
    schema : LabelSchema, optional
        The labels a Hugging Face model's ``id2label`` is mapped to (default GoEmotions'); an
        emobalance fine-tune speaks its own saved schema.

    Raises
    ------
    TeacherError
        If ``transformers`` is missing, the model cannot be loaded, or (without
        ``allow_missing_labels``) its labels do not cover the schema's (the missing
        names are listed).
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        batch_size: int = 128,
        max_length: int = 128,
        device: str = "auto",
        allow_missing_labels: bool = False,
        schema: LabelSchema | None = None,
    ) -> None:
        self.missing_labels: list[str] = []
        self.labels_: LabelSchema = schema or GOEMOTIONS
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
        from .models.registry import find_kind, load_model

        if find_kind(src) == "transformer":
            # a teacher fine-tuned by emobalance (mean pooling + our head, dev thresholds)
            try:
                self.classifier = load_model(src, device=device, kind="transformer")
            except ModelError as exc:
                raise TeacherError(str(exc)) from None
            self.labels_ = schema_of(self.classifier)
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
        names = [lab.lower() for lab in self.labels_.names]
        missing = [lab for lab, key in zip(self.labels_.names, names, strict=True)
                   if key not in by_name]  # fmt: skip
        if missing and not allow_missing_labels:
            raise TeacherError(f"{src}: the model's labels lack {', '.join(missing)}")
        if len(missing) == len(names):
            raise TeacherError(
                f"{src}: none of the model's labels is a label of {self.labels_.describe()}"
            )
        self.missing_labels = missing
        self.covered = np.array([key in by_name for key in names])
        self.columns = np.array([by_name.get(key, 0) for key in names])
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
        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
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
        out[:, ~self.covered] = 0.0  # never above a threshold: no candidate for these labels
        return out

    def __repr__(self) -> str:
        return f"HFTeacher({self.name})"


class CachedTeacher:
    """Memoise a teacher's probabilities on disk, keyed by the teacher and each text.

    Scoring 100k tweets with a transformer takes minutes on a CPU; balancing, distillation
    and every seed of a run ask for the same texts, so the rows are stored once in
    ``cache_dir/<key>.npz`` (sha1 of each text -> its probabilities) and reused.

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
        self.labels_: LabelSchema = schema_of(teacher)
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
                if z["proba"].ndim != 2 or z["proba"].shape[1] != len(self.labels_):
                    return {}  # another width than this teacher's: rebuilt
                return dict(zip((bytes(k) for k in z["keys"]), z["proba"], strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return {}  # an unreadable cache is rebuilt, never trusted

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
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
            return np.zeros((0, len(self.labels_)), np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def __repr__(self) -> str:
        return f"CachedTeacher({self.name}, {self.key})"


# ======================================================================= teacher specs
def _config_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def resolve_teacher_spec(spec: str) -> str:
    """Expand each ``+`` part: ``auto`` -> ``minilm+tfidf`` when the ``teacher`` extra is
    installed, else ``reference+tfidf``; ``ensemble`` -> ``reference+tfidf`` (a repeated part
    counts twice in the mean)."""
    import importlib.util

    parts = []
    for part in spec.split("+"):
        if part == "auto":
            have = all(
                importlib.util.find_spec(m) is not None
                for m in ("transformers", "all_minilm_l6_v2")
            )
            part = "minilm+tfidf" if have else "reference+tfidf"
        elif part == "ensemble":
            part = "reference+tfidf"
        parts.extend(part.split("+"))
    return "+".join(parts)


def _schema_key(data: EmotionDataset) -> tuple[Any, ...]:
    """The schema's part of a cache key: nothing for GoEmotions (existing caches stay
    valid), the whole schema for any other, so a cache never serves another label set."""
    return () if data.schema == GOEMOTIONS else (data.schema.to_dict(),)


def dataset_hash(data: EmotionDataset) -> str:
    """sha256 of a dataset's texts and labels (keys caches of models trained on it)."""
    h = hashlib.sha256()
    for t in data.texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    if data.is_labelled:
        h.update(np.ascontiguousarray(data.labels).tobytes())
    return h.hexdigest()[:16]


def minilm_teacher(
    train: EmotionDataset,
    dev: EmotionDataset,
    teacher_cfg: TransformerConfig | None = None,
    progress: bool | None = None,
) -> tuple[Path, str]:
    """The fine-tuned transformer teacher folder for ``train``: trained and cached on first use.

    The folder lives in the user cache (``teachers/minilm-<key>``), keyed by the teacher
    config and the training data, so every run and balancing job shares one fine-tune.
    Returns ``(folder, key)``.
    """
    from .models.registry import find_kind
    from .models.transformer import TransformerClassifier

    tc = teacher_cfg or TransformerConfig()
    d, key = minilm_cache_dir(train, dev, tc)
    if find_kind(d) != "transformer":
        logger.info(
            "fine-tuning the transformer teacher (%s, %d epochs; cached in %s)",
            tc.base,
            tc.epochs,
            d,
        )
        upd = {"progress": progress} if progress is not None else {}
        # save() publishes the folder with one rename; a concurrent winner's copy is kept
        TransformerClassifier(tc.model_copy(update=upd)).fit(train, dev).save(d)
    return d, key


def teacher_id(folder: Path) -> str:
    """The id a saved transformer teacher was given at save time (``''`` if it has none)."""
    from .models.transformer import MARKER

    try:
        return str(json.loads((folder / MARKER).read_text(encoding="utf-8")).get("id", ""))[:12]
    except (OSError, ValueError, AttributeError):
        return ""


MINILM_RECIPE = 2
"""Changes whenever the fine-tune's code changes its weights (part of the cache key)."""


def minilm_cache_dir(
    train: EmotionDataset, dev: EmotionDataset, teacher_cfg: TransformerConfig | None = None
) -> tuple[Path, str]:
    """Where :func:`minilm_teacher` keeps the teacher for this config and data: (folder, key)."""
    from importlib import metadata

    from .models.transformer import MINILM_PACKAGE

    tc = teacher_cfg or TransformerConfig()
    fixed = tc.model_dump(exclude={"device", "num_threads", "eval_batch_size", "progress"})
    versions = {}
    for pkg in ("transformers", MINILM_PACKAGE):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    # the recipe's code changes the weights too (2: fused AdamW and uniform-draw dropout)
    versions["recipe"] = MINILM_RECIPE
    key = "minilm-" + _config_hash(
        fixed, versions, dataset_hash(train), dataset_hash(dev), *_schema_key(train)
    )
    return goemotions.cache_dir() / "teachers" / key, key


def build_teacher(
    spec: str,
    train: EmotionDataset,
    dev: EmotionDataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    teacher_cfg: TransformerConfig | None = None,
    provided: dict[str, Teacher] | None = None,
    progress: bool | None = None,
    allow_missing_labels: bool = False,
) -> tuple[Teacher, str]:
    """Build the teacher named by ``spec`` (training and caching it when needed).

    ``allow_missing_labels`` lets a Hugging Face model that lacks some labels teach the
    others (see :class:`HFTeacher`); balancing allows it and reports the labels it lacks.

    Every part speaks ``train.schema``: the trained parts learn it, the others are aligned to
    it by label name (:func:`align_teacher`: labels a part lacks are NaN with
    ``allow_missing_labels``, else a one-line :class:`ConfigError`). Cache keys include the
    schema when it is not GoEmotions'.

    ``reference`` / ``tfidf`` train on ``train`` with thresholds from ``dev`` and are cached
    under ``cache_dir`` keyed by their config; ``minilm`` fine-tunes the transformer teacher
    once (user cache, see :func:`minilm_teacher`); a directory loads a saved emobalance
    model, transformer teacher, TF-IDF baseline or Hugging Face model; ``hf:NAME`` loads a
    hub model; ``A+B`` is the mean of the parts' probabilities; ``auto`` and ``ensemble``
    resolve as in :func:`resolve_teacher_spec`. ``provided`` supplies ready teachers by part
    name (``emobalance run`` passes its own reference and TF-IDF models).
    """
    from .models.baselines import TfidfBaseline
    from .models.reference import EmotionClassifier

    cache = Path(cache_dir) if cache_dir is not None else None
    provided = provided or {}

    @functools.cache
    def data_key() -> str:  # hashed once, shared by the reference and TF-IDF cache keys
        return _config_hash(dataset_hash(train), dataset_hash(dev), *_schema_key(train))

    def cached(teacher: Teacher, key: str) -> CachedTeacher:
        return CachedTeacher(teacher, key, goemotions.cache_dir() / "teacher_scores")

    def reference() -> Teacher:
        key = _config_hash(model_cfg.model_dump(), train_cfg.model_dump(), data_key())
        d = cache / f"reference-{key}" if cache else None
        if d is not None and (d / "model.safetensors").is_file():
            clf = EmotionClassifier.load(d)
        else:
            clf = EmotionClassifier(model=model_cfg, train=train_cfg).fit(train, dev)
            if d is not None:
                clf.save(d)
        return ClassifierTeacher(clf, name="reference")

    def tfidf() -> Teacher:
        d = cache / f"tfidf-{data_key()}" if cache else None
        if d is not None and d.is_dir():
            model = TfidfBaseline.load(d)
        else:
            model = TfidfBaseline().fit(train, dev)
            if d is not None:
                model.save(d)
        teacher = ClassifierTeacher(model, name="tfidf")
        if d is None:
            return teacher
        # with a cache, its scores are kept like the MiniLM teacher's (the folder's key is
        # the model's: the same data always fits the same TF-IDF model)
        from importlib import metadata

        from . import __version__

        key = _config_hash(data_key(), metadata.version("scikit-learn"), __version__)
        return cached(teacher, f"tfidf-{key}")

    def one(part: str) -> tuple[Teacher, str]:
        teacher, name = built_part(part)
        return align_teacher(teacher, train.schema, allow_missing=allow_missing_labels), name

    def built_part(part: str) -> tuple[Teacher, str]:
        if part in provided:
            return provided[part], part
        if part == "reference":
            return reference(), "reference"
        if part == "tfidf":
            return tfidf(), "tfidf"
        if part == "minilm":
            d, key = minilm_teacher(train, dev, teacher_cfg, progress=progress)
            # scores are keyed by this very fine-tune (its id), never by its config alone
            return cached(HFTeacher(d), f"{key}-{teacher_id(d)}"), "minilm"
        if part.startswith("hf:"):
            t = HFTeacher(part[3:], allow_missing_labels=allow_missing_labels, schema=train.schema)
            return t, t.name
        path = Path(part)
        if path.is_dir():
            from .models.registry import find_kind, load_model

            kind = find_kind(path)
            if kind in (None, "transformer"):  # a Hugging Face folder, or our fine-tune
                t = HFTeacher(path, allow_missing_labels=allow_missing_labels, schema=train.schema)
                tid = teacher_id(path)  # "" for a Hugging Face folder: nothing to key by
                # our fine-tune's scores are kept under its id, as for `minilm`
                return (cached(t, f"transformer-{tid}") if tid else t), t.name
            return ClassifierTeacher(load_model(path), name=path.name), path.name
        raise ConfigError(
            f"teacher: {part!r} is not auto, ensemble, reference, tfidf, minilm, hf:NAME, a model "
            "folder, or such parts joined by '+'"
        )

    parts = resolve_teacher_spec(spec).split("+")
    if len(parts) == 1:
        return one(parts[0])
    # a repeated part counts as often as it is named, but is built and run once
    counts = {p: parts.count(p) for p in dict.fromkeys(parts)}
    built = {p: one(p) for p in counts}
    ens = EnsembleTeacher([t for t, _ in built.values()], weights=list(counts.values()))
    ens.name = (
        "ensemble("
        + ", ".join(n if counts[p] == 1 else f"{n} x{counts[p]}" for p, (_, n) in built.items())
        + ")"
    )
    return ens, ens.name
