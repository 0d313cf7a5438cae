"""Vocabulary: token <-> id, built from training tokens, saved as JSON beside a model."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import atomic_path
from .normalize import _TOKEN_RE, normalize

PAD = "<pad>"
"""Padding token, id 0 (its embedding row is zeros)."""
UNK = "<unk>"
"""Unknown-token id 1; an empty text is encoded as ``[UNK]``."""
FORMAT = "emobalance-vocab"
VERSION = 1
CHARS_PER_TOKEN = 20
"""Raw characters kept per token of ``max_len`` before normalising (bounds the work per text)."""


class Vocab:
    """A token vocabulary with ``<pad>`` = 0 and ``<unk>`` = 1.

    Parameters
    ----------
    itos : sequence of str
        Tokens in id order; must start with ``<pad>``, ``<unk>`` and hold no duplicates.
    counts : sequence of int, optional
        Training frequency of each token of ``itos`` (0 for the specials); kept for the
        frequency-weighted coverage of pre-trained vectors.

    Attributes
    ----------
    itos : list of str
        Id -> token.
    stoi : dict of str to int
        Token -> id.
    counts : dict of str to int or None
        Training frequency of each regular token, when known.
    pad_id, unk_id : int
        0 and 1.

    Raises
    ------
    DataError
        If ``itos`` does not start with the specials, holds a duplicate or a non-string.
    """

    PAD = PAD
    UNK = UNK

    def __init__(self, itos: Sequence[str], counts: Sequence[int] | None = None) -> None:
        itos = list(itos)
        if itos[:2] != [PAD, UNK]:
            raise DataError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {itos[:2]}")
        for i, tok in enumerate(itos):
            if not isinstance(tok, str):
                raise DataError(f"vocabulary entry {i} is {type(tok).__name__}, expected str")
        stoi = {tok: i for i, tok in enumerate(itos)}
        if len(stoi) != len(itos):
            dup = next(t for t, n in Counter(itos).items() if n > 1)
            raise DataError(f"vocabulary holds {dup!r} more than once")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = stoi
        self.pad_id: int = 0
        self.unk_id: int = 1
        self.counts: dict[str, int] | None = None
        if counts is not None:
            counts = [int(c) for c in counts]
            if len(counts) != len(itos):
                raise DataError(f"{len(counts)} counts for {len(itos)} vocabulary entries")
            self.counts = dict(zip(itos[2:], counts[2:], strict=True))

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Build a vocabulary from tokenised texts.

        Parameters
        ----------
        token_lists : iterable of list of str
            Tokens of each training text (e.g. from :func:`~emobalance.text.tokenize`).
        min_freq : int, default=1
            Tokens seen fewer times are left out (they map to ``<unk>``).
        max_size : int, optional
            Largest vocabulary size, the two specials included (so ``max_size=2`` keeps only
            ``<pad>`` and ``<unk>``); the most frequent tokens are kept.

        Returns
        -------
        Vocab
            Specials first, then tokens by decreasing frequency, ties in alphabetical order
            (deterministic for a given input).

        Raises
        ------
        ValueError
            If ``min_freq < 1`` or ``max_size < 2``.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (<pad> and <unk>), got {max_size}")
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        counter.pop(PAD, None)
        counter.pop(UNK, None)
        items = sorted(
            ((tok, n) for tok, n in counter.items() if n >= min_freq),
            key=lambda kv: (-kv[1], kv[0]),
        )
        if max_size is not None:
            items = items[: max_size - 2]
        return cls([PAD, UNK, *(t for t, _ in items)], [0, 0, *(n for _, n in items)])

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.itos == other.itos and self.counts == other.counts

    __hash__ = None  # type: ignore[assignment]

    # --------------------------------------------------------------- encoding
    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens`` (``<unk>`` for unknown ones)."""
        get = self.stoi.get
        unk = self.unk_id
        return [get(t, unk) for t in tokens]

    def encode_texts(self, texts: Sequence[str], max_len: int) -> list[np.ndarray]:
        """Normalise, tokenise and encode raw texts.

        Parameters
        ----------
        texts : sequence of str
            Raw texts.
        max_len : int
            Tokens kept per text (the first ``max_len``). Before normalising, a text is cut to
            ``max_len * 20`` characters so that a huge text costs no more than a long one.

        Returns
        -------
        list of ndarray of int64
            One id array per text, each of length 1 to ``max_len``; a text with no token is
            ``[unk_id]``.

        Raises
        ------
        DataError
            If a text is not a ``str`` (the message gives its position).
        ValueError
            If ``max_len < 1``.
        """
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        cut = max_len * CHARS_PER_TOKEN
        get = self.stoi.get
        unk = self.unk_id
        findall = _TOKEN_RE.findall
        empty = np.array([unk], dtype=np.int64)
        out: list[np.ndarray] = []
        append = out.append
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"text {i} is {type(text).__name__}, expected str")
            if len(text) > cut:
                text = text[:cut]
            ids = [get(t, unk) for t in findall(normalize(text))[:max_len]]
            append(np.array(ids, dtype=np.int64) if ids else empty.copy())
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``; raise ``IndexError`` naming an id outside the vocabulary."""
        n = len(self.itos)
        out = []
        for i in ids:
            j = int(i)
            if not 0 <= j < n:
                raise IndexError(f"token id {j} outside the vocabulary (size {n})")
            out.append(self.itos[j])
        return out

    # ---------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format``, ``version``, ``itos`` and optional ``counts``)."""
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "itos": list(self.itos)}
        if self.counts is not None:
            d["counts"] = [0, 0, *(self.counts[t] for t in self.itos[2:])]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "vocabulary") -> Vocab:
        """Inverse of :meth:`to_dict`; ``origin`` names the source in error messages."""
        if not isinstance(d, dict) or not isinstance(d.get("itos"), list):
            raise DataError(f"{origin}: not an emobalance vocabulary (no 'itos' list)")
        if d.get("format", FORMAT) != FORMAT:
            raise DataError(f"{origin}: format is {d.get('format')!r}, expected {FORMAT!r}")
        if d.get("version", VERSION) > VERSION:
            raise DataError(f"{origin}: vocabulary version {d['version']} is newer than {VERSION}")
        counts = d.get("counts")
        if counts is not None and (
            not isinstance(counts, list) or not all(isinstance(c, int) for c in counts)
        ):
            raise DataError(f"{origin}: 'counts' must be a list of integers")
        try:
            return cls(d["itos"], counts)
        except DataError as exc:
            raise DataError(f"{origin}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON (atomically)."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by :meth:`save`.

        Raises
        ------
        DataError
            If the file is missing, not JSON, or not a valid vocabulary (the message names it).
        """
        path = Path(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read vocabulary ({exc})") from None
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        return cls.from_dict(d, origin=str(path))
