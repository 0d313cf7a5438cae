"""The 28 GoEmotions labels and their Ekman and sentiment groupings.

Label order is the GoEmotions id order (``emotions.txt``); every label matrix in emobalance is
``uint8[n, 28]`` in this order. The groupings are the official ``ekman_mapping.json`` and
``sentiment_dict.json`` of the GoEmotions release, each completed with ``neutral``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

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


def label_id(name: str) -> int:
    """Return the id of a label name; raise ``KeyError`` naming the unknown label."""
    try:
        return LABEL_TO_ID[name.strip().lower()]
    except KeyError:
        raise KeyError(
            f"unknown emotion label {name!r}; expected one of {', '.join(LABELS)}"
        ) from None


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
    labels = _check_28(labels)
    idx = _member_index(_grouping(grouping))
    out = np.zeros((labels.shape[0], len(idx)), dtype=np.uint8)
    for g, members in enumerate(idx):
        out[:, g] = labels[:, members].any(axis=1)
    return out


def collapse_probabilities(
    proba: np.ndarray, grouping: str | Mapping[str, Sequence[str]] = "ekman"
) -> np.ndarray:
    """Collapse an ``(n, 28)`` probability matrix into a grouping: max over the members.

    Returns
    -------
    ndarray of shape (n, n_groups), dtype float32
    """
    proba = _check_28(proba)
    idx = _member_index(_grouping(grouping))
    out = np.zeros((proba.shape[0], len(idx)), dtype=np.float32)
    for g, members in enumerate(idx):
        out[:, g] = proba[:, members].max(axis=1)
    return out


def names_to_matrix(rows: Sequence[Sequence[str | int]]) -> np.ndarray:
    """Build a ``uint8[n, 28]`` matrix from per-row label names or ids."""
    out = np.zeros((len(rows), NUM_LABELS), dtype=np.uint8)
    for i, row in enumerate(rows):
        for lab in row:
            j = label_id(lab) if isinstance(lab, str) else int(lab)
            if not 0 <= j < NUM_LABELS:
                raise ValueError(f"row {i}: label id {j} outside 0..{NUM_LABELS - 1}")
            out[i, j] = 1
    return out


def matrix_to_names(labels: np.ndarray) -> list[list[str]]:
    """Label names per row of a binary ``(n, 28)`` matrix."""
    labels = _check_28(labels)
    return [[LABELS[j] for j in np.flatnonzero(row)] for row in labels]
