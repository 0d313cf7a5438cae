"""The 28 GoEmotions labels and their Ekman and sentiment groupings.

Label order is the GoEmotions id order (``emotions.txt``); every label matrix in emobalance is
``uint8[n, 28]`` in this order. The groupings are the official ``ekman_mapping.json`` and
``sentiment_dict.json`` of the GoEmotions release, each completed with ``neutral``.
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
    """An unknown label name, or a label id outside ``0..27``.

    A :class:`~emobalance.errors.DataError` (one line, naming the place). It is also a
    ``KeyError`` and a ``ValueError``, what :func:`label_id` and :func:`names_to_matrix` raised
    before, so existing handlers keep catching it.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


LabelLike = str | int
_ID_TEXT = re.compile(r"-?[0-9]+")


def label_id(
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
        bool), or an id written as digits (``"17"``, as in a CSV file).
    where : str, optional
        The place to name in the error (``"train.csv: line 3"``, ``"balance.undersample"``).
    what : str, default="emotion label"
        The noun of the error message (``"unknown {what} 'x'"``).
    error : exception class, default=LabelError
        The class raised, e.g. :class:`~emobalance.errors.ConfigError` for a setting.

    Returns
    -------
    int
        The id in ``0..27`` (:data:`LABELS` order).

    Raises
    ------
    LabelError
        (or ``error``) with one line: ``"{where}: unknown {what} 'x'; expected one of ..."`` or
        ``"{where}: label id 28 outside 0..27"``.

    Examples
    --------
    >>> label_id(" Grief"), label_id(16), label_id("16")
    (16, 16, 16)
    """
    prefix = f"{where}: " if where else ""
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        j = int(label)
        if not 0 <= j < NUM_LABELS:
            shown = str(j) if j.bit_length() <= 128 else "(an integer of over 38 digits)"
            raise error(f"{prefix}label id {shown} outside 0..{NUM_LABELS - 1}")
        return j
    key = label.strip().lower() if isinstance(label, str) else None
    if key in LABEL_TO_ID:
        return LABEL_TO_ID[key]
    # ASCII digits only (the pattern is [0-9], not \d nor str.isdigit, which take "²" or "١"
    # that int() refuses or reads as another number)
    if key is None or not _ID_TEXT.fullmatch(key):
        raise error(f"{prefix}unknown {what} {_shown(label)}; expected one of {', '.join(LABELS)}")
    digits = key.lstrip("-").lstrip("0") or "0"
    j = int(digits) if len(digits) <= 2 else NUM_LABELS  # int() refuses over 4,300 digits
    if j >= NUM_LABELS or (key.startswith("-") and j):
        raise error(f"{prefix}label id {_shown(key, quote=False)} outside 0..{NUM_LABELS - 1}")
    return j


def _shown(value: object, quote: bool = True, limit: int = 40) -> str:
    """``repr(value)`` (or ``value`` itself), cut to about ``limit`` characters for a message."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def label_ids(
    labels: LabelLike | Iterable[LabelLike],
    where: str | None = None,
    *,
    sep: str = ",",
    what: str = "emotion label",
    error: type[Exception] = LabelError,
) -> list[int]:
    """Sorted unique ids of several labels given by name or id (see :func:`label_id`).

    Parameters
    ----------
    labels : str, int or iterable of str/int
        A ``sep``-separated string (``"joy, love"`` or ``"17,18"``; empty items skipped), one
        id, or an iterable of names and ids.
    where, what, error
        As in :func:`label_id`.

    Returns
    -------
    list of int

    Raises
    ------
    LabelError
        (or ``error``) for an unknown label, an id out of range, or ``labels`` of another type.
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
    return sorted({label_id(x, where, what=what, error=error) for x in items})


def _grouping(grouping: str | Mapping[str, Sequence[str]]) -> Mapping[str, Sequence[str]]:
    if isinstance(grouping, str):
        try:
            return GROUPINGS[grouping]
        except KeyError:
            raise ValueError(
                f"unknown grouping {grouping!r}; expected one of {sorted(GROUPINGS)}"
            ) from None
    return grouping


def group_names(grouping: str | Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Names of the groups of a grouping (``"ekman"``, ``"sentiment"`` or a mapping)."""
    return tuple(_grouping(grouping))


def _member_index(grouping: Mapping[str, Sequence[str]]) -> list[list[int]]:
    return [[label_id(m) for m in members] for members in grouping.values()]


def _check_28(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != NUM_LABELS:
        raise ValueError(f"expected a matrix of shape (n, {NUM_LABELS}), got {matrix.shape}")
    return matrix


def _collapse(
    matrix: np.ndarray,
    grouping: str | Mapping[str, Sequence[str]],
    reduce: Callable[..., np.ndarray],
    dtype: type,
) -> np.ndarray:
    matrix = _check_28(matrix)
    idx = _member_index(_grouping(grouping))
    out = np.zeros((matrix.shape[0], len(idx)), dtype=dtype)
    for g, members in enumerate(idx):
        out[:, g] = reduce(matrix[:, members], axis=1)
    return out


def collapse_labels(
    labels: np.ndarray, grouping: str | Mapping[str, Sequence[str]] = "ekman"
) -> np.ndarray:
    """Collapse a binary ``(n, 28)`` label matrix into a grouping: a group is on if any member is.

    Parameters
    ----------
    labels : ndarray of shape (n, 28)
        Binary label matrix in :data:`LABELS` order.
    grouping : {"ekman", "sentiment"} or mapping
        The grouping, or a mapping ``group -> member label names``.

    Returns
    -------
    ndarray of shape (n, n_groups), dtype uint8
    """
    return _collapse(labels, grouping, np.any, np.uint8)


def collapse_probabilities(
    proba: np.ndarray, grouping: str | Mapping[str, Sequence[str]] = "ekman"
) -> np.ndarray:
    """Collapse an ``(n, 28)`` probability matrix into a grouping: max over the members.

    Returns
    -------
    ndarray of shape (n, n_groups), dtype float32
    """
    return _collapse(proba, grouping, np.max, np.float32)


def names_to_matrix(rows: Sequence[Sequence[str | int]]) -> np.ndarray:
    """Build a ``uint8[n, 28]`` matrix from per-row label names or ids."""
    out = np.zeros((len(rows), NUM_LABELS), dtype=np.uint8)
    for i, row in enumerate(rows):
        out[i, [label_id(lab, f"row {i}") for lab in row]] = 1
    return out


def matrix_to_names(labels: np.ndarray) -> list[list[str]]:
    """Label names per row of a binary ``(n, 28)`` matrix."""
    labels = _check_28(labels)
    return [[LABELS[j] for j in np.flatnonzero(row)] for row in labels]
