"""Label schemas: the labels a dataset or a model speaks, and GoEmotions' 28 as one instance.

A :class:`LabelSchema` holds label names in order, optional groupings (GoEmotions' Ekman and
sentiment), optional one-line descriptions (used by the generation prompts), whether a row may
carry no label, and whether the data is single-label. Every label matrix in emobalance is
``uint8[n, len(schema)]`` in its schema's order; datasets, models (``labels_``), balanced sets
and run directories carry their schema. :data:`GOEMOTIONS` is the GoEmotions schema (ids
0..27 in ``emotions.txt`` order, 27 = neutral; the official ``ekman_mapping.json`` and
``sentiment_dict.json``, each completed with ``neutral``); the module-level names
(:data:`LABELS`, :func:`label_id`, ...) are that schema's, kept for GoEmotions code and users.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import DataError

LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
NUM_LABELS = len(LABELS)
NEUTRAL = "neutral"
LABEL_TO_ID: dict[str, int] = {name: i for i, name in enumerate(LABELS)}

# Official ekman_mapping.json (google-research/goemotions/data), + neutral.
EKMAN: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism",
            "relief", "pride", "admiration", "desire", "caring"),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
    "neutral": ("neutral",),
}  # fmt: skip
EKMAN_LABELS: tuple[str, ...] = tuple(EKMAN)

# Official sentiment_dict.json, + neutral.
SENTIMENT: dict[str, tuple[str, ...]] = {
    "positive": ("amusement", "excitement", "joy", "love", "desire", "optimism", "caring",
                 "pride", "admiration", "gratitude", "relief", "approval"),
    "negative": ("fear", "nervousness", "remorse", "embarrassment", "disappointment",
                 "sadness", "grief", "disgust", "anger", "annoyance", "disapproval"),
    "ambiguous": ("realization", "surprise", "curiosity", "confusion"),
    "neutral": ("neutral",),
}  # fmt: skip
SENTIMENT_LABELS: tuple[str, ...] = tuple(SENTIMENT)

GROUPINGS: dict[str, dict[str, tuple[str, ...]]] = {"ekman": EKMAN, "sentiment": SENTIMENT}


class LabelError(DataError, KeyError, ValueError):
    """An unknown label name, or a label id outside the schema's range.

    A :class:`~emobalance.errors.DataError` (one line, naming the place). It is also a
    ``KeyError`` and a ``ValueError``, what :func:`label_id` and :func:`names_to_matrix` raised
    before, so existing handlers keep catching it.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


LabelLike = str | int
_ID_TEXT = re.compile(r"-?[0-9]+")
MAX_SCHEMA_LABELS = 1000
"""The most labels a schema may have (a wider "label set" is almost always a wrong column)."""
MAX_LABEL_CHARS = 100


