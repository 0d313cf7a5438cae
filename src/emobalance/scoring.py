"""Batch scoring of text files: stream in chunks, sort by length per chunk, write atomically.

Input: CSV / TSV / JSONL / Parquet (a text column) or TXT (one text per line). Output by
extension: ``.csv``, ``.jsonl`` or ``.parquet`` with ``row`` (0-based input row), ``text``,
``labels`` (names joined by ``,``) and one probability column ``p_<label>`` per label of the
model's schema (:func:`proba_columns`; GoEmotions' 28 for a model without ``labels_``).

Each scored chunk goes to a part file in ``.<output name>.parts/`` beside the output, with a
``progress.json`` recording each part's rows and sha256; the parts are joined into the output
(atomically) at the end and removed. A killed run continues with ``resume=True`` from the
last intact part: no row is lost or written twice, and a damaged or missing part is scored
again with every part after it. Bad input discards the parts; a failed write (disk full)
keeps them for ``resume``. A run holds a lock on the output (``.<output name>.lock``, removed
at the end): a second run on the same output fails at once, naming the first.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
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
from .io import atomic_path, output_lock, remove_stale_temps, sha256_file, write_json_atomic
from .labels import GOEMOTIONS, LabelSchema, schema_of
from .metrics import predict_labels


def proba_columns(schema: LabelSchema) -> list[str]:
    """The probability columns of an output for a model of ``schema``: ``p_<label>``."""
    return [f"p_{lab}" for lab in schema.names]


def csv_header(schema: LabelSchema) -> list[str]:
    """The columns of an output for a model of ``schema``: row, text, labels, probabilities."""
    return ["row", "text", "labels", *proba_columns(schema)]


PROBA_COLUMNS = proba_columns(GOEMOTIONS)
"""The probability columns of a GoEmotions model's output."""
CSV_HEADER = csv_header(GOEMOTIONS)
PROGRESS_FORMAT = "emobalance-predict-progress"
PROGRESS_VERSION = 2  # 2: per part its file, rows and sha256; 1 (no field): a count of parts

_log = log.get_logger(__name__)


class _Scorer(Protocol):
    thresholds_: np.ndarray

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


class _Writer:
    """Append chunks of predictions to a CSV / JSONL / Parquet file."""

    def __init__(self, path: Path, fmt: str, schema: LabelSchema, header: bool = True) -> None:
        self.fmt = fmt
        self.path = path
        self.schema = schema
        self.columns = proba_columns(schema)
        self._pq: pq.ParquetWriter | None = None
        self._f: Any = None
        self._csv: Any = None
        if fmt in ("csv", "jsonl"):
            self._f = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close())
            if fmt == "csv":
                self._csv = csv.writer(self._f)
                if header:
                    self._csv.writerow(csv_header(schema))

    def write(
        self, start: int, texts: list[str], proba: np.ndarray, thresholds: np.ndarray
    ) -> None:
        labels = self.schema.names
        on = predict_labels(proba, thresholds, self.schema.single_label)
        names = [",".join(labels[j] for j in np.flatnonzero(r)) for r in on]
        rows = range(start, start + len(texts))
        if self.fmt == "csv":
            rounded = np.round(proba.astype(np.float64), 6).tolist()
            self._csv.writerows(
                [r, t, n, *p] for r, t, n, p in zip(rows, texts, names, rounded, strict=True)
            )
        elif self.fmt == "jsonl":
            for r, t, n, p in zip(rows, texts, names, proba.tolist(), strict=True):
                rec = {"row": r, "text": t, "labels": n.split(",") if n else []}
                rec.update({c: round(v, 6) for c, v in zip(self.columns, p, strict=True)})
                self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            cols: dict[str, Any] = {
                "row": pa.array(list(rows), pa.int64()),
                "text": pa.array(texts, pa.string()),
                "labels": pa.array(names, pa.string()),
            }
            for j, c in enumerate(self.columns):
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
                + [(c, pa.float32()) for c in self.columns]
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


