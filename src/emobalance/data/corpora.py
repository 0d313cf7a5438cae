"""Unlabelled corpora: Sentiment140, generic text files (CSV/TSV/JSONL/Parquet/TXT), and the
resolution of a corpus spec (``sentiment140`` or a path) used by balancing and distillation."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from .dataset import EmotionDataset
from .readers import csv_reader, read_lines, read_texts

if TYPE_CHECKING:
    from ..config import DistillConfig

__all__ = [
    "SENTIMENT140_DIR",
    "load_any",
    "load_corpus",
    "read_corpus",
    "resolve_corpus",
    "sentiment140",
]

SENTIMENT140_DIR = "sentiment140_sample_100k"
"""The Sentiment140 sample's folder under ``$EMOBALANCE_DATA``."""

_POLARITY_BY_NAME = {"negative": 0, "positive": 4}


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


def load_any(path: str | os.PathLike[str], text_column: str = "text") -> EmotionDataset:
    """Load a labelled dataset by extension: GoEmotions ``.tsv``, Parquet, CSV or JSONL."""
    from .goemotions import read_tsv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return read_tsv(path, source="user")
    if suffix in (".parquet", ".pq"):
        return EmotionDataset.from_parquet(path)
    if suffix == ".csv":
        return EmotionDataset.from_csv(path, text_column=text_column)
    if suffix in (".jsonl", ".ndjson"):
        return EmotionDataset.from_jsonl(path, text_column=text_column)
    raise DataError(f"{path}: unsupported file type {suffix!r} (tsv, parquet, csv, jsonl)")


def resolve_corpus(spec: str, text_column: str = "text") -> EmotionDataset:
    """The unlabelled corpus named by ``spec``.

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
        Unlabelled.

    Raises
    ------
    DataError
        If the corpus is not found (``sentiment140`` needs ``$EMOBALANCE_DATA``).
    """
    if spec == "sentiment140":
        root = os.environ.get("EMOBALANCE_DATA")
        path = Path(root) / SENTIMENT140_DIR if root else None
        if path is None or not path.is_dir():
            raise DataError(
                "the sentiment140 corpus needs EMOBALANCE_DATA with "
                f"{SENTIMENT140_DIR}/ inside, or a path in balance.pseudo_label.corpus"
            )
        return sentiment140(path)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{path}: corpus not found")
    if path.is_dir() or path.name.lower() in ("negative.txt", "positive.txt"):
        return sentiment140(path)
    return read_corpus(path, column=text_column, source="user")


def load_corpus(dc: DistillConfig) -> EmotionDataset | None:
    """The external corpus of ``dc`` (``None`` when ``dc.corpus`` is None), first ``max_rows``."""
    if dc.corpus is None:
        return None
    corpus = resolve_corpus(dc.corpus)
    if dc.max_rows is not None:
        corpus = corpus.subset(np.arange(min(dc.max_rows, len(corpus))))
    return corpus
