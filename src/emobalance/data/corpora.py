"""Unlabelled corpora: Sentiment140 and generic text files (CSV/TSV/JSONL/Parquet/TXT)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..io import json_lines
from .dataset import EmotionDataset, _not_utf8

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
        reader = csv.reader(f)
        for fields in reader:
            where = f"{path}: line {reader.line_num}"
            if len(fields) != 6:
                raise DataError(f"{where}: expected 6 fields, got {len(fields)}")
            pol, tid, _date, _query, _user, text = fields
            if pol.strip() not in ("0", "2", "4"):
                raise DataError(f"{where}: polarity must be 0, 2 or 4, got {pol!r}")
            texts.append(text)
            ids.append(f"s140-{tid}")
            polarity.append(int(pol))
    return EmotionDataset(texts, None, source="sentiment140", ids=ids, meta={"polarity": polarity})


def _sentiment140_txt(path: Path) -> EmotionDataset:
    pol = _POLARITY_BY_NAME.get(path.stem.lower())
    texts = _read_lines(path)
    stem = path.stem.lower()
    ids = [f"s140-{stem}-{i + 1}" for i in range(len(texts))]
    return EmotionDataset(
        texts, None, source="sentiment140", ids=ids, meta={"polarity": [pol] * len(texts)}
    )


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def read_texts(path: str | os.PathLike[str], column: str = "text") -> list[str]:
    """Read the texts of a file: CSV, TSV, JSONL, Parquet (``column``) or TXT (one per line).

    Raises
    ------
    DataError
        If the file is missing, the column is absent, or a value is not a string (the file
        and line are named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        try:
            out: list[str] = []
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                if column not in (reader.fieldnames or []):
                    raise DataError(f"{path}: line 1: no column {column!r}")
                for row in reader:
                    value = row[column]
                    if value is None:
                        raise DataError(f"{path}: line {reader.line_num}: missing field {column!r}")
                    out.append(value)
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        return out
    if suffix in (".jsonl", ".ndjson"):
        try:
            out = []
            with open(path, encoding="utf-8") as f:
                out.extend(value for _, _, value in json_lines(f, path, column))
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        return out
    if suffix in (".parquet", ".pq"):
        try:
            table = pq.read_table(path, columns=[column])
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise DataError(f"{path}: cannot read column {column!r} ({exc})") from None
        values = table.column(column).to_pylist()
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise DataError(f"{path}: row {i}: column {column!r} is not text")
        return values
    return _read_lines(path)


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
