"""What the command line's modules share: the record of the running command's input and
output (named in one-line errors of OSErrors that carry no file name), number checks and the
option types several commands take."""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

# what the running command reads and writes, to name an OSError that carries no file name
# (ENOSPC from a buffered write, pyarrow's errors): {"reading": path, "writing": path}
IO_RECORD: dict[str, str] = {}

MAX_BATCH = 2**20  # = config.MAX_BATCH (config is not imported before a command runs)
MAX_THREADS = 1024


def record_io(reading: object = None, writing: object = None) -> None:
    """Record the input and output of the running command (see :func:`main`)."""
    IO_RECORD.update({k: str(v) for k, v in (("reading", reading), ("writing", writing)) if v})


def finite(value: float | None) -> float | None:
    """A float option's callback: click's ranges let NaN through (every comparison is False)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"expected a finite number, got {value}")
    return value


# options that several commands share
TrainData = Annotated[
    str, typer.Option("--train", help="Training data: a split name or a dataset file.")
]
DevData = Annotated[str, typer.Option("--dev", help="Dev data for early stopping and thresholds.")]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config (sections model, train, teacher, distill, ...)."),
]
DataConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="A config whose data: section names the splits (for a model "
                 "of your own labels; default: GoEmotions' splits)."),
]  # fmt: skip
ModelPath = Annotated[
    Path,
    typer.Argument(
        help="Any saved model: a folder of `train` (reference or distilled), of `teacher "
        "train` or of the TF-IDF baseline, or a .onnx file of `export`."
    ),
]

DefaultModelArg = Annotated[
    str | None,
    typer.Argument(
        help="A saved model (as for `evaluate`) or `default`. Left out (the first argument "
        "is then a text: not a path, no '/' without spaces), the model packaged with "
        "emobalance is used.",
        show_default=False,
        metavar="MODEL",
    ),
]


def names_model(arg: str) -> bool:
    """Whether a first argument names a model rather than being a text: ``default``, an
    existing path, or something shaped like a path (a ``/`` or ``.onnx`` and no space), so a
    mistyped model path is an error, not a text."""
    from .models.default import is_default

    if is_default(arg) or Path(arg).exists():
        return True
    return (os.sep in arg or arg.endswith(".onnx")) and not any(c.isspace() for c in arg)


def split_model_argument(model: str | None, texts: list[str] | None) -> tuple[str, list[str]]:
    """``(model, texts)`` of a command whose model argument may be left out: a first
    argument that does not :func:`name a model <names_model>` is the first text."""
    texts = list(texts or [])
    if model is None:
        return "default", texts
    if names_model(model):
        return model, texts
    return "default", [model, *texts]


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="SECTION.KEY=VALUE",
        help="Override one config key (repeatable; the value is YAML), e.g. --set "
        "train.lr=0.002 --set model.conv_kernel_sizes=[1,3,5]. Applied after --config; "
        "named flags such as --epochs win.",
    ),
]

# what `predict` (and `thresholds`, `serve`) add to a loaded model: long texts, thresholds
LongTextOption = Annotated[
    str | None,
    typer.Option(
        "--long-text",
        help="truncate (default: the model reads what fits of a text), sentences or windows: "
        "score each sentence / window of a long text and aggregate them.",
    ),
]
AggregateOption = Annotated[
    str | None,
    typer.Option(
        "--aggregate",
        help="With --long-text sentences/windows: max (default) or mean of the pieces' "
        "probabilities, per label.",
    ),
]
WindowOption = Annotated[
    int | None,
    typer.Option(
        "--window",
        min=2,
        max=100_000,
        help="With --long-text windows: words per window, stride half of it (default: 3/4 of "
        "the tokens the model reads, or 48).",
    ),
]
TopKOption = Annotated[
    int | None,
    typer.Option(
        "--top-k", min=1, max=28, help="How many of the most probable labels `top` lists (3)."
    ),
]
ViewOption = Annotated[
    str | None,
    typer.Option(
        "--view",
        help="labels (the 28, default), ekman (6 groups + neutral) or sentiment (positive, "
        "negative, ambiguous, neutral): a group's probability is the max of its labels', it "
        "is predicted when one of them is.",
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        max=1.0,
        callback=finite,
        help="One decision threshold for every label, instead of the dev-tuned ones.",
    ),
]
ThresholdsOption = Annotated[
    Path | None,
    typer.Option(
        "--thresholds",
        help='JSON file {"label": threshold, ...}; the labels it does not name keep the '
        "model's threshold (or --threshold). `emobalance thresholds MODEL --json` writes one.",
    ),
]
MaxCharsOption = Annotated[
    int | None,
    typer.Option(
        "--max-chars",
        min=1,
        max=10**9,
        help="Longest text accepted, in characters (default 1,000,000).",
    ),
]


# the user's own data: flags that mirror the config's `data:` section (--set data.KEY=...)
_OWN = "Own data (the config's data: section)"


def _own_flag(flag: str, help: str, kind: Any = str | None) -> Any:
    return Annotated[kind, typer.Option(flag, help=help, rich_help_panel=_OWN, show_default=False)]


# the command's parameter name -> its flag; commands get them through with_data_flags
_DATA_FLAGS = {
    "data_train": _own_flag("--data-train", "data.train: your labelled training file (CSV, "
                            "TSV, JSONL, Parquet); alone, it is split into train/dev/test."),
    "data_dev": _own_flag("--data-dev", "data.dev: your dev file."),
    "data_test": _own_flag("--data-test", "data.test: your test file."),
    "data_format": _own_flag("--data-format", "data.format: csv, tsv, jsonl or parquet "
                             "(default: by extension; a .txt needs it)."),
    "data_text_column": _own_flag("--text-column", "data.text_column (default: text)."),
    "data_label_column": _own_flag("--label-column", "data.label_column: one column of label "
                                   "names joined by data.label_sep (default ',')."),
    "data_label_columns": _own_flag("--label-columns", "data.label_columns, comma-separated: "
                                    "one 0/1 column per label (the wide layout)."),
    "data_single_label": _own_flag("--single-label/--multi-label", "data.single_label: one "
                                   "label per row.", bool | None),
}  # fmt: skip


def data_sets(
    data_train: str | None = None,
    data_dev: str | None = None,
    data_test: str | None = None,
    data_format: str | None = None,
    data_text_column: str | None = None,
    data_label_column: str | None = None,
    data_label_columns: str | None = None,
    data_single_label: bool | None = None,
) -> list[str]:
    """The ``--set data.KEY=VALUE`` items of the own-data flags that were given.

    Values are written as YAML strings (quoted), so a path or a column name is never read as
    a number, a boolean or a list."""
    import json

    items: list[str] = []
    for key, value in (("train", data_train), ("dev", data_dev), ("test", data_test),
                       ("format", data_format), ("text_column", data_text_column),
                       ("label_column", data_label_column)):  # fmt: skip
        if value is not None:
            items.append(f"data.{key}={json.dumps(value)}")
    if data_label_columns is not None:
        names = [c.strip() for c in data_label_columns.split(",") if c.strip()]
        items.append(f"data.label_columns={json.dumps(names)}")
    if data_single_label is not None:
        items.append(f"data.single_label={'true' if data_single_label else 'false'}")
    return items


def with_data_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the own-data flags (``--data-train`` ... ``--single-label``).

    The command declares a keyword ``own: list[str]`` instead: the ``--set data.KEY=...``
    items of the flags given (:func:`data_sets`), so each command spells the flags once."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for name, p in signature.parameters.items() if name != "own"]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in _DATA_FLAGS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name, None) for name in _DATA_FLAGS}
        return command(*args, own=data_sets(**flags), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def command_config(
    path: Path | None,
    sets: list[str] | None,
    flags: dict[str, object] | None = None,
    *,
    extra: list[str] | None = None,
    preset: str | None = None,
):  # -> EmobalanceConfig
    """The preset, the YAML file over it, the ``--set`` items, then the named flags.

    ``flags`` maps the dotted config key that a named flag mirrors to its value (None: not
    given); ``extra`` holds ready ``--set`` items. The named flags are assigned to the
    validated config last, so they win over ``--set``, and pydantic names a bad value by its
    field (``invalid value for epochs: ...``) as it did before ``--set`` existed.
    """
    from .config import load_config

    cfg = load_config(path, preset=preset, overrides=[*(sets or []), *(extra or [])])
    for dotted, value in (flags or {}).items():
        if value is not None:
            *sections, field = dotted.split(".")
            setattr(functools.reduce(getattr, sections, cfg), field, value)
    return cfg
