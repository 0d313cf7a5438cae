"""A user's per-label thresholds: one value for every label, a mapping, or a JSON file.

:meth:`EmotionModel.with_thresholds <emobalance.models.base.EmotionModel.with_thresholds>`
and ``emobalance predict --threshold / --thresholds`` go through :func:`resolve_thresholds`.
A thresholds file is a JSON object ``{label: threshold}`` naming any of the model's labels
(those it does not name keep the model's threshold), e.g. ``{"grief": 0.2, "relief": 0.35}``;
``emobalance thresholds MODEL --json`` prints one with all of them. Bad input is one line naming
the file, its line and the label: not JSON, not an object, an unknown label, a label given
twice, a value that is not a number in [0, 1].
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from ..labels import GOEMOTIONS, LabelSchema
from .schema import parse_threshold_list, parse_thresholds

__all__ = ["ThresholdSpec", "read_threshold_file", "resolve_thresholds"]

ThresholdSpec = float | Mapping[str, float] | Sequence[float] | np.ndarray | str | os.PathLike
"""What :func:`resolve_thresholds` takes."""

# a JSON string followed by a colon: an object key (values here are numbers, never strings)
_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def _key_lines(text: str) -> dict[str, int]:
    """Line (1-based) of the first occurrence of each object key in ``text``."""
    lines: dict[str, int] = {}
    for m in _KEY.finditer(text):
        try:
            key = json.loads(f'"{m.group(1)}"')
        except ValueError:
            continue
        lines.setdefault(key, text.count("\n", 0, m.start()) + 1)
    return lines


def read_threshold_file(
    path: str | os.PathLike[str], schema: LabelSchema | None = GOEMOTIONS
) -> np.ndarray:
    """The thresholds a JSON file names for a model of ``schema``, as
    ``float32[len(schema)]`` with NaN for the labels it does not name.

    ``schema=None`` checks everything but the label names (the file's own keys stand in for
    them): what the CLI can check before the model, and so its labels, is loaded.

    Raises
    ------
    ConfigError
        One line naming the file (and line): missing or unreadable, not UTF-8, not JSON, not
        an object, an unknown or repeated label, a value not a number in [0, 1].
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such thresholds file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a JSON file of thresholds") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise ConfigError(f"{where(key)}: label {key!r} is given twice")
            seen[key] = value
        return seen

    lines = _key_lines(text)

    def where(key: str) -> str:
        return f"{p}: line {lines[key]}" if key in lines else str(p)

    try:
        obj = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits, deep nesting
        raise ConfigError(f"{p}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    if schema is None:
        schema = GOEMOTIONS
        if isinstance(obj, dict) and obj:
            try:
                schema = LabelSchema([str(k).strip() or "?" for k in obj], name="file")
            except DataError as exc:
                raise ConfigError(f"{p}: {exc}") from None
    return parse_thresholds(
        obj, str(p), schema=schema, partial=True, where=where, error=ConfigError
    )


def resolve_thresholds(
    spec: Any, current: np.ndarray, schema: LabelSchema = GOEMOTIONS
) -> np.ndarray:
    """New per-label thresholds ``float32[len(schema)]`` from ``spec`` over ``current``.

    Parameters
    ----------
    spec : float, mapping, sequence of floats, or path
        A number in [0, 1] for every label; ``{label: threshold}`` for some labels (the
        others keep ``current``); one number per label in the schema's order; or a JSON
        file of ``{label: threshold}`` (:func:`read_threshold_file`).
    current : ndarray of shape (len(schema),)
        The model's thresholds.
    schema : LabelSchema, default=GOEMOTIONS
        The model's labels (``model.labels_``).

    Raises
    ------
    ConfigError
        One line naming the label (and the file and line) at fault.
    """
    base = np.array(current, dtype=np.float32, copy=True)
    if isinstance(spec, str | os.PathLike):
        given = read_threshold_file(spec, schema)
    elif isinstance(spec, Mapping):
        given = parse_thresholds(
            dict(spec), "thresholds", schema=schema, partial=True, error=ConfigError
        )
    elif isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        value = float(spec)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(f"threshold must be a number in [0, 1], got {spec}")
        given = np.full(len(schema), value, dtype=np.float32)
    elif isinstance(spec, Sequence | np.ndarray) and not isinstance(spec, bytes):
        try:
            given = parse_threshold_list(
                [v.item() if isinstance(v, np.generic) else v for v in list(spec)],
                "thresholds",
                "thresholds",
                schema,
            )
        except ModelError as exc:  # the shared check's class: a user's input here
            raise ConfigError(str(exc)) from None
    else:
        raise ConfigError(
            f"thresholds: expected a number, a {{label: threshold}} mapping, {len(schema)} "
            f"numbers or a JSON file, got {type(spec).__name__}"
        )
    return np.where(np.isnan(given), base, given).astype(np.float32)
