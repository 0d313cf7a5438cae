"""Review spreadsheets: the CSV of the candidates for annotators, and the reading of the
filled copies (one per annotator) into a vote table."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..data.dataset import EmotionDataset
from ..data.readers import csv_dict_reader
from ..errors import DataError
from ..io import atomic_path
from ..labels import GOEMOTIONS, LabelSchema
from .votes import (
    PathLike,
    _annotation_rows,
    _check_unique_ids,
    _intended_str,
    _votes_frame,
)

__all__ = ["export_csv", "import_csv"]

_TRUE = {"1", "1.0", "x", "y", "yes", "true"}
_FALSE = {"", "0", "0.0", "n", "no", "false"}


def export_csv(dataset: EmotionDataset, path: PathLike, *, prefill: bool = False) -> Path:
    """Write a review spreadsheet (CSV, UTF-8 with a BOM for spreadsheet programs), atomically.

    Columns: ``id``, ``text``, ``proposed_labels`` (comma-separated names), ``intended`` (when
    the rows have ``meta["intended"]``), ``accept`` (empty) and one column per label of the
    dataset's schema. An
    annotator marks the labels the text expresses with ``1`` (``x``/``yes`` also work; empty
    means 0), or writes ``accept`` = 1 to vote for the proposed labels (plus any marked ones)
    or ``accept`` = 0 to vote for none. ``prefill=True`` writes 1 under the proposed labels
    (faster to review, but it anchors annotators to the proposal). Each annotator fills a copy
    named after them (``alice.csv``) or adds an ``annotator`` column.

    Raises
    ------
    DataError
        If two rows share an id.
    """
    _check_unique_ids(dataset, "export_csv")
    names = dataset.label_names() if dataset.labels is not None else [[] for _ in dataset.texts]
    intended = dataset.meta.get("intended")
    header = ["id", "text", "proposed_labels"]
    if intended is not None:
        header.append("intended")
    labels = dataset.schema.names
    header += ["accept", *labels]
    path = Path(path)
    with (
        atomic_path(path, suffix=".csv") as tmp,
        open(tmp, "w", encoding="utf-8-sig", newline="") as f,
    ):
        w = csv.writer(f)
        w.writerow(header)
        for i, text in enumerate(dataset.texts):
            row = [dataset.ids[i], text, ",".join(names[i])]
            if intended is not None:
                row.append("" if intended[i] is None else _intended_str(intended[i]))
            chosen = set(names[i]) if prefill else set()
            row += ["", *("1" if lab in chosen else "" for lab in labels)]
            w.writerow(row)
    return path


# ================================================================================ import


def _flag(value: str | None, where: str, column: str) -> bool:
    v = (value or "").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise DataError(f"{where}: column {column!r} must be 0/1 (or empty), got {value!r}")


def _sniff_delimiter(sample: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = sample.splitlines()[0] if sample else ""
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def import_csv(
    paths: PathLike | Sequence[PathLike], schema: LabelSchema = GOEMOTIONS
) -> pd.DataFrame:
    """Read filled review spreadsheets (see :func:`export_csv`) into a vote table.

    Parameters
    ----------
    paths : path or sequence of paths
        One CSV per annotator, named after them (the annotator is the file stem), unless the
        file has an ``annotator`` column (rows with it empty fall back to the stem). The
        delimiter may be ``,``, ``;`` or a tab. Needs an ``id`` column and label columns
        and/or an ``accept`` column; label columns left out of the file count as 0.
    schema : LabelSchema, default=GOEMOTIONS
        The labels reviewed (the candidates' schema): its names are the label columns.

    Raises
    ------
    DataError
        Naming the file and line of a malformed row (a cell that is not 0/1, an unknown
        proposed label, a missing id), and when one annotator votes twice on one id (in one
        file or two, e.g. two files with the same stem).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    rows: list[tuple[str, str, str, int, str]] = []
    first_seen: dict[tuple[str, str], str] = {}
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 ({exc.reason})") from None
        # fields of any length (a long post), the annotators' quoting as the csv module reads it
        reader = csv_dict_reader(
            io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, path), strict=False
        )
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise DataError(f"{path}: line 1: repeated columns {dup}")
        if "id" not in header:
            raise DataError(f"{path}: line 1: no 'id' column (columns: {', '.join(header)})")
        label_cols = [lab for lab in schema.names if lab in header]
        has_accept = "accept" in header
        if not label_cols and not has_accept:
            raise DataError(f"{path}: line 1: no label columns and no 'accept' column")
        has_annotator = "annotator" in header
        try:
            for row in reader:
                where = f"{path}: line {reader.line_num}"
                if None in row or any(v is None for v in row.values()):
                    raise DataError(f"{where}: expected {len(header)} fields")
                if not any((v or "").strip() for v in row.values()):
                    continue  # a blank line left by a spreadsheet
                tid = row["id"].strip()
                if not tid:
                    raise DataError(f"{where}: empty id")
                annotator = (row["annotator"].strip() if has_annotator else "") or path.stem
                chosen = {lab for lab in label_cols if _flag(row[lab], where, lab)}
                accept = (row.get("accept") or "").strip()
                if accept:
                    if _flag(accept, where, "accept"):
                        if "proposed_labels" not in header:
                            raise DataError(f"{where}: accept=1 but no 'proposed_labels' column")
                        proposed = row["proposed_labels"].replace(";", ",").replace("|", ",")
                        ids = schema.label_ids(proposed, f"{where}: proposed_labels", what="label")
                        chosen |= {schema.names[j] for j in ids}
                    else:
                        chosen = set()
                key = (tid, annotator)
                if key in first_seen:
                    raise DataError(
                        f"{where}: annotator {annotator!r} already voted on id {tid!r} "
                        f"({first_seen[key]}); give each annotator one file or an "
                        "'annotator' column"
                    )
                first_seen[key] = where
                rows += _annotation_rows(tid, annotator, chosen, str(path), schema)
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
    return _votes_frame(rows)
