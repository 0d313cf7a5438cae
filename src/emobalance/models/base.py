"""The contract every model of emobalance fulfils, whatever its labels.

A model maps texts to probabilities over the labels of its schema (``labels_``, a
:class:`~emobalance.labels.LabelSchema`: GoEmotions' 28 for the models of earlier versions)
and holds per-label decision thresholds tuned on dev. :class:`EmotionModel` writes once what
follows from that: labels and binary predictions with ``thresholds_``, evaluation on a
labelled dataset and a model-agnostic explanation (leave-one-token-out probability drops);
and, around the kind's own scoring, what users of every kind ask for: the long-text policy
(:mod:`.long_text`), the calibration fitted on dev (:mod:`.calibration`), a limit on text
length, thresholds given by the user (:meth:`~EmotionModel.with_thresholds`) and the top-k
and grouping views
(:meth:`~EmotionModel.predict_records`, :mod:`.views`).

A model kind implements ``_predict_proba`` (the probabilities of texts as the model reads
them, uncalibrated), ``save`` and ``load`` (and ``fit`` where it can be trained), sets the
class attribute ``kind`` and registers itself in :mod:`emobalance.models.registry`, which is
how ``load_model`` finds it. A subclass that overrides ``predict_proba`` itself instead (as
kinds did before the shared layer existed) keeps working, without the long-text policy and
calibration. ``check_texts`` is the one input check of every ``predict_*``.

This module imports neither torch nor scikit-learn: the ONNX predictor runs without them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from ..labels import GOEMOTIONS, LabelSchema
from ..log import get_logger
from .calibration import PlattCalibration
from .long_text import TRUNCATE, LongTextPolicy, aggregate_pieces, split_texts, window_for_tokens
from .schema import parse_thresholds, read_json, read_json_object, read_label_schema, show

if TYPE_CHECKING:
    from ..data.dataset import EmotionDataset

__all__ = [
    "MAX_TEXT_CHARS",
    "EmotionModel",
    "check_batch_size",
    "check_objective",
    "check_texts",
    "explanation",
    "read_json",
    "read_model_config",
    "read_thresholds",
    "thresholds_json",
]

# words (with inner apostrophes: "don't") and single non-space symbols (punctuation, emoji)
_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")

MAX_TEXT_CHARS = 1_000_000
"""Longest text (in characters) :meth:`EmotionModel.predict_proba` scores by default: a
novel's length (about 150,000 words), beyond any real post, and small enough that splitting it
into sentences or windows stays cheap (some 7,000 windows of 48 words). Not lower: texts of a
few hundred thousand characters (a whole file pasted into one field) were always scored, and
still are under ``truncate``. ``model.max_text_chars``
changes it (None: no limit); the HTTP service has its own, lower ``--max-chars``."""

_M = TypeVar("_M", bound="EmotionModel")
_log = get_logger(__name__)


def check_objective(objective: Any, error: type[Exception] = ConfigError) -> str:
    """``objective`` if it is one of :data:`emobalance.metrics.OBJECTIVES` (what the dev
    thresholds are tuned for), else a one-line error."""
    from ..metrics import OBJECTIVES

    if isinstance(objective, str) and objective in OBJECTIVES:
        return objective
    shown = repr(objective) if isinstance(objective, str) else type(objective).__name__
    raise error(f"threshold_objective: expected one of {', '.join(OBJECTIVES)}, got {shown}")


def check_texts(texts: Any, max_chars: int | None = None) -> list[str]:
    """The texts as a list of str, or a one-line DataError.

    Parameters
    ----------
    texts : sequence of str
        A list, tuple, array... of texts. A single ``str`` is refused: iterating it would
        classify its characters.
    max_chars : int, optional
        Refuse a text longer than this many characters (default: no limit).

    Raises
    ------
    DataError
        For a single str, a non-iterable, an element that is not a str, or a text over
        ``max_chars`` (its position and length are named).
    """
    if isinstance(texts, str):
        raise DataError("expected a sequence of texts, got a single str (wrap it in a list)")
    try:
        texts = list(texts)
    except TypeError:
        raise DataError(f"expected a sequence of texts, got {type(texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text {i} is {type(t).__name__}, expected str")
        if max_chars is not None and len(t) > max_chars:
            raise DataError(
                f"text {i} has {len(t):,} characters, over the limit of {max_chars:,} "
                "(max_text_chars)"
            )
    return texts


def check_batch_size(batch_size: Any) -> int | None:
    """``batch_size`` of a ``predict_*`` call: None (the model's default) or an int >= 1.

    Raises
    ------
    ConfigError
        For 0, a negative number, a bool or a non-integer: torch and onnxruntime would
        otherwise read uninitialised memory (-5) or return NaN (-1) without a word.
    """
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ConfigError(f"batch_size: expected an int >= 1, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected an int >= 1, got {batch_size}")
    return int(batch_size)


def read_model_config(
    folder: Path, files: Sequence[str], architecture: str | None = None
) -> dict[str, Any]:
    """The ``config.json`` of a saved model folder, after checking the folder.

    Parameters
    ----------
    folder : Path
        The folder :meth:`EmotionModel.save` wrote.
    files : sequence of str
        The names of the files the folder must hold (``config.json`` among them).
    architecture : str, optional
        The ``architecture`` the config must name.

    Raises
    ------
    ModelError
        When the folder or one of ``files`` is missing, or ``config.json`` is not a JSON
        object with a valid label schema (:func:`config_schema`) and ``architecture``.
    """
    if not folder.is_dir():
        raise ModelError(f"{folder}: model directory not found")
    for name in files:
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing model file")
    path = folder / "config.json"
    cfg = read_json_object(path)
    config_schema(cfg, str(path))
    if architecture is not None and cfg.get("architecture") != architecture:
        raise ModelError(
            f"{path}: 'architecture' must be {architecture!r}, got {show(cfg.get('architecture'))}"
        )
    return cfg


def config_schema(cfg: dict[str, Any], origin: str) -> LabelSchema:
    """The label schema a saved config records (``labels`` and ``label_schema``; only
    ``labels``, GoEmotions', in a folder of an earlier version)."""
    return read_label_schema(cfg.get("labels"), cfg.get("label_schema"), origin)


def read_thresholds(path: Path, schema: LabelSchema = GOEMOTIONS) -> np.ndarray:
    """``thresholds.json`` (``{label: threshold}`` for exactly the labels of ``schema``, each
    a finite number in [0, 1]) as ``float32[len(schema)]``."""
    return parse_thresholds(read_json(path), str(path), schema=schema)


def thresholds_json(thresholds: np.ndarray, schema: LabelSchema = GOEMOTIONS) -> dict[str, float]:
    """``{label: threshold}`` as :func:`read_thresholds` reads it."""
    return {lab: float(t) for lab, t in zip(schema.names, thresholds, strict=True)}


def _predicted(proba: np.ndarray, thresholds: np.ndarray, schema: LabelSchema) -> np.ndarray:
    """The label ids predicted for one row of probabilities (argmax for single-label)."""
    from ..metrics import predict_labels

    return np.flatnonzero(predict_labels(proba[None, :], thresholds, schema.single_label)[0])


def explanation(
    text: str,
    tokens: Sequence[str],
    weights: Sequence[float],
    proba: np.ndarray,
    thresholds: np.ndarray,
    top_k: int,
    method: str,
    schema: LabelSchema = GOEMOTIONS,
) -> dict[str, Any]:
    """The dict every ``explain`` returns (see :meth:`EmotionModel.explain`)."""
    names = schema.names
    order = np.argsort(-proba)[:top_k]
    out = {
        "text": text,
        "tokens": list(tokens),
        "attention": [float(w) for w in weights],
        "method": method,
        "labels": [names[j] for j in _predicted(proba, thresholds, schema)],
        "top": [{"label": names[j], "probability": float(proba[j])} for j in order],
        "probabilities": {lab: float(p) for lab, p in zip(names, proba, strict=True)},
    }
    if schema.groupings:  # the first grouping's most probable group (GoEmotions: ekman)
        g = next(iter(schema.groupings))
        scores = schema.collapse_probabilities(proba[None, :], g)[0]
        out[g] = schema.group_names(g)[int(np.argmax(scores))]
    return out


class EmotionModel(ABC):
    """Base class of the models (reference network, transformer, TF-IDF, ONNX).

    Subclasses implement :meth:`_predict_proba`, :meth:`save` and :meth:`load`, set ``kind``
    and, when fitted or loaded, the attributes below. Everything else is shared.

    Attributes
    ----------
    kind : str
        The registry name of the model kind (class attribute), e.g. ``"reference"``.
    labels_ : LabelSchema
        The labels the model speaks: the training dataset's schema, saved with the model
        (GoEmotions for a model of an earlier version).
    threshold_objective : str
        What ``_tune_on_dev`` tunes the thresholds for (one of
        :data:`emobalance.metrics.OBJECTIVES`; default ``"f1"``, each label's own F1).
    thresholds_ : ndarray of shape (len(labels_),), float32
        Per-label decision thresholds (tuned on dev; 0.5 when fitted without dev; re-tuned
        on the calibrated dev probabilities by ``emobalance calibrate``). A single-label
        model predicts its most probable label instead.
    metrics_ : dict
        What the model learned about itself; ``metrics_["dev"]`` holds
        :func:`emobalance.metrics.evaluate` on dev with ``thresholds_`` when fitted with dev.
    calibration_ : PlattCalibration or None
        The per-label calibration fitted on dev (``calibration.json``), applied by
        :meth:`predict_proba`; None when the model is not calibrated.
    long_text_policy : LongTextPolicy
        How :meth:`predict_proba` scores texts longer than the model reads (default
        ``truncate``); :meth:`with_long_text` returns a copy with another.
    max_text_chars : int or None
        Longest text :meth:`predict_proba` accepts (default :data:`MAX_TEXT_CHARS`).
    """

    kind: ClassVar[str] = ""
    explain_max_tokens: ClassVar[int] = 128
    """Tokens the leave-one-token-out explanation looks at (one forward pass each)."""

    labels_: LabelSchema = GOEMOTIONS
    threshold_objective: str = "f1"
    thresholds_: np.ndarray
    metrics_: dict[str, Any]
    calibration_: PlattCalibration | None = None
    long_text_policy: LongTextPolicy = TRUNCATE
    max_text_chars: int | None = MAX_TEXT_CHARS

    # ---------------------------------------------------------------- to implement
    def _predict_proba(self, texts: list[str], batch_size: int | None) -> np.ndarray:
        """Probabilities ``float32[n, L]`` of ``texts`` (checked) as the model reads them:
        truncated to its input length, before calibration. Every kind implements it."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither _predict_proba nor predict_proba"
        )

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model (a folder, or one file for ONNX); return its path."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | os.PathLike[str]) -> EmotionModel:
        """Load what :meth:`save` wrote; a one-line ModelError names a bad file."""

    @classmethod
    def saved_files(cls, path: str | os.PathLike[str]) -> dict[str, Path]:
        """The files that make the model saved at ``path``: ``{name in the folder: file}``.

        Default: every file directly in the folder (or the file itself). The registry hashes
        them for :func:`~emobalance.models.registry.model_id`; the Ray engine ships them.
        """
        p = Path(path)
        if not p.is_dir():
            return {p.name: p}
        return {f.name: f for f in sorted(p.iterdir()) if f.is_file()}

    @property
    def max_tokens(self) -> int | None:
        """Tokens the model reads of a text (None: all of it); the default ``windows`` size
        follows from it (:func:`~emobalance.models.long_text.window_for_tokens`)."""
        return None

    # ---------------------------------------------------------------- scoring
    def predict_proba(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        *,
        long_text: str | None = None,
        aggregate: str | None = None,
        window: int | None = None,
    ) -> np.ndarray:
        """Probabilities ``float32[n, len(labels_)]`` in the order of :attr:`labels_`.

        Each text is split by the long-text policy (:mod:`emobalance.models.long_text`), the
        pieces are scored by the kind (in batches of ``batch_size``), calibrated when the
        model is (:attr:`calibration_`) and aggregated per text. With the default policy
        (``truncate``) and no calibration this is the kind's own scoring, to the bit.

        Parameters
        ----------
        texts : sequence of str
            At most :attr:`max_text_chars` characters each.
        batch_size : int, optional
            Texts per forward pass (default: the kind's).
        long_text : {"truncate", "sentences", "windows"}, optional
            Default: :attr:`long_text_policy` (``truncate`` unless set).
        aggregate : {"max", "mean"}, optional
            How the pieces of one text combine, per label (default ``max``).
        window : int, optional
            Words per window for ``windows`` (stride ``window // 2``); default: 3/4 of
            :attr:`max_tokens`, or 48.

        Raises
        ------
        DataError
            For a single str, a non-str element or a text over :attr:`max_text_chars`
            (named by its position).
        ConfigError
            For an unknown policy or aggregate, a bad window or batch size.
        """
        self._check_fitted()
        texts = check_texts(texts, self.max_text_chars)
        policy = self.long_text_policy.updated(long_text, aggregate, window)
        if policy.mode == "truncate":
            return self._calibrate(self._predict_proba(texts, batch_size))
        check_batch_size(batch_size)  # before the texts are split
        pieces, counts = split_texts(texts, policy, window_for_tokens(self.max_tokens))
        proba = self._calibrate(self._predict_proba(pieces, batch_size))
        return aggregate_pieces(proba, counts, policy.aggregate)

    def _calibrate(self, proba: np.ndarray) -> np.ndarray:
        cal = self.calibration_
        return proba if cal is None else cal.apply(proba)

    def _shared_scoring(self) -> bool:
        return type(self).predict_proba is EmotionModel.predict_proba

    def _proba(self, texts: Sequence[str], batch_size: int | None = None, **options: Any):
        """:meth:`predict_proba` with only the options given (a subclass that overrides
        ``predict_proba`` with the old signature takes none)."""
        given = {k: v for k, v in options.items() if v is not None}
        if batch_size is not None:
            given["batch_size"] = batch_size
        extra = sorted(set(given) - {"batch_size"})
        if extra and not self._shared_scoring():
            raise ModelError(
                f"{type(self).__name__} scores texts in its own predict_proba: "
                f"{', '.join(extra)} need the shared one (implement _predict_proba)"
            )
        return self.predict_proba(texts, **given)

    # ---------------------------------------------------------------- copies
    def _copy(self: _M) -> _M:
        new = copy.copy(self)  # shares the weights; what the with_* methods change is copied
        new.thresholds_ = np.array(self.thresholds_, dtype=np.float32, copy=True)
        new.metrics_ = dict(getattr(self, "metrics_", {}))
        return new

    def with_thresholds(self: _M, thresholds: Any) -> _M:
        """A copy of the model with other decision thresholds (the weights are shared).

        Parameters
        ----------
        thresholds : float, mapping, sequence of floats, or path
            One value in [0, 1] for every label (``0.3``); ``{label: threshold}`` for some
            labels, the others keeping the model's (``{"grief": 0.2}``); one value per label
            in the order of :attr:`labels_`; or a JSON file of ``{label: threshold}``
            (:func:`~emobalance.models.thresholds.read_threshold_file`).

        Raises
        ------
        ConfigError
            One line naming the label (and the file and line) at fault.
        """
        from .thresholds import resolve_thresholds

        self._check_fitted()
        new = self._copy()
        new.thresholds_ = resolve_thresholds(thresholds, self.thresholds_, self.labels_)
        return new

    def with_calibration(self: _M, calibration: PlattCalibration | None) -> _M:
        """A copy of the model whose :meth:`predict_proba` applies ``calibration`` (None:
        the uncalibrated model). Thresholds are not re-tuned here: ``emobalance
        calibrate`` (:func:`emobalance.jobs.calibrate_model`) does both."""
        if calibration is not None and not isinstance(calibration, PlattCalibration):
            raise ConfigError(
                f"calibration: expected a PlattCalibration or None, got "
                f"{type(calibration).__name__}"
            )
        if calibration is not None and len(calibration.a) != len(self.labels_):
            raise ConfigError(
                f"calibration: {len(calibration.a)} labels, the model has {len(self.labels_)} "
                f"({self.labels_.describe()})"
            )
        new = self._copy()
        # keyed by the model's label names when saved (a fit on bare matrices has none)
        new.calibration_ = (
            None if calibration is None else dataclasses.replace(calibration, schema=self.labels_)
        )
        return new

    def with_long_text(
        self: _M, long_text: str = "truncate", aggregate: str = "max", window: int | None = None
    ) -> _M:
        """A copy of the model whose :meth:`predict_proba` (and so ``predict``,
        ``evaluate``, batch scoring...) uses this long-text policy by default."""
        new = self._copy()
        new.long_text_policy = LongTextPolicy(long_text, aggregate, window)
        return new

    # ---------------------------------------------------------------- shared
    def _check_fitted(self) -> None:
        # thresholds_ is the last state fit() sets, and load() returns only whole models
        if not hasattr(self, "thresholds_"):
            raise ModelError(f"this {type(self).__name__} is not fitted yet: call fit() or load()")

    def _check_dev(self, train: EmotionDataset, dev: EmotionDataset | None) -> LabelSchema:
        """The schema of ``train`` (what :meth:`fit` learns), after refusing a ``dev`` of
        another schema (one line naming both)."""
        from ..labels import schema_of

        schema = schema_of(train)
        if dev is not None:
            schema.check_same(schema_of(dev), "the training set", "dev", error=DataError)
        return schema

    def _tune_on_dev(self, dev_labels: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        """Tune ``thresholds_`` on dev probabilities for :attr:`threshold_objective`; store
        and return ``metrics_["dev"]``. A label without dev positives keeps 0.5, with a
        warning naming it."""
        from ..metrics import evaluate, labels_without_positives, tune_thresholds

        schema = self.labels_
        missing = labels_without_positives(dev_labels, schema)
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more"
                                               if len(missing) > 10 else "")  # fmt: skip
            _log.warning("dev has no example of %s: threshold 0.5 (untuned)", shown)
        self.thresholds_ = tune_thresholds(dev_labels, proba, objective=self.threshold_objective)
        self.metrics_["dev"] = evaluate(dev_labels, proba, self.thresholds_, schema=schema)
        return self.metrics_["dev"]

    def predict_matrix(self, texts: Sequence[str], **options: Any) -> np.ndarray:
        """Binary predictions ``uint8[n, len(labels_)]`` with ``thresholds_`` (the most
        probable label for a single-label model; ``options``: ``long_text``, ``aggregate``,
        ``window``, as in :meth:`predict_proba`)."""
        from ..metrics import predict_labels

        proba = self._proba(texts, **options)
        return predict_labels(proba, self.thresholds_, self.labels_.single_label)

    def predict(self, texts: Sequence[str], **options: Any) -> list[list[str]]:
        """Label names per text, using ``thresholds_`` (options as :meth:`predict_matrix`)."""
        return self.labels_.matrix_to_names(self.predict_matrix(texts, **options))

    def predict_records(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        view: str = "labels",
        batch_size: int | None = None,
        long_text: str | None = None,
        aggregate: str | None = None,
        window: int | None = None,
    ) -> list[dict[str, Any]]:
        """The prediction of each text as a dict, in the model's labels or a grouping.

        Parameters
        ----------
        texts : sequence of str
        top_k : int, optional
            How many of the view's labels ``top`` lists (at most all); default all.
        view : str, default="labels"
            ``labels`` or a grouping of :attr:`labels_` (GoEmotions: ``ekman``, Ekman's 6
            groups + neutral, and ``sentiment``, positive / negative / ambiguous / neutral).
            A group's probability is the max of its members'; it is predicted when any
            member is (:mod:`emobalance.models.views`).
        batch_size, long_text, aggregate, window
            As in :meth:`predict_proba`.

        Returns
        -------
        list of dict
            Per text: ``labels`` (predicted names of the view), ``top`` (``(name,
            probability)`` pairs, most probable first), ``probabilities`` (the view's, in
            view order) and, per grouping of the schema under its name, its most probable
            group (GoEmotions: ``ekman`` and ``sentiment``).

        Examples
        --------
        >>> model.predict_records(["thanks a lot!"], top_k=2, view="ekman")  # doctest: +SKIP
        [{'labels': ['joy'], 'top': [('joy', 0.93), ('surprise', 0.04)], ...}]
        """
        from .views import check_top_k, check_view, prediction_records

        check_top_k(top_k), check_view(view, self.labels_)  # before any scoring
        proba = self._proba(texts, batch_size, long_text=long_text, aggregate=aggregate,
                            window=window)  # fmt: skip
        return prediction_records(
            proba, self.thresholds_, top_k=top_k, view=view, schema=self.labels_
        )

    def evaluate(self, data: EmotionDataset) -> dict[str, Any]:
        """All metrics of :func:`emobalance.metrics.evaluate` on a labelled dataset.

        Raises
        ------
        DataError
            For an unlabelled dataset.
        ModelError
            For a dataset of another label schema (one line naming both).
        """
        from ..labels import schema_of
        from ..metrics import evaluate

        if not data.is_labelled:
            raise DataError("evaluate() needs a labelled dataset")
        self.labels_.check_same(schema_of(data), "the model", "the dataset", error=ModelError)
        proba = self.predict_proba(data.texts)
        return evaluate(data.labels, proba, self.thresholds_, schema=self.labels_)

    def _check_one_text(self, text: Any) -> str:
        if not isinstance(text, str):
            raise DataError(f"explain() takes one str, got {type(text).__name__}")
        return check_texts([text], self.max_text_chars)[0]

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Which tokens of one text the predicted emotions depend on, and the top emotions.

        The default is model-agnostic: each token (a word or a symbol, up to
        ``explain_max_tokens``) is removed in turn, and its importance is the drop of the
        probabilities of the predicted labels (the top label when none is predicted); drops
        are clipped at 0 and normalised to sum to 1, like attention weights (all zeros when
        no token matters). Models with attention override this. Whatever the long-text
        policy, the text is scored as ``truncate`` scores it (what the model reads of it);
        the probabilities are calibrated when the model is.

        Parameters
        ----------
        text : str
        top_k : int, default=5
            How many labels ``top`` lists.

        Returns
        -------
        dict
            ``text``, ``tokens`` (list of str), ``attention`` (one weight per token, sum 1 or
            all zeros), ``method`` (``"attention"`` or ``"leave_one_token_out"``), ``labels``
            (predicted names), ``top`` (list of ``{"label", "probability"}``),
            ``probabilities`` (every label) and, for a schema with groupings, its first
            grouping's most probable group under the grouping's name (GoEmotions:
            ``ekman``).
        """
        self._check_fitted()
        text = self._check_one_text(text)
        spans = [m.span() for m in _TOKEN.finditer(text)][: self.explain_max_tokens]
        variants = [text[:a] + text[b:] for a, b in spans]
        plain = self if self.long_text_policy.mode == "truncate" else self.with_long_text()
        proba_all = plain.predict_proba([text, *variants])
        proba, without = proba_all[0], proba_all[1:]
        focus = _predicted(proba, self.thresholds_, self.labels_)
        if focus.size == 0:
            focus = np.array([int(np.argmax(proba))])
        drops = np.clip(
            (proba[focus][None, :] - without[:, focus]).astype(np.float64).sum(1), 0.0, None
        )
        total = drops.sum()
        weights = drops / total if total > 0 else np.zeros(len(spans))
        tokens = [text[a:b] for a, b in spans]
        return explanation(text, tokens, weights, proba, self.thresholds_, top_k,
                           "leave_one_token_out", self.labels_)  # fmt: skip
