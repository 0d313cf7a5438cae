"""The human review round for generated candidates.

Export the candidates for annotators, read their annotations back, accept labels by majority
vote and measure how much the annotators agree.

* **Export**: :func:`export_label_studio` writes a Label Studio import file (one task per text,
  the proposed labels as a prediction) and :func:`label_studio_config` the labeling interface
  (a multiple-choice ``Choices`` tag over the 28 labels); :func:`export_csv` writes a
  spreadsheet with one 0/1 column per label and an ``accept`` shortcut column.
* **Import**: :func:`import_label_studio` reads Label Studio JSON exports,
  :func:`import_csv` filled CSVs (one per annotator), :func:`load_votes` either by suffix. All
  give the same long *vote table*: a :class:`pandas.DataFrame` with one row per ``(id,
  annotator, label)`` and columns ``id``, ``annotator``, ``label`` (a name of
  :data:`~emobalance.labels.LABELS`), ``vote`` (0/1) and ``file`` (where it was read). Every
  annotation gives all 28 rows, so an annotator who chose nothing still counts as a voter.
* **Decision**: :func:`majority_vote` accepts a label for a text when strictly more than
  ``threshold`` (default half) of that text's annotators chose it, so ties reject.
  :func:`apply_review` keeps a candidate only when its accepted labels include every intended
  label (``meta["intended"]``, else its proposed labels), and **replaces its labels by the
  accepted ones** (annotators may add a co-occurring emotion or drop a wrong extra one);
  ``relabel=False`` keeps the proposed labels instead.
* **Agreement**: Fleiss' kappa (Fleiss 1971), per label (two categories: chosen or not) and
  overall (the same binary kappa pooled over every ``(text, label)`` pair of the labels that
  someone chose). Fleiss' kappa needs the same number of raters per subject: when texts have
  different numbers of annotators, only the texts with the modal number (the larger on a tie)
  are used, and the report says how many.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..io import atomic_path, write_json_atomic
from ..labels import LABEL_TO_ID, LABELS, NUM_LABELS

__all__ = [
    "VOTE_COLUMNS",
    "apply_review",
    "export_csv",
    "export_label_studio",
    "fleiss_kappa",
    "fleiss_kappa_table",
    "format_report",
    "import_csv",
    "import_label_studio",
    "label_studio_config",
    "load_votes",
    "majority_vote",
]

logger = logging.getLogger(__name__)

VOTE_COLUMNS = ("id", "annotator", "label", "vote", "file")
FROM_NAME = "emotions"
TO_NAME = "text"
_TRUE = {"1", "1.0", "x", "y", "yes", "true"}
_FALSE = {"", "0", "0.0", "n", "no", "false"}

PathLike = str | os.PathLike[str]


# ================================================================================ export
def label_studio_config(labels: Sequence[str] = LABELS) -> str:
    """The Label Studio labeling interface: the text and a multiple-choice list of labels.

    Paste it into *Settings > Labeling Interface > Code*; the names ``emotions`` (choices) and
    ``text`` match the predictions written by :func:`export_label_studio`.
    """
    choices = "\n".join(f'    <Choice value="{_xml_attr(name)}"/>' for name in labels)
    return (
        "<View>\n"
        '  <Header value="Which emotions does the text express? (all that apply)"/>\n'
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="multiple" '
        'showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def _xml_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _check_unique_ids(dataset: EmotionDataset, what: str) -> None:
    seen: dict[str, int] = {}
    for i, x in enumerate(dataset.ids):
        if x in seen:
            raise DataError(
                f"{what}: id {x!r} appears in rows {seen[x]} and {i}; ids must be unique"
            )
        seen[x] = i


def export_label_studio(
    dataset: EmotionDataset, path: PathLike, *, model_version: str | None = None
) -> Path:
    """Write ``dataset`` as a Label Studio import file (JSON list of tasks), atomically.

    Each task is ``{"data": {"text", "id"[, "intended"]}, "predictions": [{"model_version",
    "result": [{"from_name": "emotions", "to_name": "text", "type": "choices", "value":
    {"choices": [proposed label names]}}][, "score"]}]}``; ``predictions`` is left out for an
    unlabelled dataset. ``model_version`` defaults to the row's ``meta["model"]``, else
    ``"emobalance"``; ``score`` is the row's ``teacher_score`` when finite.

    Raises
    ------
    DataError
        If two rows share an id (ids join the annotations back to the rows).
    """
    _check_unique_ids(dataset, "export_label_studio")
    names = dataset.label_names() if dataset.labels is not None else None
    intended = dataset.meta.get("intended")
    models = dataset.meta.get("model")
    tasks: list[dict[str, Any]] = []
    for i, text in enumerate(dataset.texts):
        data: dict[str, Any] = {"text": text, "id": dataset.ids[i]}
        if intended is not None and intended[i] is not None:
            data["intended"] = _intended_str(intended[i])
        task: dict[str, Any] = {"data": data}
        if names is not None:
            version = model_version or (models[i] if models and models[i] else "emobalance")
            pred: dict[str, Any] = {
                "model_version": str(version),
                "result": [
                    {
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "type": "choices",
                        "value": {"choices": names[i]},
                    }
                ],
            }
            if dataset.teacher_score is not None and math.isfinite(dataset.teacher_score[i]):
                pred["score"] = float(dataset.teacher_score[i])
            task["predictions"] = [pred]
        tasks.append(task)
    path = Path(path)
    write_json_atomic(path, tasks)
    return path


def _intended_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


def export_csv(dataset: EmotionDataset, path: PathLike, *, prefill: bool = False) -> Path:
    """Write a review spreadsheet (CSV, UTF-8 with a BOM for spreadsheet programs), atomically.

    Columns: ``id``, ``text``, ``proposed_labels`` (comma-separated names), ``intended`` (when
    the rows have ``meta["intended"]``), ``accept`` (empty) and one column per label. An
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
    header += ["accept", *LABELS]
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
            row += ["", *("1" if lab in chosen else "" for lab in LABELS)]
            w.writerow(row)
    return path


