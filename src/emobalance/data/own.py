"""The user's own labelled data: the files of the config's ``data:`` section as datasets.

:func:`load_own_data` reads train (and dev and test, or splits train into the three) from CSV,
TSV, JSON lines or Parquet, with labels in the long layout (one column of names joined by a
separator) or the wide one (one 0/1 column per label), and returns three
:class:`~emobalance.data.dataset.EmotionDataset` sharing one
:class:`~emobalance.labels.LabelSchema`, with notes for the report.

Every file is read whole and checked before any dataset is built: bad input is one
:class:`~emobalance.errors.DataError` naming the file, line (Parquet: row) and column or label.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..config_data import DataConfig
from ..errors import DataError
from ..labels import LabelSchema
from ..log import get_logger
from . import readers
from .dataset import EmotionDataset

__all__ = ["OwnData", "file_format", "load_own_data"]

log = get_logger(__name__)

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
"""The formats ``data.format: auto`` recognises by extension."""


@dataclass
class OwnData:
    """The user's data: three datasets of one schema, and what the report should say of them.

    Attributes
    ----------
    train, dev, test : EmotionDataset
        ``source="user"``, all with ``schema``.
    schema : LabelSchema
        The labels (``data.labels``, the ``data.label_columns``, or the sorted names found).
    notes : list of str
        Human-readable statements for the report (files read, the label set, the split),
        the warnings included.
    warnings : list of str
        The notes that are warnings (also logged): labels never in train, never in dev...
    """

    train: EmotionDataset
    dev: EmotionDataset
    test: EmotionDataset
    schema: LabelSchema
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Rows:
    """One file read, its labels still names (the schema may come from all files)."""

    path: Path
    role: str
    texts: list[str]
    ids: list[str]
    names: list[list[str]]
    where: list[str]


def file_format(path: str | Path, fmt: str = "auto") -> str:
    """The format of ``path``: ``fmt`` itself, or by extension when ``fmt`` is ``auto``.

    Raises
    ------
    DataError
        For an extension ``auto`` does not know (a ``.txt`` file needs ``data.format``).
    """
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise DataError(
            f"{path}: cannot tell the format from {suffix or 'no extension'!r}; set data.format "
            "(csv, tsv, jsonl or parquet)"
        )
    return EXTENSIONS[suffix]


def load_own_data(cfg: DataConfig) -> OwnData:
    """Read the user's labelled files of ``cfg`` as train, dev and test datasets.

    Parameters
    ----------
    cfg : DataConfig
        The ``data:`` section; ``cfg.train`` must be set.

    Returns
    -------
    OwnData
        Three datasets with one schema; without ``cfg.dev``/``cfg.test``, train is split
        deterministically (``split_seed``; rows stratified by their rarest label) and the
        notes say so.

    Raises
    ------
    DataError
        One line naming the file, line and column or label: a missing file or column (the
        columns present are listed), an empty file, a file that is not UTF-8, a label outside
        ``data.labels``, a wide cell that is not 0/1, several labels in a row of a
        single-label set, a row without labels where ``allow_empty`` is false, invalid label
        names, more than 1,000 labels.

    Examples
    --------
    >>> data = load_own_data(DataConfig(train="train.csv", dev="dev.csv", test="test.csv"))
    ... # doctest: +SKIP
    >>> data.schema.names, len(data.train)  # doctest: +SKIP
    """
    if cfg.train is None:
        raise DataError("data.train is not set (without it the data is GoEmotions)")
    roles = {"train": cfg.train}
    if cfg.dev is not None and cfg.test is not None:
        roles.update(dev=cfg.dev, test=cfg.test)
    files = {role: _read_rows(Path(p).expanduser(), role, cfg) for role, p in roles.items()}
    schema, origin = _schema(cfg, list(files.values()))
    sets = {role: _dataset(rows, schema) for role, rows in files.items()}
    notes = [
        "read "
        + "; ".join(
            f"{role} {rows.path} ({len(rows.texts):,} rows)" for role, rows in files.items()
        )
    ]
    kind = "single-label" if schema.single_label else "multi-label"
    notes.append(f"labels ({origin}, {kind}): {schema.describe()}")
    if "dev" not in sets:
        sets, note = _split(sets["train"], cfg, files["train"].path)
        notes.append(note)
    empty = int((sets["train"].labels.sum(axis=1) == 0).sum())  # type: ignore[union-attr]
    if empty:
        notes.append(f"{empty:,} of {len(sets['train']):,} train rows carry no label")
    warnings = _warnings(sets, schema)
    for w in warnings:
        log.warning(w)
    return OwnData(
        train=sets["train"],
        dev=sets["dev"],
        test=sets["test"],
        schema=schema,
        notes=notes + [f"warning: {w}" for w in warnings],
        warnings=warnings,
    )


# ------------------------------------------------------------------ reading one file
def _read_rows(path: Path, role: str, cfg: DataConfig) -> _Rows:
    """The texts, ids and label names of one file (each row checked, labels not yet ids)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (data.{role})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (data.{role})")
    fmt = file_format(path, cfg.format)
    label_cols = cfg.label_columns if cfg.label_columns is not None else [cfg.names_column]
    needed = [cfg.text_column, *label_cols, *([cfg.id_column] if cfg.id_column else [])]
    out = _Rows(path, role, [], [], [], [])
    for where, rec in _records(path, fmt, needed):
        text = rec[cfg.text_column]
        if not isinstance(text, str):
            raise DataError(f"{where}: column {cfg.text_column!r} is not text")
        out.texts.append(text)
        out.where.append(where)
        if cfg.id_column is not None:
            rid = rec[cfg.id_column]
            if rid is None or str(rid) == "":
                raise DataError(f"{where}: column {cfg.id_column!r} is empty")
            out.ids.append(str(rid))
        else:
            out.ids.append(f"{role}-{len(out.ids)}")
        if cfg.label_columns is not None:
            out.names.append([c for c in cfg.label_columns if _flag(rec[c], where, c)])
        else:
            out.names.append(_label_names(rec[cfg.names_column], where, cfg))
    if not out.texts:
        raise DataError(f"{path}: no rows (data.{role})")
    return out


