"""Pseudo-label an unlabelled corpus with a teacher; resumable Parquet part files.

The teacher's full probability matrix is stored in part files (``part-00000.parquet`` covers
rows ``[0, part_rows)``, and so on), each written atomically once complete, so a killed run
resumes at the first missing part without losing or duplicating rows, and a different
threshold needs no new teacher pass. :func:`pseudo_label` then keeps label ``j`` of a text
when ``p_j >= threshold_j``.

The labels are a schema's (the train split's): the teacher is aligned to it by label name, a
label it lacks is a NaN column, never assigned. For a single-label schema a row keeps only its
most probable confident label.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..io import atomic_path, write_json_atomic
from ..labels import GOEMOTIONS, LabelSchema, schema_of
from ..log import progress as progress_bar
from ..metrics import schema_for
from ..teachers import Teacher, align_teacher, teacher_proba

MANIFEST = "manifest.json"


def thresholds_vector(
    threshold: float | np.ndarray = 0.7,
    overrides: Mapping[str, float] | None = None,
    schema: LabelSchema = GOEMOTIONS,
) -> np.ndarray:
    """Per-label thresholds of ``schema``: ``threshold`` (one value or one per label),
    ``overrides`` by label name (an unknown name is a one-line ConfigError)."""
    th = np.broadcast_to(np.asarray(threshold, dtype=np.float32), (len(schema),)).copy()
    for name, value in (overrides or {}).items():
        j = schema.label_id(
            name, "balance.pseudo_label.thresholds", what="label", error=ConfigError
        )  # fmt: skip
        th[j] = float(value)
    return th


def _exclude_ids(exclude: Sequence[str] | None, schema: LabelSchema) -> list[int]:
    """Ids of the labels never assigned: ``exclude``, default the schema's neutral label."""
    if exclude is None:
        exclude = () if schema.neutral is None else (schema.neutral,)
    return schema.label_ids(list(exclude), "exclude", what="label", error=ConfigError)


