"""Data layer: :class:`EmotionDataset`, GoEmotions splits and unlabelled corpora."""

from . import corpora, goemotions
from .corpora import load_any, read_corpus, read_texts, sentiment140
from .dataset import EmotionDataset

__all__ = [
    "EmotionDataset",
    "corpora",
    "goemotions",
    "load_any",
    "read_corpus",
    "read_texts",
    "sentiment140",
]
