"""The files of the Ray engine: inputs listed, cut into tasks and read; parts written and
published.

Inputs are Parquet / CSV / TSV / JSONL files (``.gz`` etc. decompressed), directories or globs,
on a local disk or any filesystem pyarrow reads (``s3://``...). :func:`plan_tasks` cuts them
into tasks (Parquet: row-group ranges; CSV / JSONL: one task per file) and :func:`iter_records`
reads one task, validating every row. :class:`PartWriter` writes one output part; the output
folder is staged beside its target and published whole (:func:`publish`) with a ``_SUCCESS``
record.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import itertools
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..data.readers import csv_dict_reader, json_lines
from ..errors import DataError
from ..io import temp_name
from ..log import get_logger
from ..scoring import PROBA_COLUMNS  # GoEmotions' columns, the default of output_schema

SUCCESS = "_SUCCESS"
SUCCESS_FORMAT = "emobalance-ray-predictions"
INPUT_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
OUTPUT_FORMATS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
_COMPRESSION = (".gz", ".bz2", ".zst", ".lz4")

log = get_logger(__name__)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters)."""
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


# --------------------------------------------------------------------------- input files


def resolve_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path within it (local paths made absolute)."""
    if "://" in uri and not uri.startswith("file://"):
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise DataError(f"{uri}: unsupported filesystem ({first_line(exc)})") from None
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    return pafs.LocalFileSystem(), os.path.abspath(path)


def input_format(path: str) -> str | None:
    """``parquet``, ``csv``, ``tsv`` or ``jsonl`` from a file name (``.gz`` etc. allowed)."""
    name = path.lower()
    for c in _COMPRESSION:
        if name.endswith(c):
            name = name[: -len(c)]
    return INPUT_FORMATS.get(os.path.splitext(name)[1])


def list_inputs(spec: str) -> tuple[pafs.FileSystem, list[str]]:
    """Expand a file, a directory (recursively) or a glob into the input files, sorted.

    Files whose names start with ``.`` or ``_`` (``_SUCCESS``, temporary files) are skipped
    in directories and globs; a glob's ``*`` also matches ``/``.

    Raises
    ------
    DataError
        If nothing matches, or a named file has an unknown extension.
    """
    fs, path = resolve_filesystem(spec)
    magic = any(c in path for c in "*?[")
    if not magic:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            if input_format(path) is None:
                raise DataError(
                    f"{spec}: unknown input format (expected .parquet, .csv, .tsv or .jsonl)"
                )
            return fs, [path]
        if info.type != pafs.FileType.Directory:
            raise DataError(f"{spec}: no such file or directory")
        base, pattern = path, None
    else:
        head = path[: min(path.index(c) for c in "*?[" if c in path)]
        base, pattern = head.rsplit("/", 1)[0] or "/", path
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise DataError(f"{spec}: cannot list ({first_line(exc)})") from None
    files = sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File
        and not any(part.startswith((".", "_")) for part in i.path[len(base) :].split("/"))
        and input_format(i.path) is not None
        and (pattern is None or fnmatch.fnmatchcase(i.path, pattern))
    )
    if not files:
        raise DataError(f"{spec}: no input files (.parquet, .csv, .tsv, .jsonl)")
    return fs, files


@dataclass(frozen=True)
class Task:
    index: int
    path: str
    fmt: str
    start: int = 0  # rows [start, stop) of a Parquet file; CSV / JSONL: the whole file
    stop: int | None = None


def plan_tasks(
    fs: pafs.FileSystem, files: Sequence[str], text_column: str, task_rows: int
) -> tuple[list[Task], int | None]:
    """Cut the inputs into tasks; return them and the total rows (``None`` unless all Parquet).

    Parquet footers are read here (in threads: object stores answer slowly but in
    parallel) to check the text column and to cut row-group ranges of about ``task_rows``.
    """
    fmts = [input_format(f) or "" for f in files]
    pq_files = [f for f, k in zip(files, fmts, strict=True) if k == "parquet"]

    def footer(path: str) -> list[int]:
        try:
            with fs.open_input_file(path) as f:
                meta = pq.ParquetFile(f).metadata
                names = meta.schema.to_arrow_schema().names
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
        if text_column not in names:
            raise DataError(f"{path}: no column {text_column!r}")
        return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]

    with ThreadPoolExecutor(min(16, max(len(pq_files), 1))) as pool:
        groups = dict(zip(pq_files, pool.map(footer, pq_files), strict=True))
    tasks: list[Task] = []
    for path, fmt in zip(files, fmts, strict=True):
        if fmt != "parquet":
            tasks.append(Task(len(tasks), path, fmt))
            continue
        lo = pos = 0
        for n in groups[path]:
            if n > 2 * task_rows:  # one huge row group: slices of it (each decodes the group)
                if pos > lo:
                    tasks.append(Task(len(tasks), path, fmt, lo, pos))
                k = -(-n // task_rows)
                cuts = [pos + (n * i) // k for i in range(k + 1)]
                for a, b in itertools.pairwise(cuts):
                    tasks.append(Task(len(tasks), path, fmt, a, b))
                lo = pos = pos + n
                continue
            pos += n
            if pos - lo >= task_rows:
                tasks.append(Task(len(tasks), path, fmt, lo, pos))
                lo = pos
        if pos > lo or not groups[path]:
            tasks.append(Task(len(tasks), path, fmt, lo, pos))
    total = sum(sum(g) for g in groups.values()) if len(pq_files) == len(files) else None
    return tasks, total


def iter_records(
    fs: pafs.FileSystem,
    task: Task,
    text_column: str,
    id_column: str | None,
    chunk_size: int,
) -> Iterator[tuple[int, list[str], list[str] | None]]:
    """Yield ``(first row, texts, ids or None)`` chunks of one task, validating every row.

    Raises
    ------
    DataError
        Naming the file and the line (CSV / JSONL) or row (Parquet) of a malformed record.
    """
    path, fmt = task.path, task.fmt
    if fmt == "parquet":
        yield from _iter_parquet(fs, task, text_column, id_column, chunk_size)
        return
    texts: list[str] = []
    ids: list[str] | None = None
    row = 0
    try:
        raw = fs.open_input_stream(path)  # compression detected from the extension
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
            if fmt in ("csv", "tsv"):
                reader = csv_dict_reader(f, tsv=fmt == "tsv")
                names = reader.fieldnames or []
                if text_column not in names:
                    raise DataError(f"{path}: line 1: no column {text_column!r}")
                has_id = id_column is not None and id_column in names
                ids = [] if has_id else None
                for rec in reader:
                    value = rec.get(text_column)
                    if None in rec or any(v is None for v in rec.values()):
                        raise DataError(
                            f"{path}: line {reader.line_num}: expected {len(names)} fields"
                        )
                    texts.append(value)
                    if ids is not None:
                        ids.append(str(rec[id_column]))
                    if len(texts) >= chunk_size:
                        yield row, texts, ids
                        row += len(texts)
                        texts, ids = [], ([] if has_id else None)
            else:
                ids = None
                for lineno, obj, value in json_lines(f, path, text_column):
                    if row == 0 and not texts:
                        has_id = id_column is not None and id_column in obj
                        ids = [] if has_id else None
                    texts.append(value)
                    if ids is not None:
                        if id_column not in obj:
                            raise DataError(f"{path}: line {lineno}: no field {id_column!r}")
                        ids.append(str(obj[id_column]))
                    if len(texts) >= chunk_size:
                        yield row, texts, ids
                        row += len(texts)
                        texts, ids = [], ([] if ids is not None else None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({first_line(exc)})") from None
    if texts:
        yield row, texts, ids


def _iter_parquet(
    fs: pafs.FileSystem, task: Task, text_column: str, id_column: str | None, chunk_size: int
) -> Iterator[tuple[int, list[str], list[str] | None]]:
    path = task.path
    stop = task.stop if task.stop is not None else task.start
    try:
        with fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            names = pf.schema_arrow.names
            cols = [text_column] + ([id_column] if id_column and id_column in names else [])
            pos = 0
            for g in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                a, b = max(task.start, pos), min(stop, pos + n)
                if a < b:
                    table = pf.read_row_group(g, columns=cols).slice(a - pos, b - a)
                    for s in range(0, b - a, chunk_size):
                        part = table.slice(s, chunk_size)
                        texts = part.column(0).to_pylist()
                        for i, v in enumerate(texts):
                            if not isinstance(v, str):
                                raise DataError(
                                    f"{path}: row {a + s + i}: column {text_column!r} is not text"
                                )
                        ids = None
                        if len(cols) > 1:
                            ids = [str(v) for v in part.column(1).to_pylist()]
                        yield a + s, texts, ids
                pos += n
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None


# --------------------------------------------------------------------------- output files


def output_schema(with_id: bool, proba_columns: Sequence[str] = PROBA_COLUMNS) -> pa.Schema:
    """The Parquet schema of an output part: file, row, (id), labels and the model's
    probability columns (``p_<label>`` of its schema)."""
    fields = [("file", pa.string()), ("row", pa.int64())]
    fields += [("id", pa.string())] if with_id else []
    fields += [("labels", pa.string())] + [(c, pa.float32()) for c in proba_columns]
    return pa.schema(fields)


class PartWriter:
    """One output part (CSV / JSONL / Parquet) on a pyarrow filesystem, created on the first
    write (a task without rows leaves no file, rather than an invalid empty Parquet)."""

    def __init__(self, fs: pafs.FileSystem, path: str, fmt: str) -> None:
        self.fs, self.path, self.fmt = fs, path, fmt
        self._stream: Any = None
        self._pq: pq.ParquetWriter | None = None
        self._text: io.TextIOWrapper | None = None
        self._csv: Any = None

    def write(self, cols: dict[str, np.ndarray]) -> None:
        if self._stream is None:
            self._stream = self.fs.open_output_stream(self.path, compression=None)
        if self.fmt == "parquet":
            names = list(cols)
            probas = names[names.index("labels") + 1 :]  # the p_* columns follow labels
            table = pa.table(
                {k: pa.array(v) for k, v in cols.items()},
                schema=output_schema("id" in cols, probas),
            )
            if self._pq is None:
                self._pq = pq.ParquetWriter(self._stream, table.schema)
            self._pq.write_table(table)
            return
        if self._text is None:
            self._text = io.TextIOWrapper(self._stream, encoding="utf-8", newline="")
            if self.fmt == "csv":
                self._csv = csv.writer(self._text)
                self._csv.writerow(list(cols))
        names = list(cols)
        rows = zip(*(cols[k].tolist() for k in names), strict=True)
        if self.fmt == "csv":
            self._csv.writerows(rows)
        else:
            for r in rows:
                rec = dict(zip(names, r, strict=True))
                rec["labels"] = rec["labels"].split(",") if rec["labels"] else []
                self._text.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        if self._text is not None:
            self._text.close()
        elif self._stream is not None:
            self._stream.close()


# --------------------------------------------------------------------------- the output folder


def staging_path(out_path: str) -> str:
    """A hidden staging folder beside ``out_path``, named by this host and pid
    (:func:`emobalance.io.temp_name`): a later run on a local disk removes it once this
    process is dead (a ``kill -9`` of the driver)."""
    parent, _, name = out_path.rstrip("/").rpartition("/")
    return f"{parent}/{temp_name(name, suffix='')}"


def check_output(fs: pafs.FileSystem, path: str, shown: str) -> None:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type == pafs.FileType.File:
        raise DataError(f"{shown}: is a file; --output of the Ray engine is a folder")
    if not is_our_output(fs, path) and fs.get_file_info(pafs.FileSelector(path)):
        raise DataError(
            f"{shown}: exists and is not an output of this command; remove it or pick another"
        )


def is_our_output(fs: pafs.FileSystem, path: str) -> bool:
    try:
        with fs.open_input_stream(f"{path}/{SUCCESS}", compression=None) as f:
            return json.loads(f.read()).get("format") == SUCCESS_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def publish(fs: pafs.FileSystem, staging: str, out_path: str) -> None:
    """Move the finished staging folder to ``out_path`` (replacing an earlier output)."""
    if isinstance(fs, pafs.LocalFileSystem):
        old = None
        if os.path.exists(out_path):
            old = staging_path(out_path) + ".old"
            os.replace(out_path, old)
        os.replace(staging, out_path)  # atomic on one filesystem
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return
    # object stores have no folder rename: drop the old output, move the parts, then
    # _SUCCESS last, so a reader that waits for _SUCCESS never sees a partial output
    if fs.get_file_info(out_path).type == pafs.FileType.Directory:
        fs.delete_dir(out_path)
    infos = fs.get_file_info(pafs.FileSelector(staging))
    for info in sorted(infos, key=lambda i: i.base_name == SUCCESS):
        fs.move(info.path, f"{out_path}/{info.base_name}")
    delete_dir(fs, staging)


def delete_dir(fs: pafs.FileSystem, path: str) -> None:
    try:
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)
    except OSError:
        log.warning("could not remove %s", path)
