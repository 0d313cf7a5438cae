"""Multi-label metrics over a schema's labels and its groupings, and threshold tuning.

Every function takes label matrices ``uint8[n, L]`` in a :class:`~emobalance.labels.LabelSchema`'s
order and probability matrices ``float[n, L]`` (``L = 28`` for GoEmotions, whose schema is the
default of :func:`evaluate` for 28 columns). A label is predicted when its probability is ``>=`` its
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

from .labels import GOEMOTIONS, LabelSchema

DEFAULT_GRID: np.ndarray = np.round(np.arange(0.02, 0.99, 0.01), 2)
"""Default threshold grid of :func:`tune_thresholds`: 0.02, 0.03, ..., 0.98."""

SUMMARY_KEYS: tuple[str, ...] = (
    "n", "exact_match", "hamming_loss",
    "micro_precision", "micro_recall", "micro_f1",
    "macro_precision", "macro_recall", "macro_f1",
    "weighted_precision", "weighted_recall", "weighted_f1",
    "samples_precision", "samples_recall", "samples_f1",
    "macro_auc", "micro_auc", "jaccard",
)  # fmt: skip
"""The scalar keys of :func:`evaluate` (also present in each grouping's nested dict).

``jaccard`` is the example-based Jaccard index of multi-label benchmarks (e.g. SemEval-2018
Task 1 E-c): the mean over texts of |gold ∩ predicted| / |gold ∪ predicted|, 1 for a text with
neither gold nor predicted labels. A single-label schema adds ``accuracy``."""

OBJECTIVES: tuple[str, ...] = ("f1", "micro_f1", "jaccard")
"""What :func:`tune_thresholds` can maximise: each label's own F1 (the default), the micro-F1
of all labels, or the example-based Jaccard index."""


def schema_for(n_cols: int, schema: LabelSchema | None = None) -> LabelSchema:
    """``schema``, or for bare matrices GoEmotions' (28 columns) or ``label_0 ...`` names."""
    if schema is not None:
        if len(schema) != n_cols:
            raise ValueError(f"{schema.name} has {len(schema)} labels, the matrix {n_cols}")
        return schema
    if n_cols == len(GOEMOTIONS):
        return GOEMOTIONS
    return LabelSchema([f"label_{j}" for j in range(n_cols)], name="unnamed")


# ---------------------------------------------------------------------------- validation
def _check_matrix(a: Any, name: str, n_cols: int | None = None) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or (n_cols is not None and arr.shape[1] != n_cols) or arr.shape[1] == 0:
        want = "k" if n_cols is None else n_cols
        raise ValueError(f"{name} must have shape (n, {want}), got {arr.shape}")
    return arr


def _check_binary(a: Any, name: str, n_cols: int | None = None) -> np.ndarray:
    arr = _check_matrix(a, name, n_cols)
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric 0/1 matrix, got dtype {arr.dtype}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        i, j = map(int, np.argwhere(~np.isin(arr, (0, 1)))[0])
        raise ValueError(f"{name} must hold only 0 and 1; row {i}, column {j} is {arr[i, j]}")
    return arr.astype(bool)


def _check_proba(a: Any, name: str = "proba", n_cols: int | None = None) -> np.ndarray:
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
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{na} has {a.shape[1]} labels but {nb} has {b.shape[1]}")


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
    proba : ndarray of shape (n, L)
        Probabilities.
    thresholds : float or array-like of shape (L,), default=0.5
        One threshold for every label, or one per label.

    Returns
    -------
    ndarray of shape (n, L), dtype uint8

    Raises
    ------
    ValueError
        If ``proba`` is not a matrix or the thresholds do not fit.
    """
    p = _check_matrix(proba, "proba")
    th = _thresholds_vector(thresholds, p.shape[1])
    return (p >= th[None, :]).astype(np.uint8)


def predict_single_label(proba: np.ndarray) -> np.ndarray:
    """Single-label predictions: the most probable label of each row, one-hot ``uint8``."""
    p = _check_matrix(proba, "proba")
    out = np.zeros(p.shape, dtype=np.uint8)
    if p.shape[0]:
        out[np.arange(p.shape[0]), np.argmax(p, axis=1)] = 1
    return out


def predict_labels(
    proba: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    single_label: bool = False,
) -> np.ndarray:
    """:func:`predict_single_label` for a single-label schema, else :func:`apply_thresholds`."""
    return predict_single_label(proba) if single_label else apply_thresholds(proba, thresholds)


def labels_without_positives(y_true: np.ndarray, schema: LabelSchema | None = None) -> list[str]:
    """The labels with no positive example in ``y_true`` (their thresholds cannot be tuned)."""
    y = _check_binary(y_true, "y_true")
    names = schema_for(y.shape[1], schema).names
    return [names[j] for j in np.flatnonzero(y.sum(axis=0) == 0)]


def tune_thresholds(
    y_true: np.ndarray,
    proba: np.ndarray,
    grid: Sequence[float] | np.ndarray | None = None,
    objective: str = "f1",
    default: float = 0.5,
) -> np.ndarray:
    """The thresholds on ``grid`` that maximise ``objective`` on the given data.

    ``objective="f1"`` (the default) tunes each label for its own F1. ``"micro_f1"`` and
    ``"jaccard"`` (the example-based Jaccard index) are measures over all labels at once:
    starting from the per-label F1 thresholds, each label's threshold in turn is moved to the
    grid value that maximises the measure with the others fixed (exact: only that label's
    predictions change), for up to 3 passes or until none moves. Per-label F1 thresholds are
    not the best ones for a per-text measure: they over-predict rare labels, which costs
    Jaccard on every text they wrongly tag.

    Tune on dev, never on test. A label with no positive example in ``y_true`` gets
    ``default`` (0.5; callers warn, naming it).
    Among thresholds reaching the same best F1 the one closest to 0.5 wins, and between two
    equally close the smaller, so the result is deterministic (a label whose best F1 is 0
    therefore also gets 0.5).

    Parameters
    ----------
    y_true : array-like of shape (n, L)
        Binary true labels.
    proba : array-like of shape (n, L)
        Predicted probabilities.
    grid : array-like of float, optional
        Candidate thresholds; default :data:`DEFAULT_GRID` (0.02, 0.03, ..., 0.98).
    objective : {"f1", "micro_f1", "jaccard"}, default="f1"
    default : float, default=0.5
        The threshold of a label with no positive example.

    Returns
    -------
    ndarray of shape (L,), dtype float32

    Notes
    -----
    Each label costs one sort plus one ``searchsorted`` of the grid, so 28 labels x 97
    thresholds x 5k rows take a few milliseconds. Comparisons are made at float32 threshold
    precision, exactly as :func:`apply_thresholds` makes them.
    """
    if objective not in OBJECTIVES:
        raise ValueError(
            f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}"
        )
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
    out = np.full(p.shape[1], default, dtype=np.float32)
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
    if objective != "f1" and n:
        out = _coordinate_ascent(y, p, out, g, pref, objective)
    return out


def _coordinate_ascent(
    y: np.ndarray,
    p: np.ndarray,
    start: np.ndarray,
    g: np.ndarray,
    pref: np.ndarray,
    objective: str,
    passes: int = 3,
) -> np.ndarray:
    """Improve ``start`` label by label for micro-F1 or example-based Jaccard (exact scores)."""
    th = start.copy()
    gq = g.astype(p.dtype)
    pred = p >= th[None, :].astype(p.dtype)
    yi = y.astype(np.int64)
    has_pos = y.any(axis=0)
    for _ in range(passes):
        moved = False
        for j in np.flatnonzero(has_pos):
            col = p[:, j]
            order = np.argsort(col, kind="stable")
            sorted_col = col[order]
            # rows predicted at grid value t: those with p >= t, a suffix of `order`
            first = np.searchsorted(sorted_col, gq, side="left")
            yj = yi[order, j]
            if objective == "micro_f1":
                rest_tp = int((y & pred).sum()) - int((y[:, j] & pred[:, j]).sum())
                rest_pred = int(pred.sum()) - int(pred[:, j].sum())
                n_true = int(y.sum())
                tp_suffix = np.concatenate([np.cumsum(yj[::-1])[::-1], [0]])
                tp = rest_tp + tp_suffix[first]
                npred = rest_pred + (len(col) - first)
                score = 2.0 * tp / np.maximum(npred + n_true, 1)
            else:
                # per row, intersection and union over the other labels
                others = np.ones(y.shape[1], dtype=bool)
                others[j] = False
                inter = (y[:, others] & pred[:, others]).sum(1)[order]
                union = (y[:, others] | pred[:, others]).sum(1)[order]
                # label j off: the union still holds j where gold has it; an empty one scores 1
                off_union = union + yj
                off = np.where(off_union == 0, 1.0, inter / np.maximum(off_union, 1))
                on = (inter + yj) / (union + 1)  # label j on: always in the union
                prefix_off = np.concatenate([[0.0], np.cumsum(off)])
                suffix_on = np.concatenate([np.cumsum(on[::-1])[::-1], [0.0]])
                score = (prefix_off[first] + suffix_on[first]) / len(col)
            best = score.max()
            cur = score[int(np.flatnonzero(g == th[j])[0])] if (g == th[j]).any() else -1.0
            if best > cur + 1e-12:
                th[j] = g[pref[np.flatnonzero(score[pref] == best)[0]]]
                pred[:, j] = col >= th[j].astype(p.dtype)
                moved = True
        if not moved:
            break
    return th


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


def jaccard_samples(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Example-based Jaccard index: mean over rows of |gold ∩ pred| / |gold ∪ pred|.

    A row with neither gold nor predicted labels scores 1 (the convention of SemEval-2018
    Task 1 E-c, where a tweet may have no emotion). 0.0 for no rows.

    >>> jaccard_samples([[1, 1, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 0]])
    0.75
    """
    yt, yp = _binary_pair(y_true, y_pred)
    if yt.shape[0] == 0:
        return 0.0
    inter = (yt & yp).sum(1)
    union = (yt | yp).sum(1)
    return float(np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean())


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
        "jaccard": jaccard_samples(y, pred),
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
            # labels with neither gold nor predicted rows: their F1 (0 above, scikit-learn's
            # zero_division) measures nothing, so they are named
            "f1_undefined": [
                name for j, name in enumerate(names) if support[j] == 0 and not pred[:, j].any()
            ],
        }
    )
    return out


