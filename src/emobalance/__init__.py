"""emobalance: multi-label emotion classification with data balancing."""

from __future__ import annotations

__version__ = "0.1.0"

import os
from typing import TYPE_CHECKING, Any

from . import labels as _labels
from .data.dataset import EmotionDataset
from .errors import DataError, EmobalanceError, ModelError
from .labels import LabelSchema, collapse_labels, collapse_probabilities

# GoEmotions' label constants (the label list, Ekman, sentiment ...) are served from labels.py,
# the one module that names them
_LABEL_CONSTANTS = tuple(n for n in vars(_labels) if n.isupper() and not n.startswith("_"))

if TYPE_CHECKING:
    from .models.base import EmotionModel

__all__ = [
    *_LABEL_CONSTANTS,
    "DataError",
    "EmobalanceError",
    "EmotionClassifier",
    "EmotionDataset",
    "EmotionModel",
    "LabelMap",
    "LabelSchema",
    "ModelError",
    "TfidfBaseline",
    "TransformerClassifier",
    "__version__",
    "collapse_labels",
    "collapse_probabilities",
    "evaluate_external",
    "load",
    "load_model",
]

# these pull in torch, scikit-learn or matplotlib: import them on first use so the CLI starts fast
_LAZY = {
    "EmotionClassifier": "emobalance.models.reference",
    "EmotionModel": "emobalance.models.base",
    "LabelMap": "emobalance.evaluation.label_maps",
    "TfidfBaseline": "emobalance.models.baselines",
    "TransformerClassifier": "emobalance.models.transformer",
    "evaluate_external": "emobalance.evaluation.external",
    "load_model": "emobalance.models.registry",
}


def load(path: str | os.PathLike[str] | None = None, **options: Any) -> EmotionModel:
    """The model packaged with emobalance, or the saved model at ``path``.

    ``emobalance.load()`` returns the default model (the distilled reference network, int8
    ONNX; its sha256 is checked first) with no data, cache or network; ``load(path)`` is
    :func:`emobalance.load_model`. ``options`` go to :func:`~emobalance.load_model`
    (``device``, ``kind``, ``num_threads``).

    >>> import emobalance
    >>> emobalance.load().predict(["I miss her so much"])  # doctest: +SKIP
    [['sadness']]
    """
    from .models.registry import load_model

    return load_model("default" if path is None else path, **options)


def __getattr__(name: str):
    if name in _LABEL_CONSTANTS:
        return getattr(_labels, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emobalance' has no attribute {name!r}")
