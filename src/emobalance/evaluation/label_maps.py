"""Label maps: from a model's labels (GoEmotions' 28 or its own schema's) to the labels of
another emotion dataset.

A :class:`LabelMap` names target labels and, for each, the labels of its source schema (the
model's, by name) whose scores it takes. On ``predict_proba`` output a target's score is the
max of its members' probabilities and, for multi-label prediction, a target is on when any
member is on at the model's own thresholds (the OR of the members' thresholded predictions). A
target with no counterpart (``anticipation`` in Plutchik's wheel) is kept as *unmapped*: it is
reported as such, never silently dropped.

Built in (:data:`BUILTIN_MAPS`): ``ekman`` and ``sentiment`` (GoEmotions' own
``ekman_mapping.json`` and ``sentiment_dict.json``, each with ``neutral``, from
:mod:`emobalance.labels`), ``ekman6`` (``ekman`` without neutral), ``polarity`` (positive vs
negative of ``sentiment``) and a partial ``plutchik``. A user map is a YAML file of
``target: [model labels]`` entries (:func:`read_label_map`), its members resolved against
the model's schema (GoEmotions' unless one is given). A map is used only with a model whose
labels are its source's (:meth:`LabelMap.check_model`): a built-in GoEmotions map with a
5-label model is a one-line error naming both schemas.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..errors import ConfigError
from ..labels import EKMAN, GOEMOTIONS, SENTIMENT, LabelSchema, schema_of

__all__ = ["BUILTIN_MAPS", "LabelMap", "get_label_map", "read_label_map"]

# Plutchik's eight basic emotions; a GoEmotions label counts as a counterpart when the wheel
# names it as the basic emotion itself or as its mild/intense form (annoyance < anger, grief >
# sadness, admiration > trust). Anticipation (interest, vigilance) has none.
_PLUTCHIK: dict[str, tuple[str, ...]] = {
    "joy": ("joy",),
    "trust": ("admiration",),
    "fear": ("fear",),
    "surprise": ("surprise",),
    "sadness": ("sadness", "grief"),
    "disgust": ("disgust",),
    "anger": ("anger", "annoyance"),
    "anticipation": (),
}


def _kind(schema: LabelSchema) -> str:
    """How messages name a label of ``schema``: ``GoEmotions`` or the schema's name."""
    return "GoEmotions" if schema.same_labels(GOEMOTIONS) else schema.name


@dataclass(frozen=True)
class LabelMap:
    """Target labels and the model labels each one takes its score from.

    Parameters
    ----------
    name : str
        The map's name (a built-in name or the file it was read from).
    targets : mapping of str to sequence of str
        ``target -> source label names`` in target order; an empty sequence marks a target
        with no counterpart among the source's labels (reported in :attr:`unmapped`).
    source : LabelSchema, default=GOEMOTIONS
        The labels of the models the map applies to (the columns of ``predict_proba``).

    Examples
    --------
    >>> m = get_label_map("polarity")
    >>> m.labels
    ('positive', 'negative')
    >>> m.scores(proba).shape  # doctest: +SKIP
    (n, 2)
    """

    name: str
    targets: Mapping[str, tuple[str, ...]]
    source: LabelSchema = GOEMOTIONS
    _index: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        targets = {str(t): tuple(ms) for t, ms in self.targets.items()}
        what = f"{_kind(self.source)} label"
        if not any(targets.values()):
            raise ConfigError(f"label map {self.name}: no target has a {what}")
        index = tuple(
            tuple(self.source.label_id(m, f"label map {self.name}: target {t!r}", what=what,
                                       error=ConfigError) for m in ms)
            for t, ms in targets.items() if ms
        )  # fmt: skip
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "_index", index)

    def check_model(self, model: object) -> None:
        """Refuse a model (or schema) whose labels are not the map's source labels: one line
        naming both schemas (e.g. a built-in GoEmotions map with a 5-label model)."""
        schema = schema_of(model)
        if not self.source.same_labels(schema):
            raise ConfigError(
                f"label map {self.name} maps the labels of {self.source.describe()}, but the "
                f"model speaks {schema.describe()}"
            )

    @property
    def labels(self) -> tuple[str, ...]:
        """The mapped targets (those with source members), in map order: the columns of
        :meth:`scores` and :meth:`predict_matrix`."""
        return tuple(t for t, ms in self.targets.items() if ms)

    @property
    def unmapped(self) -> tuple[str, ...]:
        """Targets with no source counterpart: never predicted, reported as unmapped."""
        return tuple(t for t, ms in self.targets.items() if not ms)

    def _check(self, matrix: np.ndarray, name: str) -> np.ndarray:
        arr = np.asarray(matrix)
        n = len(self.source)
        if arr.ndim != 2 or arr.shape[1] != n:
            raise ValueError(f"{name} must have shape (n, {n}), got {arr.shape}")
        return arr

    def scores(self, proba: np.ndarray) -> np.ndarray:
        """Mapped scores: per target, the max of its members' probabilities.

        Parameters
        ----------
        proba : ndarray of shape (n, len(source))
            ``predict_proba`` output in the source schema's order.

        Returns
        -------
        ndarray of shape (n, len(labels)), float32
        """
        p = self._check(proba, "proba")
        out = np.zeros((p.shape[0], len(self._index)), dtype=np.float32)
        for k, members in enumerate(self._index):
            out[:, k] = p[:, list(members)].max(axis=1)
        return out

    def predict_matrix(
        self, proba: np.ndarray, thresholds: float | Sequence[float] | np.ndarray = 0.5
    ) -> np.ndarray:
        """Multi-label predictions: a target is on when any member reaches its threshold.

        Parameters
        ----------
        proba : ndarray of shape (n, len(source))
        thresholds : float or array-like of shape (len(source),), default=0.5
            The model's per-label thresholds (``model.thresholds_``).

        Returns
        -------
        ndarray of shape (n, len(labels)), uint8
        """
        from ..metrics import apply_thresholds

        on = apply_thresholds(self._check(proba, "proba"), thresholds)
        out = np.zeros((on.shape[0], len(self._index)), dtype=np.uint8)
        for k, members in enumerate(self._index):
            out[:, k] = on[:, list(members)].max(axis=1)
        return out

    def predict(self, proba: np.ndarray) -> list[str]:
        """Single-label predictions: the target with the highest mapped score (ties: the
        first in map order)."""
        idx = self.scores(proba).argmax(axis=1)
        return [self.labels[i] for i in idx]

    def to_dict(self) -> dict[str, list[str]]:
        """``target -> source labels`` (unmapped targets with ``[]``)."""
        return {t: list(ms) for t, ms in self.targets.items()}


