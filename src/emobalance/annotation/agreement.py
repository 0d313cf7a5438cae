"""Agreement of the annotators: Fleiss' kappa (Fleiss 1971), per label (two categories:
chosen or not) and overall (the same binary kappa pooled over every ``(text, label)`` pair of
the labels that someone chose).

Fleiss' kappa needs the same number of raters per subject: when texts have different numbers of
annotators, only the texts with the modal number (the larger on a tie) are used, and the result
says how many.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DataError
from ..labels import GOEMOTIONS, LabelSchema
from .votes import _tally

__all__ = ["fleiss_kappa", "fleiss_kappa_table"]


def fleiss_kappa_table(counts: Any) -> float:
    """Fleiss' kappa of a subjects x categories table of rater counts (Fleiss 1971).

    Parameters
    ----------
    counts : array-like of shape (N, k)
        ``counts[i, j]`` = raters who put subject ``i`` in category ``j``; every row must sum
        to the same number of raters ``n >= 2``.

    Returns
    -------
    float
        ``(P_bar - P_e) / (1 - P_e)``; NaN when it is undefined (no subject, or every rating
        in one category so that ``P_e = 1``).

    Examples
    --------
    The example of the Wikipedia article (10 subjects, 14 raters, 5 categories):

    >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...          [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...          [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> round(fleiss_kappa_table(table), 3)
    0.21
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise DataError(f"counts must be a 2-D subjects x categories table, got shape {c.shape}")
    if c.size and (np.any(c < 0) or np.any(c != np.round(c))):
        raise DataError("counts must be non-negative whole numbers")
    if c.shape[0] == 0:
        return float("nan")
    n_per = c.sum(axis=1)
    n = n_per[0]
    if np.any(n_per != n):
        i = int(np.flatnonzero(n_per != n)[0])
        raise DataError(
            f"every subject needs the same number of raters: row 0 has {n:g}, row {i} "
            f"has {n_per[i]:g}"
        )
    if n < 2:
        raise DataError(f"Fleiss' kappa needs at least 2 raters per subject, got {n:g}")
    p_j = c.sum(axis=0) / (c.shape[0] * n)
    p_i = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_e = float((p_j * p_j).sum())
    if math.isclose(p_e, 1.0):
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def _none_if_nan(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def fleiss_kappa(votes: Any, schema: LabelSchema = GOEMOTIONS) -> dict[str, Any]:
    """Fleiss' kappa of the annotators, per label and overall.

    Per label, each text is a subject rated "chosen" or "not chosen" by its annotators.
    Overall, the same binary kappa pooled over every ``(text, label)`` pair, restricted to
    labels that at least one annotator chose (labels nobody chose carry no information and
    leave the per-label kappa undefined). Only texts with the modal number of annotators
    (the larger on a tie) are used, since Fleiss' kappa needs a fixed number of raters.

    ``schema`` names the labels voted on (the candidates' schema).

    Returns
    -------
    dict
        ``kappa`` (overall), ``kappa_per_label`` (label -> kappa; ``None`` where undefined),
        ``kappa_texts`` (texts used) and ``kappa_raters`` (annotators per text used). Kappas
        are ``None`` when undefined (fewer than 2 annotators per text, no text, or no
        variation at all).
    """
    ids, n_annot, pos, _ = _tally(votes, schema)
    empty = {
        "kappa": None,
        "kappa_per_label": dict.fromkeys(schema.names),
        "kappa_texts": 0,
        "kappa_raters": 0,
    }
    if not ids:
        return empty
    values, freq = np.unique(n_annot, return_counts=True)
    modal = int(values[freq == freq.max()].max())
    if modal < 2:
        return {**empty, "kappa_raters": modal}
    p = pos[n_annot == modal]
    per_label: dict[str, float | None] = {}
    for j, name in enumerate(schema.names):
        table = np.stack([modal - p[:, j], p[:, j]], axis=1)
        per_label[name] = _none_if_nan(fleiss_kappa_table(table))
    used = p[:, p.sum(axis=0) > 0].ravel()
    overall = (
        fleiss_kappa_table(np.stack([modal - used, used], axis=1)) if used.size else float("nan")
    )
    return {
        "kappa": _none_if_nan(overall),
        "kappa_per_label": per_label,
        "kappa_texts": int(p.shape[0]),
        "kappa_raters": modal,
    }


# ================================================================================ apply