def evaluate(
    y_true: np.ndarray,
    proba: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    groupings: Sequence[str] | None = None,
    schema: LabelSchema | None = None,
) -> dict[str, Any]:
    """Every metric of a probability matrix against the true labels.

    Parameters
    ----------
    y_true : array-like of shape (n, L)
        Binary true labels in the schema's order.
    proba : array-like of shape (n, L)
        Predicted probabilities.
    thresholds : float or array-like of shape (L,), default=0.5
        Decision thresholds (e.g. from :func:`tune_thresholds` on dev); unused for a
        single-label schema, whose prediction is the most probable label.
    groupings : sequence of str, optional
        Groupings of the schema to report as nested dicts (default: all of them; GoEmotions:
        ``ekman`` and ``sentiment``). Labels are collapsed with *any*, probabilities with
        *max*, and predictions are the *any*-collapse of the per-label predictions.
    schema : LabelSchema, optional
        The labels of the columns; default GoEmotions' for 28 columns, else ``label_0 ...``.

    Returns
    -------
    dict
        ``n``, ``exact_match`` (subset accuracy), ``hamming_loss``,
        ``{micro,macro,weighted,samples}_{precision,recall,f1}``, ``macro_auc`` (over the
        labels with both classes present; ``None`` if there is none), ``micro_auc``,
        ``auc_skipped`` (label names left out of ``macro_auc``), ``per_label``
        (``{name: {precision, recall, f1, support, auc}}``), ``per_label_f1``, and one nested
        dict with the same keys per grouping, ``jaccard`` (example-based), ``f1_undefined``
        (labels with neither gold nor predicted rows), and for a single-label schema
        ``accuracy``. Every value is a plain Python type (JSON-ready).

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
    schema = schema_for(y.shape[1], schema)
    if groupings is None:
        groupings = tuple(schema.groupings)
    if isinstance(groupings, str):
        groupings = (groupings,)
    for g in groupings:
        if g not in schema.groupings:
            known = sorted(schema.groupings)
            raise ValueError(f"unknown grouping {g!r} for {schema.name}; expected one of {known}")
    pred = predict_labels(p, thresholds, schema.single_label).astype(bool)
    out = _summary(y, p, pred, schema.names)
    if schema.single_label:
        # rows with a gold label; a row without one (allowed by the schema) cannot be right
        gold = y.any(axis=1)
        hit = (y & pred).any(axis=1)
        out["accuracy"] = float(hit[gold].mean()) if gold.any() else 0.0
    for g in groupings:
        names = schema.group_names(g)
        gy = schema.collapse_labels(y, g).astype(bool)
        gp = schema.collapse_probabilities(p, g)
        gpred = schema.collapse_labels(pred, g).astype(bool)
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
def rare_labels(
    counts: Mapping[str, int] | Sequence[int] | np.ndarray,
    k: int = 6,
    schema: LabelSchema | None = None,
) -> list[str]:
    """The ``k`` labels with the fewest examples, rarest first (ties in the schema's order).

    Parameters
    ----------
    counts : mapping of label name to count, or array-like of shape (L,)
        E.g. :meth:`EmotionDataset.label_counts` or ``labels.sum(0)``.
    k : int, default=6
    schema : LabelSchema, optional
        The labels; default GoEmotions' for 28 counts, a mapping's own keys in its order.
    """
    if isinstance(counts, Mapping):
        if schema is None:  # the mapping's own labels, in its order
            schema = LabelSchema(list(counts), name="counts")
        c = np.zeros(len(schema), dtype=np.int64)
        for name, count in counts.items():
            c[schema.label_id(name, "counts", what="label")] = count
    else:
        c = np.asarray(counts, dtype=np.int64)
        if c.ndim != 1:
            raise ValueError(f"counts must be 1-d, got shape {c.shape}")
        schema = schema_for(c.shape[0], schema)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    order = np.argsort(c, kind="stable")
    return [schema.names[j] for j in order[:k]]


def mean_f1(metrics: Mapping[str, Any], names: Sequence[str]) -> float:
    """Mean per-label F1 of ``names`` from an :func:`evaluate` result (e.g. the rare labels)."""
    per = metrics["per_label_f1"]
    missing = [n for n in names if n not in per]
    if missing:
        raise ValueError(f"labels not in the metrics: {missing}")
    return float(np.mean([per[n] for n in names])) if names else 0.0
