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
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError

__all__ = [
    "arrow_names",
    "arrow_texts",
    "arrow_values",
    "check_unicode",
    "csv_dict_reader",
    "csv_header",
    "csv_reader",
    "csv_records",
    "first_line",
    "iter_text_chunks",
    "json_lines",
    "json_records",
    "lone_surrogate",
    "not_utf8_error",
    "read_lines",
    "read_texts",
]

# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): the only way a lone surrogate gets into
# a decoded text (strict UTF-8 decoding refuses encoded ones), so records without one skip the
# check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def lone_surrogate(text: str) -> int | None:
    """The index of the first unpaired surrogate of ``text`` (``None`` when there is none).

    JSON may carry ``"\\ud83d"`` escapes that decode to unpaired surrogates: they are not
    Unicode text, and cannot be written as UTF-8 (Parquet, CSV, JSON output) nor hashed.
    """
    try:
        text.encode("utf-8")  # C speed; only surrogates make UTF-8 encoding fail
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_unicode(text: str, where: str) -> str:
    """``text`` itself, or a :class:`DataError` naming ``where`` if it holds a lone surrogate.

    The one check the readers (and the HTTP service) apply, at the reading boundary, so that a
    bad text is refused before any work starts rather than when its output is written.
    """
    i = lone_surrogate(text)
    if i is not None:
        raise DataError(
            f"{where}: unpaired surrogate U+{ord(text[i]):04X} at character {i} (not Unicode text)"
        )
    return text


def _check_record(obj: Any, where: str) -> None:
    """Refuse a decoded JSON value holding a lone surrogate in any string (key or value)."""
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:  # iterative: JSON may nest deeper than the recursion limit allows
        value, field = stack.pop()
        if isinstance(value, str):
            check_unicode(value, f"{where}: field {field!r}" if field else where)
        elif isinstance(value, dict):
            for k, v in value.items():
                name = f"{field}.{k}" if field else str(k)
                check_unicode(k, f"{where}: a key")
                stack.append((v, name))
        elif isinstance(value, list):
            stack.extend((v, f"{field}[{i}]") for i, v in enumerate(value))