BUILTIN_MAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "ekman": dict(EKMAN),
    "ekman6": {k: v for k, v in EKMAN.items() if k != "neutral"},
    "sentiment": dict(SENTIMENT),
    "polarity": {k: SENTIMENT[k] for k in ("positive", "negative")},
    "plutchik": _PLUTCHIK,
}
"""The built-in maps by name (``target -> GoEmotions labels``): for GoEmotions models only."""


def read_label_map(path: str | os.PathLike[str], schema: LabelSchema = GOEMOTIONS) -> LabelMap:
    """A user map from a YAML file of ``target: [model labels]`` entries.

    Parameters
    ----------
    path : path
        YAML (JSON is YAML too, so ``ekman_mapping.json`` reads as is), e.g.::

            happy: [joy, amusement, excitement]
            angry: [anger, annoyance]
    schema : LabelSchema, default=GOEMOTIONS
        The model's labels, which the entries name (the map's :attr:`LabelMap.source`).

    Returns
    -------
    LabelMap

    Raises
    ------
    ConfigError
        One line naming the file and line: not YAML, not a mapping, a duplicate target, a
        target with no entries, an entry that is not a label name, a label the schema lacks.
    """
    path = Path(path)
    kind = _kind(schema)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such label map file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes keep their line numbers
    except yaml.YAMLError as exc:
        from ..config_files import yaml_problem

        raise ConfigError(f"{path}: invalid YAML ({yaml_problem(exc)})") from None
    if root is None:
        raise ConfigError(f"{path}: empty label map (expected target: [{schema.name} labels])")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{path}: line {root.start_mark.line + 1}: expected a mapping of "
            f"target: [{schema.name} labels]"
        )
    targets: dict[str, tuple[str, ...]] = {}
    for key, value in root.value:
        where = f"{path}: line {key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or not key.value.strip():
            raise ConfigError(f"{where}: a target label must be a name")
        target = key.value.strip()
        if target.lower() in {t.lower() for t in targets}:
            raise ConfigError(f"{where}: target {target!r} appears twice")
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":str") and value.value:
            items = [value]  # `joy: joy`: one label written without brackets
        elif isinstance(value, yaml.SequenceNode):
            items = value.value
        elif isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            items = []
        else:
            raise ConfigError(f"{where}: target {target!r}: expected a list of {kind} labels")
        if not items:
            raise ConfigError(f"{where}: target {target!r} has no {kind} labels")
        members: list[str] = []
        for item in items:
            at = f"{path}: line {item.start_mark.line + 1}"
            if not isinstance(item, yaml.ScalarNode):
                raise ConfigError(f"{at}: target {target!r}: expected a {kind} label name")
            members.append(
                schema.names[schema.label_id(item.value, f"{at}: target {target!r}",
                                             what=f"{kind} label", error=ConfigError)]
            )  # fmt: skip
        targets[target] = tuple(dict.fromkeys(members))
    return LabelMap(str(path), targets, schema)


def get_label_map(
    spec: str | os.PathLike[str] | LabelMap, schema: LabelSchema | None = None
) -> LabelMap:
    """A label map by built-in name (:data:`BUILTIN_MAPS`), YAML file or as it is.

    Parameters
    ----------
    spec : str, path or LabelMap
    schema : LabelSchema, optional
        The labels of the model the map will be used with (default GoEmotions'): a YAML
        file's entries are resolved against them, and a built-in map or a given
        :class:`LabelMap` whose source labels differ is refused (:meth:`LabelMap.check_model`).

    Raises
    ------
    ConfigError
        For a name that is neither built in nor an existing file (the message lists the
        built-in names), a bad file (see :func:`read_label_map`), or a map of other labels
        than ``schema``'s (one line naming both schemas).
    """
    lm = _label_map(spec, GOEMOTIONS if schema is None else schema)
    if schema is not None:
        lm.check_model(schema)
    return lm


def _label_map(spec: str | os.PathLike[str] | LabelMap, schema: LabelSchema) -> LabelMap:
    if isinstance(spec, LabelMap):
        return spec
    key = str(spec).strip()
    if key.lower() in BUILTIN_MAPS:
        return LabelMap(key.lower(), BUILTIN_MAPS[key.lower()])
    if Path(key).is_file():
        return read_label_map(key, schema)
    raise ConfigError(
        f"unknown label map {key!r}: not a built-in map ({', '.join(BUILTIN_MAPS)}) "
        "nor an existing YAML file"
    )
