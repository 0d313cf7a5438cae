"""Unlabelled corpora: Sentiment140, generic text files (CSV/TSV/JSONL/Parquet/TXT), and the
resolution of a corpus spec (``sentiment140`` or a path) used by balancing and distillation.

The Sentiment140 polarity guard (:func:`polarity_guard`) is a fixed slice of the Sentiment140
sample kept for measuring only: :func:`resolve_corpus` (and so :func:`load_corpus`) removes its
tweets from every corpus it returns, so no pseudo-labelling, distillation or other training set
ever sees them.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..labels import GOEMOTIONS, LabelSchema
from ..log import get_logger
from .dataset import EmotionDataset
from .readers import csv_reader, read_lines, read_texts

if TYPE_CHECKING:
    from ..config import DistillConfig

__all__ = [
    "GUARD_MAX_SHARE",
    "GUARD_PER_CLASS",
    "GUARD_VERSION",
    "POLARITY_GUARD",
    "SENTIMENT140_DIR",
    "guard_keys",
    "load_any",
    "load_corpus",
    "polarity_guard",
    "read_corpus",
    "resolve_corpus",
    "sentiment140",
    "without_guard",
]

log = get_logger(__name__)

SENTIMENT140_DIR = "sentiment140_sample_100k"
"""The Sentiment140 sample's folder under ``$EMOBALANCE_DATA``."""

_POLARITY_BY_NAME = {"negative": 0, "positive": 4}

POLARITY_GUARD = "sentiment140_polarity_guard"
"""The name of the guard, as an external dataset (``run.external``, ``evaluate --data``)."""
GUARD_PER_CLASS = 2500
"""Tweets of each polarity (negative, positive) in the guard."""
GUARD_MAX_SHARE = 0.1
"""The guard takes at most this share of each polarity's distinct tweets (a small corpus,
such as a test fixture, keeps most of its tweets); the sample has about 49,000 per class."""
GUARD_VERSION = 1
"""Changes whenever the guard's selection rule does (part of the balanced-set cache key)."""


