"""Label Studio files of the review round: the labeling interface, the import file of the
candidates and the reading of Label Studio JSON exports into a vote table.

:func:`export_label_studio` writes one task per text with the proposed labels as a prediction;
:func:`label_studio_config` is the matching interface (a ``Choices`` tag over the schema's
labels: GoEmotions' 28 or a user's own; single choice for a single-label schema);
:func:`import_label_studio` reads the annotators' export back.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.dataset import EmotionDataset
from ..errors import DataError
from ..io import write_json_atomic
from ..labels import GOEMOTIONS, LabelSchema
from .votes import (
    PathLike,
    _annotation_rows,
    _check_pairs_once,
    _check_unique_ids,
    _intended_str,
    _votes_frame,
)

__all__ = [
    "FROM_NAME",
    "TO_NAME",
    "export_label_studio",
    "import_label_studio",
    "label_studio_config",
]

FROM_NAME = "emotions"
"""The name of the ``Choices`` control (the labels)."""
TO_NAME = "text"
"""The name of the ``Text`` object (the candidate)."""


def label_studio_config(labels: LabelSchema | Sequence[str] = GOEMOTIONS) -> str:
    """The Label Studio labeling interface: the text and a list of the schema's labels.

    Paste it into *Settings > Labeling Interface > Code*; the names ``emotions`` (choices) and
    ``text`` match the predictions written by :func:`export_label_studio`.

    Parameters
    ----------
    labels : LabelSchema or sequence of str, default=GOEMOTIONS
        The labels offered, in order (the candidates' ``schema``). A single-label schema
        gives a single-choice list; anything else a multiple-choice one.
    """
    single = isinstance(labels, LabelSchema) and labels.single_label
    names = labels.names if isinstance(labels, LabelSchema) else labels
    choices = "\n".join(f'    <Choice value="{_xml_attr(name)}"/>' for name in names)
    header = (
        "Which emotion does the text express?"
        if single
        else ("Which emotions does the text express? (all that apply)")
    )
    return (
        "<View>\n"
        f'  <Header value="{header}"/>\n'
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" '
        f'choice="{"single" if single else "multiple"}" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def _xml_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


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
    tasks: Any, origin: str, from_name: str, id_field: str, schema: LabelSchema
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
                chosen.update(
                    schema.names[schema.label_id(c, f"{where}, result {r_idx}", what="label")]
                    for c in choices
                )
            # one vote per annotator and task: a later annotation replaces an earlier one
            per_pair[(tid, annotator)] = _annotation_rows(tid, annotator, chosen, origin, schema)
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
    schema: LabelSchema = GOEMOTIONS,
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
    schema : LabelSchema, default=GOEMOTIONS
        The labels annotated (the candidates' schema); every annotation gives one vote row
        per label of it.

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
        rows += _label_studio_rows(tasks, origin, from_name, id_field, schema)
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
