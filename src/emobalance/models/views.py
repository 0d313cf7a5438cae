"""Views of a prediction: the 28 labels, Ekman's 6 + neutral, or the 4 sentiment groups, and
the top k of each.

A group's probability is the max of its members' and a group is predicted when any member
reaches its own threshold: the ``ekman`` and ``sentiment`` maps of
:class:`~emobalance.evaluation.label_maps.LabelMap` (``scores`` and ``predict_matrix``), the
very rule cross-dataset evaluation uses. :func:`prediction_records` gives what
:meth:`EmotionModel.predict_records <emobalance.models.base.EmotionModel.predict_records>`,
``emobalance predict --top-k/--view`` and the HTTP service's ``top_k``/``view`` return.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import EKMAN_LABELS, LABELS, SENTIMENT_LABELS, collapse_probabilities

__all__ = ["VIEWS", "check_top_k", "check_view", "prediction_records", "view_scores"]

VIEWS = ("labels", "ekman", "sentiment")


def check_view(view: Any) -> str:
    """``view`` if it is one of :data:`VIEWS` (case ignored), else a one-line ConfigError."""
    if isinstance(view, str) and view.strip().lower() in VIEWS:
        return view.strip().lower()
    shown = repr(view) if isinstance(view, str) else type(view).__name__
    raise ConfigError(f"view: expected labels, ekman or sentiment, got {shown}")


def check_top_k(top_k: Any) -> int | None:
    """``top_k``: None (every label of the view) or an int >= 1."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        shown = top_k if isinstance(top_k, int | np.integer) else type(top_k).__name__
        raise ConfigError(f"top_k: expected an int >= 1, got {shown}")
    return int(top_k)


def view_scores(
    proba: np.ndarray, thresholds: np.ndarray, view: str = "labels"
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The names, scores ``float32[n, k]`` and predictions ``bool[n, k]`` of a view.

    ``labels``: the 28 probabilities at ``thresholds``; ``ekman`` / ``sentiment``: the
    LabelMap of that name (max of the members' probabilities; OR of their predictions).
    """
    view = check_view(view)
    proba = np.asarray(proba, dtype=np.float32)
    if view == "labels":
        return LABELS, proba, proba >= np.asarray(thresholds, dtype=np.float32)
    from ..evaluation.label_maps import get_label_map

    m = get_label_map(view)
    return m.labels, m.scores(proba), m.predict_matrix(proba, thresholds).astype(bool)


def prediction_records(
    proba: np.ndarray,
    thresholds: np.ndarray,
    *,
    top_k: int | None = None,
    view: str = "labels",
) -> list[dict[str, Any]]:
    """One dict per row of ``proba``: the prediction in ``view``.

    Parameters
    ----------
    proba : ndarray of shape (n, 28)
    thresholds : ndarray of shape (28,)
    top_k : int, optional
        How many of the view's labels ``top`` lists (at most all of them); default all.
    view : {"labels", "ekman", "sentiment"}, default="labels"

    Returns
    -------
    list of dict
        ``labels`` (the view's predicted names, in view order), ``top`` (``(name,
        probability)`` pairs, most probable first; ties in view order), ``probabilities``
        (``{name: probability}`` of the view, in view order), ``ekman`` and ``sentiment``
        (the group with the highest probability, whatever the view).
    """
    k = check_top_k(top_k)
    names, scores, on = view_scores(proba, thresholds, view)
    proba = np.asarray(proba, dtype=np.float32)
    ekman = collapse_probabilities(proba, "ekman").argmax(axis=1)
    sentiment = collapse_probabilities(proba, "sentiment").argmax(axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, : len(names) if k is None else k]
    return [
        {
            "labels": [names[j] for j in np.flatnonzero(on[i])],
            "top": [(names[j], float(scores[i, j])) for j in order[i]],
            "probabilities": {n: float(p) for n, p in zip(names, scores[i], strict=True)},
            "ekman": EKMAN_LABELS[int(ekman[i])],
            "sentiment": SENTIMENT_LABELS[int(sentiment[i])],
        }
        for i in range(len(scores))
    ]
