"""Views of a prediction: the model's labels, or a grouping of its schema (GoEmotions: Ekman's
6 + neutral, the 4 sentiment groups), and the top k of each.

A group's probability is the max of its members' and a group is predicted when any member is
predicted (at its own threshold; for a single-label schema, the most probable label): for
GoEmotions the very rule of the ``ekman`` and ``sentiment`` maps of
:class:`~emobalance.evaluation.label_maps.LabelMap` that cross-dataset evaluation uses.
:func:`prediction_records` gives what :meth:`EmotionModel.predict_records
<emobalance.models.base.EmotionModel.predict_records>`, ``emobalance predict --top-k/--view``
and the HTTP service's ``top_k``/``view`` return.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import LabelSchema

__all__ = [
    "check_top_k",
    "check_view",
    "prediction_records",
    "view_names",
    "view_scores",
]


def view_names(schema: LabelSchema) -> tuple[str, ...]:
    """The views a model of ``schema`` offers: ``labels`` and each of its groupings."""
    return ("labels", *schema.groupings)


def _or_list(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_view(view: Any, schema: LabelSchema | None = None) -> str:
    """``view`` (case ignored) if ``schema`` offers it (:func:`view_names`), else a one-line
    ConfigError. Without a schema (before a model is loaded) only its type is checked."""
    if isinstance(view, str) and view.strip():
        key = view.strip().lower()
        if schema is None:
            return key
        for name in view_names(schema):
            if name.lower() == key:
                return name
    shown = repr(view) if isinstance(view, str) else type(view).__name__
    offered = _or_list(view_names(schema)) if schema is not None else "a view name"
    raise ConfigError(f"view: expected {offered}, got {shown}")


def check_top_k(top_k: Any) -> int | None:
    """``top_k``: None (every label of the view) or an int >= 1."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        shown = top_k if isinstance(top_k, int | np.integer) else type(top_k).__name__
        raise ConfigError(f"top_k: expected an int >= 1, got {shown}")
    return int(top_k)


def _schema(proba: np.ndarray, schema: LabelSchema | None) -> LabelSchema:
    from ..metrics import schema_for

    return schema_for(proba.shape[1], schema)


def view_scores(
    proba: np.ndarray,
    thresholds: np.ndarray,
    view: str = "labels",
    schema: LabelSchema | None = None,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The names, scores ``float32[n, k]`` and predictions ``bool[n, k]`` of a view.

    ``labels``: the probabilities and the model's predictions (at ``thresholds``, or the
    most probable label for a single-label schema); a grouping: the max of the members'
    probabilities, and the OR of their predictions. ``schema`` defaults to GoEmotions' for
    28 columns.
    """
    from ..metrics import predict_labels

    proba = np.asarray(proba, dtype=np.float32)
    schema = _schema(proba, schema)
    view = check_view(view, schema)
    on = predict_labels(proba, np.asarray(thresholds, dtype=np.float32), schema.single_label)
    if view == "labels":
        return schema.names, proba, on.astype(bool)
    names = schema.group_names(view)
    scores = schema.collapse_probabilities(proba, view)
    return names, scores, schema.collapse_labels(on, view).astype(bool)


def prediction_records(
    proba: np.ndarray,
    thresholds: np.ndarray,
    *,
    top_k: int | None = None,
    view: str = "labels",
    schema: LabelSchema | None = None,
) -> list[dict[str, Any]]:
    """One dict per row of ``proba``: the prediction in ``view``.

    Parameters
    ----------
    proba : ndarray of shape (n, L)
    thresholds : ndarray of shape (L,)
    top_k : int, optional
        How many of the view's labels ``top`` lists (at most all of them); default all.
    view : str, default="labels"
        ``labels`` or a grouping of the schema (GoEmotions: ``ekman``, ``sentiment``).
    schema : LabelSchema, optional
        The model's labels (``model.labels_``); default GoEmotions' for 28 columns.

    Returns
    -------
    list of dict
        ``labels`` (the view's predicted names, in view order), ``top`` (``(name,
        probability)`` pairs, most probable first; ties in view order), ``probabilities``
        (``{name: probability}`` of the view, in view order), and per grouping of the
        schema, under its name, the group with the highest probability, whatever the view
        (GoEmotions: ``ekman`` and ``sentiment``; none for a schema without groupings).
    """
    k = check_top_k(top_k)
    proba = np.asarray(proba, dtype=np.float32)
    schema = _schema(proba, schema)
    names, scores, on = view_scores(proba, thresholds, view, schema)
    best = {
        g: (schema.group_names(g), schema.collapse_probabilities(proba, g).argmax(axis=1))
        for g in schema.groupings
    }
    order = np.argsort(-scores, axis=1, kind="stable")[:, : len(names) if k is None else k]
    return [
        {
            "labels": [names[j] for j in np.flatnonzero(on[i])],
            "top": [(names[j], float(scores[i, j])) for j in order[i]],
            "probabilities": {n: float(p) for n, p in zip(names, scores[i], strict=True)},
            **{g: group[int(ids[i])] for g, (group, ids) in best.items()},
        }
        for i in range(len(scores))
    ]
