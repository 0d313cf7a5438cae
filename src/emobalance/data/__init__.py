"""Data layer: :class:`EmotionDataset`, GoEmotions splits and unlabelled corpora."""

from . import corpora, goemotions, readers
from .corpora import load_any, read_corpus, sentiment140
from .dataset import EmotionDataset
from .readers import read_texts

__all__ = [
    "EmotionDataset",
    "corpora",
    "goemotions",
    "load_any",
    "read_corpus",
    "read_texts",
    "readers",
    "sentiment140",
]
