"""Scoring a model (GoEmotions' 28 labels or its own schema's) on an external dataset through
a label map from the model's labels to the dataset's (:mod:`.label_maps`).

Single-label datasets: the prediction of a row is the target with the highest mapped score
(:meth:`LabelMap.scores`); with ``abstain`` (e.g. ``neutral``) a row where no other target is
on at the model's thresholds is predicted as the abstain label. Multi-label datasets: the
targets on at the model's thresholds (:meth:`LabelMap.predict_matrix`).

Metrics are scikit-learn's (``zero_division=0``). Macro- and micro-F1 average over the targets
the dataset has (support > 0): a target the dataset never uses would add an F1 of 0 for every
model; a prediction of such a target still costs the true label its recall. Gold labels the map
does not cover are counted (``gold_outside_map``, ``gold_unmapped``), never scored, never an
error; a row left with no covered gold label is skipped (``n_skipped``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import schema_of
from ..log import get_logger
from .datasets import ExternalDataset, load_external
from .label_maps import LabelMap, get_label_map

log = get_logger(__name__)

__all__ = ["evaluate_external", "plot_confusion"]


def _model(model: Any) -> Any:
    if isinstance(model, str | os.PathLike):
        from ..models.registry import load_model

        return load_model(model)
    return model


def _classes(lm: LabelMap, abstain: str | None) -> list[str]:
    classes = list(lm.labels)
    if abstain is not None:
        if not isinstance(abstain, str) or not abstain.strip():
            raise ConfigError("abstain: expected a label name")
        if abstain.strip().casefold() in {t.casefold() for t in lm.unmapped}:
            raise ConfigError(f"abstain: {abstain!r} is an unmapped target of {lm.name}")
        if abstain.strip().casefold() not in {c.casefold() for c in classes}:
            classes.append(abstain.strip())
    return classes


def _predictions(
    lm: LabelMap,
    proba: np.ndarray,
    thresholds: Any,
    classes: list[str],
    abstain: str | None,
    multi_label: bool,
) -> np.ndarray:
    """Single-label: class indices ``(n,)``; multi-label: a 0/1 matrix ``(n, len(classes))``."""
    fired = lm.predict_matrix(proba, thresholds)
    k = len(lm.labels)
    a = None
    if abstain is not None:
        a = [c.casefold() for c in classes].index(abstain.strip().casefold())
        others = [j for j in range(k) if j != a]
        none_on = fired[:, others].max(axis=1) == 0 if others else np.ones(len(proba), bool)
    if multi_label:
        out = np.zeros((len(proba), len(classes)), dtype=np.uint8)
        out[:, :k] = fired
        if a is not None:
            out[:, a] |= none_on.astype(np.uint8)
        return out
    idx = lm.scores(proba).argmax(axis=1)
    if a is not None:
        idx = np.where(none_on, a, idx)
    return idx


def evaluate_external(
    model: Any,
    dataset: str | os.PathLike[str] | ExternalDataset,
    label_map: str | os.PathLike[str] | LabelMap,
    *,
    abstain: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    multi_label: bool = False,
    label_sep: str = ",",
) -> dict[str, Any]:
    """Score a model on an external dataset through a label map from its labels.

    Parameters
    ----------
    model : path or model
        A saved model (any kind, loaded by :func:`emobalance.load_model`) or an object with
        ``predict_proba`` and ``thresholds_``, of any label schema (its ``labels_``;
        GoEmotions' for a model without one).
    dataset : path, ``"sentiment140_polarity_guard"`` or ExternalDataset
        A file is read with ``text_column``, ``label_column``, ``multi_label`` and
        ``label_sep`` (see :func:`~emobalance.evaluation.datasets.read_external`).
    label_map : str, path or LabelMap
        A built-in map (``ekman``, ``ekman6``, ``sentiment``, ``polarity``, ``plutchik``: for
        GoEmotions models), a YAML file of ``target: [model labels]`` (resolved against the
        model's schema), or a :class:`LabelMap` whose source is the model's schema. A map of
        other labels than the model's is a one-line ConfigError naming both schemas.
    abstain : str, optional
        A label predicted where no other target is on at the model's thresholds (e.g.
        ``neutral`` for a map without it).

    Returns
    -------
    dict
        ``dataset``, ``label_map``, ``mode`` (``single_label`` / ``multi_label``),
        ``abstain``, ``n_rows``, ``n_scored``, ``n_skipped``, ``labels`` (the predicted
        classes), ``scored_labels`` (those with support, averaged over), ``unmapped_targets``,
        ``macro_f1`` and ``accuracy`` (single-label) or ``micro_f1`` (multi-label), ``per_target``
        (precision, recall, f1, support; tp/fp/fn/tn for multi-label), ``confusion_matrix``
        (``labels`` and ``matrix``: rows gold, columns predicted; multi-label: rows with gold
        i and prediction j), ``gold_outside_map`` and ``gold_unmapped`` (label -> count). The
        metrics are None when no row has a covered gold label.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    clf = _model(model)
    lm = get_label_map(label_map, schema_of(clf))
    ds = load_external(dataset, text_column=text_column, label_column=label_column,
                       multi_label=multi_label, label_sep=label_sep)  # fmt: skip
    classes = _classes(lm, abstain)
    lookup = {c.casefold(): i for i, c in enumerate(classes)}
    unmapped = {t.casefold(): t for t in lm.unmapped}
    outside: Counter[str] = Counter()
    gold_unmapped: Counter[str] = Counter()
    rows: list[int] = []
    gold: list[list[int]] = []
    for i, labels in enumerate(ds.labels):
        covered = []
        for lab in labels:
            key = lab.casefold()
            if key in lookup:
                covered.append(lookup[key])
            elif key in unmapped:
                gold_unmapped[unmapped[key]] += 1
            else:
                outside[lab] += 1
        if covered or (ds.multi_label and not labels):  # a multi-label row may have none
            rows.append(i)
            gold.append(sorted(set(covered)))
    result: dict[str, Any] = {
        "dataset": ds.name, "label_map": lm.name,
        "mode": "multi_label" if ds.multi_label else "single_label",
        "abstain": abstain, "n_rows": len(ds), "n_scored": len(rows),
        "n_skipped": len(ds) - len(rows), "labels": classes, "scored_labels": [],
        "unmapped_targets": list(lm.unmapped), "macro_f1": None,
        ("micro_f1" if ds.multi_label else "accuracy"): None, "per_target": {},
        "confusion_matrix": {"labels": classes, "matrix": []},
        "gold_outside_map": dict(outside.most_common()),
        "gold_unmapped": dict(gold_unmapped.most_common()),
    }  # fmt: skip
    if outside:
        log.info(f"{ds.name}: {sum(outside.values()):,} gold labels outside the map "
                 f"{lm.name} ({', '.join(list(outside)[:5])}...)")  # fmt: skip
    if not rows:
        log.warning(f"{ds.name}: no row has a gold label that the map {lm.name} covers")
        return result
    proba = np.asarray(clf.predict_proba([ds.texts[i] for i in rows]))
    thresholds = getattr(clf, "thresholds_", 0.5)
    pred = _predictions(lm, proba, thresholds, classes, abstain, ds.multi_label)
    ids = list(range(len(classes)))
    if ds.multi_label:
        y = np.zeros((len(rows), len(classes)), dtype=np.uint8)
        for r, g in enumerate(gold):
            y[r, g] = 1
        present = [j for j in ids if y[:, j].any()]
        p, r_, f, s = precision_recall_fscore_support(y, pred, average=None, zero_division=0)
        mcm = multilabel_confusion_matrix(y, pred)
        result["per_target"] = {
            c: {"precision": float(p[j]), "recall": float(r_[j]), "f1": float(f[j]),
                "support": int(s[j]), "tp": int(mcm[j, 1, 1]), "fp": int(mcm[j, 0, 1]),
                "fn": int(mcm[j, 1, 0]), "tn": int(mcm[j, 0, 0])}
            for j, c in enumerate(classes)
        }  # fmt: skip
        matrix = y.T.astype(np.int64) @ pred.astype(np.int64)
        if present:
            yp, pp = y[:, present], pred[:, present]
            result["macro_f1"] = float(f1_score(yp, pp, average="macro", zero_division=0))
            result["micro_f1"] = float(f1_score(yp, pp, average="micro", zero_division=0))
    else:
        y1 = np.array([g[0] for g in gold])
        present = [j for j in ids if (y1 == j).any()]
        p, r_, f, s = precision_recall_fscore_support(
            y1, pred, labels=ids, average=None, zero_division=0
        )
        result["per_target"] = {
            c: {"precision": float(p[j]), "recall": float(r_[j]), "f1": float(f[j]),
                "support": int(s[j])}
            for j, c in enumerate(classes)
        }  # fmt: skip
        matrix = confusion_matrix(y1, pred, labels=ids)
        result["macro_f1"] = float(
            f1_score(y1, pred, labels=present, average="macro", zero_division=0)
        )
        result["accuracy"] = float(accuracy_score(y1, pred))
    result["scored_labels"] = [classes[j] for j in present]
    result["confusion_matrix"]["matrix"] = matrix.astype(int).tolist()
    return result


def plot_confusion(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """The confusion matrix of an :func:`evaluate_external` result as a PNG (written
    atomically); rows gold, columns predicted, each cell its count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    cm = result["confusion_matrix"]
    labels, m = cm["labels"], np.asarray(cm["matrix"] or np.zeros((0, 0)), dtype=np.int64)
    side = max(3.0, 0.6 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(side + 1.5, side + 0.5))
    ax.imshow(m if m.size else np.zeros((len(labels), len(labels))), cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    top = m.max() if m.size else 0
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if top and v > top / 2 else "black", fontsize=8)  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    f1 = result.get("macro_f1")
    ax.set_title(
        f"{Path(result['dataset']).name}\nvia {Path(result['label_map']).name}"
        + (f", macro-F1 {f1:.3f}" if f1 is not None else ""),
        fontsize=9,
    )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