def _shown(value: object, quote: bool = True, limit: int = 40) -> str:
    """``repr(value)`` (or ``value`` itself), cut to about ``limit`` characters for a message."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _listing(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class LabelSchema:
    """The labels a dataset or a model speaks: names in order, groupings, descriptions.

    Parameters
    ----------
    names : sequence of str
        The label names, in the order of the label matrix's columns. Names are unique after
        case folding, non-empty, without surrounding spaces, at most 1,000 of them.
    groupings : mapping, optional
        ``{grouping: {group: [member label, ...]}}`` (GoEmotions: ``ekman``, ``sentiment``);
        a group scores the max of its members. Every member must be a label of the schema.
    descriptions : mapping, optional
        ``{label: one-line description}``, used by the generation prompts.
    allow_empty : bool, default=True
        Whether a row may carry no label (a neutral line stored as no label).
    single_label : bool, default=False
        One label per row: prediction is the most probable label, reports add accuracy.
    name : str, default="custom"
        A short name for messages and reports (``goemotions``, ``xed_en``, ...).
    neutral : str, optional
        The label that means "no emotion", if the schema has one.

    Raises
    ------
    DataError
        For duplicate or empty names, more than 1,000 labels, a grouping member or a
        description key that is not a label, or a ``neutral`` that is not a label.

    Examples
    --------
    >>> schema = LabelSchema(["joy", "anger", "fear"], name="tiny")
    >>> schema.label_id("Anger"), len(schema)
    (1, 3)
    >>> schema.names_to_matrix([["joy"], ["fear", "anger"]]).tolist()
    [[1, 0, 0], [0, 1, 1]]
    """

    def __init__(
        self,
        names: Sequence[str],
        groupings: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        descriptions: Mapping[str, str] | None = None,
        *,
        allow_empty: bool = True,
        single_label: bool = False,
        name: str = "custom",
        neutral: str | None = None,
    ) -> None:
        if isinstance(names, str) or not isinstance(names, Sequence | Iterable):
            raise DataError(f"label names must be a list of strings, got {type(names).__name__}")
        names = tuple(names)
        if not names:
            raise DataError("a label schema needs at least one label")
        if len(names) > MAX_SCHEMA_LABELS:
            raise DataError(
                f"{len(names)} labels; at most {MAX_SCHEMA_LABELS} are supported (is the label "
                "column the right one?)"
            )
        seen: dict[str, str] = {}
        for i, lab in enumerate(names):
            if not isinstance(lab, str):
                raise DataError(f"label {i} is {type(lab).__name__}, expected a name (str)")
            if not lab.strip():
                raise DataError(f"label {i} has an empty name")
            if (
                lab != lab.strip()
                or len(lab) > MAX_LABEL_CHARS
                or any(c in lab for c in "\n\r\t\x00")
            ):
                raise DataError(
                    f"label {i} {_shown(lab)}: a name has no surrounding spaces, no line breaks "
                    f"or tabs and at most {MAX_LABEL_CHARS} characters"
                )
            key = lab.lower()
            if key in seen:
                raise DataError(f"label {_shown(lab)} is given twice (as {seen[key]!r})")
            seen[key] = lab
        self.names: tuple[str, ...] = names
        self._index: dict[str, int] = {lab.lower(): i for i, lab in enumerate(names)}
        self.name = str(name)
        self.allow_empty = bool(allow_empty)
        self.single_label = bool(single_label)
        if neutral is not None and neutral not in self._index:
            neutral_key = str(neutral).lower()
            if neutral_key not in self._index:
                raise DataError(f"neutral label {_shown(neutral)} is not a label of the schema")
        self.neutral = None if neutral is None else names[self._index[str(neutral).lower()]]
        self.groupings: dict[str, dict[str, tuple[str, ...]]] = {}
        for gname, groups in (groupings or {}).items():
            if not isinstance(groups, Mapping) or not groups:
                raise DataError(f"grouping {_shown(gname)} must map groups to label lists")
            checked: dict[str, tuple[str, ...]] = {}
            for group, members in groups.items():
                if isinstance(members, str) or not isinstance(members, Iterable):
                    raise DataError(f"grouping {gname!r}, group {_shown(group)}: expected a list")
                ids = [self.label_id(m, f"grouping {gname!r}, group {group!r}") for m in members]
                if not ids:
                    raise DataError(f"grouping {gname!r}, group {_shown(group)} has no members")
                checked[str(group)] = tuple(names[j] for j in ids)
            self.groupings[str(gname)] = checked
        self.descriptions: dict[str, str] = {}
        for lab, text in (descriptions or {}).items():
            j = self.label_id(lab, "descriptions")
            if not isinstance(text, str):
                raise DataError(f"descriptions: {names[j]!r} must be a string")
            self.descriptions[names[j]] = " ".join(text.split())

    # ----------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and label.strip().lower() in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSchema):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.names, self.single_label))

    def __repr__(self) -> str:
        kind = "single-label" if self.single_label else "multi-label"
        return f"LabelSchema({self.name!r}, {len(self)} labels, {kind})"

    def describe(self) -> str:
        """A short description for messages: ``goemotions (28 labels: admiration, ...)``."""
        return f"{self.name} ({len(self)} labels: {_listing(self.names, 6)})"

    @property
    def size(self) -> int:
        """The number of labels (columns of the label matrix)."""
        return len(self.names)

    def same_labels(self, other: LabelSchema) -> bool:
        """Whether ``other`` has the same label names in the same order."""
        return self.names == other.names

    def check_same(
        self, other: LabelSchema, what: str, other_what: str, error: type[Exception] = DataError
    ) -> None:
        """Refuse ``other`` unless it has the same labels in the same order (one line)."""
        if not self.same_labels(other):
            raise error(
                f"{what} speaks {self.describe()} but {other_what} speaks {other.describe()}"
            )

    def positions_of(self, other: LabelSchema) -> list[int | None]:
        """For each label of ``self``, its column in ``other`` (by name), or None where absent."""
        return [other._index.get(lab.lower()) for lab in self.names]

    def missing_from(self, other: LabelSchema) -> list[str]:
        """The labels of ``self`` that ``other`` lacks (by name)."""
        return [
            lab for lab, j in zip(self.names, self.positions_of(other), strict=True) if j is None
        ]

    # ----------------------------------------------------------- lookups
    def label_id(
        self,
        label: LabelLike,
        where: str | None = None,
        *,
        what: str = "emotion label",
        error: type[Exception] = LabelError,
    ) -> int:
        """The id of a label given by name or by id: the one label lookup of emobalance.

        Parameters
        ----------
        label : str or int
            A label name (case and surrounding spaces ignored), an int id (numpy ints too, not
            bool), or an id written as digits (``"17"``, as in a CSV file) where no label
            is itself named by digits.
        where : str, optional
            The place to name in the error (``"train.csv: line 3"``, ``"balance.undersample"``).
        what : str, default="emotion label"
            The noun of the error message (``"unknown {what} 'x'"``).
        error : exception class, default=LabelError
            The class raised, e.g. :class:`~emobalance.errors.ConfigError` for a setting.

        Returns
        -------
        int

        Raises
        ------
        LabelError
            (or ``error``) with one line: ``"{where}: unknown {what} 'x'; expected one of ..."``
            or ``"{where}: label id 28 outside 0..27"``.
        """
        prefix = f"{where}: " if where else ""
        n = len(self.names)
        if isinstance(label, numbers.Integral) and not isinstance(label, bool):
            j = int(label)
            if not 0 <= j < n:
                shown = str(j) if j.bit_length() <= 128 else "(an integer of over 38 digits)"
                raise error(f"{prefix}label id {shown} outside 0..{n - 1}")
            return j
        key = label.strip().lower() if isinstance(label, str) else None
        if key in self._index:
            return self._index[key]
        # ASCII digits only (the pattern is [0-9], not \d nor str.isdigit, which take "²" or
        # "١" that int() refuses or reads as another number)
        if key is None or not _ID_TEXT.fullmatch(key):
            raise error(
                f"{prefix}unknown {what} {_shown(label)}; expected one of {_listing(self.names)}"
            )
        digits = key.lstrip("-").lstrip("0") or "0"
        width = len(str(n))
        j = int(digits) if len(digits) <= width else n  # int() refuses over 4,300 digits
        if j >= n or (key.startswith("-") and j):
            raise error(f"{prefix}label id {_shown(key, quote=False)} outside 0..{n - 1}")
        return j

    def label_ids(
        self,
        labels: LabelLike | Iterable[LabelLike],
        where: str | None = None,
        *,
        sep: str = ",",
        what: str = "emotion label",
        error: type[Exception] = LabelError,
    ) -> list[int]:
        """Sorted unique ids of several labels given by name or id (see :meth:`label_id`).

        ``labels`` is a ``sep``-separated string (``"joy, love"`` or ``"17,18"``; empty items
        skipped), one id, or an iterable of names and ids.
        """
        prefix = f"{where}: " if where else ""
        if isinstance(labels, str):
            items: list[Any] = [x for x in labels.split(sep) if x.strip()]
        elif isinstance(labels, numbers.Integral) and not isinstance(labels, bool):
            items = [labels]
        elif isinstance(labels, Iterable) and not isinstance(labels, Mapping | bytes):
            items = list(labels)
        else:
            raise error(f"{prefix}labels must be a list or a string, got {type(labels).__name__}")
        return sorted({self.label_id(x, where, what=what, error=error) for x in items})

    # ----------------------------------------------------------- matrices
    def check_matrix(self, matrix: Any, name: str = "matrix") -> np.ndarray:
        """``matrix`` as an array of shape ``(n, len(self))``, or a one-line ValueError."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.names):
            raise ValueError(
                f"expected a {name} of shape (n, {len(self.names)}) for {self.name}, "
                f"got {matrix.shape}"
            )
        return matrix

    def names_to_matrix(self, rows: Sequence[Sequence[str | int]]) -> np.ndarray:
        """Build a ``uint8[n, len(self)]`` matrix from per-row label names or ids."""
        out = np.zeros((len(rows), len(self.names)), dtype=np.uint8)
        for i, row in enumerate(rows):
            out[i, [self.label_id(lab, f"row {i}") for lab in row]] = 1
        return out

    def matrix_to_names(self, labels: np.ndarray) -> list[list[str]]:
        """Label names per row of a binary ``(n, len(self))`` matrix."""
        labels = self.check_matrix(labels)
        return [[self.names[j] for j in np.flatnonzero(row)] for row in labels]

    # ----------------------------------------------------------- groupings
    def grouping(self, grouping: str | Mapping[str, Sequence[str]]) -> Mapping[str, Sequence[str]]:
        """A grouping by name (one of :attr:`groupings`) or given as a mapping."""
        if isinstance(grouping, str):
            try:
                return self.groupings[grouping]
            except KeyError:
                known = ", ".join(sorted(self.groupings)) or "none"
                raise ValueError(
                    f"unknown grouping {grouping!r} for {self.name}; it has: {known}"
                ) from None
        return grouping

    def group_names(self, grouping: str | Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        """Names of the groups of a grouping."""
        return tuple(self.grouping(grouping))

    def _collapse(
        self,
        matrix: np.ndarray,
        grouping: str | Mapping[str, Sequence[str]],
        reduce: Callable[..., np.ndarray],
        dtype: type,
    ) -> np.ndarray:
        matrix = self.check_matrix(matrix)
        idx = [[self.label_id(m) for m in members] for members in self.grouping(grouping).values()]
        out = np.zeros((matrix.shape[0], len(idx)), dtype=dtype)
        for g, members in enumerate(idx):
            out[:, g] = reduce(matrix[:, members], axis=1)
        return out

    def collapse_labels(
        self, labels: np.ndarray, grouping: str | Mapping[str, Sequence[str]]
    ) -> np.ndarray:
        """Collapse a binary label matrix into a grouping: a group is on if any member is."""
        return self._collapse(labels, grouping, np.any, np.uint8)

    def collapse_probabilities(
        self, proba: np.ndarray, grouping: str | Mapping[str, Sequence[str]]
    ) -> np.ndarray:
        """Collapse a probability matrix into a grouping: max over the members (float32)."""
        return self._collapse(proba, grouping, np.max, np.float32)

    # ----------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, read back by :meth:`from_dict`."""
        return {
            "name": self.name,
            "labels": list(self.names),
            "groupings": {g: {k: list(v) for k, v in m.items()} for g, m in self.groupings.items()},
            "descriptions": dict(self.descriptions),
            "allow_empty": self.allow_empty,
            "single_label": self.single_label,
            "neutral": self.neutral,
        }

    @classmethod
    def from_dict(cls, obj: Any, origin: str = "label schema") -> LabelSchema:
        """Read :meth:`to_dict`'s form (or a bare list of names); errors name ``origin``."""
        if isinstance(obj, list):
            obj = {"labels": obj}
        if not isinstance(obj, Mapping) or "labels" not in obj:
            raise DataError(f"{origin}: expected a label schema (an object with 'labels')")
        unknown = set(obj) - {
            "name", "labels", "groupings", "descriptions", "allow_empty", "single_label", "neutral"
        }  # fmt: skip
        if unknown:
            raise DataError(f"{origin}: unknown label-schema field {sorted(unknown)[0]!r}")
        try:
            schema = cls(
                obj["labels"],
                obj.get("groupings") or None,
                obj.get("descriptions") or None,
                allow_empty=bool(obj.get("allow_empty", True)),
                single_label=bool(obj.get("single_label", False)),
                name=str(obj.get("name", "custom")),
                neutral=obj.get("neutral"),
            )
        except (DataError, ValueError, TypeError) as exc:
            raise DataError(f"{origin}: {exc}") from None
        # the GoEmotions instance again, so `schema is GOEMOTIONS` style checks and its
        # descriptions survive a round trip through a file that predates them
        if schema.same_labels(GOEMOTIONS) and schema.name == GOEMOTIONS.name:
            return GOEMOTIONS
        return schema

    def replace(self, **changes: Any) -> LabelSchema:
        """A copy with some fields changed (``single_label``, ``name``, ``descriptions`` ...)."""
        fields = self.to_dict()
        fields["names"] = fields.pop("labels")
        fields.update(changes)
        names = fields.pop("names")
        return LabelSchema(
            names, fields.pop("groupings") or None, fields.pop("descriptions") or None, **fields
        )


def schema_of(value: Any) -> LabelSchema:
    """The label schema of a dataset, model or teacher (its ``labels_`` or ``schema``).

    A :class:`LabelSchema` is returned as it is; an object without one (a scripted model or
    teacher of the time before schemas, whose outputs are GoEmotions' 28) speaks GoEmotions.
    """
    if isinstance(value, LabelSchema):
        return value
    for attr in ("labels_", "schema"):
        found = getattr(value, attr, None)
        if isinstance(found, LabelSchema):
            return found
    return GOEMOTIONS


# Definitions from the GoEmotions paper (Demszky et al., 2020, appendix), lower-cased.
GOEMOTIONS_DESCRIPTIONS: dict[str, str] = {
    "admiration": "finding something impressive or worthy of respect",
    "amusement": "finding something funny or being entertained",
    "anger": "a strong feeling of displeasure or antagonism",
    "annoyance": "mild anger, irritation",
    "approval": "having or expressing a favorable opinion",
    "caring": "displaying kindness and concern for others",
    "confusion": "lack of understanding, uncertainty",
    "curiosity": "a strong desire to know or learn something",
    "desire": "a strong feeling of wanting something or wishing for something to happen",
    "disappointment": "sadness or displeasure caused by the nonfulfillment of one's hopes or "
    "expectations",
    "disapproval": "having or expressing an unfavorable opinion",
    "disgust": "revulsion or strong disapproval aroused by something unpleasant or offensive",
    "embarrassment": "self-consciousness, shame, or awkwardness",
    "excitement": "feeling of great enthusiasm and eagerness",
    "fear": "being afraid or worried",
    "gratitude": "a feeling of thankfulness and appreciation",
    "grief": "intense sorrow, especially caused by someone's death",
    "joy": "a feeling of pleasure and happiness",
    "love": "a strong positive emotion of regard and affection",
    "nervousness": "apprehension, worry, anxiety",
    "optimism": "hopefulness and confidence about the future or the success of something",
    "pride": "pleasure or satisfaction due to one's own achievements or the achievements of "
    "those with whom one is closely associated",
    "realization": "becoming aware of something",
    "relief": "reassurance and relaxation following release from anxiety or distress",
    "remorse": "regret or guilty feeling",
    "sadness": "emotional pain, sorrow",
    "surprise": "feeling astonished, startled by something unexpected",
    "neutral": "no particular emotion; a matter-of-fact remark",
}

GOEMOTIONS = LabelSchema(
    LABELS, GROUPINGS, GOEMOTIONS_DESCRIPTIONS, name="goemotions", neutral=NEUTRAL
)
"""GoEmotions' schema: 28 labels (27 = neutral), the Ekman and sentiment groupings."""


# ---------------------------------------------------------------- GoEmotions shorthands
# The functions below are GOEMOTIONS' methods under their historical names, for users and
# GoEmotions-only code (the built-in label maps); code that handles any dataset uses the
# dataset's or model's schema instead.


label_id = GOEMOTIONS.label_id
label_ids = GOEMOTIONS.label_ids
group_names = GOEMOTIONS.group_names
names_to_matrix = GOEMOTIONS.names_to_matrix
matrix_to_names = GOEMOTIONS.matrix_to_names


def collapse_labels(
    labels: np.ndarray, grouping: str | Mapping[str, Sequence[str]] = "ekman"
) -> np.ndarray:
    """Collapse a binary ``(n, 28)`` GoEmotions matrix into a grouping (any member on)."""
    return GOEMOTIONS.collapse_labels(labels, grouping)


def collapse_probabilities(
    proba: np.ndarray, grouping: str | Mapping[str, Sequence[str]] = "ekman"
) -> np.ndarray:
    """Collapse an ``(n, 28)`` GoEmotions probability matrix into a grouping (max, float32)."""
    return GOEMOTIONS.collapse_probabilities(proba, grouping)
