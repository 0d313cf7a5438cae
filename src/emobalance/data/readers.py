"""Text-file readers: the one place that reads texts out of CSV, TSV, JSON-lines, Parquet and
plain-text files, with errors that name the file and line.

:func:`json_lines` and :func:`csv_dict_reader` are the streaming building blocks (also used by
the batch scorer and the Ray engine); :func:`read_texts` reads one column of a whole file and
:func:`read_lines` a one-text-per-line file; :func:`iter_text_chunks` streams the texts of a file
in chunks (batch scoring).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError

__all__ = [
    "csv_dict_reader",
    "iter_text_chunks",
    "json_lines",
    "json_records",
    "not_utf8_error",
    "read_lines",
    "read_texts",
]


def json_records(lines: Iterable[str], path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded value)`` for each non-blank line of a JSON-lines stream.

    Raises
    ------
    DataError
        Naming the file and line of invalid JSON.
    """
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from None


def json_lines(
    lines: Iterable[str], path: str | os.PathLike[str], text_column: str
) -> Iterator[tuple[int, Any, str]]:
    """``(line number, record, text)`` for each non-blank line of a JSON-lines stream.

    Raises
    ------
    DataError
        Naming the file and line of invalid JSON, or of a record whose ``text_column`` is
        missing or not text.
    """
    for lineno, obj in json_records(lines, path):
        text = obj.get(text_column) if isinstance(obj, dict) else None
        if not isinstance(text, str):
            raise DataError(f"{path}: line {lineno}: field {text_column!r} missing or not text")
        yield lineno, obj, text


def csv_dict_reader(
    f: Iterable[str], tsv: bool = False, strict: bool = False, delimiter: str | None = None
) -> csv.DictReader:
    """A ``csv.DictReader`` (comma, tab with ``tsv``, or ``delimiter``) that accepts fields of
    any length.

    The csv module's default limit, 131,072 characters per field, rejects long posts.
    """
    csv.field_size_limit(2**31 - 1)
    sep = delimiter if delimiter is not None else ("\t" if tsv else ",")
    return csv.DictReader(f, delimiter=sep, strict=strict)


def not_utf8_error(path: str | os.PathLike[str]) -> DataError:
    """A DataError naming the first line of ``path`` that is not valid UTF-8."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return DataError(f"{path}: line {lineno}: not UTF-8 ({exc.reason})")
    return DataError(f"{path}: not UTF-8")


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The non-blank lines of a UTF-8 text file, line endings removed.

    Raises
    ------
    DataError
        Naming the first line that is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None


def read_texts(path: str | os.PathLike[str], column: str = "text") -> list[str]:
    """Read the texts of a file: CSV, TSV, JSONL, Parquet (``column``) or TXT (one per line).

    Parameters
    ----------
    path : path
        The file; its suffix picks the format (anything else is read as plain text).
    column : str, default="text"
        The text column (CSV, TSV, Parquet) or field (JSON lines).

    Returns
    -------
    list of str

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
                reader = csv_dict_reader(f, tsv=suffix == ".tsv")
                if column not in (reader.fieldnames or []):
                    raise DataError(f"{path}: line 1: no column {column!r}")
                for row in reader:
                    value = row[column]
                    if value is None:
                        raise DataError(f"{path}: line {reader.line_num}: missing field {column!r}")
                    out.append(value)
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
        return out
    if suffix in (".jsonl", ".ndjson"):
        try:
            out = []
            with open(path, encoding="utf-8") as f:
                out.extend(value for _, _, value in json_lines(f, path, column))
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
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
    return read_lines(path)


def iter_text_chunks(
    path: str | os.PathLike[str], text_column: str = "text", chunk_size: int = 10_000
) -> Iterator[list[str]]:
    """Yield lists of at most ``chunk_size`` texts without reading the whole file.

    Raises
    ------
    DataError
        Naming the file and line (or row) of a missing or non-text value.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt"):
        raise DataError(
            f"{path}: unsupported input type {suffix or '(none)'}; "
            "use .csv, .tsv, .jsonl/.json (one object per line), .parquet or .txt"
        )
    buf: list[str] = []
    if suffix in (".parquet", ".pq"):
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
        if text_column not in pf.schema_arrow.names:
            raise DataError(f"{path}: no column {text_column!r}")
        row = 0
        for batch in pf.iter_batches(batch_size=chunk_size, columns=[text_column]):
            values = batch.column(0).to_pylist()
            for i, v in enumerate(values):
                if not isinstance(v, str):
                    raise DataError(f"{path}: row {row + i}: column {text_column!r} is not text")
            row += len(values)
            yield values
        return
    reader: csv.DictReader[str] | None = None  # for the line number of a CSV error
    with open(path, encoding="utf-8-sig", newline="" if suffix in (".csv", ".tsv") else None) as f:
        try:
            if suffix in (".csv", ".tsv"):
                reader = csv_dict_reader(f, tsv=suffix == ".tsv", strict=True)
                if text_column not in (reader.fieldnames or []):
                    raise DataError(f"{path}: line 1: no column {text_column!r}")
                for rec in reader:
                    value = rec.get(text_column)
                    if value is None:
                        raise DataError(f"{path}: line {reader.line_num}: missing {text_column!r}")
                    buf.append(value)
                    if len(buf) >= chunk_size:
                        yield buf
                        buf = []
            elif suffix in (".jsonl", ".ndjson", ".json"):
                for _, _, value in json_lines(f, path, text_column):
                    buf.append(value)
                    if len(buf) >= chunk_size:
                        yield buf
                        buf = []
            else:
                for line in f:
                    buf.append(line.rstrip("\r\n"))
                    if len(buf) >= chunk_size:
                        yield buf
                        buf = []
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            where = f"{path}: line {reader.line_num}" if reader is not None else f"{path}"
            raise DataError(f"{where}: {exc}") from None
    if buf:
        yield buf
