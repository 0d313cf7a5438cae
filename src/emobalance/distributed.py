"""Beyond one machine: batch scoring on Ray Data, and data-parallel training under torchrun.

Ray Data scoring (extra ``distributed``: ``pip install 'emobalance[distributed]'``)
-------------------------------------------------------------------------------------
:class:`Predictor` maps a batch (a dict of numpy arrays with ``text`` and any other columns,
e.g. ``id``) to the 28 probabilities ``p_<label>`` and the predicted ``labels``; it loads the
model (PyTorch directory or ONNX file) once per worker and can be used with any Ray Dataset::

    ds.map_batches(Predictor, fn_constructor_kwargs={"model": "model.onnx"},
                   compute=ray.data.ActorPoolStrategy(size=8), batch_format="numpy")

:func:`score_files` is the file job behind ``emobalance predict --engine ray``: inputs
(Parquet / CSV / TSV / JSONL files, directories or globs; local paths or any URI pyarrow
reads, e.g. ``s3://``) are cut into tasks (Parquet: row-group ranges of about
``task_rows`` rows; CSV / JSONL: one task per file); ``map_batches`` on an actor pool runs
one task per call, and each worker reads its slice, scores it with its :class:`Predictor`
and writes one part file into a staging folder beside the output. Reading and writing in
the worker keeps the texts out of the object store, and no read or write task competes
with the workers for CPUs (Ray Data's own readers would, and starve when the actors hold
every CPU). Only when every task has succeeded is the staging folder published as the
output (a rename on a local disk, file moves elsewhere) with a ``_SUCCESS`` record: a
failed run leaves no output. Output columns: ``file`` (the input file), ``row`` (0-based
row in that file), ``id`` (the input's id column as text, when it has one), ``labels``
(names joined by ``,``) and ``p_<label>`` (float32).

:func:`ray_score_texts` is the same path for texts in memory, used by the pseudo-labelling
stage of ``emobalance balance`` (``balance.pseudo_label.engine: ray``).

Distributed training (torch only)
---------------------------------
``emobalance train --distributed`` under ``torchrun`` calls :func:`init_distributed`;
:class:`~emobalance.training.Trainer` then wraps the network in DistributedDataParallel (see
``docs/SCALING.md``).
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import inspect
import io
import itertools
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import DataError, EmobalanceError, ModelError
from .io import csv_dict_reader, json_lines
from .labels import LABELS, NUM_LABELS

PROBA_COLUMNS = [f"p_{lab}" for lab in LABELS]
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

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Ray set-up


def require_ray() -> Any:
    """Import ``ray`` (with Ray Data) or fail with one line naming the extra.

    Raises
    ------
    EmobalanceError
        If ray or ray.data is not installed.
    """
    try:
        import ray
        import ray.data  # the extra is ray[data]: plain ray lacks the data layer
    except ImportError as exc:
        raise EmobalanceError(
            "the Ray engine needs the `distributed` extra: pip install 'emobalance[distributed]' "
            f"({exc})"
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[1] if "://" in address else address
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, 10001 if address.startswith("ray://") else 6379
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise EmobalanceError(f"--address: cannot read a port in {address!r}") from None


def probe_address(address: str, timeout: float = 15.0) -> None:
    """Open (and close) a TCP connection to a Ray address within ``timeout`` seconds.

    ``ray.init`` on an unreachable head retries for minutes; this fails in seconds instead.

    Raises
    ------
    EmobalanceError
        Naming the address and the reason.
    """
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise EmobalanceError(
            f"cannot reach the Ray cluster at {address} within {timeout:g}s ({reason})"
        ) from None


def connect(
    address: str | None = None, *, num_cpus: int | None = None, timeout: float = 15.0
) -> bool:
    """Connect to Ray; return ``True`` when this call started it (the caller shuts it down).

    Parameters
    ----------
    address : str, optional
        ``None``: ``$RAY_ADDRESS`` when set, else a new local Ray with ``num_cpus`` CPUs.
        ``"auto"``: the cluster this machine belongs to. ``"HOST:PORT"``: a cluster's GCS.
        ``"ray://HOST:PORT"``: Ray Client. A Ray already initialised in this process is used
        as it is (after the reachability check of an explicit address).
    num_cpus : int, optional
        CPUs of a new local Ray (default: this machine's).
    timeout : float, default=15
        Seconds to reach an explicit address.

    Raises
    ------
    EmobalanceError
        If Ray is missing, or the cluster cannot be reached (nothing is written then).
    """
    ray = require_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        probe_address(address, timeout)
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address in (None, "local"):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
        except Exception as exc:
            raise EmobalanceError(f"cannot start a local Ray: {_first_line(exc)}") from None
        return True
    # ray.init(address=...) retries without end when something that is not a Ray GCS answers
    # on the port (a dashboard, any HTTP server): bound it by running it in a daemon thread.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    outcome: dict[str, BaseException | None] = {}

    def _connect() -> None:
        try:
            ray.init(address=address, **quiet)
            outcome["error"] = None
        except BaseException as exc:  # ConnectionError, RuntimeError, grpc errors...
            outcome["error"] = exc

    worker = threading.Thread(target=_connect, name="ray-connect", daemon=True)
    worker.start()
    worker.join(max(timeout, 1.0) + 30.0)  # the handshake itself needs some seconds
    if "error" not in outcome:
        raise EmobalanceError(
            f"cannot connect to the Ray cluster at {address}: no Ray answer within "
            f"{max(timeout, 1.0) + 30.0:.0f} s (is it the GCS port, usually 6379?)"
        )
    if outcome["error"] is not None:
        raise EmobalanceError(
            f"cannot connect to the Ray cluster at {address}: {_first_line(outcome['error'])}"
        ) from None
    return True


def _quiet_ray_data(progress: bool) -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own tqdm bar counts rows
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled"
    if not progress:
        logging.getLogger("ray").setLevel(logging.WARNING)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _raise_returned(error: str) -> None:
    """Re-raise an error a worker returned as ``"ClassName:message"`` (empty: none)."""
    if not error:
        return
    name, _, msg = error.partition(":")
    cls = {"DataError": DataError, "ModelError": ModelError}.get(name, EmobalanceError)
    raise cls(msg)


def _ray_failure(exc: BaseException) -> EmobalanceError:
    """One line for an unexpected worker failure: the last ``...Error: message`` line of the
    remote traceback that Ray carries as text (its first line only names the actor)."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    for ln in reversed(lines):
        head = ln.split(":", 1)[0]
        if ":" in ln and head.rsplit(".", 1)[-1].endswith(("Error", "Exception")):
            return EmobalanceError(f"a Ray worker failed: {ln[:300]}")
    return EmobalanceError(f"the Ray job failed: {_first_line(exc)}")


# --------------------------------------------------------------------------- the model


@dataclass
class ModelPayload:
    """A model's files as bytes, so workers need no shared filesystem to load it.

    Attributes
    ----------
    engine : {"torch", "onnx"}
    files : dict of str to bytes
        File name -> content (a model directory's files, or one ``model.onnx``).
    model_id : str
        ``engine:sha256`` of the files (recorded in ``_SUCCESS``).
    """

    engine: str
    files: dict[str, bytes] = field(repr=False)
    model_id: str = ""

    @classmethod
    def from_path(cls, model: str | os.PathLike[str], engine: str | None = None) -> ModelPayload:
        """Read a model directory (torch) or ``.onnx`` file (onnx) after checking it loads.

        Raises
        ------
        ModelError
            If the model is missing or invalid (naming the file).
        """
        import hashlib

        p = Path(model)
        if engine is None:
            engine = "onnx" if p.suffix.lower() == ".onnx" else "torch"
        if engine == "onnx":
            from .export import DEFAULT_FILE, OnnxEmotionClassifier

            path = OnnxEmotionClassifier.load(p if not p.is_dir() else p / DEFAULT_FILE).path_
            files = {"model.onnx": path.read_bytes()}
        elif engine == "torch":
            from .classifier import MODEL_FILES, EmotionClassifier

            EmotionClassifier.load(p)  # a bad directory fails here, in one line
            files = {name: (p / name).read_bytes() for name in MODEL_FILES}
        else:
            raise EmobalanceError(f"engine: expected torch or onnx, got {engine!r}")
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(name.encode() + b"\0" + files[name])
        return cls(engine, files, f"{engine}:{h.hexdigest()}")

    def load(self, threads: int = 1) -> Any:
        """The classifier (EmotionClassifier or OnnxEmotionClassifier), on ``threads`` CPUs."""
        with tempfile.TemporaryDirectory(prefix="emobalance-model-") as d:
            for name, blob in self.files.items():
                Path(d, name).write_bytes(blob)
            if self.engine == "onnx":
                from .export import OnnxEmotionClassifier

                # the session holds the graph in memory; the file may go
                return OnnxEmotionClassifier.load(Path(d, "model.onnx"), num_threads=threads)
            from .classifier import EmotionClassifier

            return EmotionClassifier.load(d)


class Predictor:
    """Score a batch of texts: ``{"text": ..., other columns} -> {other columns, labels, p_*}``.

    A callable class for ``Dataset.map_batches`` on an actor pool: each worker builds one
    and the model loads once, in ``__init__``.

    Parameters
    ----------
    model : path, ModelPayload or object
        A model directory written by ``train``, a ``.onnx`` file of ``export``, a
        :class:`ModelPayload`, or any object with ``predict_proba(texts)`` (e.g. a teacher).
    engine : {"torch", "onnx"}, optional
        For a path (default: ``onnx`` for a ``.onnx`` file, else ``torch``).
    batch_size : int, default=256
        Texts per forward pass; within a batch of the dataset texts are grouped by length.
    threads : int, default=1
        torch / onnxruntime threads of this worker.
    text_column : str, default="text"
    thresholds : array of shape (28,), optional
        Decision thresholds for ``labels`` (default: the model's ``thresholds_``, else 0.5).

    Examples
    --------
    >>> Predictor("model.onnx")({"id": np.array(["a"]), "text": np.array(["thanks!"])})
    ... # doctest: +SKIP
    {'id': array(['a']), 'labels': array(['gratitude']), 'p_admiration': array([0.01]), ...}
    """

    def __init__(
        self,
        model: Any,
        engine: str | None = None,
        batch_size: int = 256,
        threads: int = 1,
        text_column: str = "text",
        thresholds: np.ndarray | None = None,
    ) -> None:
        if isinstance(model, str | os.PathLike):
            model = ModelPayload.from_path(model, engine)
        if isinstance(model, ModelPayload):
            model = model.load(threads)
        if "torch" in sys.modules:  # an onnx worker never imports torch (a second of start-up)
            sys.modules["torch"].set_num_threads(max(int(threads), 1))
        if not callable(getattr(model, "predict_proba", None)):
            raise ModelError(f"{type(model).__name__} has no predict_proba(texts)")
        self.model = model
        self.batch_size = int(batch_size)
        params = inspect.signature(model.predict_proba).parameters
        self._takes_batch_size = "batch_size" in params  # classifiers; teachers take texts only
        self.text_column = text_column
        th = thresholds if thresholds is not None else getattr(model, "thresholds_", None)
        self.thresholds = (
            np.full(NUM_LABELS, 0.5, np.float32) if th is None else np.asarray(th, np.float32)
        )

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``float32[n, 28]`` (the model's own length-grouped batching)."""
        if self._takes_batch_size:
            out = self.model.predict_proba(list(texts), batch_size=self.batch_size)
            return np.asarray(out, dtype=np.float32)
        from .balance.teacher import teacher_proba

        return teacher_proba(self.model, list(texts))  # checks a teacher's shape and range

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = batch[self.text_column]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                where = f"id {batch['id'][i]!r}" if "id" in batch else f"batch row {i}"
                raise DataError(f"{where}: {self.text_column!r} is {type(t).__name__}, not text")
        proba = self.proba(texts)
        out = {k: v for k, v in batch.items() if k != self.text_column}
        out["labels"] = np.array(label_names(proba, self.thresholds), dtype=object)
        for j, c in enumerate(PROBA_COLUMNS):
            out[c] = proba[:, j]
        return out


def label_names(proba: np.ndarray, thresholds: np.ndarray) -> list[str]:
    """Predicted label names per row, joined by ``,`` (as single-process scoring writes)."""
    return [",".join(LABELS[j] for j in np.flatnonzero(r)) for r in proba >= thresholds]


# --------------------------------------------------------------------------- input files


def resolve_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path within it (local paths made absolute)."""
    if "://" in uri and not uri.startswith("file://"):
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise DataError(f"{uri}: unsupported filesystem ({_first_line(exc)})") from None
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
        raise DataError(f"{spec}: cannot list ({_first_line(exc)})") from None
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
class _Task:
    index: int
    path: str
    fmt: str
    start: int = 0  # rows [start, stop) of a Parquet file; CSV / JSONL: the whole file
    stop: int | None = None


def plan_tasks(
    fs: pafs.FileSystem, files: Sequence[str], text_column: str, task_rows: int
) -> tuple[list[_Task], int | None]:
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
            raise DataError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
        if text_column not in names:
            raise DataError(f"{path}: no column {text_column!r}")
        return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]

    with ThreadPoolExecutor(min(16, max(len(pq_files), 1))) as pool:
        groups = dict(zip(pq_files, pool.map(footer, pq_files), strict=True))
    tasks: list[_Task] = []
    for path, fmt in zip(files, fmts, strict=True):
        if fmt != "parquet":
            tasks.append(_Task(len(tasks), path, fmt))
            continue
        lo = pos = 0
        for n in groups[path]:
            if n > 2 * task_rows:  # one huge row group: slices of it (each decodes the group)
                if pos > lo:
                    tasks.append(_Task(len(tasks), path, fmt, lo, pos))
                k = -(-n // task_rows)
                cuts = [pos + (n * i) // k for i in range(k + 1)]
                for a, b in itertools.pairwise(cuts):
                    tasks.append(_Task(len(tasks), path, fmt, a, b))
                lo = pos = pos + n
                continue
            pos += n
            if pos - lo >= task_rows:
                tasks.append(_Task(len(tasks), path, fmt, lo, pos))
                lo = pos
        if pos > lo or not groups[path]:
            tasks.append(_Task(len(tasks), path, fmt, lo, pos))
    total = sum(sum(g) for g in groups.values()) if len(pq_files) == len(files) else None
    return tasks, total


def iter_records(
    fs: pafs.FileSystem,
    task: _Task,
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
        raise DataError(f"{path}: cannot read ({_first_line(exc)})") from None
    if texts:
        yield row, texts, ids


def _iter_parquet(
    fs: pafs.FileSystem, task: _Task, text_column: str, id_column: str | None, chunk_size: int
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
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None


# --------------------------------------------------------------------------- output files


def _output_schema(with_id: bool) -> pa.Schema:
    fields = [("file", pa.string()), ("row", pa.int64())]
    fields += [("id", pa.string())] if with_id else []
    fields += [("labels", pa.string())] + [(c, pa.float32()) for c in PROBA_COLUMNS]
    return pa.schema(fields)


class _PartWriter:
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
            table = pa.table(
                {k: pa.array(v) for k, v in cols.items()}, schema=_output_schema("id" in cols)
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


class _FileTaskWorker:
    """Actor of the file job: read one task's rows, score them, write one part file."""

    def __init__(
        self,
        payload: ModelPayload,
        staging: str,
        filesystem: pafs.FileSystem,
        input_filesystem: pafs.FileSystem,
        output_format: str,
        text_column: str,
        id_column: str | None,
        batch_size: int,
        chunk_size: int,
        threads: int,
    ) -> None:
        self.predictor = Predictor(payload, batch_size=batch_size, threads=threads)
        self.staging, self.fs, self.in_fs = staging, filesystem, input_filesystem
        self.fmt, self.text_column, self.id_column = output_format, text_column, id_column
        self.chunk_size = chunk_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for i in range(len(batch["index"])):
            task = _Task(
                int(batch["index"][i]),
                str(batch["path"][i]),
                str(batch["fmt"][i]),
                int(batch["start"][i]),
                None if int(batch["stop"][i]) < 0 else int(batch["stop"][i]),
            )
            try:
                results.append(self._run(task))
            except EmobalanceError as exc:  # returned, not raised: Ray keeps only its text
                results.append({"index": task.index, "rows": 0, "seconds": 0.0,
                                "error": f"{type(exc).__name__}:{exc}"})  # fmt: skip
        keys = ("index", "rows", "seconds", "error")
        return {k: np.array([r.get(k, "") for r in results]) for k in keys}

    def _run(self, task: _Task) -> dict[str, Any]:
        t0 = time.perf_counter()
        # a deterministic name: a retried task overwrites its own part, never adds one
        path = f"{self.staging}/part-{task.index:06d}{OUTPUT_FORMATS[self.fmt]}"
        writer = _PartWriter(self.fs, path, self.fmt)
        rows = 0
        try:
            for row0, texts, ids in iter_records(
                self.in_fs, task, self.text_column, self.id_column, self.chunk_size
            ):
                n = len(texts)
                cols: dict[str, np.ndarray] = {
                    "file": np.full(n, task.path, dtype=object),
                    "row": np.arange(row0, row0 + n, dtype=np.int64),
                }
                if ids is not None:
                    cols["id"] = np.array(ids, dtype=object)
                cols["text"] = np.array(texts, dtype=object)
                writer.write(self.predictor(cols))
                rows += n
        finally:
            writer.close()
        return {"index": task.index, "rows": rows, "seconds": time.perf_counter() - t0, "error": ""}


# --------------------------------------------------------------------------- the file job


def score_files(
    model: str | os.PathLike[str],
    input: str,
    output: str,
    *,
    engine: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    output_format: str = "parquet",
    text_column: str = "text",
    id_column: str | None = "id",
    batch_size: int = 256,
    chunk_size: int = 10_000,
    task_rows: int = 50_000,
    connect_timeout: float = 15.0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Score files on Ray and publish the predictions in ``output`` (a folder) atomically.

    Parameters
    ----------
    model : path
        A model directory (``torch``) or a ``.onnx`` file (``onnx``), read on the driver and
        sent to the workers (they need no shared filesystem for it).
    input : str
        A file, a folder (recursively) or a glob of Parquet / CSV / TSV / JSONL files
        (``.gz`` etc. decompressed); a local path or a URI such as ``s3://bucket/posts/``.
    output : str
        The output folder (local or URI). An existing folder is replaced only when it holds
        an earlier output of this job (its ``_SUCCESS``); otherwise it is an error.
    engine : {"torch", "onnx"}, optional
        Default: ``onnx`` for a ``.onnx`` file, else ``torch``.
    address : str, optional
        Ray address (see :func:`connect`); default ``$RAY_ADDRESS`` or a new local Ray.
    workers : int, optional
        Actors in the pool (default: the cluster's CPUs // ``threads_per_worker``).
    threads_per_worker : int, default=1
        CPUs (and torch / onnxruntime threads) per actor.
    output_format : {"parquet", "csv", "jsonl"}
    text_column, id_column : str
        Input columns; a missing ``id_column`` is fine (rows are named by ``file`` + ``row``).
    batch_size, chunk_size : int
        Texts per forward pass; texts read and scored at a time by a worker.
    task_rows : int, default=50_000
        Rows per Parquet task (one output part each).
    connect_timeout : float, default=15
    progress : bool, optional
        tqdm bar of rows (default: when stderr is a terminal).

    Returns
    -------
    dict
        The ``_SUCCESS`` record: ``rows``, ``files``, ``parts``, ``workers``, ``seconds``,
        ``rows_per_s``, ``rows_per_worker_s`` (rows per second of a worker's busy time,
        start-up excluded), ``model``...

    Raises
    ------
    EmobalanceError
        Ray missing, cluster unreachable, bad model, malformed input (file and line or row
        named), or a failed worker; no output is written then.
    """
    from tqdm.auto import tqdm

    if output_format not in OUTPUT_FORMATS:
        raise EmobalanceError(
            f"output format: expected parquet, csv or jsonl, got {output_format!r}"
        )
    if min(batch_size, chunk_size, task_rows, threads_per_worker) < 1 or (workers or 1) < 1:
        raise EmobalanceError("workers, threads, batch, chunk and task sizes must be positive")
    ray = require_ray()
    in_fs, files = list_inputs(input)
    out_fs, out_path = resolve_filesystem(output)
    _check_output(out_fs, out_path, output)
    payload = ModelPayload.from_path(model, engine)
    tasks, expected = plan_tasks(in_fs, files, text_column, task_rows)
    started = connect(
        address,
        num_cpus=None if workers is None else workers * threads_per_worker,
        timeout=connect_timeout,
    )
    show = sys.stderr.isatty() if progress is None else progress
    _quiet_ray_data(show)
    staging = _staging_path(out_path)
    t0 = time.perf_counter()
    try:
        if workers is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = max(cpus // threads_per_worker, 1)
        n_workers = max(min(workers, len(tasks)), 1)
        out_fs.create_dir(staging, recursive=True)
        items = [
            {"index": t.index, "path": t.path, "fmt": t.fmt, "start": t.start,
             "stop": -1 if t.stop is None else t.stop}
            for t in tasks
        ]  # fmt: skip
        # one task per block, one block per call: a worker never queues work another could take
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _FileTaskWorker,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=n_workers, max_tasks_in_flight_per_actor=1),
            num_cpus=threads_per_worker,
            fn_constructor_kwargs={
                "payload": payload,
                "staging": staging,
                "filesystem": out_fs,
                "input_filesystem": in_fs,
                "output_format": output_format,
                "text_column": text_column,
                "id_column": id_column,
                "batch_size": batch_size,
                "chunk_size": chunk_size,
                "threads": threads_per_worker,
            },
        )
        done: dict[int, int] = {}
        busy = 0.0
        with tqdm(total=expected, desc="predict (ray)", unit="row", disable=not show) as bar:
            for rec in ds.iter_rows():
                _raise_returned(str(rec["error"]))
                done[int(rec["index"])] = int(rec["rows"])
                busy += float(rec["seconds"])
                bar.update(int(rec["rows"]))
        missing = sorted(set(range(len(tasks))) - set(done))
        if missing:
            raise EmobalanceError(f"the Ray job lost {len(missing)} task(s), e.g. {missing[0]}")
        rows = sum(done.values())
        if expected is not None and rows != expected:
            raise EmobalanceError(f"the Ray job wrote {rows} rows of {expected}")
        seconds = time.perf_counter() - t0
        record = {
            "format": SUCCESS_FORMAT,
            "rows": rows,
            "files": len(files),
            "parts": len(tasks),
            "workers": n_workers,
            "threads_per_worker": threads_per_worker,
            "seconds": round(seconds, 3),
            "rows_per_s": rows / seconds if seconds > 0 else None,
            # read + score + write time inside the workers: the steady per-worker rate
            "worker_seconds": round(busy, 3),
            "rows_per_worker_s": rows / busy if busy > 0 else None,
            "model": payload.model_id,
            "input": input,
            "output_format": output_format,
        }
        with out_fs.open_output_stream(f"{staging}/{SUCCESS}", compression=None) as f:
            f.write(json.dumps(record, indent=2).encode() + b"\n")
        _publish(out_fs, staging, out_path)
    except BaseException as exc:
        # stop the workers first: on an object store a part still being written after the
        # staging prefix was deleted would be left behind as an orphan object
        if started:
            started = False
            with contextlib.suppress(Exception):
                ray.shutdown()
        _delete_dir(out_fs, staging)
        if isinstance(exc, EmobalanceError):
            raise
        if isinstance(exc, Exception):
            raise _ray_failure(exc) from None
        raise
    finally:
        if started:
            ray.shutdown()
    return record


def _staging_path(out_path: str) -> str:
    parent, _, name = out_path.rstrip("/").rpartition("/")
    return f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:12]}"


def _check_output(fs: pafs.FileSystem, path: str, shown: str) -> None:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type == pafs.FileType.File:
        raise DataError(f"{shown}: is a file; --output of the Ray engine is a folder")
    if not _is_our_output(fs, path) and fs.get_file_info(pafs.FileSelector(path)):
        raise DataError(
            f"{shown}: exists and is not an output of this command; remove it or pick another"
        )


def _is_our_output(fs: pafs.FileSystem, path: str) -> bool:
    try:
        with fs.open_input_stream(f"{path}/{SUCCESS}", compression=None) as f:
            return json.loads(f.read()).get("format") == SUCCESS_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _publish(fs: pafs.FileSystem, staging: str, out_path: str) -> None:
    """Move the finished staging folder to ``out_path`` (replacing an earlier output)."""
    if isinstance(fs, pafs.LocalFileSystem):
        old = None
        if os.path.exists(out_path):
            old = _staging_path(out_path) + ".old"
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
    _delete_dir(fs, staging)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    try:
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)
    except OSError:
        log.warning("could not remove %s", path)


# --------------------------------------------------------------------------- texts in memory


class _TextsWorker:
    """Actor of :func:`ray_score_texts`: probabilities of one slice of texts, as bytes."""

    def __init__(self, model: Any, batch_size: int, threads: int) -> None:
        self.predictor = Predictor(model, batch_size=batch_size, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        blobs, errors = [], []
        for texts in batch["texts"]:
            try:
                blobs.append(self.predictor.proba([str(t) for t in texts]).tobytes())
                errors.append("")
            except EmobalanceError as exc:  # e.g. a teacher's bad output; see _raise_returned
                blobs.append(b"")
                errors.append(f"{type(exc).__name__}:{exc}")
        return {
            "key": batch["key"],
            "proba": np.array(blobs, dtype=object),
            "error": np.array(errors, dtype=object),
        }


def ray_score_texts(
    model: Any,
    slices: Sequence[tuple[int, Sequence[str]]],
    *,
    address: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    batch_size: int = 256,
    connect_timeout: float = 15.0,
) -> Iterator[tuple[int, np.ndarray]]:
    """Score slices of texts on a Ray actor pool; yield ``(key, float32[n, 28])`` as they finish.

    Parameters
    ----------
    model : object or path
        A teacher / classifier object (pickled to the workers once) or a model path.
    slices : sequence of (int, sequence of str)
        A key and the texts of each slice (e.g. a pseudo-labelling part); slices come back in
        any order, each exactly once.
    address, workers, threads_per_worker, batch_size, connect_timeout
        As in :func:`score_files`.
    """
    ray = require_ray()
    if not slices:
        return
    started = connect(address, num_cpus=workers, timeout=connect_timeout)
    _quiet_ray_data(False)
    try:
        if workers is None:
            workers = max(int(ray.cluster_resources().get("CPU", 1)) // threads_per_worker, 1)
        items = [{"key": int(k), "texts": list(t)} for k, t in slices]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _TextsWorker,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(
                size=max(min(workers, len(items)), 1), max_tasks_in_flight_per_actor=1
            ),
            num_cpus=threads_per_worker,
            fn_constructor_kwargs={
                "model": model,
                "batch_size": batch_size,
                "threads": threads_per_worker,
            },
        )
        try:
            for rec in ds.iter_rows():
                _raise_returned(str(rec["error"]))
                proba = np.frombuffer(rec["proba"], dtype=np.float32).reshape(-1, NUM_LABELS)
                yield int(rec["key"]), proba
        except EmobalanceError:
            raise
        except Exception as exc:
            raise _ray_failure(exc) from None
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- torchrun / DDP


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the torchrun job of this process (``RANK``, ``WORLD_SIZE``... in the environment).

    The backend is ``nccl`` when this process trains on CUDA (``device`` ``auto`` with a GPU,
    or ``cuda...``; each process takes GPU ``LOCAL_RANK``), else ``gloo``.

    Raises
    ------
    EmobalanceError
        Outside torchrun, or when the process group cannot be formed within ``timeout_s``.
    """
    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise EmobalanceError(
            "--distributed runs under torchrun, e.g. torchrun --nproc_per_node=2 "
            "-m emobalance.cli train --distributed ..."
        )
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as exc:
            raise EmobalanceError(f"torch.distributed: {_first_line(exc)}") from None
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def dist_rank() -> int:
    """This process's rank in an initialised process group, else 0."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