# ================================================================================ import
def _votes_frame(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
    df["vote"] = df["vote"].astype(np.uint8)
    for col in ("id", "annotator", "label", "file"):
        df[col] = df[col].astype(object)
    return df


def _annotation_rows(
    tid: str, annotator: str, chosen: Iterable[str], origin: str
) -> list[tuple[str, str, str, int, str]]:
    on = set(chosen)
    return [(tid, annotator, lab, int(lab in on), origin) for lab in LABELS]


def _label_name(value: Any, where: str) -> str:
    key = str(value).strip().lower()
    if key not in LABEL_TO_ID:
        raise DataError(f"{where}: unknown label {value!r}")
    return key


def _annotator_name(ann: Mapping[str, Any], where: str) -> str:
    by = ann.get("completed_by")
    if isinstance(by, Mapping):
        for key in ("email", "username", "id"):
            if by.get(key) not in (None, ""):
                return str(by[key])
    elif by is not None and by != "" and not isinstance(by, bool):
        return str(by)
    raise DataError(f"{where}: no 'completed_by' (annotator)")


def _label_studio_rows(
    tasks: Any, origin: str, from_name: str, id_field: str
) -> list[tuple[str, str, str, int, str]]:
    if not isinstance(tasks, list):
        raise DataError(
            f"{origin}: expected a JSON list of tasks (a Label Studio JSON export), "
            f"got {type(tasks).__name__}"
        )
    per_pair: dict[tuple[str, str], list[tuple[str, str, str, int, str]]] = {}
    any_annotations = False
    for t_idx, task in enumerate(tasks):
        where_t = f"{origin}: task index {t_idx}"
        if not isinstance(task, Mapping):
            raise DataError(f"{where_t}: expected a JSON object, got {type(task).__name__}")
        if task.get("id") is not None:
            where_t += f" (Label Studio id {task['id']})"
        data = task.get("data")
        if not isinstance(data, Mapping) or data.get(id_field) in (None, ""):
            raise DataError(f"{where_t}: no data.{id_field} (the id written by the export)")
        tid = str(data[id_field])
        anns = task.get("annotations")
        if anns is None:
            continue
        any_annotations = True
        if not isinstance(anns, list):
            raise DataError(f"{where_t}: 'annotations' is not a list")
        for a_idx, ann in enumerate(anns):
            where = f"{where_t}, annotation {a_idx}"
            if not isinstance(ann, Mapping):
                raise DataError(f"{where}: expected a JSON object")
            if ann.get("was_cancelled"):
                continue
            annotator = _annotator_name(ann, where)
            result = ann.get("result", [])
            if not isinstance(result, list):
                raise DataError(f"{where}: 'result' is not a list")
            chosen: set[str] = set()
            for r_idx, item in enumerate(result):
                if not isinstance(item, Mapping):
                    raise DataError(f"{where}, result {r_idx}: expected a JSON object")
                if item.get("type") != "choices" or item.get("from_name", from_name) != from_name:
                    continue  # another control (a comment box, a rating...)
                value = item.get("value")
                choices = value.get("choices") if isinstance(value, Mapping) else None
                if not isinstance(choices, list):
                    raise DataError(f"{where}, result {r_idx}: no value.choices list")
                chosen.update(_label_name(c, f"{where}, result {r_idx}") for c in choices)
            # one vote per annotator and task: a later annotation replaces an earlier one
            per_pair[(tid, annotator)] = _annotation_rows(tid, annotator, chosen, origin)
    if tasks and not any_annotations:
        raise DataError(
            f"{origin}: no task has 'annotations'; this looks like an import file, not a "
            "Label Studio export (Export > JSON)"
        )
    return [row for rows in per_pair.values() for row in rows]


def import_label_studio(
    sources: PathLike | Any | Sequence[PathLike | Any],
    *,
    from_name: str = FROM_NAME,
    id_field: str = "id",
) -> pd.DataFrame:
    """Read Label Studio JSON exports into a vote table (see the module docstring).

    Parameters
    ----------
    sources : path, parsed export, or a sequence of them
        Each a JSON file exported from Label Studio (*Export > JSON*) or the already parsed
        list of tasks. Tasks need ``data[id_field]``; annotations with ``was_cancelled`` are
        skipped; an annotator with several annotations of one task counts once (the last).
    from_name : str, default="emotions"
        The name of the ``Choices`` control to read (results of other controls are ignored).
    id_field : str, default="id"
        The ``data`` field holding the candidate id.

    Raises
    ------
    DataError
        Naming the file and task index of a malformed task or an unknown label, or when the
        same annotator votes on the same id in two files.
    """
    rows: list[tuple[str, str, str, int, str]] = []
    for k, src in enumerate(_source_list(sources)):
        if isinstance(src, str | os.PathLike):
            path = Path(src)
            origin = str(path)
            tasks = _read_json(path)
        else:
            origin = f"<object {k}>"
            tasks = src
        rows += _label_studio_rows(tasks, origin, from_name, id_field)
    df = _votes_frame(rows)
    _check_pairs_once(df)
    return df


def _source_list(sources: Any) -> list[Any]:
    if isinstance(sources, str | os.PathLike | Mapping):
        return [sources]
    items = list(sources)
    if items and all(isinstance(x, Mapping) for x in items):
        return [items]  # one parsed export (a list of tasks)
    return items


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason})") from None


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


