"""External evaluation datasets: texts and gold labels in another dataset's own label set.

:func:`read_external` reads CSV, TSV, JSON lines and Parquet files with a text column and a
label column (one label per row, or several with ``multi_label``); :func:`load_external` also
knows the built-in ``sentiment140_polarity_guard``. Every error is one line naming the file and
the line (CSV/TSV/JSONL) or row (Parquet).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.readers import (
    arrow_names,
    arrow_texts,
    arrow_values,
    csv_dict_reader,
    csv_header,
    csv_records,
    first_line,
    json_records,
    not_utf8_error,
)
from ..errors import DataError

__all__ = ["SUFFIXES", "ExternalDataset", "load_external", "read_external"]

SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
"""The file types of :func:`read_external` (``.json``: one object per line)."""


@dataclass(frozen=True)
class ExternalDataset:
    """Texts and their gold labels (names of the external dataset, not GoEmotions').

    Attributes
    ----------
    name : str
        The file or built-in name, used in reports.
    texts : list of str
    labels : list of tuple of str
        Per row, its gold labels (exactly one for a single-label dataset; possibly none for a
        multi-label one).
    multi_label : bool
    """

    name: str
    texts: list[str]
    labels: list[tuple[str, ...]]
    multi_label: bool = False

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(
                f"{self.name}: {len(self.texts)} texts but {len(self.labels)} label rows"
            )
        if not self.texts:
            raise DataError(f"{self.name}: no rows")

    def __len__(self) -> int:
        return len(self.texts)


def _cell_labels(
    cell: Any, where: str, column: str, multi_label: bool, sep: str
) -> tuple[str, ...]:
    """The gold labels of one cell: a ``sep``-separated string, a list, or an int id."""
    if cell is None:
        items: list[Any] = []
    elif isinstance(cell, str):
        items = cell.split(sep) if sep else [cell]
    elif isinstance(cell, list | tuple):
        items = list(cell)
    elif isinstance(cell, numbers.Integral) and not isinstance(cell, bool):
        items = [cell]
    else:
        raise DataError(f"{where}: column {column!r} must hold label names, got "
                        f"{type(cell).__name__}")  # fmt: skip
    labels = []
    for x in items:
        if isinstance(x, numbers.Integral) and not isinstance(x, bool):
            x = str(x)
        if not isinstance(x, str):
            raise DataError(f"{where}: column {column!r} must hold label names, got "
                            f"{type(x).__name__}")  # fmt: skip
        if x.strip():
            labels.append(x.strip())
    if multi_label:
        return tuple(dict.fromkeys(labels))
    if not labels:
        raise DataError(f"{where}: empty label in column {column!r}")
    if len(labels) > 1:
        shown = sep.join(labels) if len(sep.join(labels)) <= 60 else sep.join(labels)[:60] + "..."
        raise DataError(
            f"{where}: several labels in column {column!r} ({shown!r}); "
            "read the file as multi-label (--multi-label)"
        )
    return (labels[0],)


def _csv_rows(path: Path, text_column: str, label_column: str) -> Iterator[tuple[str, str, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv_dict_reader(f, tsv=path.suffix.lower() == ".tsv")
        header = csv_header(reader, path)
        if not header:
            raise DataError(f"{path}: empty file")
        for column in (text_column, label_column):
            if column not in header:
                raise DataError(
                    f"{path}: line 1: no column {column!r} (columns: {', '.join(header)})"
                )
        for line, row in csv_records(reader, path):
            where = f"{path}: line {line}"
            if None in row:  # an unquoted separator would shift the label column
                got = len(header) + len(row[None])
                raise DataError(f"{where}: expected {len(header)} fields, got {got}")
            if row[text_column] is None or row[label_column] is None:
                raise DataError(f"{where}: expected {len(header)} fields, got fewer")
            yield where, row[text_column], row[label_column]


def _json_rows(path: Path, text_column: str, label_column: str) -> Iterator[tuple[str, str, Any]]:
    with open(path, encoding="utf-8-sig") as f:
        for lineno, obj in json_records(f, path):
            where = f"{path}: line {lineno}"
            if not isinstance(obj, dict):
                raise DataError(f"{where}: expected a JSON object")
            text = obj.get(text_column)
            if not isinstance(text, str):
                raise DataError(f"{where}: field {text_column!r} missing or not text")
            if label_column not in obj:
                raise DataError(f"{where}: no field {label_column!r}")
            yield where, text, obj[label_column]


def _parquet_rows(
    path: Path, text_column: str, label_column: str
) -> Iterator[tuple[str, str, Any]]:
    try:
        pf = pq.ParquetFile(path)
        names = arrow_names(pf.schema_arrow, path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    for column in (text_column, label_column):
        if column not in names:
            raise DataError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
    try:
        table = pf.read(columns=[text_column, label_column])
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    texts = arrow_texts(table.column(text_column), path, text_column)
    cells = arrow_values(table.column(label_column), path, label_column)
    for i, (text, cell) in enumerate(zip(texts, cells, strict=True)):
        yield f"{path}: row {i}", text, cell


def read_external(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    multi_label: bool = False,
    label_sep: str = ",",
) -> ExternalDataset:
    """Read an external labelled dataset.

    Parameters
    ----------
    path : path
        A ``.csv``, ``.tsv`` (with a header), ``.jsonl`` / ``.ndjson`` / ``.json`` (one object
        per line) or ``.parquet`` file.
    text_column, label_column : str
        The columns (JSON: fields) of the text and of its gold label(s).
    multi_label : bool, default=False
        Whether a row may carry several labels (``label_sep``-separated in a text cell, or a
        list in JSON and Parquet) or none. A single-label file with several labels in a
        cell is an error.
    label_sep : str, default=","
        The separator of several labels in one text cell.

    Returns
    -------
    ExternalDataset

    Raises
    ------
    DataError
        One line naming the file and line (or row): no such file, an unsupported type, an empty
        file, a missing column, a malformed row, an empty label or several labels in a cell of
        a single-label file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'}; use .csv, .tsv, .jsonl "
            "or .parquet"
        )
    if suffix in (".parquet", ".pq"):
        rows = _parquet_rows(path, text_column, label_column)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, text_column, label_column)
    else:
        rows = _json_rows(path, text_column, label_column)
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    try:
        for where, text, cell in rows:
            texts.append(text)
            labels.append(_cell_labels(cell, where, label_column, multi_label, label_sep))
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    if not texts:
        raise DataError(f"{path}: no rows (an empty file)")
    return ExternalDataset(str(path), texts, labels, multi_label=multi_label)


def load_external(
    spec: str | os.PathLike[str] | ExternalDataset, **options: Any
) -> ExternalDataset:
    """An external dataset by file (read with ``options``, see :func:`read_external`), the
    built-in ``sentiment140_polarity_guard``, or ``spec`` itself.

    The guard is the held-out slice of the Sentiment140 sample
    (:func:`emobalance.data.corpora.polarity_guard`), gold labels ``positive`` / ``negative``.
    """
    if isinstance(spec, ExternalDataset):
        return spec
    from ..data.corpora import POLARITY_GUARD, polarity_guard

    if str(spec) == POLARITY_GUARD:
        guard = polarity_guard()
        names = {0: "negative", 4: "positive"}
        return ExternalDataset(
            POLARITY_GUARD, list(guard.texts), [(names[p],) for p in guard.meta["polarity"]]
        )
    return read_external(spec, **options)