class ResumableWriteError(EmobalanceError, OSError):
    """Writing failed (disk full, I/O error...) after some parts were finished: they are kept
    for ``--resume``. An :class:`OSError` too, with the ``errno`` and ``filename`` of the cause.
    """

    def __init__(self, message: str, cause: OSError) -> None:
        super().__init__(message)
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, cause.filename

    def __str__(self) -> str:
        return str(self.args[0])


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
    The output is locked for the run (:func:`emobalance.io.output_lock`): a second run on the
    same output fails at once, naming the first.

    Parameters
    ----------
    model
        Any object with ``predict_proba(texts, batch_size=...)`` and ``thresholds_``: every
        :class:`~emobalance.models.base.EmotionModel`. Its label schema (``labels_``) names
        the output's columns; a single-label model's ``labels`` is its most probable label.
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
        from the beginning; without ``resume`` earlier parts are discarded. A part that is
        missing or does not match its recorded row count and sha256 is re-scored, with every
        part after it.
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
        On a bad input file (the parts are discarded), or when the parts to resume from were
        written for another input file, text column, output format or model, or their
        progress record is unreadable (the parts are kept).
    ResumableWriteError
        When writing fails (disk full...): the finished parts are kept for ``resume``.
    emobalance.io.LockedError
        When another process is writing the same output.
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
    with output_lock(out, "emobalance predict"):
        # the lock makes this run the only writer of the output and its parts folder
        remove_stale_temps(out)  # e.g. the final join's temporary of a killed run
        return _predict_locked(
            model, src, out, fmt, key, batch_size, chunk_size, progress, resume, model_aliases
        )


def _predict_locked(
    model: _Scorer,
    src: Path,
    out: Path,
    fmt: str,
    key: dict[str, Any],
    batch_size: int,
    chunk_size: int,
    progress: bool | None,
    resume: bool,
    model_aliases: Sequence[str],
) -> int:
    parts = parts_dir(out)
    schema = schema_of(model)
    state_path = parts / "progress.json"
    state = _read_progress(state_path, key, model_aliases) if resume else None
    if state is None:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
        state = {"format": PROGRESS_FORMAT, "version": PROGRESS_VERSION, "key": key,
                 "rows": 0, "parts": []}  # fmt: skip
        try:
            write_json_atomic(state_path, state)
        except OSError:
            shutil.rmtree(parts, ignore_errors=True)  # nothing scored: no folder left
            raise
    else:
        state = _trusted_parts(parts, state, fmt, schema)
    entries: list[dict[str, Any]] = list(state["parts"])
    done = int(state["rows"])
    show = log.progress_enabled(progress)
    n = 0
    t0 = time.perf_counter()
    try:
        with log.progress(
            None, desc="predict", unit="text", initial=done, enabled=show, leave=True
        ) as bar:
            for chunk in iter_text_chunks(src, text_column=key["text_column"],
                                          chunk_size=chunk_size):  # fmt: skip
                if n + len(chunk) <= done:  # scored by the interrupted run
                    n += len(chunk)
                    continue
                if n < done:
                    chunk, n = chunk[done - n :], done
                _check_lengths(chunk, n, src, getattr(model, "max_text_chars", None))
                proba = model.predict_proba(chunk, batch_size=batch_size)  # type: ignore[call-arg]
                # the part first, then the record that counts it: a kill in between leaves an
                # uncounted part that the resumed run removes
                entries.append(
                    _write_part(parts, len(entries), fmt, src, n, chunk, proba,
                                model.thresholds_, schema)
                )  # fmt: skip
                n += len(chunk)
                write_json_atomic(state_path, {**state, "rows": n, "parts": entries})
                bar.update(len(chunk))
                rate = (n - done) / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(texts_per_s=f"{rate:,.0f}")
        if n < done:
            raise DataError(f"{src}: has {n} rows, fewer than the {done} already scored")
        with atomic_path(out, suffix=out.suffix) as tmp:
            _join_parts([parts / e["file"] for e in entries], tmp, fmt, schema)
    except EmobalanceError:
        shutil.rmtree(parts, ignore_errors=True)  # bad input: nothing worth resuming
        raise
    except OSError as exc:  # disk full, I/O error: what is finished stays for --resume
        kept = sum(int(e["rows"]) for e in entries)
        what = f"{out}: {exc.strerror or exc}"
        if exc.filename and Path(exc.filename) != out:
            what += f" (writing {exc.filename})"
        if kept == 0:
            shutil.rmtree(parts, ignore_errors=True)
            raise ResumableWriteError(what, exc) from exc
        raise ResumableWriteError(
            f"{what}; the {kept:,} row{'s' * (kept != 1)} scored so far are kept in {parts}: "
            "fix the cause (e.g. free disk space) and rerun with --resume",
            exc,
        ) from exc
    shutil.rmtree(parts, ignore_errors=True)
    return n


