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
    "ModelError",
    "TransformerClassifier",
    "__version__",
    "collapse_labels",
    "collapse_probabilities",
]


def __getattr__(name: str):
    # EmotionClassifier pulls in torch: import it on first use so the CLI starts fast
    if name == "EmotionClassifier":
        from .classifier import EmotionClassifier

        return EmotionClassifier
    if name == "TransformerClassifier":
        from .models.transformer import TransformerClassifier

        return TransformerClassifier
    raise AttributeError(f"module 'emobalance' has no attribute {name!r}")
