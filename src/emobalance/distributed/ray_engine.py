"""Batch scoring on Ray Data (extra ``distributed``: ``pip install 'emobalance[distributed]'``).

:class:`Predictor` maps a batch (a dict of numpy arrays with ``text`` and any other columns,
e.g. ``id``) to the 28 probabilities ``p_<label>`` and the predicted ``labels``; it loads the
model (any kind :func:`~emobalance.models.registry.load_model` knows, sent to the workers as a
:class:`ModelPayload`) once per worker and can be used with any Ray Dataset::

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
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from .. import log
from ..errors import DataError, EmobalanceError, ModelError
from ..io import output_lock, remove_stale_temps
from ..labels import LabelSchema, schema_of
from ..metrics import predict_labels, schema_for
from ..scoring import proba_columns
from .files import (
    OUTPUT_FORMATS,
    SUCCESS,
    SUCCESS_FORMAT,
    PartWriter,
    Task,
    check_output,
    delete_dir,
    first_line,
    iter_records,
    list_inputs,
    plan_tasks,
    publish,
    resolve_filesystem,
    staging_path,
)

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
            raise EmobalanceError(f"cannot start a local Ray: {first_line(exc)}") from None
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
            f"cannot connect to the Ray cluster at {address}: {first_line(outcome['error'])}"
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
    return EmobalanceError(f"the Ray job failed: {first_line(exc)}")


# --------------------------------------------------------------------------- the model


@dataclass
class ModelPayload:
    """A model's files as bytes, so workers need no shared filesystem to load it.

    Attributes
    ----------
    kind : str
        The model's kind in :mod:`emobalance.models.registry` (``reference``, ``transformer``,
        ``tfidf``, ``onnx``...).
    files : dict of str to bytes
        File name -> content, as :func:`~emobalance.models.registry.model_files` lists them.
    model_id : str
        :func:`~emobalance.models.registry.model_id` of the files (recorded in ``_SUCCESS``).
    """

    kind: str
    files: dict[str, bytes] = field(repr=False)
    model_id: str = ""

    @classmethod
    def from_path(cls, model: str | os.PathLike[str], engine: str | None = None) -> ModelPayload:
        """Read a saved model of any kind after checking it loads.

        Parameters
        ----------
        model : path
            A model folder or a ``.onnx`` file.
        engine : {"torch", "onnx"}, optional
            ``onnx``: the ONNX file (a folder's ``model.onnx``); default or ``torch``: the
            model as :func:`~emobalance.models.registry.load_model` recognises it.

        Raises
        ------
        ModelError
            If the model is missing or invalid (naming the file).
        """
        from ..models.registry import load_model, model_files, model_id

        if engine not in (None, "torch", "onnx"):
            raise EmobalanceError(f"engine: expected torch or onnx, got {engine!r}")
        p = Path(model)
        kind = load_model(p, kind="onnx" if engine == "onnx" else None).kind  # fails in one line
        files = {name: f.read_bytes() for name, f in model_files(p, kind).items()}
        return cls(kind, files, model_id(p, kind))

    def load(self, threads: int = 1) -> Any:
        """The model, on the CPU (an ONNX session on ``threads`` threads)."""
        from ..models.registry import load_model

        with tempfile.TemporaryDirectory(prefix="emobalance-model-") as d:
            for name, blob in self.files.items():
                Path(d, name).write_bytes(blob)
            # every kind holds its weights in memory once loaded: the files may go
            return load_model(d, device="cpu", kind=self.kind, num_threads=threads)


class Predictor:
    """Score a batch of texts: ``{"text": ..., other columns} -> {other columns, labels, p_*}``.

    A callable class for ``Dataset.map_batches`` on an actor pool: each worker builds one
    and the model loads once, in ``__init__``.

    Parameters
    ----------
    model : path, ModelPayload or object
        A saved model of any kind (a folder, or a ``.onnx`` file of ``export``), a
        :class:`ModelPayload`, or any object with ``predict_proba(texts)`` (e.g. a teacher).
    engine : {"torch", "onnx"}, optional
        For a path: ``onnx`` loads the folder's ``model.onnx``; default: the saved kind.
    batch_size : int, default=256
        Texts per forward pass; within a batch of the dataset texts are grouped by length.
    threads : int, default=1
        torch / onnxruntime threads of this worker.
    text_column : str, default="text"
    thresholds : array of shape (len(labels),), optional
        Decision thresholds for ``labels`` (default: the model's ``thresholds_``, else 0.5).

    Attributes
    ----------
    schema : LabelSchema
        The model's labels (its ``labels_``; GoEmotions' for a model or teacher without
        one): the ``p_<label>`` columns, and for a single-label schema ``labels`` is the most
        probable label.

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
        self.schema = schema_of(model)
        self.columns = proba_columns(self.schema)
        th = thresholds if thresholds is not None else getattr(model, "thresholds_", None)
        self.thresholds = (
            np.full(len(self.schema), 0.5, np.float32) if th is None else np.asarray(th, np.float32)
        )

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``float32[n, len(schema)]`` (the model's own length-grouped
        batching)."""
        if self._takes_batch_size:
            out = self.model.predict_proba(list(texts), batch_size=self.batch_size)
            return np.asarray(out, dtype=np.float32)
        from ..teachers import teacher_proba

        return teacher_proba(self.model, list(texts))  # checks a teacher's shape and range

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = batch[self.text_column]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                where = f"id {batch['id'][i]!r}" if "id" in batch else f"batch row {i}"
                raise DataError(f"{where}: {self.text_column!r} is {type(t).__name__}, not text")
        proba = self.proba(texts)
        out = {k: v for k, v in batch.items() if k != self.text_column}
        out["labels"] = np.array(label_names(proba, self.thresholds, self.schema), dtype=object)
        for j, c in enumerate(self.columns):
            out[c] = proba[:, j]
        return out


def label_names(
    proba: np.ndarray, thresholds: np.ndarray, schema: LabelSchema | None = None
) -> list[str]:
    """Predicted label names per row, joined by ``,`` (as single-process scoring writes).

    ``schema``: the columns' labels (default GoEmotions' for 28 columns); for a single-label
    schema the most probable label of each row.
    """
    schema = schema_for(np.asarray(proba).shape[1], schema)
    on = predict_labels(proba, thresholds, schema.single_label)
    return [",".join(schema.names[j] for j in np.flatnonzero(r)) for r in on]


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
            task = Task(
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

    def _run(self, task: Task) -> dict[str, Any]:
        t0 = time.perf_counter()
        # a deterministic name: a retried task overwrites its own part, never adds one
        path = f"{self.staging}/part-{task.index:06d}{OUTPUT_FORMATS[self.fmt]}"
        writer = PartWriter(self.fs, path, self.fmt)
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
                try:
                    writer.write(self.predictor(cols))
                except UnicodeError as exc:  # e.g. a lone surrogate in an id: bad input
                    raise DataError(
                        f"{task.path}: rows {row0}-{row0 + n - 1}: a value cannot be written "
                        f"as UTF-8 ({getattr(exc, 'reason', exc)})"
                    ) from None
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
        A saved model of any kind (a folder, or a ``.onnx`` file), read on the driver and
        sent to the workers (they need no shared filesystem for it).
    input : str
        A file, a folder (recursively) or a glob of Parquet / CSV / TSV / JSONL files
        (``.gz`` etc. decompressed); a local path or a URI such as ``s3://bucket/posts/``.
    output : str
        The output folder (local or URI). An existing folder is replaced only when it holds
        an earlier output of this job (its ``_SUCCESS``); otherwise it is an error.
    engine : {"torch", "onnx"}, optional
        ``onnx``: a folder's ``model.onnx``; default: the saved kind (see :class:`ModelPayload`).
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

    if output_format not in OUTPUT_FORMATS:
        raise EmobalanceError(
            f"output format: expected parquet, csv or jsonl, got {output_format!r}"
        )
    if min(batch_size, chunk_size, task_rows, threads_per_worker) < 1 or (workers or 1) < 1:
        raise EmobalanceError("workers, threads, batch, chunk and task sizes must be positive")
    ray = require_ray()
    in_fs, files = list_inputs(input)
    out_fs, out_path = resolve_filesystem(output)
    # a local output is locked for the run, and staging folders of dead runs are removed
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if isinstance(out_fs, pafs.LocalFileSystem):
        lock = output_lock(out_path, "emobalance predict --engine ray")
    with lock:
        if isinstance(out_fs, pafs.LocalFileSystem):
            remove_stale_temps(out_path)
        check_output(out_fs, out_path, output)
        payload = ModelPayload.from_path(model, engine)
        tasks, expected = plan_tasks(in_fs, files, text_column, task_rows)
        started = connect(
            address,
            num_cpus=None if workers is None else workers * threads_per_worker,
            timeout=connect_timeout,
        )
        show = log.progress_enabled(progress)
        _quiet_ray_data(show)
        staging = staging_path(out_path)
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
            with log.progress(
                None, desc="predict (ray)", total=expected, unit="row", enabled=show, leave=True
            ) as bar:
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
            publish(out_fs, staging, out_path)
        except BaseException as exc:
            # stop the workers first: on an object store a part still being written after the
            # staging prefix was deleted would be left behind as an orphan object
            if started:
                started = False
                with contextlib.suppress(Exception):
                    ray.shutdown()
            delete_dir(out_fs, staging)
            if isinstance(exc, EmobalanceError):
                raise
            if isinstance(exc, Exception):
                raise _ray_failure(exc) from None
            raise
        finally:
            if started:
                ray.shutdown()
        return record


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
    """Score slices of texts on a Ray actor pool; yield ``(key, float32[n, L])`` as they finish
    (``L``: the model's label count).

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
        sizes = {item["key"]: len(item["texts"]) for item in items}
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
                n = sizes[int(rec["key"])]  # the model's width: whatever its schema is
                proba = np.frombuffer(rec["proba"], dtype=np.float32).reshape(n, -1)
                yield int(rec["key"]), proba
        except EmobalanceError:
            raise
        except Exception as exc:
            raise _ray_failure(exc) from None
    finally:
        if started:
            ray.shutdown()