def _check_lengths(texts: list[str], start: int, src: Path, limit: int | None) -> None:
    """The model's text-length limit, named by the input's row (its index in a chunk is
    what the model would name)."""
    if limit is None:
        return
    for i, t in enumerate(texts):
        if len(t) > limit:
            raise DataError(
                f"{src}: row {start + i} (0-based) has {len(t):,} characters, over the limit "
                f"of {limit:,} (--max-chars)"
            )


def _write_part(
    parts: Path,
    index: int,
    fmt: str,
    src: Path,
    start: int,
    texts: list[str],
    proba: np.ndarray,
    thresholds: np.ndarray,
    schema: LabelSchema,
) -> dict[str, Any]:
    """Write part ``index`` atomically; return its progress entry (file, rows, sha256).

    A text that cannot be encoded (a lone surrogate) is bad input: a :class:`DataError`
    naming the row, and no part file.
    """
    name = f"part-{index:06d}.{fmt}"
    try:
        with atomic_path(parts / name, suffix=f".{fmt}") as tmp:
            writer = _Writer(tmp, fmt, schema, header=False)
            try:
                writer.write(start, texts, proba, thresholds)
            finally:
                writer.close()
    except UnicodeError as exc:
        raise _unencodable(src, start, texts, exc) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # pyarrow's word for the same
        if any(_encode_error(t) for t in texts):
            raise _unencodable(src, start, texts, exc) from None
        raise
    return {"file": name, "rows": len(texts), "sha256": sha256_file(parts / name)}


def _encode_error(text: str) -> UnicodeEncodeError | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc
    return None


def _unencodable(src: Path, start: int, texts: list[str], exc: Exception) -> DataError:
    """The :class:`DataError` for the first text of ``texts`` that UTF-8 cannot encode."""
    for i, t in enumerate(texts):
        err = _encode_error(t)
        if err is not None:
            bad = err.object[err.start : err.end]
            return DataError(
                f"{src}: row {start + i} (0-based, header not counted): the text holds "
                f"{bad!r} at character {err.start}, which UTF-8 cannot encode "
                f"({err.reason}; e.g. half of an escaped surrogate pair); fix the input"
            )
    return DataError(f"{src}: rows {start}-{start + len(texts) - 1}: cannot be written ({exc})")


