"""Text preparation: normalisation, tokenisation and the vocabulary."""

from .normalize import PLACEHOLDERS, URL_TOKEN, USER_TOKEN, normalize, tokenize
from .vocab import PAD, UNK, Vocab

__all__ = [
    "PAD",
    "PLACEHOLDERS",
    "UNK",
    "URL_TOKEN",
    "USER_TOKEN",
    "Vocab",
    "normalize",
    "tokenize",
]
