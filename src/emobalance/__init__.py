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
    "ModelError",
    "TfidfBaseline",
    "TransformerClassifier",
    "__version__",
    "collapse_labels",
    "collapse_probabilities",
    "load_model",
]

_LAZY = {  # these pull in torch or scikit-learn: import them on first use so the CLI starts fast
    "EmotionClassifier": "emobalance.models.reference",
    "EmotionModel": "emobalance.models.base",
    "TfidfBaseline": "emobalance.models.baselines",
    "TransformerClassifier": "emobalance.models.transformer",
    "load_model": "emobalance.models.registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emobalance' has no attribute {name!r}")