def sentiment140(path: str | os.PathLike[str]) -> EmotionDataset:
    """Read Sentiment140 as an unlabelled dataset (``source="sentiment140"``).

    Parameters
    ----------
    path : path
        One of: the original 6-column CSV (``polarity,id,date,query,user,text``, latin-1,
        polarity 0/2/4); a one-tweet-per-line file (``negative.txt`` / ``positive.txt``,
        polarity taken from the name, else unknown); or a directory holding either.

    Returns
    -------
    EmotionDataset
        ``labels=None``; the polarity (0, 2, 4 or None) is kept in ``meta["polarity"]``.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv")) or [
            p for n in ("negative.txt", "positive.txt") if (p := path / n).is_file()
        ]
        if not files:
            raise DataError(f"{path}: no Sentiment140 CSV or negative.txt/positive.txt inside")
        return EmotionDataset.concat(sentiment140(f) for f in files)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return _sentiment140_csv(path)
    return _sentiment140_txt(path)


def _sentiment140_csv(path: Path) -> EmotionDataset:
    texts: list[str] = []
    ids: list[str] = []
    polarity: list[int] = []
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv_reader(f)
        try:
            for fields in reader:
                where = f"{path}: line {reader.line_num}"
                if len(fields) != 6:
                    raise DataError(f"{where}: expected 6 fields, got {len(fields)}")
                pol, tid, _date, _query, _user, text = fields
                if pol.strip() not in ("0", "2", "4"):
                    raise DataError(f"{where}: polarity must be 0, 2 or 4, got {pol[:40]!r}")
                texts.append(text)
                ids.append(f"s140-{tid}")
                polarity.append(int(pol))
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
    return EmotionDataset(texts, None, source="sentiment140", ids=ids, meta={"polarity": polarity})


def _sentiment140_txt(path: Path) -> EmotionDataset:
    pol = _POLARITY_BY_NAME.get(path.stem.lower())
    texts = read_lines(path)
    stem = path.stem.lower()
    ids = [f"s140-{stem}-{i + 1}" for i in range(len(texts))]
    return EmotionDataset(
        texts, None, source="sentiment140", ids=ids, meta={"polarity": [pol] * len(texts)}
    )


def read_corpus(
    path: str | os.PathLike[str], column: str = "text", source: str = "user"
) -> EmotionDataset:
    """Any text file as an unlabelled :class:`EmotionDataset`."""
    path = Path(path)
    texts = read_texts(path, column=column)
    return EmotionDataset(
        texts, None, source=source, ids=[f"{path.stem}-{i}" for i in range(len(texts))]
    )


def load_any(
    path: str | os.PathLike[str], text_column: str = "text", schema: LabelSchema | None = None
) -> EmotionDataset:
    """Load a labelled dataset by extension: GoEmotions ``.tsv``, Parquet, CSV or JSONL.

    ``schema``: the labels the file's label names are read in (default GoEmotions'; a
    Parquet file written by emobalance carries its own, which must then be ``schema``).
    """
    from .goemotions import read_tsv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tsv" and (schema is None or schema is GOEMOTIONS):
        return read_tsv(path, source="user")
    if suffix in (".parquet", ".pq"):
        return EmotionDataset.from_parquet(path, schema=schema)
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        return EmotionDataset.from_csv(
            path, text_column=text_column, delimiter=delimiter, schema=schema
        )
    if suffix in (".jsonl", ".ndjson"):
        return EmotionDataset.from_jsonl(path, text_column=text_column, schema=schema)
    raise DataError(f"{path}: unsupported file type {suffix!r} (tsv, parquet, csv, jsonl)")


def _sample_dir() -> Path | None:
    root = os.environ.get("EMOBALANCE_DATA")
    path = Path(root) / SENTIMENT140_DIR if root else None
    return path if path is not None and path.is_dir() else None


def _guard_key(text: str) -> str:
    """The identity of a tweet for the guard: its normalised text (as the leakage guards of
    balancing and distillation compare texts), so copies differing in mentions, URLs, case or
    elongations count as the same tweet."""
    from ..text.normalize import normalize

    return normalize(text)


@functools.lru_cache(maxsize=4)
def _guard(
    folder: str, stamp: tuple[tuple[str, int, int], ...]
) -> tuple[EmotionDataset, frozenset[str]]:
    # ``stamp`` (name, size, mtime of each file) makes a changed sample a new cache entry
    corpus = sentiment140(folder)
    keys = [_guard_key(t) for t in corpus.texts]
    classes: dict[str, set[int]] = {}
    for k, pol in zip(keys, corpus.meta["polarity"], strict=True):
        if k and pol in (0, 4):
            classes.setdefault(k, set()).add(pol)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    rows: list[int] = []
    for pol in (0, 4):
        # a normalised text found under both polarities has no gold label: never in the guard
        pool = [k for k, pols in classes.items() if pols == {pol}]
        take = min(GUARD_PER_CLASS, int(len(pool) * GUARD_MAX_SHARE))
        chosen = sorted(pool, key=lambda k: hashlib.sha256(k.encode("utf-8")).digest())
        rows += sorted(first[k] for k in chosen[:take])
    guard = corpus.subset(np.array(rows, dtype=np.int64))
    return guard, frozenset(keys[i] for i in rows)


def _guard_of(folder: Path) -> tuple[EmotionDataset, frozenset[str]]:
    files = [p for n in ("negative.txt", "positive.txt") if (p := folder / n).is_file()]
    files += sorted(folder.glob("*.csv"))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _guard(str(folder.resolve()), stamp)


def polarity_guard() -> EmotionDataset:
    """The Sentiment140 polarity guard: a fixed, reproducible held-out slice of the sample.

    Per polarity (negative, then positive), the distinct tweets (by normalised text; a text
    found under both polarities is left out) with the smallest sha256 of their normalised
    text: :data:`GUARD_PER_CLASS` of each, at most :data:`GUARD_MAX_SHARE` of the class. The
    selection depends only on the sample's content. :func:`resolve_corpus` removes these
    tweets (every copy of them) from every corpus.

    Returns
    -------
    EmotionDataset
        Unlabelled, ``meta["polarity"]`` 0 (negative) or 4 (positive), negatives first.

    Raises
    ------
    DataError
        If ``$EMOBALANCE_DATA`` has no ``sentiment140_sample_100k/`` folder.
    """
    folder = _sample_dir()
    if folder is None:
        raise DataError(f"{POLARITY_GUARD} needs EMOBALANCE_DATA with {SENTIMENT140_DIR}/ inside")
    return _guard_of(folder)[0]


def guard_keys() -> frozenset[str]:
    """The normalised texts of the polarity guard (empty when the sample is not there: no
    guard then exists to protect)."""
    folder = _sample_dir()
    return _guard_of(folder)[1] if folder is not None else frozenset()


def without_guard(corpus: EmotionDataset) -> EmotionDataset:
    """``corpus`` without the tweets of the polarity guard (compared after normalisation)."""
    keys = guard_keys()
    if not keys or not len(corpus):
        return corpus
    keep = [i for i, t in enumerate(corpus.texts) if _guard_key(t) not in keys]
    if len(keep) == len(corpus):
        return corpus
    log.info(f"corpus: {len(corpus) - len(keep):,} tweets of the {POLARITY_GUARD} held out")
    return corpus.subset(np.array(keep, dtype=np.int64))


def resolve_corpus(spec: str, text_column: str = "text") -> EmotionDataset:
    """The unlabelled corpus named by ``spec``, without the polarity guard's tweets.

    Parameters
    ----------
    spec : str
        ``sentiment140`` (the sample under ``$EMOBALANCE_DATA``), a Sentiment140 folder or
        ``negative.txt`` / ``positive.txt`` file, or any text file read by
        :func:`read_corpus`.
    text_column : str, default="text"
        The text column of a CSV, TSV, JSONL or Parquet file.

    Returns
    -------
    EmotionDataset
        Unlabelled; every row whose normalised text is a tweet of :func:`polarity_guard`
        removed (whatever the corpus: the sample, another copy of it, any text file).

    Raises
    ------
    DataError
        If the corpus is not found (``sentiment140`` needs ``$EMOBALANCE_DATA``).
    """
    if spec == "sentiment140":
        path = _sample_dir()
        if path is None:
            raise DataError(
                "the sentiment140 corpus needs EMOBALANCE_DATA with "
                f"{SENTIMENT140_DIR}/ inside, or a path in balance.pseudo_label.corpus"
            )
        return without_guard(sentiment140(path))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{path}: corpus not found")
    if path.is_dir() or path.name.lower() in ("negative.txt", "positive.txt"):
        return without_guard(sentiment140(path))
    return without_guard(read_corpus(path, column=text_column, source="user"))


def load_corpus(dc: DistillConfig) -> EmotionDataset | None:
    """The external corpus of ``dc`` (``None`` when ``dc.corpus`` is None), first ``max_rows``."""
    if dc.corpus is None:
        return None
    corpus = resolve_corpus(dc.corpus)
    if dc.max_rows is not None:
        corpus = corpus.subset(np.arange(min(dc.max_rows, len(corpus))))
    return corpus
