"""Baselines: TF-IDF (word + character n-grams) with one-vs-rest logistic regression.

:class:`TfidfBaseline` is the classical peer of the reference network in benchmarks and a cheap
teacher (``predict_proba(texts) -> float32[n, L]``) for pseudo-labelling. Like the network, it
tunes one threshold per label on dev (:func:`emobalance.metrics.tune_thresholds`).

A model directory written by :meth:`TfidfBaseline.save` holds ``model.joblib`` (the fitted
vectorizer and classifier), ``thresholds.json`` (label -> threshold), ``config.json``
(hyper-parameters, label order, library versions), ``metrics.json`` (dev metrics) and, once
calibrated, ``calibration.json``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from ..data.dataset import EmotionDataset
from ..errors import DataError, ModelError
from ..io import write_json_atomic
from ..labels import LabelSchema
from ..metrics import evaluate
from .base import (
    EmotionModel,
    check_batch_size,
    check_objective,
    check_texts,
    config_schema,
    read_model_config,
    read_thresholds,
    thresholds_json,
)
from .calibration import CALIBRATION_FILE, read_calibration
from .schema import (
    PROBE_TEXTS,
    check_arrays,
    check_int,
    check_number,
    check_probe,
    first_line,
    json_object,
    label_schema_fields,
    probe_failed,
    read_metrics,
    show,
)
from .storage import write_model_folder

ARCHITECTURE = "tfidf_logreg"
MODEL_FILES = ("model.joblib", "thresholds.json", "config.json")
"""Files :meth:`TfidfBaseline.load` requires (``metrics.json`` is optional)."""


class LinearOneVsRest:
    """One binary logistic regression per label, stacked into one weight matrix.

    The per-label fits are independent (liblinear, dual formulation: fast when features
    outnumber rows, as with TF-IDF n-grams) and run in parallel over labels with ``n_jobs``.
    Prediction is a single sparse-dense product. A label whose training column holds a single
    class gets a constant probability (0 or 1) instead of a model.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength.
    class_weight : {"balanced"} or None
        Per-label class weighting.
    random_state : int
        Seed of liblinear's coordinate shuffling.
    n_jobs : int
        Labels fitted in parallel.
    tol, max_iter : float, int
        liblinear stopping criteria.

    Attributes
    ----------
    coef_ : ndarray of shape (n_labels, n_features), float32
    intercept_ : ndarray of shape (n_labels,), float32
    constant_ : ndarray of shape (n_labels,), float32
        The constant probability of a single-class label, NaN for a fitted label.
    """

    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tol = tol
        self.max_iter = max_iter

    def _fit_one(
        self, X: sp.csr_matrix, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        lr = LogisticRegression(
            C=self.C,
            solver="liblinear",
            dual=True,
            class_weight=self.class_weight,
            random_state=self.random_state,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        if not X.data.flags.writeable:  # a read-only memmap from a joblib worker
            X = X.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning
            lr.fit(X, y, sample_weight=sample_weight)
        return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])

    def fit(
        self, X: sp.spmatrix, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LinearOneVsRest:
        """Fit one model per column of the binary matrix ``Y`` (n, n_labels)."""
        X = sp.csr_matrix(X, dtype=np.float64)  # liblinear's dtype: convert once, not per label
        Y = np.asarray(Y)
        n_labels = Y.shape[1]
        self.coef_ = np.zeros((n_labels, X.shape[1]), dtype=np.float32)
        self.intercept_ = np.zeros(n_labels, dtype=np.float32)
        self.constant_ = np.full(n_labels, np.nan, dtype=np.float32)
        todo = []
        for j in range(n_labels):
            values = np.unique(Y[:, j])
            if values.size < 2:
                self.constant_[j] = float(values[0]) if values.size else 0.0
            else:
                todo.append(j)
        # processes, not threads: liblinear seeds one process-global generator per fit, so
        # concurrent fits in threads would make the result depend on scheduling
        results = joblib.Parallel(n_jobs=self.n_jobs)(
            joblib.delayed(self._fit_one)(X, Y[:, j], sample_weight) for j in todo
        )
        for j, (coef, intercept) in zip(todo, results, strict=True):
            self.coef_[j] = coef
            self.intercept_[j] = intercept
        return self

    def decision_function(self, X: sp.spmatrix) -> np.ndarray:
        """Logits ``float32[n, n_labels]`` (0 for constant labels)."""
        return np.asarray(X @ self.coef_.T, dtype=np.float32) + self.intercept_[None, :]

    def predict_proba(self, X: sp.spmatrix) -> np.ndarray:
        """Probabilities ``float32[n, n_labels]``."""
        proba = expit(self.decision_function(X)).astype(np.float32)
        const = ~np.isnan(self.constant_)
        if const.any():
            proba[:, const] = self.constant_[const][None, :]
        return proba


class TfidfBaseline(EmotionModel):
    """TF-IDF (word and ``char_wb`` n-grams, sublinear tf) + one-vs-rest logistic regression.

    Texts are lower-cased; no other normalisation. Hyper-parameter defaults were selected on
    GoEmotions dev macro-F1 (docs/BENCHMARKS.md).

    Parameters
    ----------
    word_ngram_range : tuple of int, default=(1, 2)
        Word n-gram range.
    char_ngram_range : tuple of int, default=(2, 5)
        Character n-gram range (``char_wb``: n-grams inside word boundaries).
    min_df : int, default=2
        Minimum document frequency of an n-gram (each vectorizer).
    max_features : int, optional
        Keep at most this many n-grams per vectorizer (most frequent first).
    C : float, default=1.0
        Inverse L2 regularisation strength of every per-label logistic regression.
    class_weight : {"balanced"} or None, default=None
        Per-label class weighting.
    random_state : int, default=0
        Seed of the solver.
    n_jobs : int, default=1
        Labels fitted in parallel (and vectorizers built in parallel).
    threshold_objective : {"f1", "micro_f1", "jaccard"}, default="f1"
        What the dev thresholds are tuned for (:func:`emobalance.metrics.tune_thresholds`).

    Attributes
    ----------
    vectorizer_ : sklearn.pipeline.FeatureUnion
        The fitted word + character TF-IDF vectorizers.
    classifier_ : LinearOneVsRest
        The fitted per-label logistic regressions.
    labels_ : LabelSchema
        The training set's labels (one logistic regression each).
    thresholds_ : ndarray of shape (len(labels_),), float32
        Per-label thresholds tuned on dev (0.5 everywhere when fitted without dev).
    metrics_ : dict
        ``n_train``, ``train_seconds`` and, when fitted with dev, ``dev``:
        :func:`emobalance.metrics.evaluate` on dev with ``thresholds_``, plus
        ``macro_f1_at_0_5``.
    fit_seconds_ : float
        Wall time of :meth:`fit` (vectorizing + fitting, without dev tuning).
    n_features_ : int
        Number of TF-IDF features.

    Examples
    --------
    >>> from emobalance.data import goemotions
    >>> from emobalance.models.baselines import TfidfBaseline
    >>> train, dev = goemotions.load("train"), goemotions.load("dev")  # doctest: +SKIP
    >>> model = TfidfBaseline().fit(train, dev)  # doctest: +SKIP
    >>> model.predict(["thank you so much!"])  # doctest: +SKIP
    [['gratitude']]
    """

    kind = "tfidf"

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_features: int | None = None,
        C: float = 1.0,
        class_weight: str | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
        threshold_objective: str = "f1",
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.threshold_objective: str = check_objective(threshold_objective)

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (JSON-ready)."""
        return {
            "word_ngram_range": list(self.word_ngram_range),
            "char_ngram_range": list(self.char_ngram_range),
            "min_df": self.min_df,
            "max_features": self.max_features,
            "C": self.C,
            "class_weight": self.class_weight,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "threshold_objective": self.threshold_objective,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"TfidfBaseline({args})"

    def _make_vectorizer(self) -> FeatureUnion:
        common: dict[str, Any] = {
            "lowercase": True,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "sublinear_tf": True,
            "dtype": np.float32,
        }
        return FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        analyzer="word", ngram_range=tuple(self.word_ngram_range), **common
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), **common
                    ),
                ),
            ],
            n_jobs=min(self.n_jobs, 2) if self.n_jobs > 0 else 2,
        )

    # ------------------------------------------------------------------ fitting
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None) -> TfidfBaseline:
        """Fit on ``train``; tune per-label thresholds on ``dev`` when given.

        ``train.weight``, when present, is used as per-row sample weight; ``train.schema``
        becomes the model's ``labels_``.

        Raises
        ------
        DataError
            If a dataset is unlabelled or empty, dev is of another schema, or the texts yield
            no n-gram at ``min_df``.
        """
        if not train.is_labelled:
            raise DataError("fit() needs a labelled training set")
        if len(train) == 0:
            raise DataError("fit() got an empty training set")
        if dev is not None and not dev.is_labelled:
            raise DataError("dev must be labelled (its labels tune the thresholds)")
        schema = self._check_dev(train, dev)
        t0 = time.perf_counter()
        self.calibration_ = None  # fitted on the probabilities of an earlier fit
        self.vectorizer_ = self._make_vectorizer()
        try:
            X = self.vectorizer_.fit_transform(check_texts(train.texts))
        except ValueError as exc:  # empty vocabulary, min_df above the number of texts...
            raise DataError(
                f"cannot build TF-IDF features from the training texts ({exc})"
            ) from None
        self.n_features_ = int(X.shape[1])
        self.classifier_ = LinearOneVsRest(
            C=self.C,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, train.labels, sample_weight=train.weight)
        self.fit_seconds_ = time.perf_counter() - t0
        self.labels_ = schema
        self.thresholds_ = np.full(len(schema), 0.5, dtype=np.float32)
        self.metrics_: dict[str, Any] = {"n_train": len(train), "train_seconds": self.fit_seconds_}
        if dev is not None and len(dev):
            proba = self.predict_proba(dev.texts)
            dev_m = self._tune_on_dev(dev.labels, proba)
            dev_m["macro_f1_at_0_5"] = evaluate(
                dev.labels, proba, 0.5, groupings=(), schema=schema
            )["macro_f1"]
        return self

    # ------------------------------------------------------------------ inference
    def _predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Uncalibrated probabilities ``float32[n, L]`` of the whole texts.

        ``batch_size`` is accepted for the common signature; the sparse product scores all
        texts at once.
        """
        check_batch_size(batch_size)  # unused, but refused as every kind refuses it
        if not texts:
            return np.zeros((0, len(self.labels_)), dtype=np.float32)
        return self.classifier_.predict_proba(self.vectorizer_.transform(texts))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model directory whole (a temporary folder renamed into place: a failure
        while saving leaves neither a partial folder nor temporary files); return its path."""
        from .. import __version__

        self._check_fitted()

        def write(tmp: Path) -> None:
            joblib.dump(
                {"vectorizer": self.vectorizer_, "classifier": self.classifier_},
                tmp / "model.joblib",
            )
            write_json_atomic(
                tmp / "thresholds.json", thresholds_json(self.thresholds_, self.labels_)
            )
            if self.calibration_ is not None:
                write_json_atomic(tmp / CALIBRATION_FILE, self.calibration_.to_json())
            write_json_atomic(tmp / "metrics.json", {"metrics": self.metrics_})
            write_json_atomic(
                tmp / "config.json",
                {
                    "emobalance_version": __version__,
                    "sklearn_version": sklearn.__version__,
                    "architecture": ARCHITECTURE,
                    **label_schema_fields(self.labels_),
                    "params": self.get_params(),
                    "n_features": self.n_features_,
                    "fit_seconds": getattr(self, "fit_seconds_", None),
                },
            )

        stale = () if self.calibration_ is not None else (CALIBRATION_FILE,)
        return write_model_folder(path, write, stale=stale)

    @classmethod
    def saved_files(cls, path: str | os.PathLike[str]) -> dict[str, Path]:
        """:data:`MODEL_FILES` and, when present, ``metrics.json`` and ``calibration.json``."""
        d = Path(path)
        names = [*MODEL_FILES, *[f for f in ("metrics.json", CALIBRATION_FILE)
                                 if (d / f).is_file()]]  # fmt: skip
        return {name: d / name for name in names}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TfidfBaseline:
        """Load a model directory written by :meth:`save`.

        Raises
        ------
        ModelError
            Naming the missing, unreadable or mismatched file.
        """
        d = Path(path)
        cfg = read_model_config(d, MODEL_FILES, ARCHITECTURE)
        origin = str(d / "config.json")
        schema = config_schema(cfg, origin)
        model = cls(**_check_params(cfg.get("params", {}), origin))
        model.labels_ = schema
        n_features = cfg.get("n_features")
        if n_features is not None:
            check_int(n_features, origin, "'n_features'")
        fit_seconds = cfg.get("fit_seconds")
        if fit_seconds is not None:
            model.fit_seconds_ = check_number(fit_seconds, origin, "'fit_seconds'", lo=0.0)
        model.thresholds_ = read_thresholds(d / "thresholds.json", schema)
        model.calibration_ = read_calibration(d, schema)
        m = read_metrics(d / "metrics.json", required=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn InconsistentVersionWarning
                state = joblib.load(d / "model.joblib")
        except Exception as exc:  # unpickling can fail in many ways
            msg = first_line(exc)
            raise ModelError(f"{d / 'model.joblib'}: cannot be loaded ({msg})") from None
        model.vectorizer_, model.classifier_ = _check_state(
            state, d / "model.joblib", model._make_vectorizer(), schema
        )
        model.n_features_ = int(model.classifier_.coef_.shape[1])
        if n_features is not None and n_features != model.n_features_:
            raise ModelError(
                f"{origin}: 'n_features' is {n_features}, model.joblib has {model.n_features_}"
            )
        # folders of emobalance <= 0.1 wrote {"dev": ...} only
        model.metrics_ = dict(m["metrics"]) if isinstance(m.get("metrics"), dict) else {}
        if "metrics" not in m and m.get("dev") is not None:
            model.metrics_["dev"] = m["dev"]
        return model


_PARAM_DEFAULTS = TfidfBaseline().get_params()


def _check_params(params: Any, origin: str) -> dict[str, Any]:
    """``config.json``'s ``params``: the constructor's arguments, each checked."""
    params = json_object(params, f"{origin}: 'params'")
    unknown = [k for k in params if k not in _PARAM_DEFAULTS]
    if unknown:
        raise ModelError(f"{origin}: 'params' has unknown key {show(unknown[0])}")
    out = dict(params)
    for key in ("word_ngram_range", "char_ngram_range"):
        if key in params:
            v = params[key]
            if not (isinstance(v, list) and len(v) == 2):
                raise ModelError(f"{origin}: 'params.{key}' must be [min, max], got {show(v)}")
            lo = check_int(v[0], origin, f"'params.{key}'[0]", lo=1, hi=100)
            check_int(v[1], origin, f"'params.{key}'[1]", lo=lo, hi=100)
            out[key] = (v[0], v[1])
    if "min_df" in params:
        v = params["min_df"]
        if isinstance(v, float):
            check_number(v, origin, "'params.min_df'", 0.0, 1.0)
        else:
            check_int(v, origin, "'params.min_df'", lo=1)
    if params.get("max_features") is not None:
        check_int(params["max_features"], origin, "'params.max_features'", lo=1)
    if "C" in params:
        check_number(params["C"], origin, "'params.C'", what="a positive number")
        if params["C"] <= 0:
            raise ModelError(f"{origin}: 'params.C' must be a positive number, got {params['C']}")
    if params.get("class_weight") not in (None, "balanced"):
        raise ModelError(
            f"{origin}: 'params.class_weight' must be null or \"balanced\", "
            f"got {show(params['class_weight'])}"
        )
    for key in ("random_state", "n_jobs"):
        if key in params:
            check_int(params[key], origin, f"'params.{key}'", lo=-(2**31), hi=2**32 - 1)
    if "threshold_objective" in params:
        check_objective(params["threshold_objective"], ModelError)
    return out


def _check_state(
    state: Any, path: Path, described: FeatureUnion, schema: LabelSchema
) -> tuple[FeatureUnion, LinearOneVsRest]:
    """The unpickled ``model.joblib``: the word + char TF-IDF union that config.json's
    params describe (``described``, unfitted), fitted, and one finite model per label of
    ``schema`` over
    exactly its features; it scores :data:`PROBE_TEXTS` (a damaged pickle can hold objects
    whose attributes are renamed or of the wrong type, which only scoring reveals)."""
    if not isinstance(state, dict) or not isinstance(state.get("classifier"), LinearOneVsRest):
        raise ModelError(f"{path}: not a TF-IDF model of emobalance (no fitted classifier)")
    vec, clf = state.get("vectorizer"), state["classifier"]
    if not isinstance(vec, FeatureUnion):
        raise ModelError(f"{path}: not a TF-IDF model of emobalance (no fitted vectorizer)")
    try:
        n_features = 0
        want = dict(described.transformer_list)
        if [name for name, _ in vec.transformer_list] != list(want):
            raise ModelError(f"{path}: the vectorizers are not {' + '.join(want)}")
        for name, tf in vec.transformer_list:
            if not isinstance(tf, TfidfVectorizer):
                raise ModelError(f"{path}: vectorizer {name!r} is not a TfidfVectorizer")
            for key, value in want[name].get_params().items():
                if getattr(tf, key) != value:  # AttributeError for a renamed attribute
                    raise ModelError(
                        f"{path}: vectorizer {name!r} has {key}={show(getattr(tf, key))}, "
                        f"config.json's params give {show(value)}"
                    )
            vocab, idf = tf.vocabulary_, np.asarray(tf.idf_)
            ids = np.fromiter(vocab.values(), dtype=np.int64, count=len(vocab))
            if not all(isinstance(t, str) for t in vocab) or not np.array_equal(
                np.sort(ids), np.arange(len(vocab))
            ):
                raise ModelError(f"{path}: vectorizer {name!r} has a damaged vocabulary")
            if idf.shape != (len(vocab),):
                raise ModelError(f"{path}: vectorizer {name!r}: {idf.size} idf weights for "
                                 f"{len(vocab)} n-grams")  # fmt: skip
            check_arrays({f"{name}.idf_": idf}, str(path))
            lo, hi = tf.ngram_range
            check_int(lo, str(path), f"vectorizer {name!r} ngram_range[0]", lo=1, hi=100)
            check_int(hi, str(path), f"vectorizer {name!r} ngram_range[1]", lo=lo, hi=100)
            n_features += len(vocab)
        coef, intercept, const = clf.coef_, clf.intercept_, clf.constant_
        arrays = {"coef_": coef, "intercept_": intercept, "constant_": const}
        for key, arr in arrays.items():
            want = (len(schema), n_features) if key == "coef_" else (len(schema),)
            if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.shape != want:
                got = getattr(arr, "shape", type(arr).__name__)
                raise ModelError(f"{path}: classifier {key} must be a float array of shape "
                                 f"{list(want)}, got {got}")  # fmt: skip
    except (AttributeError, TypeError, ValueError) as exc:  # a damaged pickle's odd objects
        raise ModelError(f"{path}: not a fitted TF-IDF model ({exc})") from None
    check_arrays({"coef_": coef, "intercept_": intercept}, str(path))
    fixed = const[~np.isnan(const)]
    if ((fixed < 0) | (fixed > 1)).any() or not np.isfinite(fixed).all():
        raise ModelError(f"{path}: classifier constant_ must be NaN or probabilities in [0, 1]")
    try:
        proba = clf.predict_proba(vec.transform(list(PROBE_TEXTS)))
    except Exception as exc:  # whatever a damaged object makes scikit-learn raise
        raise probe_failed(exc, str(path)) from None
    check_probe(proba, str(path), schema=schema)
    return vec, clf