def _read_progress(
    path: Path, key: dict[str, Any], model_aliases: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The progress record of an interrupted run with the same ``key`` (its model named by
    ``key["model"]`` or one of ``model_aliases``), or ``None`` when there is none.

    A record that is not JSON or not of the expected shape is an error (``--resume`` was
    asked for and what is done cannot be told), not taken as "no progress".
    """
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = None
    problem = _progress_problem(state)
    if problem is not None:
        raise DataError(
            f"{path}: unreadable progress record ({problem}); run without --resume to start over"
        )
    if state["key"].get("model") in model_aliases:
        state["key"] = {**state["key"], "model": key["model"]}  # the same model, older id
    if state["key"] != key:
        what = [k for k in key if state["key"].get(k) != key[k]]
        raise DataError(
            f"{path}: the interrupted run had another {', '.join(what)}; "
            "run without --resume to start over"
        )
    return state


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _progress_problem(state: Any) -> str | None:
    """What is wrong with the shape of a progress record, or ``None``."""
    if not isinstance(state, dict):
        return "not a JSON object"
    if state.get("format") != PROGRESS_FORMAT:
        return f"format is not {PROGRESS_FORMAT!r}"
    if not isinstance(state.get("key"), dict):
        return "no key"
    if not _is_count(state.get("rows")):
        return "rows is not a count"
    parts = state.get("parts")
    if _is_count(parts):  # the record of emobalance before per-part checksums
        return None
    if not isinstance(parts, list):
        return "parts is not a list"
    for i, e in enumerate(parts):
        ok = isinstance(e, dict) and isinstance(e.get("file"), str)
        ok = ok and re.fullmatch(rf"part-{i:06d}\.(csv|jsonl|parquet)", e["file"]) is not None
        ok = ok and _is_count(e.get("rows")) and e["rows"] > 0
        ok = ok and isinstance(e.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", e["sha256"])
        if not ok:
            return f"parts[{i}] is not {{file: part-{i:06d}.<ext>, rows, sha256}}"
    if sum(e["rows"] for e in parts) != state["rows"]:
        return "rows is not the sum of the parts' rows"
    return None


def _trusted_parts(
    parts: Path, state: dict[str, Any], fmt: str, schema: LabelSchema
) -> dict[str, Any]:
    """``state`` cut to its leading parts that are intact on disk, and the folder cleaned.

    A part is trusted when it exists with its recorded sha256 (a record of an earlier
    emobalance without checksums: when its ``row`` column holds exactly the rows expected).
    The first part that fails and every part after it are removed and re-scored, and so is
    every file the record does not count (an uncounted part, a killed writer's temporary).
    """
    if _is_count(state["parts"]):  # checked and checksummed just now: nothing to verify
        trusted = _legacy_entries(parts, state["parts"], fmt, len(csv_header(schema)))
    else:
        trusted = _intact_prefix(parts, state["parts"])
    keep = {"progress.json", *(e["file"] for e in trusted)}
    for p in parts.iterdir():
        if p.name not in keep:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    state = {**state, "version": PROGRESS_VERSION, "rows": sum(e["rows"] for e in trusted),
             "parts": trusted}  # fmt: skip
    write_json_atomic(parts / "progress.json", state)
    return state


def _intact_prefix(parts: Path, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leading ``entries`` whose part file exists with its recorded sha256."""
    trusted: list[dict[str, Any]] = []
    for e in entries:
        p = parts / e["file"]
        why = None
        if not p.is_file():
            why = "is missing"
        elif sha256_file(p) != e["sha256"]:
            why = "does not match its recorded sha256 (damaged)"
        if why is not None:
            start = sum(t["rows"] for t in trusted)
            _log.warning("%s %s: scoring again from row %d", p, why, start)
            break
        trusted.append(e)
    return trusted


def _legacy_entries(parts: Path, n_parts: int, fmt: str, width: int) -> list[dict[str, Any]]:
    """Entries for the parts of a record without checksums: the leading parts whose ``row``
    column continues the rows before them (``width`` columns a row), checksummed now."""
    entries: list[dict[str, Any]] = []
    start = 0
    for i in range(n_parts):
        p = parts / f"part-{i:06d}.{fmt}"
        try:
            rows = _part_rows(p, fmt, width)
        except (OSError, ValueError, KeyError, TypeError, IndexError, csv.Error, pa.ArrowException):
            break
        if not rows or rows != list(range(start, start + len(rows))):
            break
        entries.append({"file": p.name, "rows": len(rows), "sha256": sha256_file(p)})
        start += len(rows)
    return entries


def _part_rows(path: Path, fmt: str, width: int) -> list[int]:
    """The ``row`` column of a part file of ``width`` columns (raises ``ValueError`` etc. on a
    damaged one)."""
    if fmt == "parquet":
        return pq.read_table(path).column("row").to_pylist()
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        raise ValueError(f"{path}: cut short")
    if fmt == "csv":
        recs = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        if any(len(r) != width for r in recs):
            raise ValueError(f"{path}: a row of the wrong length")
        return [int(r[0]) for r in recs]
    recs = [json.loads(line) for line in text.splitlines()]
    if any(len(r) != width for r in recs):
        raise ValueError(f"{path}: a record of the wrong length")
    return [int(r["row"]) for r in recs]


def _join_parts(paths: list[Path], dest: Path, fmt: str, schema: LabelSchema) -> None:
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
            _Writer(dest, fmt, schema).close()  # no rows: a valid empty file
        return
    with open(dest, "wb") as f:
        if fmt == "csv":
            header = io.StringIO()
            csv.writer(header).writerow(csv_header(schema))
            f.write(header.getvalue().encode("utf-8"))
        for p in paths:
            with open(p, "rb") as part:
                shutil.copyfileobj(part, f, 1 << 20)
