"""Per-label selection of external candidates for the rare labels.

One absolute confidence threshold over tweets (``p >= 0.7``) reaches the mid-frequency labels
and almost never the rare ones: the teacher is rarely that sure of grief or relief. The two
selectors here work per label instead:

- :func:`precision_thresholds` picks, for each label, the lowest teacher threshold whose
  precision on gold rows (GoEmotions dev) reaches a target, and estimates the precision that
  procedure achieves by two-fold cross-fitting on dev (thresholds chosen on one half, measured
  on the other), so the estimate is not the optimistic in-sample one.
- :func:`select_soft_mass` ranks corpus rows by the teacher's probability for each label under
  its target, rarest label first, and takes rows until the label's *soft mass* (the sum of its
  probabilities over the kept rows plus its gold count) reaches the target: the rows a
  distilled student then learns from with the teacher's probabilities as targets.

Both work on any label schema (the columns' names come from ``schema``; GoEmotions' for a
bare 28-column matrix). A NaN column (a label the teacher lacks, see
:func:`~emobalance.teachers.align_teacher`) never selects a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import LabelSchema
from ..metrics import schema_for

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
"""Candidate thresholds of :func:`precision_thresholds`."""


def _lowest_precise(
    y: np.ndarray, p: np.ndarray, target: float, grid: np.ndarray, min_support: int
) -> float | None:
    """The lowest threshold of ``grid`` whose precision on (y, p) reaches ``target``."""
    for t in grid:
        pred = p >= np.float32(t)  # at float32, as apply_thresholds compares
        k = int(pred.sum())
        if k < min_support:
            return None  # fewer predictions at every higher threshold too
        if float(y[pred].mean()) >= target:
            return float(t)
    return None


def precision_thresholds(
    labels: np.ndarray,
    proba: np.ndarray,
    *,
    target_precision: float = 0.6,
    min_threshold: float = 0.2,
    max_threshold: float = 0.95,
    min_support: int = 3,
    random_state: int = 0,
    schema: LabelSchema | None = None,
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """Per-label thresholds that reach ``target_precision`` on gold rows, with an estimate.

    Parameters
    ----------
    labels : ndarray of shape (n, L)
        Gold 0/1 labels of held-out rows (the dev split: never train, never test).
    proba : ndarray of shape (n, L)
        The teacher's probabilities for those rows (NaN: a label the teacher lacks).
    target_precision : float, default=0.6
    min_threshold, max_threshold : float
        The search range; a label whose precision never reaches the target within it (or
        that has fewer than ``min_support`` predicted rows) gets ``inf``: no candidates.
    min_support : int, default=3
        Fewest predicted rows a precision is computed from.
    random_state : int, default=0
        The split of the two halves of the precision estimate.
    schema : LabelSchema, optional
        Names the columns in ``info`` (default GoEmotions' for 28 columns).

    Returns
    -------
    thresholds : ndarray of shape (L,)
        Chosen on all rows (``inf`` where the target cannot be reached).
    info : dict
        Per label: ``threshold``, ``estimated_precision`` (two-fold cross-fitted: each half's
        threshold measured on the other half, predictions pooled; None when neither half
        gives one) and ``estimate_rows`` (the predictions it is computed from).

    Notes
    -----
    The estimate is for in-domain text. On another domain (tweets) the teacher's precision
    at the same threshold is usually lower; the estimate is an upper reference, not a
    guarantee.
    """
    y = np.asarray(labels).astype(bool)
    p = np.asarray(proba, dtype=np.float32)
    names = schema_for(p.shape[1], schema).names
    g = THRESHOLD_GRID
    grid = g[(g >= min_threshold) & (g <= max_threshold)]
    half = np.random.default_rng(random_state).permutation(len(y)) % 2 == 0
    th = np.full(len(names), np.inf, dtype=np.float64)
    info: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        t = _lowest_precise(y[:, j], p[:, j], target_precision, grid, min_support)
        if t is not None:
            th[j] = t
        hits = rows = 0
        for fit, measure in ((half, ~half), (~half, half)):
            tf = _lowest_precise(y[fit, j], p[fit, j], target_precision, grid, min_support)
            if tf is None:
                continue
            pred = p[measure, j] >= np.float32(tf)
            rows += int(pred.sum())
            hits += int(y[measure, j][pred].sum())
        info[name] = {
            "threshold": t,
            "estimated_precision": hits / rows if rows else None,
            "estimate_rows": rows,
        }
    return th, info


def select_soft_mass(
    proba: np.ndarray,
    counts: np.ndarray,
    targets: np.ndarray,
    *,
    exclude: Sequence[str] | None = None,
    min_proba: float = 0.05,
    max_rows: int | None = None,
    schema: LabelSchema | None = None,
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """Corpus rows whose teacher probabilities fill each label's deficit of soft mass.

    Labels are served rarest first (by ``counts``). For a label under its target, the rows not
    yet kept are ranked by the teacher's probability for it and taken while that probability
    is at least ``min_proba``, until the label's mass (``counts`` plus the summed
    probabilities of every kept row, whichever label they were kept for) reaches its target.

    Parameters
    ----------
    proba : ndarray of shape (n, L)
        Teacher probabilities of the corpus rows (NaN: a label the teacher lacks).
    counts : ndarray of shape (L,)
        Label counts of the labelled training rows.
    targets : ndarray of shape (L,)
        Per-label targets (e.g. :meth:`BalancePlanner.compute_targets`).
    exclude : sequence of str, optional
        Labels never filled; default the schema's neutral label (none where it has none).
    min_proba : float, default=0.05
        Rows below this probability of a label are never kept for it.
    max_rows : int, optional
        Stop after this many rows in all.
    schema : LabelSchema, optional
        The columns' labels (default GoEmotions' for 28 columns).

    Returns
    -------
    rows : ndarray of int64
        Indices of the kept rows, in the order they were kept.
    info : dict
        Per label: ``target``, ``mass_before``, ``mass_after``, ``rows`` (kept for it),
        ``mean_proba`` of its own probability over those rows, ``shortfall`` (target minus
        mass after, 0 when reached) and ``reached``.
    """
    p = np.asarray(proba, dtype=np.float64)
    schema = schema_for(p.shape[1], schema)
    unknown = np.isnan(p)
    if unknown.any():  # labels the teacher lacks: no mass, never a candidate
        p = np.where(unknown, 0.0, p)
    targets = np.asarray(targets, dtype=np.float64)
    mass = np.asarray(counts, dtype=np.float64).copy()
    before = mass.copy()
    kept = np.zeros(len(p), dtype=bool)
    order: list[np.ndarray] = []
    per_label: dict[int, tuple[int, float]] = {}
    if exclude is None:
        exclude = () if schema.neutral is None else (schema.neutral,)
    skip = set(schema.label_ids(list(exclude), "exclude", what="label", error=ConfigError))
    budget = max_rows if max_rows is not None else len(p)
    for j in np.argsort(before, kind="stable"):
        deficit = targets[j] - mass[j]
        if j in skip or deficit <= 0 or budget <= 0:
            continue
        cand = np.flatnonzero(~kept & ~unknown[:, j] & (p[:, j] >= min_proba))
        if cand.size == 0:
            per_label[j] = (0, 0.0)
            continue
        cand = cand[np.argsort(-p[cand, j], kind="stable")]
        need = int(np.searchsorted(np.cumsum(p[cand, j]), deficit) + 1)
        take = cand[: min(need, budget)]
        kept[take] = True
        order.append(take)
        budget -= len(take)
        mass += p[take].sum(axis=0)
        per_label[j] = (len(take), float(p[take, j].mean()))
    info = {}
    for j, name in enumerate(schema.names):
        rows, mean_p = per_label.get(j, (0, None))
        info[name] = {
            "target": float(targets[j]),
            "mass_before": float(before[j]),
            "mass_after": round(float(mass[j]), 2),
            "rows": rows,
            "mean_proba": mean_p,
            "shortfall": round(max(float(targets[j] - mass[j]), 0.0), 2) if j not in skip else 0.0,
            "reached": bool(mass[j] >= targets[j]) or j in skip,
        }
    rows_out = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    return rows_out.astype(np.int64), info
