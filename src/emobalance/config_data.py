"""The ``data:`` section of the config: which labelled files a job reads, and how.

Without ``data.train`` a job reads GoEmotions (the default; every other key of the section is
then refused). With it, :func:`emobalance.data.own.load_own_data` reads the user's files:
CSV, TSV, JSON lines or Parquet, labels either as one column of names (``label_column``,
``label_sep``: the "long" layout) or as one 0/1 column per label (``label_columns``: the "wide"
layout). A single file is split into train/dev/test deterministically.

This module does not import :mod:`emobalance.config` (which imports it), so the section
repeats the settings of ``config._Section`` rather than inheriting them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .errors import ConfigError, DataError
from .labels import MAX_SCHEMA_LABELS, LabelSchema

DEFAULT_LABEL_COLUMN = "labels"
"""The column of label names read when neither ``label_column`` nor ``label_columns`` is set."""

PARTIAL = "partial"
"""A validation context key: ``{"partial": True}`` validates a config file that ``--set`` items
will complete (``load_config`` checks the file before applying them), so the checks that tie
keys together (``data.train`` required by the other keys, ``dev`` with ``test``) wait for the
complete config."""


def _check_names(names: list[str]) -> list[str]:
    """``names`` if they make a valid label schema (unique, non-empty, at most 1,000)."""
    try:
        LabelSchema(names)  # the one set of rules for label names
    except DataError as exc:
        raise ValueError(str(exc)) from None
    return names


class DataConfig(BaseModel):
    """The labelled data of a job: GoEmotions (the default) or the user's own files.

    Attributes
    ----------
    train : str or None
        The training file; ``None`` reads GoEmotions, and then no other key may be set.
    dev, test : str or None
        The dev and test files, both or neither; without them ``train`` is split
        deterministically (``split_seed``, ``dev_fraction``, ``test_fraction``).
    format : {"auto", "csv", "tsv", "jsonl", "parquet"}
        ``auto`` picks by extension (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``/``.json``,
        ``.parquet``/``.pq``); any other extension (a tab-separated ``.txt``) needs the format.
        TSV is read without quote processing (quotes inside texts are text).
    text_column : str
        The column (JSON field) holding the texts.
    label_column : str or None
        The long layout: one column of label names joined by ``label_sep`` (an empty cell: no
        label). When neither this nor ``label_columns`` is set, the column ``labels``.
    label_sep : str
        The separator of the names in a ``label_column`` cell.
    label_columns : list of str or None
        The wide layout: one 0/1 column per label; the column names are the label names and
        their order is the schema's.
    labels : list of str or None
        The long layout's label names in order (a name outside them is an error); default the
        sorted names found in the files.
    descriptions : dict of str to str
        One-line descriptions of labels (the generation prompts use them).
    single_label : bool
        One label per row (a row with several is an error); prediction is the argmax.
    name : str
        The schema's name (reports, messages, saved models).
    neutral : str or None
        The label meaning "no emotion", if there is one.
    allow_empty : bool
        Whether a row may carry no label.
    split_seed, dev_fraction, test_fraction
        The split of a single file (fractions each in (0, 0.5)).
    id_column : str or None
        A column of row ids (default: ``train-0``, ``dev-0``... from each file's row order).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False
    )

    train: str | None = Field(None, min_length=1)
    dev: str | None = Field(None, min_length=1)
    test: str | None = Field(None, min_length=1)
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet"] = "auto"
    text_column: str = Field("text", min_length=1, max_length=200)
    label_column: str | None = Field(None, min_length=1, max_length=200)
    label_sep: str = Field(",", min_length=1, max_length=10)
    label_columns: list[str] | None = None
    labels: list[str] | None = None
    descriptions: dict[str, str] = Field(default_factory=dict)
    single_label: bool = False
    name: str = Field("own", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    neutral: str | None = None
    allow_empty: bool = True
    split_seed: int = Field(0, ge=0, le=2**32 - 1)
    dev_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    id_column: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("label_columns", "labels")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if len(v) > MAX_SCHEMA_LABELS:  # before building a schema of a million names
            raise ValueError(f"{len(v)} labels; at most {MAX_SCHEMA_LABELS} are supported")
        return _check_names(v)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> DataConfig:
        if self.label_column is not None and self.label_columns is not None:
            raise ValueError(
                "give data.label_column (one column of label names) or data.label_columns "
                "(one 0/1 column per label), not both"
            )
        if self.label_columns is not None and self.labels is not None:
            raise ValueError(
                "data.labels is for data.label_column; with data.label_columns the columns "
                "are the labels, in their order"
            )
        declared = self.label_columns or self.labels
        if declared is not None:
            known = {n.lower() for n in declared}
            for key in [*self.descriptions, *([self.neutral] if self.neutral else [])]:
                if key.strip().lower() not in known:
                    what = "descriptions" if key in self.descriptions else "neutral"
                    raise ValueError(f"data.{what}: {key!r} is not one of the labels")
        others = [*(self.label_columns or [self.names_column]), self.id_column]
        if self.text_column in others:
            raise ValueError(f"data.text_column {self.text_column!r} is also a label or id column")
        if (info.context or {}).get(PARTIAL):
            return self  # --set items follow: the keys that go together are checked after them
        if self.train is None:
            extra = sorted(k for k in self.model_fields_set if getattr(self, k) != _DEFAULTS[k])
            if extra:
                raise ValueError(
                    f"data.{extra[0]} is set but data.train is not (without data.train the "
                    "data is GoEmotions)"
                )
            return self
        if (self.dev is None) != (self.test is None):
            raise ValueError(
                "give data.dev and data.test together, or neither (data.train is then split "
                "into train, dev and test)"
            )
        if self.dev is not None:
            split = sorted(
                k
                for k in ("split_seed", "dev_fraction", "test_fraction")
                if getattr(self, k) != _DEFAULTS[k]
            )
            if split:
                raise ValueError(
                    f"data.{split[0]} splits data.train, but data.dev and data.test are given"
                )
        return self

    @property
    def is_own(self) -> bool:
        """Whether the data is the user's own (``train`` set), not GoEmotions."""
        return self.train is not None

    @property
    def wide(self) -> bool:
        """Whether labels are one 0/1 column per label (``label_columns``)."""
        return self.label_columns is not None

    @property
    def names_column(self) -> str:
        """The column of label names of the long layout (``label_column`` or ``labels``)."""
        return self.label_column or DEFAULT_LABEL_COLUMN

    def require_own(self, what: str = "this job") -> None:
        """Raise a one-line :class:`ConfigError` unless ``train`` is set (e.g. ``--preset own``)."""
        if self.train is None:
            raise ConfigError(f"{what} needs data.train (the file of your labelled texts)")


_DEFAULTS: dict[str, Any] = {
    name: (f.default_factory() if f.default_factory is not None else f.default)  # type: ignore[call-arg]
    for name, f in DataConfig.model_fields.items()
}