def import_csv(paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read filled review spreadsheets (see :func:`export_csv`) into a vote table.

    Parameters
    ----------
    paths : path or sequence of paths
        One CSV per annotator, named after them (the annotator is the file stem), unless the
        file has an ``annotator`` column (rows with it empty fall back to the stem). The
        delimiter may be ``,``, ``;`` or a tab. Needs an ``id`` column and label columns
        and/or an ``accept`` column; label columns left out of the file count as 0.

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
        reader = csv.DictReader(
            io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, path)
        )
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise DataError(f"{path}: line 1: repeated columns {dup}")
        if "id" not in header:
            raise DataError(f"{path}: line 1: no 'id' column (columns: {', '.join(header)})")
        label_cols = [lab for lab in LABELS if lab in header]
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
                        chosen |= {
                            _label_name(x, f"{where}: proposed_labels")
                            for x in proposed.split(",")
                            if x.strip()
                        }
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
                rows += _annotation_rows(tid, annotator, chosen, str(path))
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
    return _votes_frame(rows)


def load_votes(paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read annotation files by suffix: ``.json`` as Label Studio exports, ``.csv``/``.tsv``
    as filled spreadsheets; return one vote table.

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
        parts.append(import_label_studio(ls_files))
    if csv_files:
        parts.append(import_csv(csv_files))
    if not parts:
        return _votes_frame([])
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    _check_pairs_once(df)
    return df


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
def _as_votes(votes: Any) -> pd.DataFrame:
    """A vote table from a DataFrame or an iterable of (id, annotator, label, vote) records."""
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
    labels = df["label"].astype(str).str.strip().str.lower()
    unknown = ~labels.isin(LABEL_TO_ID.keys())
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(f"votes: row {i}: unknown label {df['label'].iloc[i]!r}")
    df["label"] = labels
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


def _tally(votes: Any) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Per text: its id, number of annotators and ``(n_texts, 28)`` positive vote counts.

    An (id, annotator) pair missing a label's row counts as a 0 for that label.
    """
    df = _as_votes(votes)
    if len(df) == 0:
        return [], np.zeros(0, np.int64), np.zeros((0, NUM_LABELS), np.int64), []
    pair_key = df["id"] + "\x1f" + df["annotator"]
    pair_codes, pair_uniques = pd.factorize(pair_key)
    m = np.zeros((len(pair_uniques), NUM_LABELS), dtype=np.int64)
    lab = df["label"].map(LABEL_TO_ID).to_numpy(dtype=np.int64)
    m[pair_codes, lab] = df["vote"].to_numpy(dtype=np.int64)
    _, first = np.unique(pair_codes, return_index=True)
    pair_text = df["id"].to_numpy()[first]
    text_codes, text_ids = pd.factorize(pair_text)
    n_annot = np.bincount(text_codes, minlength=len(text_ids)).astype(np.int64)
    pos = np.zeros((len(text_ids), NUM_LABELS), dtype=np.int64)
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
    votes: Any, min_annotators: int = 1, threshold: float = 0.5
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

    Returns
    -------
    dict of id to set of label names
        Every text with at least ``min_annotators`` annotators; an empty set when no label
        was accepted.
    """
    _check_vote_params(min_annotators, threshold)
    ids, n_annot, pos, _ = _tally(votes)
    out: dict[str, set[str]] = {}
    for t, tid in enumerate(ids):
        if n_annot[t] < min_annotators:
            continue
        out[tid] = {LABELS[j] for j in np.flatnonzero(pos[t] > threshold * n_annot[t])}
    return out


# ================================================================================ kappa
def fleiss_kappa_table(counts: Any) -> float:
    """Fleiss' kappa of a subjects x categories table of rater counts (Fleiss 1971).

    Parameters
    ----------
    counts : array-like of shape (N, k)
        ``counts[i, j]`` = raters who put subject ``i`` in category ``j``; every row must sum
        to the same number of raters ``n >= 2``.

    Returns
    -------
    float
        ``(P_bar - P_e) / (1 - P_e)``; NaN when it is undefined (no subject, or every rating
        in one category so that ``P_e = 1``).

    Examples
    --------
    The example of the Wikipedia article (10 subjects, 14 raters, 5 categories):

    >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...          [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...          [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> round(fleiss_kappa_table(table), 3)
    0.21
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise DataError(f"counts must be a 2-D subjects x categories table, got shape {c.shape}")
    if c.size and (np.any(c < 0) or np.any(c != np.round(c))):
        raise DataError("counts must be non-negative whole numbers")
    if c.shape[0] == 0:
        return float("nan")
    n_per = c.sum(axis=1)
    n = n_per[0]
    if np.any(n_per != n):
        i = int(np.flatnonzero(n_per != n)[0])
        raise DataError(
            f"every subject needs the same number of raters: row 0 has {n:g}, row {i} "
            f"has {n_per[i]:g}"
        )
    if n < 2:
        raise DataError(f"Fleiss' kappa needs at least 2 raters per subject, got {n:g}")
    p_j = c.sum(axis=0) / (c.shape[0] * n)
    p_i = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_e = float((p_j * p_j).sum())
    if math.isclose(p_e, 1.0):
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def _none_if_nan(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def fleiss_kappa(votes: Any) -> dict[str, Any]:
    """Fleiss' kappa of the annotators, per label and overall.

    Per label, each text is a subject rated "chosen" or "not chosen" by its annotators.
    Overall, the same binary kappa pooled over every ``(text, label)`` pair, restricted to
    labels that at least one annotator chose (labels nobody chose carry no information and
    leave the per-label kappa undefined). Only texts with the modal number of annotators
    (the larger on a tie) are used, since Fleiss' kappa needs a fixed number of raters.

    Returns
    -------
    dict
        ``kappa`` (overall), ``kappa_per_label`` (label -> kappa; ``None`` where undefined),
        ``kappa_texts`` (texts used) and ``kappa_raters`` (annotators per text used). Kappas
        are ``None`` when undefined (fewer than 2 annotators per text, no text, or no
        variation at all).
    """
    ids, n_annot, pos, _ = _tally(votes)
    empty = {
        "kappa": None,
        "kappa_per_label": dict.fromkeys(LABELS),
        "kappa_texts": 0,
        "kappa_raters": 0,
    }
    if not ids:
        return empty
    values, freq = np.unique(n_annot, return_counts=True)
    modal = int(values[freq == freq.max()].max())
    if modal < 2:
        return {**empty, "kappa_raters": modal}
    p = pos[n_annot == modal]
    per_label: dict[str, float | None] = {}
    for j, name in enumerate(LABELS):
        table = np.stack([modal - p[:, j], p[:, j]], axis=1)
        per_label[name] = _none_if_nan(fleiss_kappa_table(table))
    used = p[:, p.sum(axis=0) > 0].ravel()
    overall = (
        fleiss_kappa_table(np.stack([modal - used, used], axis=1)) if used.size else float("nan")
    )
    return {
        "kappa": _none_if_nan(overall),
        "kappa_per_label": per_label,
        "kappa_texts": int(p.shape[0]),
        "kappa_raters": modal,
    }


# ================================================================================ apply
def _intended_labels(candidates: EmotionDataset) -> list[set[str]]:
    out: list[set[str]] = []
    intended = candidates.meta.get("intended")
    for i in range(len(candidates)):
        where = f"candidate row {i} (id {candidates.ids[i]!r})"
        value = intended[i] if intended is not None else None
        if value is None or value == "":
            if candidates.labels is None:
                raise DataError(f"{where}: no meta['intended'] and no labels")
            names = {LABELS[j] for j in np.flatnonzero(candidates.labels[i])}
        else:
            items = value.split(",") if isinstance(value, str) else list(value)
            names = {_label_name(x, f"{where}: meta['intended']") for x in items if str(x).strip()}
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
    df = _as_votes(votes)
    cand_ids = set(candidates.ids)
    known = df["id"].isin(cand_ids) if len(df) else pd.Series([], dtype=bool)
    unknown_ids = int(df.loc[~known, "id"].nunique()) if len(df) else 0
    df = df.loc[known] if len(df) else df
    ids, n_annot, pos, annotators = _tally(df)
    where = {tid: t for t, tid in enumerate(ids)}
    intended = _intended_labels(candidates)
    keep: list[int] = []
    new_labels = np.zeros((len(candidates), NUM_LABELS), dtype=np.uint8)
    rejected = unreviewed = relabelled = 0
    for i, tid in enumerate(candidates.ids):
        t = where.get(tid)
        if t is None or n_annot[t] < min_annotators:
            unreviewed += 1
            continue
        accepted = pos[t] > threshold * n_annot[t]
        names = {LABELS[j] for j in np.flatnonzero(accepted)}
        if not names or not intended[i] <= names:
            rejected += 1
            continue
        keep.append(i)
        new_labels[i] = accepted
        if candidates.labels is not None and not np.array_equal(
            candidates.labels[i], new_labels[i]
        ):
            relabelled += 1
    labels = new_labels if relabel or candidates.labels is None else candidates.labels
    relabelled_ds = EmotionDataset(
        candidates.texts,
        labels=labels,
        source=candidates.source,
        ids=candidates.ids,
        weight=candidates.weight,
        parent_id=candidates.parent_id,
        teacher_score=candidates.teacher_score,
        meta=candidates.meta,
    )
    out = relabelled_ds.subset(np.asarray(keep, dtype=np.int64))
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
        **fleiss_kappa(df),
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
