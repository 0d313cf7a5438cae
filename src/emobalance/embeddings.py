"""Word vectors: read pre-trained files, train fastText on a corpus, build an embedding matrix.

Text formats (``.vec``, ``.vec.gz``, word2vec ``.txt``, with or without the ``count dim`` header
line) are **streamed** line by line: with ``words`` given, only the lines of wanted words are
parsed and kept, so a 1M-word file costs memory for the vocabulary only. Binary files are read
with gensim: a fastText ``.bin`` (detected by its magic number) also gives subword vectors for
words it does not list; any other ``.bin`` is read as word2vec binary format.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError

if TYPE_CHECKING:
    from .text.vocab import Vocab

FASTTEXT_MAGIC = 793712314
"""First int32 of a Facebook fastText ``.bin`` model."""
TRAINED_SOURCE = "fasttext-trained"
"""``EmbeddingMatrix.source`` when the vectors were trained on the corpus."""


@dataclass
class Vectors:
    """Word vectors read from a file.

    Attributes
    ----------
    words : list of str
        The words, in file order.
    matrix : ndarray of shape (len(words), dim), dtype float32
        One row per word.
    dim : int
        Vector width.
    subword_model : object or None
        For a fastText ``.bin``: the gensim ``FastTextKeyedVectors``, which gives a vector for
        any word from its character n-grams (see :meth:`vector`); ``None`` otherwise.
    path : str
        The file read.
    """

    words: list[str]
    matrix: np.ndarray
    dim: int
    subword_model: Any = None
    path: str = ""
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self.index[word]]

    def __repr__(self) -> str:
        sub = ", subwords" if self.subword_model is not None else ""
        return f"Vectors(n={len(self)}, dim={self.dim}{sub}, path={self.path!r})"

    def vector(self, word: str) -> np.ndarray | None:
        """The vector of ``word``: listed, else from subwords (``.bin`` only), else ``None``."""
        i = self.index.get(word)
        if i is not None:
            return self.matrix[i]
        return _subword_vector(self.subword_model, word)

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{word: vector}`` (rows are views of :attr:`matrix`)."""
        return {w: self.matrix[i] for i, w in enumerate(self.words)}


@dataclass
class EmbeddingMatrix:
    """An embedding matrix aligned with a :class:`~emobalance.text.Vocab`.

    Attributes
    ----------
    matrix : ndarray of shape (len(vocab), dim), dtype float32
        Row ``i`` is the vector of ``vocab.itos[i]``; row 0 (``<pad>``) is zeros; words without
        a vector (and ``<unk>``) get seeded random normal rows with the std of the found rows.
    coverage : float
        Share of the vocabulary (``<pad>``/``<unk>`` excluded) that got a vector.
    token_coverage : float or None
        The same share weighted by training frequency (``vocab.counts``); ``None`` when the
        vocabulary carries no counts.
    n_found, n_total : int
        Words with a vector / words in the vocabulary (specials excluded).
    n_subword : int
        Of ``n_found``, words not listed in the file whose vector was composed from character
        n-grams (fastText ``.bin`` or trained fastText only).
    source : str
        The vectors file, or ``"fasttext-trained"``.
    dim : int
        Vector width.
    missing : list of str
        Words without a vector, most frequent first.
    """

    matrix: np.ndarray
    coverage: float
    token_coverage: float | None
    n_found: int
    n_total: int
    n_subword: int
    source: str
    dim: int
    missing: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (everything but the matrix and the missing words)."""
        return {
            "source": self.source,
            "dim": self.dim,
            "coverage": self.coverage,
            "token_coverage": self.token_coverage,
            "n_found": self.n_found,
            "n_total": self.n_total,
            "n_subword": self.n_subword,
            "missing_examples": self.missing[:20],
        }


# ---------------------------------------------------------------------- reading
def _subword_vector(model: Any, word: str) -> np.ndarray | None:
    if model is None:
        return None
    try:
        vec = model.get_vector(word)
    except KeyError:  # no n-gram buckets (a model trained without subwords)
        return None
    vec = np.asarray(vec, dtype=np.float32)
    if not np.any(vec):
        return None
    return vec


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_magic(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(4)
    return int.from_bytes(head, "little", signed=True) if len(head) == 4 else None


def _open_text(path: Path) -> io.TextIOWrapper:
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


def _header(line: str) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _iter_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a text vectors file, gzip or not, ``\\r\\n`` stripped."""
    try:
        with _open_text(path) as f:
            for n, line in enumerate(f, start=1):
                yield n, line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _parse_values(path: Path, lineno: int, word: str, rest: str, dim: int | None) -> np.ndarray:
    parts = rest.split()
    if dim is not None and len(parts) != dim:
        raise DataError(
            f"{path}: line {lineno}: word {word!r} has {len(parts)} values, expected {dim}"
        )
    if not parts:
        raise DataError(f"{path}: line {lineno}: word {word!r} has no values")
    try:
        vec = np.array(parts, dtype=np.float32)
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise DataError(f"{path}: line {lineno}: value {bad!r} is not a number") from None
    if not np.isfinite(vec).all():
        raise DataError(f"{path}: line {lineno}: word {word!r} has a non-finite value")
    return vec


