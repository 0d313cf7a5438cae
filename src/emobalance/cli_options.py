"""What the command line's modules share: the record of the running command's input and
output (named in one-line errors of OSErrors that carry no file name), number checks and the
option types several commands take."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

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