def corpus_fingerprint(corpus: EmotionDataset) -> str:
    """sha256 over the ids and texts: a resumed run must see the same corpus."""
    h = hashlib.sha256()
    for i, t in zip(corpus.ids, corpus.texts, strict=True):
        h.update(i.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\1")
    return h.hexdigest()


def score_corpus(
    corpus: EmotionDataset,
    teacher: Teacher,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 1024,
    part_rows: int = 10_000,
    teacher_name: str | None = None,
    progress: bool | None = None,
    engine: str = "local",
    schema: LabelSchema | None = None,
) -> np.ndarray:
    """Teacher probabilities ``float32[n, L]`` for every row of ``corpus``.

    ``L`` is ``len(schema)``: the teacher is aligned to ``schema`` by label name (NaN for the
    labels it lacks); without ``schema``, the teacher's own labels.

    With ``out_dir``, parts of ``part_rows`` rows are written as they complete and existing
    parts are reused (resume). The manifest pins the corpus fingerprint and part size; a
    mismatch is an error rather than a silent mix of two corpora. ``engine="ray"`` scores
    the missing parts on a Ray actor pool (:func:`emobalance.distributed.ray_score_texts`;
    the cluster of ``$RAY_ADDRESS``, else a local Ray), one part per task, each written as it
    comes back, so resuming works the same way.
    """
    if engine not in ("local", "ray"):
        raise DataError(f"engine: expected local or ray, got {engine!r}")
    n = len(corpus)
    if n == 0:
        raise DataError("the corpus to pseudo-label is empty")
    if part_rows < 1 or batch_size < 1:
        raise DataError("part_rows and batch_size must be positive")
    out = Path(out_dir) if out_dir is not None else None
    if schema is not None:
        teacher = align_teacher(teacher, schema, allow_missing=True)
    labels = schema_of(teacher)
    proba = np.empty((n, len(labels)), dtype=np.float32)
    done = np.zeros((n + part_rows - 1) // part_rows, dtype=bool)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "fingerprint": corpus_fingerprint(corpus),
            "n_rows": n,
            "part_rows": part_rows,
            "teacher": teacher_name or type(teacher).__name__,
            "labels": list(labels.names),
        }
        mpath = out / MANIFEST
        if mpath.is_file():
            old = json.loads(mpath.read_text(encoding="utf-8"))
            for key in ("fingerprint", "n_rows", "part_rows", "teacher", "labels"):
                if old.get(key) != manifest[key]:
                    raise DataError(
                        f"{mpath}: {key} differs from this run ({old.get(key)!r} vs "
                        f"{manifest[key]!r}); use another directory or delete this one"
                    )
        else:
            write_json_atomic(mpath, manifest)
        for k in range(len(done)):
            part = out / f"part-{k:05d}.parquet"
            if part.is_file():
                lo, hi = k * part_rows, min((k + 1) * part_rows, n)
                proba[lo:hi] = _read_part(part, corpus.ids[lo:hi], len(labels))
                done[k] = True
    todo = int(sum(min((k + 1) * part_rows, n) - k * part_rows for k in np.flatnonzero(~done)))
    t0 = time.perf_counter()
    if engine == "ray" and todo:
        from ..distributed import ray_score_texts

        bounds = {
            int(k): (int(k) * part_rows, min((int(k) + 1) * part_rows, n))
            for k in np.flatnonzero(~done)
        }
        slices = [(k, corpus.texts[lo:hi]) for k, (lo, hi) in bounds.items()]
        bar = progress_bar(
            None, desc="pseudo-label (ray)", total=todo, unit="row", enabled=progress
        )
        with bar:
            for k, part in ray_score_texts(teacher, slices, batch_size=batch_size):
                lo, hi = bounds[k]
                proba[lo:hi] = part
                if out is not None:
                    _write_part(out / f"part-{k:05d}.parquet", corpus, lo, hi, part)
                bar.update(hi - lo)
        return proba
    bar = progress_bar(None, desc="pseudo-label", total=todo, unit="row", enabled=progress)
    with bar:
        for k in np.flatnonzero(~done):
            lo, hi = int(k) * part_rows, min((int(k) + 1) * part_rows, n)
            for s in range(lo, hi, batch_size):
                e = min(s + batch_size, hi)
                proba[s:e] = teacher_proba(teacher, corpus.texts[s:e])
                bar.update(e - s)
                bar.set_postfix(rows_per_s=f"{bar.n / max(time.perf_counter() - t0, 1e-9):,.0f}")
            if out is not None:
                _write_part(out / f"part-{int(k):05d}.parquet", corpus, lo, hi, proba[lo:hi])
    return proba


def _write_part(path: Path, corpus: EmotionDataset, lo: int, hi: int, proba: np.ndarray) -> None:
    flat = pa.array(proba.reshape(-1), type=pa.float32())
    table = pa.table(
        {
            "row": pa.array(np.arange(lo, hi), type=pa.int64()),
            "id": pa.array(corpus.ids[lo:hi], type=pa.string()),
            "proba": pa.FixedSizeListArray.from_arrays(flat, proba.shape[1]),
        }
    )
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def _read_part(path: Path, ids: list[str], width: int) -> np.ndarray:
    try:
        table = pq.read_table(path)
        got_ids = table.column("id").to_pylist()
        col = table.column("proba").combine_chunks()
        arr = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    except (pa.ArrowInvalid, KeyError, OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable part file ({exc}); delete it to recompute") from None
    if got_ids != ids:
        raise DataError(f"{path}: rows do not match the corpus; delete it to recompute")
    return arr.astype(np.float32)


def pseudo_label(
    corpus: EmotionDataset,
    teacher: Teacher,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    threshold: float = 0.7,
    thresholds: Mapping[str, float] | None = None,
    exclude: Sequence[str] | None = None,
    schema: LabelSchema | None = None,
    batch_size: int = 1024,
    part_rows: int = 10_000,
    teacher_name: str | None = None,
    progress: bool | None = None,
    engine: str = "local",
) -> EmotionDataset:
    """Label ``corpus`` with ``teacher``; keep rows with at least one confident label.

    Parameters
    ----------
    corpus : EmotionDataset
        Unlabelled texts (e.g. :func:`emobalance.data.sentiment140`).
    teacher : Teacher
        Any object with ``predict_proba(texts) -> float32[n, L]`` (and ``labels_``).
    out_dir : path, optional
        Where part files go (enables resume).
    threshold : float, default=0.7
        Keep label ``j`` when ``p_j >= threshold``.
    thresholds : mapping of label name to float, optional
        Per-label overrides of ``threshold``.
    exclude : sequence of str, optional
        Labels never assigned; default the schema's neutral label (GoEmotions: ``neutral``,
        the majority class; balancing never needs more), none where it has none.
    schema : LabelSchema, optional
        The labels to assign (the train split's); default the teacher's.
    engine : {"local", "ray"}, default="local"
        Where the teacher runs (see :func:`score_corpus`).

    Returns
    -------
    EmotionDataset
        The kept rows, with the assigned labels, ``teacher_score`` = the highest
        probability among the assigned labels, the corpus' ``source``, ids and meta.
    """
    proba = score_corpus(
        corpus, teacher, out_dir, batch_size=batch_size, part_rows=part_rows,
        teacher_name=teacher_name, progress=progress, engine=engine, schema=schema,
    )  # fmt: skip
    return assign_labels(
        corpus, proba, threshold=threshold, thresholds=thresholds, exclude=exclude,
        schema=schema or schema_of(teacher),
    )  # fmt: skip


def assign_labels(
    corpus: EmotionDataset,
    proba: np.ndarray,
    *,
    threshold: float | np.ndarray = 0.7,
    thresholds: Mapping[str, float] | None = None,
    exclude: Sequence[str] | None = None,
    return_index: bool = False,
    schema: LabelSchema | None = None,
) -> Any:
    """Apply per-label thresholds to teacher probabilities; keep rows with any label.

    ``threshold`` is one value or one per label (``inf`` = never); ``thresholds`` overrides
    it by label name. ``schema`` names the columns (default GoEmotions' for 28 columns);
    NaN (a label the teacher lacks) is never assigned; ``exclude`` defaults to the schema's
    neutral label. A single-label schema keeps each row's most probable confident label
    only. With ``return_index`` the kept rows' indices into ``corpus`` come back too:
    ``(dataset, index)``.
    """
    proba = np.asarray(proba)
    schema = schema_for(proba.shape[1], schema)
    th = thresholds_vector(threshold, thresholds, schema)
    with np.errstate(invalid="ignore"):
        labels = (proba >= th).astype(np.uint8)
    labels[:, _exclude_ids(exclude, schema)] = 0
    if schema.single_label:
        confident = np.where(labels > 0, np.nan_to_num(proba, nan=0.0), -1.0)
        best = confident.argmax(axis=1)
        rows = np.flatnonzero(labels.any(axis=1))
        labels[:] = 0
        labels[rows, best[rows]] = 1
    keep = np.flatnonzero(labels.any(axis=1))
    score = np.where(labels[keep] > 0, proba[keep], 0.0).max(axis=1)
    # a schema-less corpus takes the labels' schema
    out = corpus.subset(keep).replace(
        labels=labels[keep], teacher_score=score.astype(np.float32), schema=schema
    )
    return (out, keep) if return_index else out


def summary(dataset: EmotionDataset) -> dict[str, Any]:
    """Counts per assigned label of a pseudo-labelled dataset."""
    return {"n": len(dataset), "label_counts": dataset.label_counts()}
