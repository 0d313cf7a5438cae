"""Multi-label metrics over the 28 labels and their groupings, and per-label threshold tuning.

Every function takes label matrices ``uint8[n, 28]`` in :data:`emobalance.LABELS` order and
probability matrices ``float[n, 28]``. A label is predicted when its probability is ``>=`` its
threshold (:func:`apply_thresholds`); :func:`tune_thresholds` uses the very same comparison, so
the F1 it maximises is the F1 :func:`evaluate` reports on the same data.

Precision, recall and F1 are scikit-learn's ``precision_recall_fscore_support`` with
``zero_division=0``: a ratio whose denominator is zero counts as 0 (a label with neither true
nor predicted positives has F1 0 and still counts in the macro average). Inner loops (threshold
tuning, early stopping, bootstrap resamples) use :func:`f1_per_label` / :func:`macro_f1`, a
plain numpy F1 that gives the very same numbers without sklearn's input checks.

ROC AUC is undefined for a label with no positives or no negatives in ``y_true``: such labels
are left out of ``macro_auc`` and listed in ``auc_skipped``; their per-label ``auc`` is
``None``.

Examples
--------
>>> from emobalance.metrics import evaluate, tune_thresholds
>>> th = tune_thresholds(dev.labels, dev_proba)  # doctest: +SKIP
>>> m = evaluate(test.labels, test_proba, th)  # doctest: +SKIP
>>> m["macro_f1"], m["ekman"]["macro_f1"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from .labels import (
    GROUPINGS,
    LABELS,
    NUM_LABELS,
    collapse_labels,
    collapse_probabilities,
    label_id,
)

DEFAULT_GRID: np.ndarray = np.round(np.arange(0.02, 0.99, 0.01), 2)
"""Default threshold grid of :func:`tune_thresholds`: 0.02, 0.03, ..., 0.98."""

SUMMARY_KEYS: tuple[str, ...] = (
    "n", "exact_match", "hamming_loss",
    "micro_precision", "micro_recall", "micro_f1",
    "macro_precision", "macro_recall", "macro_f1",
    "weighted_precision", "weighted_recall", "weighted_f1",
    "samples_precision", "samples_recall", "samples_f1",
    "macro_auc", "micro_auc",
)  # fmt: skip
"""The scalar keys of :func:`evaluate` (also present in each grouping's nested dict)."""


# ---------------------------------------------------------------------------- validation
def _check_matrix(a: Any, name: str, n_cols: int = NUM_LABELS) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.shape[1] != n_cols:
        raise ValueError(f"{name} must have shape (n, {n_cols}), got {arr.shape}")
    return arr


def _check_binary(a: Any, name: str, n_cols: int = NUM_LABELS) -> np.ndarray:
    arr = _check_matrix(a, name, n_cols)
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric 0/1 matrix, got dtype {arr.dtype}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        i, j = map(int, np.argwhere(~np.isin(arr, (0, 1)))[0])
        raise ValueError(f"{name} must hold only 0 and 1; row {i}, column {j} is {arr[i, j]}")
    return arr.astype(bool)


def _check_proba(a: Any, name: str = "proba", n_cols: int = NUM_LABELS) -> np.ndarray:
    arr = _check_matrix(a, name, n_cols)
    if not np.issubdtype(arr.dtype, np.floating):
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        i, j = map(int, np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; row {i}, column {j} is {arr[i, j]}")
    return arr


def _check_same_rows(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{na} has {a.shape[0]} rows but {nb} has {b.shape[0]}")


def _thresholds_vector(thresholds: float | Sequence[float] | np.ndarray, n_cols: int) -> np.ndarray:
    th = np.asarray(thresholds, dtype=np.float32)
    if th.ndim == 0:
        th = np.full(n_cols, th, dtype=np.float32)
    if th.shape != (n_cols,):
        raise ValueError(f"thresholds must be a scalar or of shape ({n_cols},), got {th.shape}")
    if not np.isfinite(th).all():
        raise ValueError("thresholds must be finite")
    return th


# ---------------------------------------------------------------------------- thresholds
def apply_thresholds(
    proba: np.ndarray, thresholds: float | Sequence[float] | np.ndarray = 0.5
) -> np.ndarray:
    """Binary predictions: label ``j`` is on where ``proba[:, j] >= thresholds[j]``.

    Parameters
    ----------
    proba : ndarray of shape (n, 28)
        Probabilities.
    thresholds : float or array-like of shape (28,), default=0.5
        One threshold for every label, or one per label.

    Returns
    -------
    ndarray of shape (n, 28), dtype uint8

    Raises
    ------
    ValueError
        If ``proba`` is not ``(n, 28)`` or the thresholds do not fit.
    """
    p = _check_matrix(proba, "proba")
    th = _thresholds_vector(thresholds, p.shape[1])
    return (p >= th[None, :]).astype(np.uint8)


def tune_thresholds(
    y_true: np.ndarray,
    proba: np.ndarray,
    grid: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Per label, the threshold on ``grid`` that maximises that label's F1 on the given data.

    Tune on dev, never on test. A label with no positive example in ``y_true`` gets 0.5.
    Among thresholds reaching the same best F1 the one closest to 0.5 wins, and between two
    equally close the smaller, so the result is deterministic (a label whose best F1 is 0
    therefore also gets 0.5).

    Parameters
    ----------
    y_true : array-like of shape (n, 28)
        Binary true labels.
    proba : array-like of shape (n, 28)
        Predicted probabilities.
    grid : array-like of float, optional
        Candidate thresholds; default :data:`DEFAULT_GRID` (0.02, 0.03, ..., 0.98).

    Returns
    -------
    ndarray of shape (28,), dtype float32

    Notes
    -----
    Each label costs one sort plus one ``searchsorted`` of the grid, so 28 labels x 97
    thresholds x 5k rows take a few milliseconds. Comparisons are made at float32 threshold
    precision, exactly as :func:`apply_thresholds` makes them.
    """
    y = _check_binary(y_true, "y_true")
    p = _check_proba(proba)
    _check_same_rows(y, p, "y_true", "proba")
    g = np.unique(np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float32))
    if g.ndim != 1 or g.size == 0 or not np.isfinite(g).all():
        raise ValueError("grid must be a non-empty 1-d sequence of finite thresholds")
    # preference order among ties: closest to 0.5, then smallest
    dist = np.round(np.abs(g.astype(np.float64) - 0.5), 6)
    pref = np.lexsort((g, dist))  # indices of g, most preferred first
    gq = g.astype(p.dtype)
    n = p.shape[0]
    out = np.full(p.shape[1], 0.5, dtype=np.float32)
    for j in range(p.shape[1]):
        pos = y[:, j]
        n_pos = int(pos.sum())
        if n_pos == 0:
            continue
        col = p[:, j]
        all_sorted = np.sort(col)
        pos_sorted = np.sort(col[pos])
        pred_pos = n - np.searchsorted(all_sorted, gq, side="left")  # count of p >= t
        tp = n_pos - np.searchsorted(pos_sorted, gq, side="left")
        f1 = 2.0 * tp / (pred_pos + n_pos)  # n_pos > 0, so no zero denominator
        best = f1.max()
        out[j] = g[pref[np.flatnonzero(f1[pref] == best)[0]]]
    return out


# ---------------------------------------------------------------------------- fast F1
def _div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _binary_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true, dtype=bool)
    yp = np.asarray(y_pred, dtype=bool)
    if yt.ndim != 2 or yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} must be equal 2-d shapes")
    return yt, yp


def f1_per_label(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-column F1 of binary matrices, ``2 tp / (2 tp + fp + fn)`` (0 where undefined).

    The one F1 for inner loops (threshold tuning, early stopping, bootstrap resamples): no
    validation beyond shapes, no sklearn overhead, and the very numbers :func:`evaluate`
    reports (scikit-learn's ``f1_score(average=None, zero_division=0)``, to the last bit).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n, k)
        Binary matrices (nonzero counts as 1; any number of columns ``k``).

    Returns
    -------
    ndarray of shape (k,), dtype float64
    """
    yt, yp = _binary_pair(y_true, y_pred)
    tp = (yt & yp).sum(0)
    return _div(2 * tp, yt.sum(0) + yp.sum(0))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 of binary matrices (zero_division=0, every column counts)."""
    return float(f1_per_label(y_true, y_pred).mean())


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Micro-averaged F1 of binary matrices (zero_division=0)."""
    yt, yp = _binary_pair(y_true, y_pred)
    return float(_div(2 * int((yt & yp).sum()), yt.sum() + yp.sum()))


def per_label_prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column precision, recall, F1 (zero_division=0) and support.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n, k)
        Binary matrices (any number of columns ``k``).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (float64[k]) and ``support`` (int64[k]).
    """
    yt, yp = _binary_pair(y_true, y_pred)
    if yt.shape[1] == 1:  # scikit-learn reads one column as binary classes 0 and 1
        yt, yp, labels = yt[:, 0], yp[:, 0], [1]
    else:
        labels = None
    precision, recall, f1, support = precision_recall_fscore_support(
        yt, yp, average=None, labels=labels, zero_division=0
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


# ---------------------------------------------------------------------------- evaluate
def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y.astype(np.int8), p))


def _summary(
    y: np.ndarray, proba: np.ndarray, pred: np.ndarray, names: Sequence[str]
) -> dict[str, Any]:
    """All metrics of binary ``y``/``pred`` (bool) and ``proba`` whose columns are ``names``."""
    n = y.shape[0]
    per = per_label_prf(y, pred)
    precision, recall, f1, support = per["precision"], per["recall"], per["f1"], per["support"]
    avg = {
        average: precision_recall_fscore_support(y, pred, average=average, zero_division=0)[:3]
        for average in ("micro", "macro", "weighted", "samples")
    }

    aucs: list[float | None] = []
    skipped: list[str] = []
    for j, name in enumerate(names):
        if 0 < support[j] < n:
            aucs.append(_auc(y[:, j], proba[:, j]))
        else:
            aucs.append(None)
            skipped.append(name)
    kept = [a for a in aucs if a is not None]
    flat = y.ravel()
    n_flat_pos = int(flat.sum())
    micro_auc = _auc(flat, proba.ravel()) if 0 < n_flat_pos < flat.size else None

    out: dict[str, Any] = {
        "n": int(n),
        "exact_match": float((y == pred).all(1).mean()),
        "hamming_loss": float((y != pred).mean()),
    }
    for average, values in avg.items():
        for metric, value in zip(("precision", "recall", "f1"), values, strict=True):
            out[f"{average}_{metric}"] = float(value)
    out.update(
        {
            "macro_auc": float(np.mean(kept)) if kept else None,
            "micro_auc": micro_auc,
            "auc_skipped": skipped,
            "per_label": {
                name: {
                    "precision": float(precision[j]),
                    "recall": float(recall[j]),
                    "f1": float(f1[j]),
                    "support": int(support[j]),
                    "auc": aucs[j],
                }
                for j, name in enumerate(names)
            },
            "per_label_f1": {name: float(f1[j]) for j, name in enumerate(names)},
        }
    )
    return out


def evaluate(
    y_true: np.ndarray,
    proba: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    groupings: Sequence[str] = ("ekman", "sentiment"),
) -> dict[str, Any]:
    """Every metric of a probability matrix against the true labels.

    Parameters
    ----------
    y_true : array-like of shape (n, 28)
        Binary true labels in :data:`LABELS` order.
    proba : array-like of shape (n, 28)
        Predicted probabilities.
    thresholds : float or array-like of shape (28,), default=0.5
        Decision thresholds (e.g. from :func:`tune_thresholds` on dev).
    groupings : sequence of {"ekman", "sentiment"}, default=("ekman", "sentiment")
        Groupings to report as nested dicts. Labels are collapsed with *any*, probabilities
        with *max*, and predictions are the *any*-collapse of the 28-label predictions.

    Returns
    -------
    dict
        ``n``, ``exact_match`` (subset accuracy), ``hamming_loss``,
        ``{micro,macro,weighted,samples}_{precision,recall,f1}``, ``macro_auc`` (over the
        labels with both classes present; ``None`` if there is none), ``micro_auc``,
        ``auc_skipped`` (label names left out of ``macro_auc``), ``per_label``
        (``{name: {precision, recall, f1, support, auc}}``), ``per_label_f1``, and one nested
        dict with the same keys per grouping. Every value is a plain Python type (JSON-ready).

    Raises
    ------
    ValueError
        If shapes disagree, ``y_true`` is not 0/1, ``proba`` is not finite, there are no rows,
        or a grouping is unknown.
    """
    y = _check_binary(y_true, "y_true")
    p = _check_proba(proba)
    _check_same_rows(y, p, "y_true", "proba")
    if y.shape[0] == 0:
        raise ValueError("cannot evaluate zero rows")
    if isinstance(groupings, str):
        groupings = (groupings,)
    for g in groupings:
        if g not in GROUPINGS:
            raise ValueError(f"unknown grouping {g!r}; expected one of {sorted(GROUPINGS)}")
    pred = apply_thresholds(p, thresholds).astype(bool)
    out = _summary(y, p, pred, LABELS)
    for g in groupings:
        names = tuple(GROUPINGS[g])
        gy = collapse_labels(y, g).astype(bool)
        gp = collapse_probabilities(p, g)
        gpred = collapse_labels(pred, g).astype(bool)
        out[g] = _summary(gy, gp, gpred, names)
    return out


# ---------------------------------------------------------------------------- calibration
def expected_calibration_error(y_true: Any, proba: Any, n_bins: int = 15) -> float:
    """Expected calibration error of multi-label probabilities, over all label-row pairs.

    Every (row, label) pair is one binary prediction: the ``n * L`` probabilities go into
    ``n_bins`` equal-width bins of [0, 1] (bin ``k`` holds ``k/B <= p < (k+1)/B``, the last
    one includes 1), and

        ECE = sum over non-empty bins of (pairs in the bin / all pairs)
              * |share of positives in the bin - mean probability in the bin|

    so 0 is perfect calibration. Pooling the labels (rather than averaging 28 per-label
    ECEs) weighs each prediction once, as the reliability diagram of all of them shows it;
    the many confident negatives of a multi-label set make it small in absolute terms, so
    compare ECEs of one dataset only.

    Parameters
    ----------
    y_true : array-like of shape (n, L)
        Binary labels (any number of labels ``L``).
    proba : array-like of shape (n, L)
        Probabilities in [0, 1].
    n_bins : int, default=15

    Returns
    -------
    float
        0.0 for no pairs.

    Examples
    --------
    >>> round(expected_calibration_error([[1, 0]], [[0.9, 0.3]], n_bins=10), 6)
    0.2

    (two bins of one pair each: ``(|1 - 0.9| + |0 - 0.3|) / 2``)
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"y_true and proba must have the same shape, got {y.shape} and {p.shape}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    y, p = y.ravel(), p.ravel()
    if p.size == 0:
        return 0.0
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("proba must hold probabilities in [0, 1]")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    # per bin: count * |mean(y) - mean(p)| = |sum(y) - sum(p)| (0 for an empty bin)
    gap = np.abs(np.bincount(bins, y, n_bins) - np.bincount(bins, p, n_bins))
    return float(gap.sum() / p.size)


# ---------------------------------------------------------------------------- helpers
def rare_labels(counts: Mapping[str, int] | Sequence[int] | np.ndarray, k: int = 6) -> list[str]:
    """The ``k`` labels with the fewest examples, rarest first (ties in :data:`LABELS` order).

    Parameters
    ----------
    counts : mapping of label name to count, or array-like of shape (28,)
        E.g. :meth:`EmotionDataset.label_counts` or ``labels.sum(0)``.
    k : int, default=6
    """
    if isinstance(counts, Mapping):
        c = np.zeros(NUM_LABELS, dtype=np.int64)
        for name, count in counts.items():
            c[label_id(name, "counts", what="label")] = count
    else:
        c = np.asarray(counts, dtype=np.int64)
        if c.shape != (NUM_LABELS,):
            raise ValueError(f"counts must have shape ({NUM_LABELS},), got {c.shape}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    order = np.argsort(c, kind="stable")
    return [LABELS[j] for j in order[:k]]


def mean_f1(metrics: Mapping[str, Any], names: Sequence[str]) -> float:
    """Mean per-label F1 of ``names`` from an :func:`evaluate` result (e.g. the rare labels)."""
    per = metrics["per_label_f1"]
    missing = [n for n in names if n not in per]
    if missing:
        raise ValueError(f"labels not in the metrics: {missing}")
    return float(np.mean([per[n] for n in names])) if names else 0.0