def _preview(line: str, width: int = 40) -> str:
    return repr(line if len(line) <= width else line[:width] + "...")


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _load_text(
    path: Path, wanted: set[str] | None, expected_dim: int | None, limit: int | None
) -> Vectors:
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dim = expected_dim
    declared: int | None = None
    n_lines = 0  # lines of vectors (the header and blank lines excluded)
    for lineno, line in _iter_text_lines(path):
        if lineno == 1:
            header = _header(line)
            if header is not None:
                declared, hdim = header
                if expected_dim is not None and hdim != expected_dim:
                    raise DataError(
                        f"{path}: line 1: header says dimension {hdim}, expected {expected_dim}"
                    )
                dim = hdim
                continue
        if not line.strip():
            continue
        n_lines += 1
        word, sep, rest = line.partition(" ")
        if not sep or not rest.strip():  # cheap enough for every line: `word` alone
            raise DataError(
                f"{path}: line {lineno}: not a vectors line (a word, then its values): "
                f"{_preview(line)}"
            )
        if n_lines == 1 and wanted is not None and word not in wanted:
            # the first line is parsed whatever the word: a file that is not vectors at all
            # (a text, /etc/passwd) is refused here, not read as vectors of no wanted word
            dim = _parse_values(path, lineno, word, rest, dim).shape[0]
        if wanted is not None and word not in wanted:
            continue
        if word in seen:  # keep the first vector of a repeated word
            continue
        vec = _parse_values(path, lineno, word, rest, dim)
        dim = vec.shape[0]
        seen.add(word)
        words.append(word)
        rows.append(vec)
        if limit is not None and len(words) >= limit:
            break
        if wanted is not None and len(words) == len(wanted):
            break
    if n_lines == 0:
        what = "only a header line" if declared is not None else "no lines"
        raise DataError(f"{path}: no vectors found (the file has {what})")
    if dim is None:
        raise DataError(f"{path}: no vectors found")
    if declared is not None and wanted is None and limit is None and len(words) > declared:
        raise DataError(f"{path}: header declares {declared} words but the file has more")
    matrix = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return Vectors(words, matrix, dim, None, str(path))