def json_records(lines: Iterable[str], path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded value)`` for each non-blank line of a JSON-lines stream.

    Raises
    ------
    DataError
        Naming the file and line of invalid JSON, or of a record holding an unpaired surrogate
        (a ``"\\ud83d"`` escape without its pair) in any of its strings.
    """
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise DataError(f"{path}: line {lineno}: invalid JSON (nested too deeply)") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise DataError(f"{path}: line {lineno}: invalid JSON ({exc})") from None
        if "\\u" in line and _SURROGATE_ESCAPE.search(line):
            _check_record(obj, f"{path}: line {lineno}")
        yield lineno, obj


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
    f: Iterable[str],
    tsv: bool = False,
    strict: bool = True,
    delimiter: str | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
) -> csv.DictReader:
    """A ``csv.DictReader`` (comma, tab with ``tsv``, or ``delimiter``) that accepts fields of
    any length.

    The csv module's default limit, 131,072 characters per field, rejects long posts.
    ``strict`` (the default) makes malformed quoting an error (``csv.Error``): without it, an
    unclosed quote silently swallows the rest of the file into one field. ``quoting=
    csv.QUOTE_NONE`` reads quote characters as text (tab-separated benchmark files whose texts
    hold raw quotes).
    """
    _lift_field_limit()
    sep = delimiter if delimiter is not None else ("\t" if tsv else ",")
    return csv.DictReader(f, delimiter=sep, strict=strict, quoting=quoting)


def csv_reader(
    f: Iterable[str], delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Any:  # typeshed's _csv._reader is private
    """A ``csv.reader`` that accepts fields of any length (see :func:`csv_dict_reader`).

    Every CSV/TSV read of emobalance goes through this function or :func:`csv_dict_reader`,
    so that a long text is read the same way by ``data stats``, ``train`` and ``predict``.
    """
    _lift_field_limit()
    return csv.reader(f, delimiter=delimiter, quoting=quoting)


def _lift_field_limit() -> None:
    # the limit is a process-wide setting; lifting it in every reader (not once, in one of
    # them) keeps a reader's result independent of which reader ran first
    csv.field_size_limit(2**31 - 1)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Arrow's may span several), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
        with open(path, encoding="utf-8-sig") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None


def arrow_names(schema: pa.Schema, origin: str | os.PathLike[str]) -> list[str]:
    """The column names of ``schema``, or a :class:`DataError` if one is not UTF-8."""
    try:
        return list(schema.names)
    except UnicodeDecodeError:  # a damaged footer: Arrow does not check the names it reads
        raise DataError(f"{origin}: not a readable Parquet file (column names not UTF-8)") from None


def arrow_values(
    column: pa.Array | pa.ChunkedArray, origin: str | os.PathLike[str], name: str, first: int = 0
) -> list[Any]:
    """``column.to_pylist()``, with a :class:`DataError` naming the row of a string that is
    not UTF-8 (Arrow does not check the bytes of a string column it reads from Parquet).

    ``first`` is the row number of the column's first value (a batch of a larger file).
    """
    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        for i in range(len(column)):
            try:
                column[i].as_py()
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{origin}: row {first + i}: column {name!r} is not UTF-8 ({exc.reason})"
                ) from None
        raise DataError(f"{origin}: column {name!r} is not UTF-8") from None


def arrow_texts(
    column: pa.Array | pa.ChunkedArray, origin: str | os.PathLike[str], name: str, first: int = 0
) -> list[str]:
    """The values of an Arrow text column, every one checked (see :func:`arrow_values`).

    Raises
    ------
    DataError
        Naming the row of a value that is null, not a string, or not UTF-8.
    """
    values = arrow_values(column, origin, name, first)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise DataError(f"{origin}: row {first + i}: column {name!r} is not text")
    return values


def _csv_texts(f: Iterable[str], path: Path, column: str) -> Iterator[str]:
    """The ``column`` values of a CSV/TSV stream: the one row loop of :func:`read_texts` and
    :func:`iter_text_chunks`, so that ``data``, ``train`` and ``predict`` read a file alike.

    Raises
    ------
    DataError
        Naming the line of a row with fewer or more fields than the header, or of bad quoting.
    """
    reader = csv_dict_reader(f, tsv=path.suffix.lower() == ".tsv")
    header = csv_header(reader, path)
    if column not in header:
        raise DataError(f"{path}: line 1: no column {column!r}")
    for line, row in csv_records(reader, path):
        value = row[column]
        if value is None:
            raise DataError(f"{path}: line {line}: missing field {column!r}")
        if None in row:  # a text with an unquoted comma would be cut silently
            got = len(header) + len(row[None])  # type: ignore[index]
            raise DataError(f"{path}: line {line}: expected {len(header)} fields, got {got}")
        yield value


def csv_header(reader: csv.DictReader, path: str | os.PathLike[str]) -> list[str]:
    """The header of a :func:`csv_dict_reader` (``[]`` for an empty file).

    Raises
    ------
    DataError
        Naming line 1 of a header with bad quoting.
    """
    try:
        return list(reader.fieldnames or [])
    except csv.Error as exc:
        raise DataError(f"{path}: line 1: {_csv_message(exc)}") from None


def csv_records(
    reader: csv.DictReader, path: str | os.PathLike[str]
) -> Iterator[tuple[int, dict[Any, Any]]]:
    """``(first line, row)`` for each record of a :func:`csv_dict_reader`.

    Raises
    ------
    DataError
        Naming the line where the record with bad quoting starts (the csv module's own line
        count is that of the last line it read, or wrong at the end of the file).
    """
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}: line {line}: {_csv_message(exc)}") from None
        yield line, row
        line = reader.line_num + 1


def _csv_message(exc: csv.Error) -> str:
    msg = first_line(exc)
    if msg == "unexpected end of data":
        return "unexpected end of data (a quote that is never closed)"
    return msg


def _parquet_file(path: Path, column: str) -> pq.ParquetFile:
    """The Parquet file at ``path``, its whole schema read and ``column`` in it exactly once.

    Raises
    ------
    DataError
        The file is not Parquet (or its schema is damaged), or ``column`` is missing (the
        message lists the columns) or appears more than once.
    """
    try:
        pf = pq.ParquetFile(path)
        names = arrow_names(pf.schema_arrow, path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    if column not in names:
        raise DataError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
    if names.count(column) != 1:
        raise DataError(f"{path}: column {column!r} appears more than once")
    return pf


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
            with open(path, encoding="utf-8-sig", newline="") as f:
                return list(_csv_texts(f, path, column))
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
    if suffix in (".jsonl", ".ndjson", ".json"):  # .json: one object per line, as predict reads
        try:
            out = []
            with open(path, encoding="utf-8-sig") as f:
                out.extend(value for _, _, value in json_lines(f, path, column))
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
        return out
    if suffix in (".parquet", ".pq"):
        pf = _parquet_file(path, column)
        try:
            table = pf.read(columns=[column])
        except (pa.ArrowException, KeyError, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read column {column!r} ({first_line(exc)})") from None
        return arrow_texts(table.column(column), path, column)
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
    if suffix in (".parquet", ".pq"):
        pf = _parquet_file(path, text_column)
        row = 0
        batches = pf.iter_batches(batch_size=chunk_size, columns=[text_column])
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # a corrupt page
                raise DataError(
                    f"{path}: row {row}: not a readable Parquet file ({first_line(exc)})"
                ) from None
            if batch is None:
                return
            values = arrow_texts(batch.column(0), path, text_column, first=row)
            row += len(values)
            yield values
    buf: list[str] = []
    with open(path, encoding="utf-8-sig", newline="" if suffix in (".csv", ".tsv") else None) as f:
        texts: Iterable[str]
        if suffix in (".csv", ".tsv"):
            texts = _csv_texts(f, path, text_column)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            texts = (value for _, _, value in json_lines(f, path, text_column))
        else:
            texts = (line.rstrip("\r\n") for line in f)
        try:
            for text in texts:
                buf.append(text)
                if len(buf) >= chunk_size:
                    yield buf
                    buf = []
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
    if buf:
        yield buf
