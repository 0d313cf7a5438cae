"""EmotionDataset: texts with a ``uint8[n, len(schema)]`` label matrix, its schema, provenance."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..io import atomic_path
from ..labels import GOEMOTIONS, LabelSchema
from .readers import (
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

SOURCES = ("goemotions", "sentiment140", "generated", "augmented", "oversampled", "user")
# the constructor's parameters, each also the attribute holding that column
_COLUMNS = (
    "texts", "labels", "source", "ids", "weight", "parent_id", "teacher_score", "meta", "schema"
)  # fmt: skip
_CORE = ("text", "labels", "source", "id", "weight", "parent_id", "teacher_score")


class EmotionDataset:
    """A multi-label emotion dataset with provenance.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    labels : array-like of shape (n, len(schema)) or None
        Binary label matrix in the schema's order, stored as ``uint8``.
        ``None`` makes an unlabelled corpus (e.g. tweets waiting for a teacher).
    source : str or sequence of str, default="user"
        Where each row comes from (``goemotions``, ``sentiment140``, ``generated``,
        ``augmented``, ``oversampled``, ``user``); a single string applies to every row.
    ids : sequence of str, optional
        Row ids; default ``"{source}-{i}"``.
    weight : array-like of shape (n,), optional
        Per-row training weight.
    parent_id : sequence of (str or None), optional
        For augmented or oversampled rows, the id of the row they were made from.
    teacher_score : array-like of shape (n,), optional
        Teacher probability behind pseudo-labels (NaN where not applicable).
    meta : dict of str to sequence, optional
        Extra per-row columns kept through filtering, concatenation and Parquet (e.g.
        ``polarity`` for Sentiment140).
    schema : LabelSchema, optional
        The labels the matrix's columns are; default GoEmotions' 28
        (:data:`emobalance.labels.GOEMOTIONS`).

    Raises
    ------
    DataError
        If lengths differ, a text is not a str, or labels are not a 0/1 ``(n, len(schema))``
        matrix (a single-label schema: at most one label per row).
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Any = None,
        source: str | Sequence[str] = "user",
        ids: Sequence[str] | None = None,
        weight: Any = None,
        parent_id: Sequence[str | None] | None = None,
        teacher_score: Any = None,
        meta: dict[str, Sequence[Any]] | None = None,
        schema: LabelSchema | None = None,
    ) -> None:
        texts = list(texts)
        if schema is not None and not isinstance(schema, LabelSchema):
            raise DataError(f"schema must be a LabelSchema, got {type(schema).__name__}")
        self.schema: LabelSchema = GOEMOTIONS if schema is None else schema
        n = len(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise DataError(f"text of row {i} is {type(t).__name__}, expected str")
        self.texts: list[str] = texts
        self.labels: np.ndarray | None = (
            None if labels is None else _check_labels(labels, n, self.schema)
        )
        if isinstance(source, str):
            self.source: list[str] = [source] * n
        else:
            self.source = [str(s) for s in source]
            if len(self.source) != n:
                raise DataError(f"source has {len(self.source)} rows but there are {n} texts")
        self.ids: list[str] = (
            [f"{self.source[i]}-{i}" for i in range(n)] if ids is None else [str(x) for x in ids]
        )
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float32)
        self.parent_id = None if parent_id is None else list(parent_id)
        self.teacher_score = (
            None if teacher_score is None else np.asarray(teacher_score, dtype=np.float32)
        )
        self.meta: dict[str, list[Any]] = {k: list(v) for k, v in (meta or {}).items()}
        for name, col in [
            ("source", self.source),
            ("id", self.ids),
            ("weight", self.weight),
            ("parent_id", self.parent_id),
            ("teacher_score", self.teacher_score),
            *((f"meta column {k!r}", v) for k, v in self.meta.items()),
        ]:
            if col is not None and len(col) != n:
                raise DataError(f"{name} has {len(col)} rows but there are {n} texts")
        clash = set(self.meta) & set(_CORE)
        if clash:
            raise DataError(f"meta columns may not be named {sorted(clash)}")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        kind = "labelled" if self.is_labelled else "unlabelled"
        srcs = ", ".join(f"{k}={v}" for k, v in self.counts_by_source().items())
        return f"EmotionDataset(n={len(self)}, {kind}, sources: {srcs or '-'})"

    @property
    def is_labelled(self) -> bool:
        """Whether the dataset carries a label matrix."""
        return self.labels is not None

    def _require_labels(self) -> np.ndarray:
        if self.labels is None:
            raise DataError("this dataset is unlabelled (labels=None)")
        return self.labels

    def label_counts(self) -> dict[str, int]:
        """Number of rows carrying each label, in the schema's order."""
        counts = self._require_labels().sum(axis=0, dtype=np.int64)
        return {name: int(c) for name, c in zip(self.schema.names, counts, strict=True)}

    def counts_by_source(self) -> dict[str, int]:
        """Rows per source."""
        out: dict[str, int] = {}
        for s in self.source:
            out[s] = out.get(s, 0) + 1
        return out

    def label_names(self) -> list[list[str]]:
        """Label names per row."""
        labels = self._require_labels()
        names = self.schema.names
        return [[names[j] for j in np.flatnonzero(row)] for row in labels]

    # -------------------------------------------------------- select / combine
    def subset(self, indices: Sequence[int] | np.ndarray) -> EmotionDataset:
        """Rows at ``indices`` (order kept; repeats allowed)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"index out of range for a dataset of {len(self)} rows")
        pick = idx.tolist()

        def take(col: Any) -> Any:
            if col is None:
                return None
            if isinstance(col, np.ndarray):
                return col[idx]
            if isinstance(col, dict):
                return {k: take(v) for k, v in col.items()}
            if isinstance(col, LabelSchema):
                return col
            return [col[i] for i in pick]

        return EmotionDataset(**{name: take(col) for name, col in self._columns().items()})

    def replace(self, **changes: Any) -> EmotionDataset:
        """A copy with some columns replaced, validated as the constructor validates them.

        Like :func:`dataclasses.replace`: ``ds.replace(labels=new, teacher_score=s)`` keeps
        every other column. Unchanged array columns are copied, so editing one dataset in
        place never reaches the other.

        Parameters
        ----------
        **changes
            New values for any of the constructor's parameters (``texts``, ``labels``,
            ``source``, ``ids``, ``weight``, ``parent_id``, ``teacher_score``, ``meta``);
            ``None`` drops an optional column (``labels=None`` makes the copy unlabelled).

        Returns
        -------
        EmotionDataset

        Raises
        ------
        TypeError
            For a name that is not a column.
        DataError
            If a new column does not fit (length, label matrix, ...).

        Examples
        --------
        >>> ds = EmotionDataset(["a", "b"], source="user")
        >>> ds.replace(source="generated", weight=[1.0, 0.5]).source
        ['generated', 'generated']
        """
        columns = self._columns()
        unknown = sorted(set(changes) - set(columns))
        if unknown:
            raise TypeError(f"replace() got unknown columns {unknown}; expected {list(columns)}")
        for name, col in columns.items():
            if name not in changes and isinstance(col, np.ndarray):
                columns[name] = col.copy()
        columns.update(changes)
        return EmotionDataset(**columns)

    def _columns(self) -> dict[str, Any]:
        """The constructor's arguments that rebuild this dataset (shallow)."""
        return {name: getattr(self, name) for name in _COLUMNS}

    def filter(self, mask: Sequence[bool] | np.ndarray | Callable[[str], bool]) -> EmotionDataset:
        """Rows where ``mask`` is true; ``mask`` may be a boolean array or a predicate on text."""
        if callable(mask):
            keep = np.fromiter((bool(mask(t)) for t in self.texts), dtype=bool, count=len(self))
        else:
            keep = np.asarray(mask, dtype=bool)
            if keep.shape != (len(self),):
                raise DataError(f"mask has shape {keep.shape}, expected ({len(self)},)")
        return self.subset(np.flatnonzero(keep))

    @classmethod
    def concat(cls, datasets: Iterable[EmotionDataset]) -> EmotionDataset:
        """Concatenate datasets; optional columns missing on one side are filled (NaN/None)."""
        parts = list(datasets)
        if not parts:
            return cls([], labels=np.zeros((0, len(GOEMOTIONS)), dtype=np.uint8))
        labelled = {p.is_labelled for p in parts}
        if len(labelled) > 1:
            raise DataError("cannot concatenate labelled and unlabelled datasets")
        schema = parts[0].schema
        if labelled == {True}:
            for p in parts[1:]:
                schema.check_same(p.schema, "the first dataset", "another one")

        def cat_float(attr: str, fill: float) -> np.ndarray | None:
            if all(getattr(p, attr) is None for p in parts):
                return None
            return np.concatenate(
                [
                    getattr(p, attr)
                    if getattr(p, attr) is not None
                    else np.full(len(p), fill, dtype=np.float32)
                    for p in parts
                ]
            )

        parent = None
        if any(p.parent_id is not None for p in parts):
            parent = [x for p in parts for x in (p.parent_id or [None] * len(p))]
        keys = list(dict.fromkeys(k for p in parts for k in p.meta))
        meta = {k: [x for p in parts for x in p.meta.get(k, [None] * len(p))] for k in keys}
        return cls(
            texts=[t for p in parts for t in p.texts],
            labels=np.concatenate([p.labels for p in parts]) if labelled == {True} else None,
            source=[s for p in parts for s in p.source],
            ids=[i for p in parts for i in p.ids],
            weight=cat_float("weight", 1.0),
            parent_id=parent,
            teacher_score=cat_float("teacher_score", np.nan),
            meta=meta,
            schema=schema,
        )

    def __add__(self, other: EmotionDataset) -> EmotionDataset:
        return EmotionDataset.concat([self, other])

    # ----------------------------------------------------------------- parquet
    def to_arrow(self) -> pa.Table:
        """The dataset as an Arrow table (labels as ``fixed_size_list<uint8>[len(schema)]``).

        The schema metadata holds the label names (``emobalance.labels``) and, for a schema
        other than GoEmotions', the whole label schema (``emobalance.label_schema``), read
        back by :meth:`from_arrow`.
        """
        cols: dict[str, pa.Array] = {
            "text": pa.array(self.texts, type=pa.string()),
            "source": pa.array(self.source, type=pa.string()),
            "id": pa.array(self.ids, type=pa.string()),
        }
        if self.labels is not None:
            flat = pa.array(self.labels.reshape(-1), type=pa.uint8())
            cols["labels"] = pa.FixedSizeListArray.from_arrays(flat, len(self.schema))
        if self.weight is not None:
            cols["weight"] = pa.array(self.weight, type=pa.float32())
        if self.parent_id is not None:
            cols["parent_id"] = pa.array(self.parent_id, type=pa.string())
        if self.teacher_score is not None:
            cols["teacher_score"] = pa.array(self.teacher_score, type=pa.float32())
        for k, v in self.meta.items():
            cols[k] = pa.array(v)
        schema_meta = {b"emobalance.labels": json.dumps(list(self.schema.names)).encode()}
        if self.schema is not GOEMOTIONS:  # GoEmotions files stay as they were
            schema_meta[b"emobalance.label_schema"] = json.dumps(self.schema.to_dict()).encode()
        return pa.table(cols).replace_schema_metadata(schema_meta)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the dataset to a Parquet file atomically; return the path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            pq.write_table(self.to_arrow(), tmp)
        return path

    @classmethod
    def from_arrow(
        cls, table: pa.Table, origin: str = "<arrow>", schema: LabelSchema | None = None
    ) -> EmotionDataset:
        """Build a dataset from an Arrow table written by :meth:`to_arrow` (or by pandas).

        The label schema is the table's own (its metadata), else ``schema``, else GoEmotions';
        a table whose stored schema differs from a given ``schema`` is refused.
        ``labels`` may be one 0/1 flag per label and row (``fixed_size_list`` or ``list`` of
        integers or booleans), a list of label names (or ids written as strings, ``["17"]``)
        per row, or a comma-separated string of them, as in a CSV file.

        Raises
        ------
        DataError
            Naming ``origin`` (and the row) of a table that does not make a dataset: no
            ``text`` column, a repeated column, bad ``emobalance.labels`` metadata, a value of
            the wrong type, or labels that are none of the forms above.
        """
        names = arrow_names(table.schema, origin)
        if "text" not in names:
            raise DataError(f"{origin}: no 'text' column (columns: {', '.join(names)})")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"{origin}: columns {twice} appear more than once")
        schema = _label_metadata(table.schema.metadata, origin, schema)

        def opt(name: str) -> list[Any] | None:
            if name not in names:
                return None
            try:
                return arrow_values(table.column(name), origin, name)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise DataError(f"{origin}: cannot read column {name!r} ({exc})") from None

        texts = opt("text") or []
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise DataError(f"{origin}: row {i}: text is {type(t).__name__}, expected str")

        source, ids, parent = opt("source"), opt("id"), opt("parent_id")
        for name, col in (("source", source), ("id", ids)):
            for i, v in enumerate(col or []):
                if not isinstance(v, str):
                    raise DataError(f"{origin}: row {i}: column {name!r} is not text")
        for i, v in enumerate(parent or []):
            if v is not None and not isinstance(v, str):
                raise DataError(f"{origin}: row {i}: column 'parent_id' is not text")
        weight = _float_column(table, "weight", origin, nulls=False)
        tscore = _float_column(table, "teacher_score", origin, nulls=True)
        labels = (
            _arrow_labels(table.column("labels"), origin, schema) if "labels" in names else None
        )
        meta = {k: opt(k) for k in names if k not in _CORE}
        try:
            return cls(
                texts=texts,
                labels=labels,
                source=source or "user",
                ids=ids,
                weight=weight,
                parent_id=parent,
                teacher_score=tscore,
                meta=meta,  # type: ignore[arg-type]
                schema=schema,
            )
        except DataError as exc:
            raise DataError(f"{origin}: {exc}") from None

    @classmethod
    def from_parquet(
        cls, path: str | os.PathLike[str], schema: LabelSchema | None = None
    ) -> EmotionDataset:
        """Read a dataset written by :meth:`to_parquet` (``schema`` as in :meth:`from_arrow`)."""
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
        return cls.from_arrow(table, origin=str(path), schema=schema)

    # ------------------------------------------------------------- csv / jsonl
    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        text_column: str = "text",
        labels_column: str | None = "labels",
        id_column: str | None = "id",
        delimiter: str = ",",
        label_sep: str = ",",
        source: str = "user",
        schema: LabelSchema | None = None,
    ) -> EmotionDataset:
        """Read a CSV file with a text column and labels of ``schema`` (default GoEmotions').

        Labels come either from ``labels_column``, holding label names or ids separated by
        ``label_sep`` (``"joy,love"`` or ``"17,18"``), or, when ``labels_column`` is ``None``
        or absent and every label name is a column, from one 0/1 column per label.
        A file with neither gives an unlabelled dataset.

        Raises
        ------
        DataError
            Naming the file and line of a malformed row.
        """
        path = Path(path)
        schema = schema or GOEMOTIONS
        if not path.exists():
            raise DataError(f"{path}: no such file")
        texts: list[str] = []
        label_rows: list[list[int]] = []
        ids: list[str] = []
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv_dict_reader(f, delimiter=delimiter)
                header = csv_header(reader, path)
                if text_column not in header:
                    raise DataError(
                        f"{path}: line 1: no column {text_column!r} (columns: {', '.join(header)})"
                    )
                wide = all(name in header for name in schema.names) and (
                    labels_column is None or labels_column not in header
                )
                has_labels = wide or (labels_column is not None and labels_column in header)
                use_ids = id_column is not None and id_column in header
                for line, row in csv_records(reader, path):
                    where = f"{path}: line {line}"
                    if None in row or any(v is None for v in row.values()):
                        raise DataError(f"{where}: expected {len(header)} fields")
                    texts.append(row[text_column])
                    if use_ids:
                        ids.append(row[id_column])  # type: ignore[index]
                    if wide:
                        label_rows.append(
                            [
                                j
                                for j, name in enumerate(schema.names)
                                if _flag(row[name], where, name)
                            ]
                        )
                    elif has_labels:
                        cell = row[labels_column]  # type: ignore[index]
                        label_rows.append(
                            schema.label_ids(cell, where, sep=label_sep, what="label")
                        )
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
        return cls(
            texts,
            labels=_ids_matrix(label_rows, schema) if has_labels else None,
            source=source,
            ids=ids or None,
            schema=schema,
        )

    @classmethod
    def from_jsonl(
        cls,
        path: str | os.PathLike[str],
        text_column: str = "text",
        labels_column: str | None = "labels",
        id_column: str | None = "id",
        source: str = "user",
        schema: LabelSchema | None = None,
    ) -> EmotionDataset:
        """Read JSON Lines: one object per line with a text field and labels of ``schema``.

        ``labels`` may be a list of names or ids, or a comma-separated string of them.
        Rows without the labels field make the whole dataset unlabelled only if no row has it.
        """
        path = Path(path)
        schema = schema or GOEMOTIONS
        if not path.exists():
            raise DataError(f"{path}: no such file")
        texts: list[str] = []
        label_rows: list[list[int] | None] = []
        ids: list[str | None] = []
        linenos: list[int] = []
        try:
            with open(path, encoding="utf-8-sig") as f:
                for lineno, obj in json_records(f, path):
                    where = f"{path}: line {lineno}"
                    if not isinstance(obj, dict):
                        raise DataError(f"{where}: expected a JSON object")
                    if text_column not in obj:
                        raise DataError(f"{where}: no field {text_column!r}")
                    text = obj[text_column]
                    if not isinstance(text, str):
                        raise DataError(f"{where}: field {text_column!r} is not a string")
                    texts.append(text)
                    linenos.append(lineno)
                    has_id = id_column is not None and id_column in obj
                    ids.append(str(obj[id_column]) if has_id else None)  # type: ignore[index]
                    if labels_column is not None and labels_column in obj:
                        label_rows.append(schema.label_ids(obj[labels_column], where, what="label"))
                    else:
                        label_rows.append(None)
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
        has = [r is not None for r in label_rows]
        if any(has) and not all(has):
            missing = linenos[has.index(False)]
            raise DataError(f"{path}: line {missing}: no field {labels_column!r}")
        if any(x is not None for x in ids) and None in ids:
            missing = linenos[ids.index(None)]
            raise DataError(f"{path}: line {missing}: no field {id_column!r}")
        labels = _ids_matrix(label_rows, schema) if texts and all(has) else None  # type: ignore[arg-type]
        return cls(
            texts, labels=labels, source=source, ids=ids if None not in ids else None, schema=schema
        )

    def to_jsonl(self, path: str | os.PathLike[str]) -> Path:
        """Write one JSON object per row (``id``, ``text``, ``labels`` as names, ``source``)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            names = self.label_names() if self.labels is not None else None
            for i, text in enumerate(self.texts):
                rec: dict[str, Any] = {"id": self.ids[i], "text": text, "source": self.source[i]}
                if names is not None:
                    rec["labels"] = names[i]
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return path


def _ids_matrix(rows: list[list[int]], schema: LabelSchema) -> np.ndarray:
    """The ``uint8`` matrix of per-row label ids (already checked against ``schema``)."""
    out = np.zeros((len(rows), len(schema)), dtype=np.uint8)
    for i, row in enumerate(rows):
        out[i, row] = 1
    return out


def _check_labels(labels: Any, n: int, schema: LabelSchema) -> np.ndarray:
    arr = np.asarray(labels)
    width = len(schema)
    if arr.ndim != 2 or arr.shape != (n, width):
        hint = "" if arr.ndim != 2 else f" (labels of {schema.name}; pass the data's schema=)"
        raise DataError(f"labels must have shape ({n}, {width}), got {arr.shape}{hint}")
    if arr.size:
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise DataError(f"labels must be numeric 0/1, got dtype {arr.dtype}")
        bad = ~np.isin(arr, (0, 1))
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise DataError(
                f"labels must be 0 or 1; row {i}, label {schema.names[j]!r} is {arr[i, j]}"
            )
        if schema.single_label:
            per_row = arr.sum(axis=1)
            several = np.flatnonzero(per_row > 1)
            if several.size:
                i = int(several[0])
                shown = ", ".join(schema.names[j] for j in np.flatnonzero(arr[i]))
                raise DataError(
                    f"row {i}: {int(per_row[i])} labels ({shown}) in a single-label dataset"
                )
        if not schema.allow_empty:
            empty = np.flatnonzero(arr.sum(axis=1) == 0)
            if empty.size:
                raise DataError(f"row {int(empty[0])}: no label, but {schema.name} requires one")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _flag(value: str | None, where: str, name: str) -> bool:
    v = (value or "").strip()
    if v in ("0", "1", ""):
        return v == "1"
    raise DataError(f"{where}: column {name!r} must be 0 or 1, got {v!r}")


_LABEL_FORMS = (
    "expected one 0/1 flag per label and row (a list or fixed_size_list of integers), a list "
    "of label names per row, or a comma-separated string of them"
)


def _label_metadata(
    metadata: dict[bytes, bytes] | None, origin: str, expected: LabelSchema | None
) -> LabelSchema:
    """The table's label schema (its metadata; else ``expected``; else GoEmotions')."""
    metadata = metadata or {}
    found: LabelSchema | None = None
    for key in (b"emobalance.label_schema", b"emobalance.labels"):
        stored = metadata.get(key)
        if stored is None:
            continue
        field = key.decode()
        try:
            obj = json.loads(stored)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep
            raise DataError(f"{origin}: {field!r} metadata is not JSON") from None
        found = LabelSchema.from_dict(obj, f"{origin}: {field!r} metadata")
        if key == b"emobalance.labels" and found.same_labels(GOEMOTIONS):
            found = GOEMOTIONS  # a file written before schemas, or by GoEmotions code
        break
    if found is None:
        return expected or GOEMOTIONS
    if expected is not None:
        expected.check_same(found, "the expected data", origin)
    return found


def _float_column(table: pa.Table, name: str, origin: str, nulls: bool) -> np.ndarray | None:
    """A numeric column as float32 (nulls as NaN where ``nulls``), or ``None`` when absent."""
    if name not in table.column_names:
        return None
    col = table.column(name)
    if not (
        pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_null(col.type)
    ):
        raise DataError(f"{origin}: column {name!r} has type {col.type}, expected numbers")
    if col.null_count and not nulls:
        raise DataError(f"{origin}: column {name!r} has null rows")
    values = col.to_pylist()
    return np.array([np.nan if x is None else x for x in values], dtype=np.float32)


def _arrow_labels(col: pa.ChunkedArray, origin: str, schema: LabelSchema) -> np.ndarray:
    """The ``(n, len(schema))`` matrix of an Arrow ``labels`` column in any accepted form."""
    width = len(schema)
    n = len(col)
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = col.type
    if col.null_count:
        first = next(i for i, v in enumerate(col.is_null().to_pylist()) if v)
        raise DataError(f"{origin}: row {first}: 'labels' is null")
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):  # "joy,love" as in CSV
        cells = arrow_texts(col, origin, "labels")
        return _ids_matrix(
            [schema.label_ids(c, f"{origin}: row {i}", what="label") for i, c in enumerate(cells)],
            schema,
        )
    is_list = (
        pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)
    )
    if not is_list:
        raise DataError(f"{origin}: column 'labels' has type {typ}; {_LABEL_FORMS}")
    item = typ.value_type
    if pa.types.is_dictionary(item):
        item = item.value_type
    if pa.types.is_string(item) or pa.types.is_large_string(item):  # names per row
        rows = col.to_pylist()
        for i, r in enumerate(rows):
            if len(r) == width and set(r) <= {"0", "1"} and not set(r) <= set(schema.names):
                raise DataError(
                    f"{origin}: row {i}: 'labels' holds {width} '0'/'1' strings; write 0/1 "
                    "flags as integers, or the label names"
                )
        return _ids_matrix(
            [schema.label_ids(r, f"{origin}: row {i}", what="label") for i, r in enumerate(rows)],
            schema,
        )
    if not (pa.types.is_integer(item) or pa.types.is_boolean(item) or pa.types.is_floating(item)):
        raise DataError(f"{origin}: column 'labels' has type {typ}; {_LABEL_FORMS}")
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    flat = col.combine_chunks()
    if flat.flatten().null_count:
        raise DataError(f"{origin}: 'labels' holds null flags")
    rows = flat.to_pylist()
    sizes = {len(r) for r in rows}
    if len(sizes) > 1:  # ragged: label ids, not flags (ids as integers would be ambiguous)
        i = next(i for i, r in enumerate(rows) if len(r) != width)
        raise DataError(
            f"{origin}: row {i}: 'labels' holds {len(rows[i])} integers, not {width} 0/1 flags "
            "(give label ids as names or strings: ['joy'] or ['17'])"
        )
    # one length for all rows: the constructor names the shape or the first flag not 0/1
    return np.array(rows)
