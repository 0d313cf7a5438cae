"""Per-label Platt scaling of a model's probabilities, fitted on dev.

Why Platt scaling (``p' = sigmoid(a * logit(p) + b)``, one ``(a, b)`` per label) rather than
temperature scaling (``p' = sigmoid(logit(p) / T)``): the models here are trained with losses
that shift their probabilities away from the label frequencies on purpose (``pos_weight``,
focal and asymmetric losses, class weights, threshold-free distillation targets), so a
label's probabilities are off by an offset as much as by a scale. A temperature keeps
``p = 0.5`` fixed and cannot move an offset; Platt's intercept ``b`` can. Both are monotone
per label (``a > 0`` is enforced), so rankings, ROC AUC and the labels a threshold can
separate stay as they were; isotonic regression would fit dev more closely but, with the
few dev positives of rare labels (grief has 13), overfit and produce ties.

The fit is Platt's (1999): a logistic regression of the label on the model's logit, with
his smoothed targets ``(N+ + 1) / (N+ + 2)`` for positives and ``1 / (N- + 2)`` for
negatives, which keep the fit finite on separable data; it is solved by Newton's method for
all the model's labels at once (two parameters each), in float64. A label with no positive or no
negative row on dev, one score for every dev row, or a fitted slope that is not positive (its
scores carry no ranking on dev), keeps the identity ``(1, 0)`` and is listed in ``identity``
(its probabilities are passed through unchanged, to the bit).

A fitted calibration is stored beside the model as ``calibration.json`` (inside the ONNX
metadata for an ``.onnx`` file), checked at load by
:func:`emobalance.models.schema.parse_calibration`, and applied by
:meth:`~emobalance.models.base.EmotionModel.predict_proba` to every piece's probabilities.
This module imports only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..labels import GOEMOTIONS, LabelSchema
from .schema import CALIBRATION_FORMAT, CALIBRATION_VERSION, parse_calibration, read_json

__all__ = ["CALIBRATION_FILE", "PlattCalibration", "read_calibration"]

CALIBRATION_FILE = "calibration.json"
_MAX_PARAM = 1e3  # fitted slopes are about 0.3-3: beyond this the fit is degenerate
_EPS = 1e-7  # logit of probabilities clipped to [eps, 1 - eps]: float32 sigmoids reach 0 and 1


def _logit(proba: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _loss(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    # per-label mean cross-entropy of sigmoid(z) against soft targets t, stable for any z
    return (np.logaddexp(0.0, z) - t * z).mean(axis=0)


@dataclass(frozen=True, eq=False)
class PlattCalibration:
    """Per-label Platt scaling: ``p' = sigmoid(a * logit(p) + b)``.

    Attributes
    ----------
    a, b : ndarray of shape (L,), float64
        Slope (> 0) and intercept per label, in the order of ``schema``.
    info : dict
        What it was fitted on (``rows``, ``identity``: the labels left as they were).
    schema : LabelSchema
        The labels the parameters are keyed by in ``calibration.json`` (the model's
        ``labels_``; default GoEmotions').

    Examples
    --------
    >>> cal = PlattCalibration.fit(dev.labels, model.predict_proba(dev.texts))  # doctest: +SKIP
    >>> calibrated = model.with_calibration(cal)  # doctest: +SKIP
    """

    a: np.ndarray
    b: np.ndarray
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    schema: LabelSchema = field(default=GOEMOTIONS, compare=False)

    method = "platt"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlattCalibration):
            return NotImplemented
        return bool(np.array_equal(self.a, other.a) and np.array_equal(self.b, other.b))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @classmethod
    def identity(cls, schema: LabelSchema = GOEMOTIONS) -> PlattCalibration:
        """The calibration that changes nothing."""
        return cls(np.ones(len(schema)), np.zeros(len(schema)), schema=schema)

    @classmethod
    def fit(
        cls,
        y_true: np.ndarray,
        proba: np.ndarray,
        max_iter: int = 100,
        tol: float = 1e-10,
        schema: LabelSchema | None = None,
    ) -> PlattCalibration:
        """Fit ``(a, b)`` per label on dev labels and the model's uncalibrated probabilities.

        Parameters
        ----------
        y_true : ndarray of shape (n, L)
            Binary dev labels.
        proba : ndarray of shape (n, L)
            The model's probabilities on the same rows, before any calibration.
        max_iter, tol : int, float
            Newton iterations, and the change of the loss under which they stop.
        schema : LabelSchema, optional
            The model's labels (``model.labels_``); default GoEmotions' for 28 columns.

        Raises
        ------
        DataError
            When the shapes differ or are not ``(n, len(schema))`` with ``n >= 1``.
        """
        y = np.asarray(y_true, dtype=np.float64)
        x = _logit(proba)
        n_labels = len(schema) if schema is not None else (x.shape[-1] if x.ndim == 2 else 0)
        if y.shape != x.shape or x.ndim != 2 or x.shape[1] != n_labels or len(x) == 0:
            raise DataError(
                f"calibration needs labels and probabilities of one shape (n >= 1, "
                f"{n_labels}), got {y.shape} and {x.shape}"
            )
        from ..metrics import schema_for

        schema = schema_for(n_labels, schema)
        pos = y.sum(axis=0)
        neg = len(y) - pos
        t = np.where(y > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
        a, b = np.ones(n_labels), np.zeros(n_labels)
        loss = _loss(a * x + b, t)
        for _ in range(max_iter):
            q = _sigmoid(a * x + b)
            r, w = q - t, np.maximum(q * (1 - q), 1e-12)
            ga, gb = (r * x).mean(0), r.mean(0)
            haa, hab, hbb = (w * x * x).mean(0) + 1e-12, (w * x).mean(0), w.mean(0) + 1e-12
            det = haa * hbb - hab * hab
            da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
            step = np.ones(n_labels)
            for _ in range(30):  # backtracking: halve each label's step until its loss falls
                na, nb = a - step * da, b - step * db
                new = _loss(na * x + nb, t)
                worse = new > loss + 1e-15
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
            na, nb = a - step * da, b - step * db
            new = _loss(na * x + nb, t)
            better = new <= loss
            a, b = np.where(better, na, a), np.where(better, nb, b)
            change = np.abs(loss - np.where(better, new, loss)).max()
            loss = np.where(better, new, loss)
            if change < tol:
                break
        # no evidence on dev (one class, or one score for every row), no ranking (a <= 0), or
        # a degenerate fit: left as they are
        fitted = (a > 0) & (a <= _MAX_PARAM) & (np.abs(b) <= _MAX_PARAM)
        keep = (pos == 0) | (neg == 0) | (np.ptp(x, axis=0) == 0) | ~fitted
        a, b = np.where(keep, 1.0, a), np.where(keep, 0.0, b)
        info = {"rows": len(y), "identity": [schema.names[j] for j in np.flatnonzero(keep)]}
        return cls(a, b, info, schema)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``float32[n, L]`` of uncalibrated ``proba``."""
        proba = np.asarray(proba)
        if proba.size == 0:
            return proba.astype(np.float32, copy=False)
        out = _sigmoid(self.a * _logit(proba) + self.b).astype(np.float32)
        same = (self.a == 1) & (self.b == 0)  # identity labels keep their values to the bit,
        out[:, same] = proba[:, same]  # not the clipped logit's round trip (0 -> 1e-7)
        return out

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """The ``calibration.json`` object (:func:`~emobalance.models.schema.parse_calibration`
        reads it back)."""
        return {
            "format": CALIBRATION_FORMAT,
            "version": CALIBRATION_VERSION,
            "method": self.method,
            "params": {
                lab: {"a": float(a), "b": float(b)}
                for lab, a, b in zip(self.schema.names, self.a, self.b, strict=True)
            },
            "info": dict(self.info),
        }

    @classmethod
    def from_json(cls, obj: Any, origin: str, schema: LabelSchema = GOEMOTIONS) -> PlattCalibration:
        """Parse (and check) what :meth:`to_json` wrote for a model of ``schema``; a
        ModelError names ``origin``."""
        a, b, info = parse_calibration(obj, origin, schema)
        return cls(a, b, info, schema)


def read_calibration(folder: Path, schema: LabelSchema = GOEMOTIONS) -> PlattCalibration | None:
    """The ``calibration.json`` of a model folder of ``schema``, or ``None`` when there is
    none."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return PlattCalibration.from_json(read_json(path), str(path), schema)
