"""Encoded texts as one padded id matrix, and a cache of them keyed by vocabulary and texts.

The reference network's training and inference cut batches out of an :class:`EncodedTexts`
by slicing (no per-batch Python loop over rows). :func:`encode_cached` keeps the last few
encodings of a process, so that fitting several models on the same texts with the same
vocabulary (the seeds and variants of ``emobalance run``, dev scored at every epoch and
again for the thresholds) tokenises each text once. The key holds a digest of the
vocabulary's tokens, ``max_len`` and a digest of the texts, so a changed vocabulary or a
changed text is a different entry, never a stale one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from .vocab import Vocab

CACHE_BYTES = 256 * 2**20
"""Largest total size of the id matrices :func:`encode_cached` keeps."""


class EncodedTexts(Sequence[np.ndarray]):
    """Token ids of ``n`` texts: a right-padded ``int32 (n, width)`` matrix and the lengths.

    A sequence of per-text id arrays (``encoded[i]`` is text ``i``'s ids, int64), so code
    written for lists of arrays takes it as well; :meth:`batch` is the fast path. The
    arrays are read-only: a cached encoding is shared.

    Parameters
    ----------
    ids : ndarray of shape (n, width)
        Ids, 0 (``<pad>``) after each text's last token.
    lengths : ndarray of shape (n,)
        Tokens of each text (>= 1 for encoded texts).
    """

    def __init__(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int32)
        lengths = np.asarray(lengths, dtype=np.int64)
        if ids.ndim != 2 or lengths.shape != (ids.shape[0],):
            raise ValueError(f"ids {ids.shape} and lengths {lengths.shape} do not match")
        ids.flags.writeable = False
        lengths.flags.writeable = False
        self.ids = ids
        self.lengths = lengths

    @classmethod
    def from_sequences(cls, seqs: Sequence[np.ndarray]) -> EncodedTexts:
        """Pack per-text id arrays into one matrix."""
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        ids = np.zeros((len(seqs), int(lengths.max(initial=1))), dtype=np.int32)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s
        return cls(ids, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.ids[i, : self.lengths[i]].astype(np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.lengths.nbytes

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids (B, T) int64, lengths (B,))`` of the rows ``idx``, padded to the longest."""
        import torch

        lens = self.lengths[idx]
        width = max(int(lens.max(initial=1)), 1)
        return (torch.from_numpy(self.ids[idx, :width].astype(np.int64)),
                torch.from_numpy(lens.copy()))  # fmt: skip


def vocab_digest(vocab: Vocab) -> str:
    """A digest of the vocabulary's tokens in id order (what encoding depends on)."""
    h = hashlib.sha256()
    for tok in vocab.itos:
        h.update(tok.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def texts_digest(texts: Sequence[str]) -> str:
    """A digest of the texts in order (their lengths are hashed too, so no two lists of
    texts share one, whatever characters they hold)."""
    h = hashlib.sha256()
    h.update(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)).tobytes())
    h.update("".join(texts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


_cache: OrderedDict[tuple[str, int, str], EncodedTexts] = OrderedDict()
_lock = threading.Lock()


def encode_cached(vocab: Vocab, texts: Sequence[str], max_len: int) -> EncodedTexts:
    """``vocab.encode_texts(texts, max_len)`` as an :class:`EncodedTexts`, from the cache
    when this vocabulary already encoded these texts at this ``max_len`` in this process.

    Raises what :meth:`Vocab.encode_texts <emobalance.text.Vocab.encode_texts>` raises (a
    text that is not a ``str``), before anything is cached.
    """
    texts = list(texts)
    try:
        digest = texts_digest(texts)
    except TypeError:  # a text that is not a str: encode_texts raises the error naming it
        vocab.encode_texts(texts, max_len)
        raise
    key = (vocab_digest(vocab), int(max_len), digest)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    encoded = EncodedTexts.from_sequences(vocab.encode_texts(texts, max_len))
    with _lock:
        _cache[key] = encoded
        while len(_cache) > 1 and sum(e.nbytes for e in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    return encoded


def clear_cache() -> None:
    """Forget every cached encoding."""
    with _lock:
        _cache.clear()
