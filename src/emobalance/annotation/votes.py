"""The vote table of the review round and the majority vote.

Every reader of annotations (:mod:`~emobalance.annotation.label_studio`,
:mod:`~emobalance.annotation.spreadsheet`) gives the same long *vote table*: a
:class:`pandas.DataFrame` with one row per ``(id, annotator, label)`` and columns ``id``,
``annotator``, ``label`` (a label name of the candidates' schema, GoEmotions' by default),
``vote`` (0/1) and ``file`` (where it was read). Every annotation gives one row per label of
the schema, so an annotator who chose nothing still counts as a voter. :func:`majority_vote`
accepts a label for a text when strictly more than ``threshold`` (default half) of that text's
annotators chose it, so ties reject.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..labels import GOEMOTIONS, LabelSchema

__all__ = ["VOTE_COLUMNS", "majority_vote"]

VOTE_COLUMNS = ("id", "annotator", "label", "vote", "file")
"""The columns of a vote table."""

PathLike = str | os.PathLike[str]


def _check_unique_ids(dataset: EmotionDataset, what: str) -> None:
    seen: dict[str, int] = {}
    for i, x in enumerate(dataset.ids):
        if x in seen:
            raise DataError(
                f"{what}: id {x!r} appears in rows {seen[x]} and {i}; ids must be unique"
            )
        seen[x] = i


def _intended_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


def _votes_frame(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
    df["vote"] = df["vote"].astype(np.uint8)
    for col in ("id", "annotator", "label", "file"):
        df[col] = df[col].astype(object)
    return df


def _annotation_rows(
    tid: str, annotator: str, chosen: Iterable[str], origin: str, schema: LabelSchema
) -> list[tuple[str, str, str, int, str]]:
    on = set(chosen)
    return [(tid, annotator, lab, int(lab in on), origin) for lab in schema.names]


def _check_pairs_once(df: pd.DataFrame) -> None:
    """An (id, annotator) pair must come from one file only."""
    if df.empty:
        return
    files = df.groupby(["id", "annotator"], sort=False)["file"].nunique()
    bad = files[files > 1]
    if len(bad):
        tid, annotator = bad.index[0]
        where = sorted(df.loc[(df["id"] == tid) & (df["annotator"] == annotator), "file"].unique())
        raise DataError(
            f"annotator {annotator!r} voted on id {tid!r} in several files ({', '.join(where)})"
        )


# ================================================================================ decide


def _as_votes(votes: Any, schema: LabelSchema = GOEMOTIONS) -> pd.DataFrame:
    """A vote table from a DataFrame or an iterable of (id, annotator, label, vote) records;
    labels are read as labels of ``schema``."""
    if isinstance(votes, pd.DataFrame):
        df = votes
    else:
        records = list(votes)
        if records and isinstance(records[0], Mapping):
            df = pd.DataFrame.from_records(records)
        else:
            df = pd.DataFrame.from_records(records, columns=list(VOTE_COLUMNS[:4]))
    missing = [c for c in VOTE_COLUMNS[:4] if c not in df.columns]
    if missing:
        raise DataError(f"votes: missing columns {missing} (need id, annotator, label, vote)")
    df = df.loc[:, [c for c in VOTE_COLUMNS if c in df.columns]].copy()
    if len(df) == 0:
        return df
    df["id"] = df["id"].astype(str)
    df["annotator"] = df["annotator"].astype(str)
    df["label"] = [
        schema.names[schema.label_id(x, f"votes: row {i}", what="label")]
        for i, x in enumerate(df["label"])
    ]
    vote = pd.to_numeric(df["vote"], errors="coerce")
    bad = ~vote.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"votes: row {i}: vote must be 0 or 1, got {df['vote'].iloc[i]!r}")
    df["vote"] = vote.astype(np.uint8)
    dup = df.duplicated(["id", "annotator", "label"], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        r = df.iloc[i]
        raise DataError(
            f"votes: annotator {r['annotator']!r} has several votes for label {r['label']!r} "
            f"of id {r['id']!r}"
        )
    return df


def _tally(
    votes: Any, schema: LabelSchema = GOEMOTIONS
) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Per text: its id, number of annotators and ``(n_texts, len(schema))`` positive vote
    counts.

    An (id, annotator) pair missing a label's row counts as a 0 for that label.
    """
    df = _as_votes(votes, schema)
    q = len(schema)
    if len(df) == 0:
        return [], np.zeros(0, np.int64), np.zeros((0, q), np.int64), []
    pair_key = df["id"] + "\x1f" + df["annotator"]
    pair_codes, pair_uniques = pd.factorize(pair_key)
    m = np.zeros((len(pair_uniques), q), dtype=np.int64)
    lab = np.fromiter(map(schema.label_id, df["label"]), dtype=np.int64, count=len(df))
    m[pair_codes, lab] = df["vote"].to_numpy(dtype=np.int64)
    _, first = np.unique(pair_codes, return_index=True)
    pair_text = df["id"].to_numpy()[first]
    text_codes, text_ids = pd.factorize(pair_text)
    n_annot = np.bincount(text_codes, minlength=len(text_ids)).astype(np.int64)
    pos = np.zeros((len(text_ids), q), dtype=np.int64)
    np.add.at(pos, text_codes, m)
    annotators = list(dict.fromkeys(df["annotator"].tolist()))
    return [str(x) for x in text_ids], n_annot, pos, annotators


def _check_vote_params(min_annotators: int, threshold: float) -> None:
    if (
        isinstance(min_annotators, bool)
        or not isinstance(min_annotators, int)
        or min_annotators < 1
    ):
        raise ConfigError(f"min_annotators must be an int >= 1, got {min_annotators!r}")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold < 1.0:
        raise ConfigError(f"threshold must be in [0, 1), got {threshold!r}")


def majority_vote(
    votes: Any,
    min_annotators: int = 1,
    threshold: float = 0.5,
    schema: LabelSchema = GOEMOTIONS,
) -> dict[str, set[str]]:
    """Accepted labels per text by majority vote.

    Parameters
    ----------
    votes : DataFrame or iterable of (id, annotator, label, vote)
        A vote table (see the module docstring).
    min_annotators : int, default=1
        Texts with fewer annotators are left out of the result (not reviewed enough).
    threshold : float, default=0.5
        A label is accepted when strictly more than ``threshold`` of the text's annotators
        chose it: with 0.5, 2 of 3 and 3 of 5 accept, 2 of 4 (a tie) rejects.
    schema : LabelSchema, default=GOEMOTIONS
        The labels voted on (the candidates' schema).

    Returns
    -------
    dict of id to set of label names
        Every text with at least ``min_annotators`` annotators; an empty set when no label
        was accepted.
    """
    _check_vote_params(min_annotators, threshold)
    ids, n_annot, pos, _ = _tally(votes, schema)
    out: dict[str, set[str]] = {}
    for t, tid in enumerate(ids):
        if n_annot[t] < min_annotators:
            continue
        out[tid] = {schema.names[j] for j in np.flatnonzero(pos[t] > threshold * n_annot[t])}
    return out


# ================================================================================ kappa
