"""Batch scoring of text files: stream in chunks, sort by length per chunk, write atomically.

Input: CSV / TSV / JSONL / Parquet (a text column) or TXT (one text per line). Output by
extension: ``.csv``, ``.jsonl`` or ``.parquet`` with ``row`` (0-based input row), ``text``,
``labels`` (names joined by ``,``) and one probability column ``p_<label>`` per label.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .errors import DataError
from .io import atomic_path
from .labels import LABELS

PROBA_COLUMNS = [f"p_{lab}" for lab in LABELS]


class _Scorer(Protocol):
    thresholds_: np.ndarray

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


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
    with open(path, encoding="utf-8-sig", newline="" if suffix in (".csv", ".tsv") else None) as f:
        try:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
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
            elif suffix in (".jsonl", ".ndjson"):
                for lineno, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(
                            f"{path}: line {lineno}: invalid JSON ({exc.msg})"
                        ) from None
                    value = obj.get(text_column) if isinstance(obj, dict) else None
                    if not isinstance(value, str):
                        raise DataError(
                            f"{path}: line {lineno}: field {text_column!r} missing or not text"
                        )
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
            raise DataError(f"{path}: {exc}") from None
    if buf:
        yield buf


class _Writer:
    """Append chunks of predictions to a CSV / JSONL / Parquet file."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.fmt = fmt
        self.path = path
        self._pq: pq.ParquetWriter | None = None
        self._f: Any = None
        self._csv: Any = None
        if fmt in ("csv", "jsonl"):
            self._f = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close())
            if fmt == "csv":
                self._csv = csv.writer(self._f)
                self._csv.writerow(["row", "text", "labels", *PROBA_COLUMNS])

    def write(
        self, start: int, texts: list[str], proba: np.ndarray, thresholds: np.ndarray
    ) -> None:
        names = [",".join(LABELS[j] for j in np.flatnonzero(r)) for r in proba >= thresholds]
        rows = range(start, start + len(texts))
        if self.fmt == "csv":
            rounded = np.round(proba.astype(np.float64), 6).tolist()
            self._csv.writerows(
                [r, t, n, *p] for r, t, n, p in zip(rows, texts, names, rounded, strict=True)
            )
        elif self.fmt == "jsonl":
            for r, t, n, p in zip(rows, texts, names, proba.tolist(), strict=True):
                rec = {"row": r, "text": t, "labels": n.split(",") if n else []}
                rec.update({c: round(v, 6) for c, v in zip(PROBA_COLUMNS, p, strict=True)})
                self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            cols: dict[str, Any] = {
                "row": pa.array(list(rows), pa.int64()),
                "text": pa.array(texts, pa.string()),
                "labels": pa.array(names, pa.string()),
            }
            for j, c in enumerate(PROBA_COLUMNS):
                cols[c] = pa.array(proba[:, j], pa.float32())
            table = pa.table(cols)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.path, table.schema)
            self._pq.write_table(table)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
        if self._pq is not None:
            self._pq.close()
        elif self.fmt == "parquet":  # no rows: still write a valid empty file
            schema = pa.schema(
                [("row", pa.int64()), ("text", pa.string()), ("labels", pa.string())]
                + [(c, pa.float32()) for c in PROBA_COLUMNS]
            )
            pq.write_table(schema.empty_table(), self.path)


def output_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the output file's extension."""
    suffix = path.suffix.lower()
    fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(suffix)
    if fmt is None:
        raise DataError(f"{path}: output must end in .csv, .jsonl or .parquet")
    return fmt


def predict_file(
    model: _Scorer,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    text_column: str = "text",
    batch_size: int = 256,
    chunk_size: int = 10_000,
    progress: bool | None = None,
) -> int:
    """Score every text of ``input_path`` and write ``output_path`` atomically.

    Memory stays bounded by ``chunk_size``; within a chunk the model sorts texts by length.
    Returns the number of rows written.
    """
    out = Path(output_path)
    fmt = output_format(out)
    show = sys.stderr.isatty() if progress is None else progress
    n = 0
    t0 = time.perf_counter()
    with atomic_path(out, suffix=out.suffix) as tmp:
        writer = _Writer(tmp, fmt)
        try:
            with tqdm(desc="predict", unit="text", disable=not show) as bar:
                for chunk in iter_text_chunks(input_path, text_column, chunk_size):
                    proba = model.predict_proba(chunk, batch_size=batch_size)  # type: ignore[call-arg]
                    writer.write(n, chunk, proba, model.thresholds_)
                    n += len(chunk)
                    bar.update(len(chunk))
                    bar.set_postfix(texts_per_s=f"{n / max(time.perf_counter() - t0, 1e-9):,.0f}")
        finally:
            writer.close()
    return n
