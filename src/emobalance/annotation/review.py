"""The decision of the review round: read the annotation files, keep the confirmed candidates.

:func:`load_votes` reads Label Studio exports and filled spreadsheets by suffix into one vote
table; :func:`apply_review` keeps a candidate only when its accepted labels include every
intended label (``meta["intended"]``, else its proposed labels), and **replaces its labels by
the accepted ones** (annotators may add a co-occurring emotion or drop a wrong extra one;
``relabel=False`` keeps the proposed labels); :func:`format_report` summarises the outcome and
the agreement. The labels are the candidates' schema (GoEmotions' or a user's own); for a
single-label schema a candidate is kept only when exactly one label is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import EmotionDataset
from ..errors import DataError
from ..labels import GOEMOTIONS, LabelSchema
from ..log import get_logger
from .agreement import fleiss_kappa
from .label_studio import import_label_studio
from .spreadsheet import import_csv
from .votes import (
    PathLike,
    _as_votes,
    _check_pairs_once,
    _check_unique_ids,
    _check_vote_params,
    _tally,
    _votes_frame,
)

logger = get_logger(__name__)

__all__ = ["apply_review", "format_report", "load_votes"]


def load_votes(
    paths: PathLike | Sequence[PathLike], schema: LabelSchema = GOEMOTIONS
) -> pd.DataFrame:
    """Read annotation files by suffix: ``.json`` as Label Studio exports, ``.csv``/``.tsv``
    as filled spreadsheets; return one vote table (labels of ``schema``, the candidates').

    Raises
    ------
    DataError
        For an unknown suffix, a malformed file, or an annotator voting twice on one id.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    ls_files, csv_files = [], []
    for p in paths:
        suffix = Path(p).suffix.lower()
        if suffix == ".json":
            ls_files.append(p)
        elif suffix in (".csv", ".tsv"):
            csv_files.append(p)
        else:
            raise DataError(f"{p}: unknown annotation file type (expected .json, .csv or .tsv)")
    parts = []
    if ls_files:
        parts.append(import_label_studio(ls_files, schema=schema))
    if csv_files:
        parts.append(import_csv(csv_files, schema))
    if not parts:
        return _votes_frame([])
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    _check_pairs_once(df)
    return df


def _intended_labels(candidates: EmotionDataset) -> list[set[str]]:
    names_of = candidates.schema.names
    out: list[set[str]] = []
    intended = candidates.meta.get("intended")
    for i in range(len(candidates)):
        where = f"candidate row {i} (id {candidates.ids[i]!r})"
        value = intended[i] if intended is not None else None
        if value is None or value == "":
            if candidates.labels is None:
                raise DataError(f"{where}: no meta['intended'] and no labels")
            names = {names_of[j] for j in np.flatnonzero(candidates.labels[i])}
        else:
            ids = candidates.schema.label_ids(value, f"{where}: meta['intended']", what="label")
            names = {names_of[j] for j in ids}
        if not names:
            raise DataError(f"{where}: no intended label")
        out.append(names)
    return out


def apply_review(
    candidates: EmotionDataset,
    votes: Any,
    *,
    min_annotators: int = 1,
    threshold: float = 0.5,
    relabel: bool = True,
) -> tuple[EmotionDataset, dict[str, Any]]:
    """Keep the candidates the annotators confirmed; return them and a report.

    A candidate is kept when it has at least ``min_annotators`` annotators and its accepted
    labels (:func:`majority_vote`) include every intended label (``meta["intended"]``, else
    its proposed labels). With ``relabel`` (the default) its labels become the accepted ones,
    so an emotion the annotators added is kept and a proposed extra one they rejected is
    dropped; with ``relabel=False`` the proposed labels stay. Every other column is kept.

    Returns
    -------
    accepted : EmotionDataset
        The kept rows, in candidate order.
    report : dict
        ``n_candidates``, ``n_texts`` (candidates with any vote), ``n_annotators``,
        ``accepted``, ``rejected`` (reviewed by enough annotators but not confirmed),
        ``unreviewed`` (fewer than ``min_annotators``), ``relabelled`` (kept rows whose labels
        changed), ``unknown_ids`` (voted ids that are not candidates), ``min_annotators``,
        ``threshold`` and the agreement of :func:`fleiss_kappa` (``kappa``,
        ``kappa_per_label``, ``kappa_texts``, ``kappa_raters``).

    Raises
    ------
    DataError
        If candidate ids repeat, a row has no intended label, or the votes are malformed.
    """
    _check_vote_params(min_annotators, threshold)
    _check_unique_ids(candidates, "apply_review")
    schema = candidates.schema
    df = _as_votes(votes, schema)
    cand_ids = set(candidates.ids)
    known = df["id"].isin(cand_ids) if len(df) else pd.Series([], dtype=bool)
    unknown_ids = int(df.loc[~known, "id"].nunique()) if len(df) else 0
    df = df.loc[known] if len(df) else df
    ids, n_annot, pos, annotators = _tally(df, schema)
    where = {tid: t for t, tid in enumerate(ids)}
    intended = _intended_labels(candidates)
    keep: list[int] = []
    new_labels = np.zeros((len(candidates), len(schema)), dtype=np.uint8)
    rejected = unreviewed = relabelled = 0
    for i, tid in enumerate(candidates.ids):
        t = where.get(tid)
        if t is None or n_annot[t] < min_annotators:
            unreviewed += 1
            continue
        accepted = pos[t] > threshold * n_annot[t]
        names = {schema.names[j] for j in np.flatnonzero(accepted)}
        if not names or not intended[i] <= names or (schema.single_label and len(names) > 1):
            rejected += 1
            continue
        keep.append(i)
        new_labels[i] = accepted
        if candidates.labels is not None and not np.array_equal(
            candidates.labels[i], new_labels[i]
        ):
            relabelled += 1
    labels = new_labels if relabel or candidates.labels is None else candidates.labels
    out = candidates.replace(labels=labels).subset(np.asarray(keep, dtype=np.int64))
    report: dict[str, Any] = {
        "n_candidates": len(candidates),
        "n_texts": len(ids),
        "n_annotators": len(annotators),
        "accepted": len(keep),
        "rejected": rejected,
        "unreviewed": unreviewed,
        "relabelled": relabelled if relabel else 0,
        "unknown_ids": unknown_ids,
        "min_annotators": min_annotators,
        "threshold": float(threshold),
        **fleiss_kappa(df, schema),
    }
    logger.info("%s", format_report(report))
    return out, report


def format_report(report: Mapping[str, Any]) -> str:
    """A few human-readable lines from an :func:`apply_review` report."""
    kappa = report.get("kappa")
    lines = [
        f"review: {report.get('accepted', 0)} accepted, {report.get('rejected', 0)} rejected, "
        f"{report.get('unreviewed', 0)} unreviewed of {report.get('n_candidates', 0)} "
        f"candidates; {report.get('n_annotators', 0)} annotators",
        "agreement: Fleiss' kappa "
        + (f"{kappa:.3f}" if kappa is not None else "undefined")
        + f" over {report.get('kappa_texts', 0)} texts x {report.get('kappa_raters', 0)} raters",
    ]
    per = {k: v for k, v in (report.get("kappa_per_label") or {}).items() if v is not None}
    if per:
        lines.append(
            "per label: "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: kv[1]))
        )
    return "\n".join(lines)
