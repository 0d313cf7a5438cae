"""Long texts: how a text longer than a model reads is scored (the ``long_text`` policy).

Every model reads a bounded input: the reference network and its ONNX export the first
``max_len`` tokens, the transformer the first ``max_length`` subword tokens (the TF-IDF
baseline reads the whole text). :class:`LongTextPolicy` says what
:meth:`~emobalance.models.base.EmotionModel.predict_proba` does with the rest:

``truncate`` (the default)
    Score the text as it is: the model reads what fits, the rest is ignored. This is what
    every model did before the policy existed, to the bit.
``sentences``
    Split the text into sentences (after ``.``, ``!``, ``?`` or ``…``, possibly followed by a
    closing quote or bracket, then white space; and at line breaks) and score each one.
``windows``
    Split the text into windows of ``window`` words (white-space separated) with a stride of
    ``window // 2``, the last window ending at the last word, and score each one.

The pieces' probabilities are then combined per label by ``aggregate``: ``max`` (the
default: an emotion expressed in one sentence is in the text) or ``mean`` (the share of the
text that carries it). A text that gives a single piece (one sentence, at most ``window``
words, or an empty text) is scored whole, exactly as ``truncate`` scores it. A sentence longer
than the model reads is truncated like any text. The per-label thresholds are those tuned on
dev, where texts are short (one piece): with ``max`` a long text reaches a threshold when one
of its pieces does.

This module imports only numpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ConfigError

__all__ = [
    "AGGREGATES",
    "DEFAULT_WINDOW_WORDS",
    "LONG_TEXT_MODES",
    "MAX_WINDOW_WORDS",
    "TRUNCATE",
    "LongTextPolicy",
    "aggregate_pieces",
    "split_text",
    "split_texts",
    "window_for_tokens",
]

LONG_TEXT_MODES = ("truncate", "sentences", "windows")
AGGREGATES = ("max", "mean")
DEFAULT_WINDOW_WORDS = 48
"""Window of a model with no input bound of its own (TF-IDF): what 64 tokens hold, at about
3 words per 4 tokens (punctuation and subwords count as tokens)."""
MAX_WINDOW_WORDS = 100_000

# a sentence ends at . ! ? … (repeated), optionally followed by one closing quote or bracket,
# then white space; a line break always ends one
_SENTENCE_BREAK = re.compile(
    r"(?:(?<=[.!?\u2026])|(?<=[.!?\u2026][\"'\u201d\u2019)\]]))\s+|\s*\n\s*"
)


def window_for_tokens(max_tokens: int | None) -> int:
    """The default window (in words) of a model that reads ``max_tokens`` tokens: 3/4 of
    them (a token is a word, a punctuation mark or a subword), at least 2;
    :data:`DEFAULT_WINDOW_WORDS` for a model without a bound."""
    if max_tokens is None:
        return DEFAULT_WINDOW_WORDS
    return max(2, int(max_tokens) * 3 // 4)


def _choice(value: object, allowed: Sequence[str], field: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ConfigError(f"{field}: expected {', '.join(allowed[:-1])} or {allowed[-1]}, "
                          f"got {shown}")  # fmt: skip
    return value.strip().lower()


@dataclass(frozen=True)
class LongTextPolicy:
    """How texts longer than the model reads are scored (see the module docstring).

    Parameters
    ----------
    mode : {"truncate", "sentences", "windows"}, default="truncate"
    aggregate : {"max", "mean"}, default="max"
        How the pieces' probabilities combine, per label.
    window : int, optional
        Words per window (``windows`` only; the stride is ``window // 2``). Default: the
        model's own (:func:`window_for_tokens` of what it reads).

    Raises
    ------
    ConfigError
        For a mode or aggregate not listed above, or a window that is not an int in
        ``[2, 100000]`` (the message names the field).
    """

    mode: str = "truncate"
    aggregate: str = "max"
    window: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _choice(self.mode, LONG_TEXT_MODES, "long_text"))
        object.__setattr__(self, "aggregate", _choice(self.aggregate, AGGREGATES, "aggregate"))
        w = self.window
        if w is not None:
            ok = isinstance(w, int | np.integer) and not isinstance(w, bool)
            if not ok or not 2 <= w <= MAX_WINDOW_WORDS:
                shown = w if ok else type(w).__name__
                raise ConfigError(
                    f"window: expected an int in [2, {MAX_WINDOW_WORDS}] (words), got {shown}"
                )
            object.__setattr__(self, "window", int(w))

    def updated(
        self,
        long_text: str | None = None,
        aggregate: str | None = None,
        window: int | None = None,
    ) -> LongTextPolicy:
        """This policy with the given fields changed (``None``: kept)."""
        given = {"mode": long_text, "aggregate": aggregate, "window": window}
        changes = {k: v for k, v in given.items() if v is not None}
        return replace(self, **changes) if changes else self


TRUNCATE = LongTextPolicy()
"""The default policy: every text scored as it is."""


def split_text(text: str, mode: str, window: int) -> list[str]:
    """The pieces of one text under ``mode`` (``[text]`` when it gives a single piece).

    Parameters
    ----------
    text : str
    mode : {"truncate", "sentences", "windows"}
    window : int
        Words per window (``windows``), stride ``window // 2``.

    Examples
    --------
    >>> split_text("I love it. But why?! Fine", "sentences", 48)
    ['I love it.', 'But why?!', 'Fine']
    >>> split_text("a b c d e f", "windows", 4)
    ['a b c d', 'c d e f']
    """
    if mode == "sentences":
        pieces = [p for p in _SENTENCE_BREAK.split(text.strip()) if p]
    elif mode == "windows":
        words = text.split()
        if len(words) <= window:
            return [text]
        stride = max(1, window // 2)
        starts = [*range(0, len(words) - window, stride), len(words) - window]
        pieces = [" ".join(words[s : s + window]) for s in starts]
    else:
        return [text]
    return pieces if len(pieces) > 1 else [text]


def split_texts(
    texts: Sequence[str], policy: LongTextPolicy, default_window: int
) -> tuple[list[str], np.ndarray]:
    """All pieces of ``texts`` in order, and the number of pieces of each text.

    Returns
    -------
    pieces : list of str
        The pieces of text 0, then those of text 1, ...
    counts : ndarray of shape (len(texts),), int64
        Pieces per text (at least 1).
    """
    window = policy.window or default_window
    pieces: list[str] = []
    counts = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        parts = split_text(text, policy.mode, window)
        pieces.extend(parts)
        counts[i] = len(parts)
    return pieces, counts


def aggregate_pieces(proba: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    """Per text, the ``max`` or ``mean`` over its pieces' rows of ``proba``.

    Parameters
    ----------
    proba : ndarray of shape (counts.sum(), n_labels)
        The pieces' probabilities, in the order of :func:`split_texts`.
    counts : ndarray of shape (n_texts,)
        Pieces per text (each at least 1).
    how : {"max", "mean"}

    Returns
    -------
    ndarray of shape (n_texts, n_labels), float32
        ``proba`` itself when every text is one piece.
    """
    proba = np.asarray(proba)
    if len(counts) == 0 or (counts == 1).all():
        return proba
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    if how == "max":
        return np.maximum.reduceat(proba, starts, axis=0).astype(np.float32, copy=False)
    sums = np.add.reduceat(proba.astype(np.float64), starts, axis=0)
    return (sums / counts[:, None]).astype(np.float32)
