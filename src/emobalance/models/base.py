"""The contract every 28-label model of emobalance fulfils.

A model maps texts to probabilities over :data:`~emobalance.labels.LABELS` and holds per-label
decision thresholds tuned on dev. :class:`EmotionModel` writes once what follows from that:
labels and binary predictions with ``thresholds_``, evaluation on a labelled dataset and a
model-agnostic explanation (leave-one-token-out probability drops). A model kind implements
``predict_proba``, ``save`` and ``load`` (and ``fit`` where it can be trained), sets the class
attribute ``kind`` and registers itself in :mod:`emobalance.models.registry`, which is how
``load_model`` finds it. ``check_texts`` is the one input check of every ``predict_*``.

This module imports neither torch nor scikit-learn: the ONNX predictor runs without them.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from ..labels import EKMAN, LABELS, collapse_probabilities, matrix_to_names
from .schema import check_labels, parse_thresholds, read_json, read_json_object, show

if TYPE_CHECKING:
    from ..data.dataset import EmotionDataset

__all__ = [
    "EmotionModel",
    "check_batch_size",
    "check_texts",
    "explanation",
    "read_json",
    "read_model_config",
    "read_thresholds",
    "thresholds_json",
]

# words (with inner apostrophes: "don't") and single non-space symbols (punctuation, emoji)
_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def check_texts(texts: Any) -> list[str]:
    """The texts as a list of str, or a one-line DataError.

    Parameters
    ----------
    texts : sequence of str
        A list, tuple, array... of texts. A single ``str`` is refused: iterating it would
        classify its characters.

    Raises
    ------
    DataError
        For a single str, a non-iterable, or an element that is not a str (its position is
        named).
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
        object listing :data:`~emobalance.labels.LABELS` (and naming ``architecture``).
    """
    if not folder.is_dir():
        raise ModelError(f"{folder}: model directory not found")
    for name in files:
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing model file")
    path = folder / "config.json"
    cfg = read_json_object(path)
    check_labels(cfg.get("labels"), str(path))
    if architecture is not None and cfg.get("architecture") != architecture:
        raise ModelError(
            f"{path}: 'architecture' must be {architecture!r}, got {show(cfg.get('architecture'))}"
        )
    return cfg


def read_thresholds(path: Path) -> np.ndarray:
    """``thresholds.json`` (``{label: threshold}`` for exactly the 28, each a finite number in
    [0, 1]) as ``float32[28]``."""
    return parse_thresholds(read_json(path), str(path))


def thresholds_json(thresholds: np.ndarray) -> dict[str, float]:
    """``{label: threshold}`` as :func:`read_thresholds` reads it."""
    return {lab: float(t) for lab, t in zip(LABELS, thresholds, strict=True)}


def explanation(
    text: str,
    tokens: Sequence[str],
    weights: Sequence[float],
    proba: np.ndarray,
    thresholds: np.ndarray,
    top_k: int,
    method: str,
) -> dict[str, Any]:
    """The dict every ``explain`` returns (see :meth:`EmotionModel.explain`)."""
    order = np.argsort(-proba)[:top_k]
    ek = collapse_probabilities(proba[None, :], "ekman")[0]
    return {
        "text": text,
        "tokens": list(tokens),
        "attention": [float(w) for w in weights],
        "method": method,
        "labels": [LABELS[j] for j in np.flatnonzero(proba >= thresholds)],
        "top": [{"label": LABELS[j], "probability": float(proba[j])} for j in order],
        "probabilities": {lab: float(p) for lab, p in zip(LABELS, proba, strict=True)},
        "ekman": list(EKMAN)[int(np.argmax(ek))],
    }


class EmotionModel(ABC):
    """Base class of the 28-label models (reference network, transformer, TF-IDF, ONNX).

    Subclasses implement :meth:`predict_proba`, :meth:`save` and :meth:`load`, set ``kind``
    and, when fitted or loaded, the attributes below. Everything else is shared.

    Attributes
    ----------
    kind : str
        The registry name of the model kind (class attribute), e.g. ``"reference"``.
    thresholds_ : ndarray of shape (28,), float32
        Per-label decision thresholds (tuned on dev; 0.5 when fitted without dev).
    metrics_ : dict
        What the model learned about itself; ``metrics_["dev"]`` holds
        :func:`emobalance.metrics.evaluate` on dev with ``thresholds_`` when fitted with dev.
    """

    kind: ClassVar[str] = ""
    explain_max_tokens: ClassVar[int] = 128
    """Tokens the leave-one-token-out explanation looks at (one forward pass each)."""

    thresholds_: np.ndarray
    metrics_: dict[str, Any]

    # ---------------------------------------------------------------- to implement
    @abstractmethod
    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Probabilities ``float32[n, 28]`` in :data:`~emobalance.labels.LABELS` order."""

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

    # ---------------------------------------------------------------- shared
    def _check_fitted(self) -> None:
        # thresholds_ is the last state fit() sets, and load() returns only whole models
        if not hasattr(self, "thresholds_"):
            raise ModelError(f"this {type(self).__name__} is not fitted yet: call fit() or load()")

    def _tune_on_dev(self, dev_labels: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        """Tune ``thresholds_`` on dev probabilities; store and return ``metrics_["dev"]``."""
        from ..metrics import evaluate, tune_thresholds

        self.thresholds_ = tune_thresholds(dev_labels, proba)
        self.metrics_["dev"] = evaluate(dev_labels, proba, self.thresholds_)
        return self.metrics_["dev"]

    def predict_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Binary predictions ``uint8[n, 28]`` with ``thresholds_``."""
        return (self.predict_proba(texts) >= self.thresholds_).astype(np.uint8)

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Label names per text, using ``thresholds_``."""
        return matrix_to_names(self.predict_matrix(texts))

    def evaluate(self, data: EmotionDataset) -> dict[str, Any]:
        """All metrics of :func:`emobalance.metrics.evaluate` on a labelled dataset."""
        from ..metrics import evaluate

        if not data.is_labelled:
            raise DataError("evaluate() needs a labelled dataset")
        return evaluate(data.labels, self.predict_proba(data.texts), self.thresholds_)

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Which tokens of one text the predicted emotions depend on, and the top emotions.

        The default is model-agnostic: each token (a word or a symbol, up to
        ``explain_max_tokens``) is removed in turn, and its importance is the drop of the
        probabilities of the predicted labels (the top label when none is predicted); drops
        are clipped at 0 and normalised to sum to 1, like attention weights (all zeros when
        no token matters). Models with attention override this.

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
            ``probabilities`` (all 28), ``ekman`` (group with the highest probability).
        """
        self._check_fitted()
        if not isinstance(text, str):
            raise DataError(f"explain() takes one str, got {type(text).__name__}")
        spans = [m.span() for m in _TOKEN.finditer(text)][: self.explain_max_tokens]
        variants = [text[:a] + text[b:] for a, b in spans]
        proba_all = self.predict_proba([text, *variants])
        proba, without = proba_all[0], proba_all[1:]
        focus = np.flatnonzero(proba >= self.thresholds_)
        if focus.size == 0:
            focus = np.array([int(np.argmax(proba))])
        drops = np.clip(
            (proba[focus][None, :] - without[:, focus]).astype(np.float64).sum(1), 0.0, None
        )
        total = drops.sum()
        weights = drops / total if total > 0 else np.zeros(len(spans))
        tokens = [text[a:b] for a, b in spans]
        return explanation(
            text, tokens, weights, proba, self.thresholds_, top_k, "leave_one_token_out"
        )
