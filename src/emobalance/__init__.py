"""emobalance: multi-label emotion classification with data balancing."""

__version__ = "0.1.0"

from .data.dataset import EmotionDataset
from .errors import DataError, EmobalanceError, ModelError
from .labels import EKMAN, LABELS, NUM_LABELS, SENTIMENT, collapse_labels, collapse_probabilities

__all__ = [
    "EKMAN",
    "LABELS",
    "NUM_LABELS",
    "SENTIMENT",
    "DataError",
    "EmobalanceError",
    "EmotionClassifier",
    "EmotionDataset",
    "EmotionModel",
    "LabelMap",
    "ModelError",
    "TfidfBaseline",
    "TransformerClassifier",
    "__version__",
    "collapse_labels",
    "collapse_probabilities",
    "evaluate_external",
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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emobalance' has no attribute {name!r}")