def _load_binary(
    path: Path, wanted: set[str] | None, expected_dim: int | None, limit: int | None
) -> Vectors:
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import load_facebook_vectors

    is_fasttext = _read_magic(path) == FASTTEXT_MAGIC
    try:
        if is_fasttext:
            kv = load_facebook_vectors(str(path))
        else:
            kv = KeyedVectors.load_word2vec_format(str(path), binary=True, limit=limit)
    except Exception as exc:  # gensim raises many kinds on a bad file
        kind = "fastText .bin" if is_fasttext else "word2vec binary"
        raise DataError(f"{path}: not a readable {kind} file ({exc})") from None
    dim = int(kv.vector_size)
    if expected_dim is not None and dim != expected_dim:
        raise DataError(f"{path}: vectors have dimension {dim}, expected {expected_dim}")
    keys: Sequence[str] = kv.index_to_key
    if limit is not None:
        keys = keys[:limit]
    if wanted is not None:
        keys = [w for w in keys if w in wanted]
    idx = [kv.key_to_index[w] for w in keys]
    matrix = np.asarray(kv.vectors[idx], dtype=np.float32).reshape(len(idx), dim)
    return Vectors(list(keys), matrix, dim, kv if is_fasttext else None, str(path))


def load_vectors(
    path: str | os.PathLike[str],
    words: Iterable[str] | None = None,
    expected_dim: int | None = None,
    limit: int | None = None,
) -> Vectors:
    """Read word vectors from a file.

    Parameters
    ----------
    path : str or path-like
        ``.vec``, ``.vec.gz`` (any gzip file), word2vec ``.txt`` (header line optional), a
        fastText ``.bin`` or a word2vec binary ``.bin``.
    words : iterable of str, optional
        Keep only these words (e.g. a vocabulary). Text files are streamed and only the
        lines of these words are parsed, so a malformed line of another word goes unnoticed.
    expected_dim : int, optional
        Required vector width; a different header or vector width raises :class:`DataError`.
    limit : int, optional
        Read at most this many vectors from the top of the file.

    Returns
    -------
    Vectors
        Words in file order and a ``float32`` matrix; for a fastText ``.bin``,
        ``subword_model`` gives vectors for words the file does not list.

    Raises
    ------
    DataError
        If the file is missing or unreadable, a line has the wrong number of values or a value
        that is not a finite number (the message gives the file and the line number), or the
        dimension differs from ``expected_dim``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    wanted = None if words is None else set(words)
    if path.suffix.lower() == ".bin":
        return _load_binary(path, wanted, expected_dim, limit)
    return _load_text(path, wanted, expected_dim, limit)


# --------------------------------------------------------------------- training
def train_fasttext(
    token_lists: Iterable[Sequence[str]],
    dim: int = 300,
    epochs: int = 10,
    min_count: int = 2,
    window: int = 5,
    seed: int = 0,
    workers: int = 1,
    bucket: int = 200_000,
    min_n: int = 3,
    max_n: int = 6,
) -> Any:
    """Train fastText (gensim, CBOW with character n-grams) on tokenised texts.

    Parameters
    ----------
    token_lists : iterable of list of str
        Tokenised training texts (empty ones are skipped).
    dim : int, default=300
        Vector width.
    epochs, min_count, window : int
        gensim ``FastText`` settings.
    seed : int, default=0
        Random seed; with ``workers=1`` the result is the same on every run.
    workers : int, default=1
        Training threads; more is faster but no longer reproducible.
    bucket : int, default=200_000
        Hash buckets for character n-grams (gensim's default of 2M costs 2.4 GB at dim 300).
    min_n, max_n : int
        Character n-gram lengths.

    Returns
    -------
    gensim.models.fasttext.FastTextKeyedVectors
        ``kv[word]`` works for any word (unknown ones from their n-grams).
    """
    from gensim.models.fasttext import FastText

    sentences = [list(t) for t in token_lists if len(t)]
    if not sentences:
        raise DataError("cannot train fastText on an empty corpus")
    model = FastText(
        vector_size=dim,
        window=window,
        min_count=min_count,
        seed=seed,
        workers=workers,
        bucket=bucket,
        min_n=min_n,
        max_n=max_n,
    )
    model.build_vocab(corpus_iterable=sentences)
    if not model.wv.index_to_key:
        raise DataError(f"no word occurs at least min_count={min_count} times in the corpus")
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return model.wv


# ----------------------------------------------------------------------- matrix
def build_embedding_matrix(
    vocab: Vocab,
    path: str | os.PathLike[str] | None = None,
    corpus_tokens: Iterable[Sequence[str]] | None = None,
    dim: int | None = None,
    seed: int = 0,
    epochs: int = 10,
    min_count: int = 2,
    workers: int = 1,
    min_coverage: float = 0.0,
) -> EmbeddingMatrix:
    """An embedding matrix for ``vocab`` from a vectors file, or from fastText trained here.

    Parameters
    ----------
    vocab : Vocab
        The vocabulary; row ``i`` of the result belongs to ``vocab.itos[i]``.
    path : str or path-like, optional
        Pre-trained vectors (see :func:`load_vectors`). ``None`` trains fastText on
        ``corpus_tokens``.
    corpus_tokens : iterable of list of str, optional
        Tokenised training texts; required when ``path`` is ``None``.
    dim : int, optional
        Vector width. With a file it must match the file (``None``: take the file's); for
        training it is the width trained (``None``: 300).
    seed : int, default=0
        Seed of the random rows (and of fastText training).
    epochs, min_count, workers : int
        fastText training settings (see :func:`train_fasttext`).
    min_coverage : float, default=0.0
        With a file: the least share of the vocabulary it must cover
        (``model.min_vector_coverage``); a file below it is the wrong file.

    Returns
    -------
    EmbeddingMatrix

    Raises
    ------
    DataError
        If the file cannot be read, its width differs from ``dim``, or it covers less than
        ``min_coverage`` of the vocabulary.
    ValueError
        If neither ``path`` nor ``corpus_tokens`` is given.
    """
    words = vocab.itos[2:]
    if path is not None:
        vectors = load_vectors(path, words=words, expected_dim=dim)
        dim = vectors.dim
        source = str(path)
        lookup = vectors.vector
        listed = vectors.index
    else:
        if corpus_tokens is None:
            raise ValueError("build_embedding_matrix needs a vectors path or corpus_tokens")
        dim = 300 if dim is None else dim
        kv = train_fasttext(
            corpus_tokens, dim=dim, epochs=epochs, min_count=min_count, seed=seed, workers=workers
        )
        source = TRAINED_SOURCE
        listed = kv.key_to_index

        def lookup(word: str) -> np.ndarray | None:
            i = kv.key_to_index.get(word)
            if i is not None:
                return np.asarray(kv.vectors[i], dtype=np.float32)
            return _subword_vector(kv, word)

    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    n_subword = 0
    for i, word in enumerate(words, start=2):
        vec = lookup(word)
        if vec is not None:
            matrix[i] = vec
            found[i] = True
            n_subword += word not in listed
    n_found = int(found.sum())
    std = float(matrix[found].std()) if n_found else 0.0
    if not math.isfinite(std) or std <= 0.0:
        std = 1.0 / math.sqrt(dim)
    missing_rows = np.flatnonzero(~found)
    missing_rows = missing_rows[missing_rows != vocab.pad_id]
    rng = np.random.default_rng(seed)
    matrix[missing_rows] = rng.normal(0.0, std, size=(len(missing_rows), dim)).astype(np.float32)

    n_total = len(words)
    coverage = n_found / n_total if n_total else 0.0
    if path is not None and n_total and coverage < min_coverage:
        raise DataError(
            f"{path}: vectors for only {n_found:,} of the {n_total:,} vocabulary words "
            f"({coverage:.2%}), below model.min_vector_coverage={min_coverage:g}: "
            "not the vectors of this language or corpus?"
        )
    token_coverage: float | None = None
    if vocab.counts is not None:
        weights = np.array([vocab.counts.get(w, 0) for w in words], dtype=np.float64)
        total = weights.sum()
        token_coverage = float(weights[found[2:]].sum() / total) if total > 0 else 0.0
    missing = [vocab.itos[i] for i in missing_rows if i >= 2]
    return EmbeddingMatrix(
        matrix=matrix,
        coverage=float(coverage),
        token_coverage=token_coverage,
        n_found=n_found,
        n_total=n_total,
        n_subword=int(n_subword),
        source=source,
        dim=int(dim),
        missing=missing,
    )
