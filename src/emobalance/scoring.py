"""Batch scoring of text files: stream in chunks, sort by length per chunk, write atomically.

Input: CSV / TSV / JSONL / Parquet (a text column) or TXT (one text per line). Output by
extension: ``.csv``, ``.jsonl`` or ``.parquet`` with ``row`` (0-based input row), ``text``,
``labels`` (names joined by ``,``) and one probability column ``p_<label>`` per label.

Each scored chunk goes to a part file in ``.<output name>.parts/`` beside the output, with a
``progress.json`` recording the rows done; the parts are joined into the output (atomically)
at the end and removed. A killed run continues with ``resume=True`` from the last part
written: no row is lost or written twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import log
from .data.readers import iter_text_chunks
from .errors import DataError, EmobalanceError
from .io import atomic_path, write_json_atomic
from .labels import LABELS

PROBA_COLUMNS = [f"p_{lab}" for lab in LABELS]
CSV_HEADER = ["row", "text", "labels", *PROBA_COLUMNS]
PROGRESS_FORMAT = "emobalance-predict-progress"


class _Scorer(Protocol):
    thresholds_: np.ndarray

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


class _Writer:
    """Append chunks of predictions to a CSV / JSONL / Parquet file."""

    def __init__(self, path: Path, fmt: str, header: bool = True) -> None:
        self.fmt = fmt
        self.path = path
        self._pq: pq.ParquetWriter | None = None
        self._f: Any = None
        self._csv: Any = None
        if fmt in ("csv", "jsonl"):
            self._f = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close())
            if fmt == "csv":
                self._csv = csv.writer(self._f)
                if header:
                    self._csv.writerow(CSV_HEADER)

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


def parts_dir(output_path: str | os.PathLike[str]) -> Path:
    """The folder of part files and ``progress.json`` of an unfinished ``output_path``."""
    out = Path(output_path)
    return out.parent / f".{out.name}.parts"


def predict_file(
    model: _Scorer,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    text_column: str = "text",
    batch_size: int = 256,
    chunk_size: int = 10_000,
    progress: bool | None = None,
    resume: bool = False,
    model_id: str | None = None,
    model_aliases: Sequence[str] = (),
) -> int:
    """Score every text of ``input_path`` and write ``output_path`` atomically.

    Memory stays bounded by ``chunk_size``; within a chunk the model sorts texts by length.

    Parameters
    ----------
    model
        Any object with ``predict_proba(texts, batch_size=...)`` and ``thresholds_``: every
        :class:`~emobalance.models.base.EmotionModel`.
    input_path, output_path : path
        See the module docstring for the formats.
    text_column : str, default="text"
        Text column of a CSV / JSONL / Parquet input.
    batch_size, chunk_size : int
        Texts per forward pass; texts read (and held) at a time.
    progress : bool, optional
        Show a tqdm bar with texts/s (default: when stderr is a terminal).
    resume : bool, default=False
        Continue an interrupted run from its part files. Without earlier parts the run starts
        from the beginning; without ``resume`` earlier parts are discarded.
    model_id : str, optional
        Identifies the model (:func:`emobalance.models.registry.model_id`): resuming with
        another model is refused.
    model_aliases : sequence of str, optional
        Other ids of the same model that an interrupted run may have recorded
        (:func:`emobalance.models.registry.legacy_model_ids`).

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    DataError
        On a bad input file, or when the parts to resume from were written for another
        input file, text column, output format or model.
    """
    out = Path(output_path)
    if out.is_dir():
        raise DataError(f"{out}: is a directory; give a file path")
    fmt = output_format(out)
    src = Path(input_path)
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    st = src.stat()
    key = {
        "input": str(src.resolve()),
        "input_size": st.st_size,
        "input_mtime_ns": st.st_mtime_ns,
        "text_column": text_column,
        "output_format": fmt,
        "model": model_id,
    }
    parts = parts_dir(out)
    state_path = parts / "progress.json"
    state = _read_progress(state_path, key, model_aliases) if resume else None
    if state is None:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
        state = {"format": PROGRESS_FORMAT, "key": key, "parts": 0, "rows": 0}
        write_json_atomic(state_path, state)
    done, n_parts = int(state["rows"]), int(state["parts"])
    show = log.progress_enabled(progress)
    n = 0
    t0 = time.perf_counter()
    try:
        with log.progress(
            None, desc="predict", unit="text", initial=done, enabled=show, leave=True
        ) as bar:
            for chunk in iter_text_chunks(src, text_column, chunk_size):
                if n + len(chunk) <= done:  # scored by the interrupted run
                    n += len(chunk)
                    continue
                if n < done:
                    chunk, n = chunk[done - n :], done
                proba = model.predict_proba(chunk, batch_size=batch_size)  # type: ignore[call-arg]
                # the part first, then the record that counts it: a kill in between leaves an
                # uncounted part that the resumed run overwrites
                with atomic_path(parts / f"part-{n_parts:06d}.{fmt}", suffix=f".{fmt}") as tmp:
                    writer = _Writer(tmp, fmt, header=False)
                    try:
                        writer.write(n, chunk, proba, model.thresholds_)
                    finally:
                        writer.close()
                n += len(chunk)
                n_parts += 1
                write_json_atomic(state_path, {**state, "parts": n_parts, "rows": n})
                bar.update(len(chunk))
                rate = (n - done) / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(texts_per_s=f"{rate:,.0f}")
        if n < done:
            raise DataError(f"{src}: has {n} rows, fewer than the {done} already scored")
    except (EmobalanceError, OSError):
        shutil.rmtree(parts, ignore_errors=True)  # bad input or output: nothing worth resuming
        raise
    with atomic_path(out, suffix=out.suffix) as tmp:
        _join_parts([parts / f"part-{i:06d}.{fmt}" for i in range(n_parts)], tmp, fmt)
    shutil.rmtree(parts, ignore_errors=True)
    return n


def _read_progress(
    path: Path, key: dict[str, Any], model_aliases: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The progress record of an interrupted run with the same ``key`` (its model named by
    ``key["model"]`` or one of ``model_aliases``), or ``None``."""
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        ok = state["format"] == PROGRESS_FORMAT and int(state["parts"]) >= 0
        ok = ok and int(state["rows"]) >= 0
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DataError(f"{path}: unreadable progress record; run without --resume to start over")
    if state["key"].get("model") in model_aliases:
        state["key"] = {**state["key"], "model": key["model"]}  # the same model, older id
    if state["key"] != key:
        what = [k for k in key if state["key"].get(k) != key[k]]
        raise DataError(
            f"{path}: the interrupted run had another {', '.join(what)}; "
            "run without --resume to start over"
        )
    return state


def _join_parts(paths: list[Path], dest: Path, fmt: str) -> None:
    """Concatenate part files (written without a CSV header) into ``dest``, part by part."""
    if fmt == "parquet":
        writer: pq.ParquetWriter | None = None
        try:
            for p in paths:
                table = pq.read_table(p)
                if writer is None:
                    writer = pq.ParquetWriter(dest, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            _Writer(dest, fmt).close()  # no rows: a valid empty file
        return
    with open(dest, "wb") as f:
        if fmt == "csv":
            header = io.StringIO()
            csv.writer(header).writerow(CSV_HEADER)
            f.write(header.getvalue().encode("utf-8"))
        for p in paths:
            with open(p, "rb") as part:
                shutil.copyfileobj(part, f, 1 << 20)