def _records(path: Path, fmt: str, needed: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` for each row of a file, every column of ``needed`` in the record."""
    if fmt == "parquet":
        yield from _parquet_records(path, needed)
        return
    try:
        with open(path, encoding="utf-8-sig", newline="" if fmt != "jsonl" else None) as f:
            if fmt == "jsonl":
                for lineno, obj in readers.json_records(f, path):
                    where = f"{path}: line {lineno}"
                    if not isinstance(obj, dict):
                        raise DataError(f"{where}: expected a JSON object")
                    missing = [c for c in needed if c not in obj]
                    if missing:
                        raise DataError(
                            f"{where}: no field {missing[0]!r} (fields: {_listing(list(obj))})"
                        )
                    yield where, obj
                return
            # TSV without quote processing: benchmark files hold raw quotes inside texts
            quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
            reader = readers.csv_dict_reader(f, tsv=fmt == "tsv", quoting=quoting)
            header = readers.csv_header(reader, path)
            _check_columns(path, header, needed)
            for line, row in readers.csv_records(reader, path):
                if None in row or any(v is None for v in row.values()):
                    extra = row.pop(None, None)  # fields past the header's
                    got = (
                        len(header) + len(extra)
                        if extra
                        else sum(v is not None for v in row.values())
                    )
                    raise DataError(
                        f"{path}: line {line}: expected {len(header)} fields, got {got}"
                    )
                yield f"{path}: line {line}", row
    except UnicodeDecodeError:
        raise readers.not_utf8_error(path) from None


def _parquet_records(path: Path, needed: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        pf = pq.ParquetFile(path)
        _check_columns(path, readers.arrow_names(pf.schema_arrow, path), needed)
        table = pf.read(columns=list(dict.fromkeys(needed)))
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: not a readable Parquet file ({readers.first_line(exc)})"
        ) from None
    columns = {c: readers.arrow_values(table.column(c), path, c) for c in dict.fromkeys(needed)}
    for i in range(table.num_rows):
        yield f"{path}: row {i}", {c: values[i] for c, values in columns.items()}


def _check_columns(path: Path, header: list[str], needed: list[str]) -> None:
    """Refuse a file without a header, or lacking (or repeating) a column of ``needed``."""
    if not header:
        raise DataError(f"{path}: empty file (no header)")
    for c in needed:
        if c not in header:
            raise DataError(f"{path}: no column {c!r} (columns: {_listing(header)})")
        if header.count(c) > 1:
            raise DataError(f"{path}: column {c!r} appears more than once")


def _listing(names: list[str], limit: int = 30) -> str:
    """``a, b, c`` for a message, cut after ``limit`` names."""
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _flag(value: Any, where: str, column: str) -> bool:
    """A wide-layout cell: ``0``/``1`` (text, integer, float or boolean), else a DataError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise DataError(f"{where}: column {column!r} must be 0 or 1, got {shown}")


def _label_names(value: Any, where: str, cfg: DataConfig) -> list[str]:
    """The label names of a long-layout cell (a string joined by ``label_sep`` or a list)."""
    column = cfg.names_column
    if value is None:  # JSON null, a Parquet null: no label
        items: list[Any] = []
    elif isinstance(value, str):
        items = value.split(cfg.label_sep)
    elif isinstance(value, list | tuple):
        items = list(value)
        bad = next((x for x in items if not isinstance(x, str)), None)
        if bad is not None:
            raise DataError(
                f"{where}: column {column!r} holds {bad!r}; expected label names (strings)"
            )
    else:
        raise DataError(
            f"{where}: column {column!r} holds {type(value).__name__}; expected label names "
            f"joined by {cfg.label_sep!r} or a list of them"
        )
    names: dict[str, str] = {}  # "joy, Joy" is one label: its first spelling
    for x in items:
        if x.strip():
            names.setdefault(x.strip().lower(), x.strip())
    return list(names.values())


# ------------------------------------------------------------------ labels and datasets
def _schema(cfg: DataConfig, files: list[_Rows]) -> tuple[LabelSchema, str]:
    """The label schema of the data and a phrase saying where its names come from."""
    if cfg.label_columns is not None:
        names, origin, what = (
            list(cfg.label_columns),
            "the data.label_columns",
            "data.label_columns",
        )
    elif cfg.labels is not None:
        names, origin, what = list(cfg.labels), "declared in data.labels", "data.labels"
    else:
        seen: dict[str, str] = {}
        for rows in files:
            for row in rows.names:
                for name in row:
                    seen.setdefault(name.lower(), name)
        names = sorted(seen.values())
        origin = "the names found in the files, sorted"
        what = f"the labels of {', '.join(str(r.path) for r in files)}"
        if not names:
            raise DataError(f"{files[0].path}: no row has a label in column {cfg.names_column!r}")
    try:
        schema = LabelSchema(
            names,
            descriptions=cfg.descriptions,
            allow_empty=cfg.allow_empty,
            single_label=cfg.single_label,
            name=cfg.name,
            neutral=cfg.neutral,
        )
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from None
    return schema, origin


def _dataset(rows: _Rows, schema: LabelSchema) -> EmotionDataset:
    """The dataset of one file: every row's labels checked against the schema."""
    matrix = np.zeros((len(rows.texts), len(schema)), dtype=np.uint8)
    for i, names in enumerate(rows.names):
        for name in names:
            if name not in schema:
                raise DataError(
                    f"{rows.where[i]}: label {name!r} is not one of data.labels "
                    f"({_listing(list(schema.names))})"
                )
            matrix[i, schema.label_id(name)] = 1
        if schema.single_label and len(names) > 1:
            raise DataError(
                f"{rows.where[i]}: {len(names)} labels ({', '.join(names)}) in a row of a "
                "single-label dataset (data.single_label)"
            )
        if not names and not schema.allow_empty:
            raise DataError(f"{rows.where[i]}: no label, but data.allow_empty is false")
    try:
        return EmotionDataset(rows.texts, labels=matrix, source="user", ids=rows.ids, schema=schema)
    except DataError as exc:
        raise DataError(f"{rows.path}: {exc}") from None


def _split(
    full: EmotionDataset, cfg: DataConfig, path: Path
) -> tuple[dict[str, EmotionDataset], str]:
    """Train, dev and test of one file, and the sentence saying how they were made.

    Rows are ordered by their rarest label (labels counted over the file; rows without a label
    last), at random within one label (``split_seed``), and every ``1/fraction``-th row of that
    order goes to test, then dev: each label's rows spread over the three in proportion.
    """
    n = len(full)
    n_test = math.floor(n * cfg.test_fraction)
    rest_fraction = cfg.dev_fraction / (1 - cfg.test_fraction)
    n_dev = math.floor((n - n_test) * rest_fraction)
    if n_test < 1 or n_dev < 1 or n - n_test - n_dev < 1:
        raise DataError(
            f"{path}: {n} rows are too few to split into train, dev and test "
            f"(data.dev_fraction {cfg.dev_fraction}, data.test_fraction {cfg.test_fraction})"
        )
    y = full.labels
    assert y is not None  # own data is always labelled
    counts = y.sum(axis=0, dtype=np.int64)
    # a row's rarest label: the stratum; len(schema) for rows without a label
    rarity = np.where(y.astype(bool), counts[None, :], np.iinfo(np.int64).max)
    stratum = np.where(y.any(axis=1), np.argmin(rarity, axis=1), y.shape[1])
    rng = np.random.default_rng(cfg.split_seed)
    order = np.lexsort((rng.random(n), stratum))
    is_test = _every(n, cfg.test_fraction)
    rest = order[~is_test]
    is_dev = _every(len(rest), rest_fraction)
    parts = {
        "train": np.sort(rest[~is_dev]),
        "dev": np.sort(rest[is_dev]),
        "test": np.sort(order[is_test]),
    }
    sets = {role: full.subset(idx) for role, idx in parts.items()}
    sizes = "/".join(f"{len(s):,}" for s in sets.values())
    shares = "/".join(f"{100 * len(s) / n:.0f}" for s in sets.values())
    note = (
        f"dev and test were split from {path.name} deterministically (seed {cfg.split_seed}, "
        f"stratified by each row's rarest label): train/dev/test {sizes} rows ({shares}%)"
    )
    return sets, note


def _every(n: int, fraction: float) -> np.ndarray:
    """A mask of ``floor(n * fraction)`` positions spread evenly over ``0..n-1``."""
    p = np.arange(n)
    return np.floor((p + 1) * fraction) > np.floor(p * fraction)


def _warnings(sets: dict[str, EmotionDataset], schema: LabelSchema) -> list[str]:
    """Labels that train, dev or test never has (named), with what follows from it."""
    counts = {role: ds.labels.sum(axis=0) for role, ds in sets.items()}  # type: ignore[union-attr]
    out = []

    def absent(role: str) -> list[str]:
        return [schema.names[j] for j in np.flatnonzero(counts[role] == 0)]

    no_train = absent("train")
    if no_train:
        in_test = [lab for lab in no_train if counts["test"][schema.label_id(lab)]]
        tail = f"; test has {', '.join(in_test)}" if in_test else ""
        out.append(f"label(s) never in train: {', '.join(no_train)} (no model learns them{tail})")
    no_dev = absent("dev")
    if no_dev:
        out.append(
            f"label(s) never in dev: {', '.join(no_dev)} (their thresholds fall back to 0.5)"
        )
    no_test = absent("test")
    if no_test:
        out.append(f"label(s) never in test: {', '.join(no_test)} (their test F1 is undefined)")
    train_texts = set(sets["train"].texts)
    shared = {role: sum(t in train_texts for t in sets[role].texts) for role in ("dev", "test")}
    if any(shared.values()):
        out.append(
            f"{shared['dev']:,} dev and {shared['test']:,} test texts also occur in train "
            "(exact duplicates): their figures may be optimistic"
        )
    return out
