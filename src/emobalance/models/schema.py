"""The schemas of a saved model's files: every kind's ``load`` checks its files here.

A model folder (or ONNX file) is input like any other: it may be damaged, edited by hand or
written by another version. Each check below refuses a bad file with one line that names the
file and the field (``m/thresholds.json: 'grief' must be a number in [0, 1], got 7.5``), so
that :func:`~emobalance.models.registry.load_model` gives a working model or a
:class:`~emobalance.errors.ModelError`, never another exception, and never a model that can
print NaN probabilities or whose label can never fire:

- JSON files must parse (UTF-8) and hold an object; ``label_schema`` a valid
  :class:`~emobalance.labels.LabelSchema` and ``labels`` its names in order (a folder of an
  earlier version holds only ``labels``, GoEmotions' 28: :func:`read_label_schema`);
- thresholds: exactly the model's labels, each a finite number in [0, 1] (a user's overrides:
  any of the labels, :func:`parse_thresholds` with ``partial=True``);
- ``calibration.json`` (optional): per-label Platt parameters for exactly the model's labels,
  each finite, slopes positive (:func:`parse_calibration`);
- ``metrics.json``: any content, but a JSON object (``metrics`` an object, ``history`` a list);
- config sections go through their pydantic models (:func:`config_section`);
- weights: the tensor names and shapes the config implies, every value finite and within
  :data:`WEIGHT_LIMIT` (:func:`check_arrays`, :func:`safetensors_shapes`).

This module imports neither torch nor scikit-learn (the ONNX predictor runs without them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, EmobalanceError, ModelError
from ..labels import GOEMOTIONS, LabelSchema

__all__ = [
    "CALIBRATION_FORMAT",
    "CALIBRATION_VERSION",
    "PROBE_TEXTS",
    "WEIGHT_LIMIT",
    "check_arrays",
    "check_int",
    "check_labels",
    "check_number",
    "check_probe",
    "check_shapes",
    "config_section",
    "json_object",
    "label_schema_fields",
    "parse_calibration",
    "parse_threshold_list",
    "parse_thresholds",
    "probe_failed",
    "read_json",
    "read_json_object",
    "read_label_schema",
    "read_metrics",
    "read_vocab",
    "safetensors_shapes",
    "show",
    "vocab_from",
]

WEIGHT_LIMIT = 1e6
"""Largest magnitude a weight may have. Trained weights stay far below it (|w| < 100); a
larger value is a damaged file (a flipped exponent bit), and below it no layer of the models
here can overflow float32 to inf, whose differences would print NaN probabilities."""

PROBE_TEXTS = ("", "Thank you so much, I love it!", "why?? 😡 so ANGRY")
"""Texts a kind's ``load`` scores once, below its public ``predict_proba``, where a damaged
file can only show when it is used (a pickled object, a tokenizer, a graph)."""


def show(value: Any, width: int = 40) -> str:
    """``value`` as short one-line JSON (ASCII) for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = ascii(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _kind(value: Any) -> str:
    """The JSON type of ``value`` in words."""
    if value is None:
        return "null"
    for t, name in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string")):
        if isinstance(value, t):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


# ---------------------------------------------------------------------------- JSON files
def read_json(path: Path) -> Any:
    """A model file's JSON; a one-line ModelError naming the file when it is missing,
    unreadable or not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{path}: missing model file") from None
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge ints, deep nesting
        raise ModelError(f"{path}: not valid JSON ({first_line(exc)})") from None


def json_object(value: Any, origin: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a ModelError naming ``origin``."""
    if not isinstance(value, dict):
        raise ModelError(f"{origin}: expected a JSON object, got {_kind(value)}")
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    """:func:`read_json` of a file that must hold a JSON object."""
    return json_object(read_json(path), str(path))


def check_labels(
    value: Any, origin: str, schema: LabelSchema = GOEMOTIONS, field: str = "labels"
) -> None:
    """Refuse a label list other than ``schema``'s names (in that order)."""
    if value != list(schema.names):
        raise ModelError(
            f"{origin}: '{field}': label list differs from the model's label schema "
            f"{schema.describe()}"
        )


def read_label_schema(
    labels: Any,
    schema: Any,
    origin: str,
    field: str = "labels",
    schema_field: str = "label_schema",
) -> LabelSchema:
    """The :class:`~emobalance.labels.LabelSchema` a saved model speaks.

    Parameters
    ----------
    labels : object
        The saved ``labels`` (the names in order), which every version writes.
    schema : object
        The saved ``label_schema`` (:meth:`LabelSchema.to_dict`), or None for a model saved
        before schemas existed: those spoke GoEmotions only, so their ``labels`` must be
        GoEmotions' 28 (another list there is a damaged or hand-edited file, not a schema).
    origin : str
        The file named in errors.
    field, schema_field : str
        The names of the two fields, for the errors.

    Raises
    ------
    ModelError
        One line naming the file and the field: an invalid schema, or ``labels`` that are
        not the schema's names.
    """
    if schema is None:
        found = GOEMOTIONS
    else:
        try:
            found = LabelSchema.from_dict(schema, f"{origin}: '{schema_field}'")
        except DataError as exc:
            raise ModelError(str(exc)) from None
    check_labels(labels, origin, found, field)
    return found


def label_schema_fields(schema: LabelSchema) -> dict[str, Any]:
    """``{"labels": names, "label_schema": schema}``: what a saved model records of its
    labels (:func:`read_label_schema` reads it back)."""
    return {"labels": list(schema.names), "label_schema": schema.to_dict()}


def check_number(
    value: Any,
    origin: str,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    what: str | None = None,
) -> float:
    """A finite number (not a boolean) in ``[lo, hi]``, as float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value)
    # compare before any float(): a huge JSON int would overflow it
    ok = ok and (lo is None or value >= lo) and (hi is None or value <= hi)
    if not ok:
        if what is None:
            span = f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else ""
            span = span or (f" >= {lo:g}" if lo is not None else "")
            what = f"a number{span}"
        raise ModelError(f"{origin}: {field} must be {what}, got {show(value)}")
    return float(value)


def check_int(value: Any, origin: str, field: str, lo: int = 0, hi: int | None = None) -> int:
    """An integer (not a boolean) in ``[lo, hi]``."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < lo
        or (hi is not None and value > hi)
    ):
        span = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ModelError(f"{origin}: {field} must be an integer {span}, got {show(value)}")
    return value


# ---------------------------------------------------------------------------- thresholds
def _threshold(
    value: Any, origin: str, field: str, error: type[EmobalanceError] = ModelError
) -> float:
    try:
        return check_number(value, origin, field, 0.0, 1.0)
    except ModelError as exc:
        raise error(str(exc)) from None


def parse_thresholds(
    obj: Any,
    origin: str,
    *,
    schema: LabelSchema = GOEMOTIONS,
    partial: bool = False,
    where: Callable[[str], str] | None = None,
    error: type[EmobalanceError] = ModelError,
) -> np.ndarray:
    """``{label: threshold}`` for exactly the labels of ``schema`` as ``float32[len(schema)]``.

    Parameters
    ----------
    obj : object
        The parsed JSON.
    origin : str
        The file (or place) named in errors.
    schema : LabelSchema, default=GOEMOTIONS
        The model's labels.
    partial : bool, default=False
        Accept any subset of the labels (a user's overrides): the labels not named are NaN,
        and a key is looked up as :meth:`~emobalance.labels.LabelSchema.label_id` does (case
        and spaces ignored, ids accepted); each label at most once.
    where : callable, optional
        ``key -> place`` named in the error about that key (e.g. ``"t.json: line 3"``);
        default ``origin``.
    error : EmobalanceError subclass, default=ModelError
        The class raised (a user's overrides are a :class:`~emobalance.errors.ConfigError`).

    Raises
    ------
    ModelError
        (or ``error``) naming the label whose threshold is not a finite number in [0, 1], an
        unknown label or the missing ones.
    """
    if not isinstance(obj, dict):
        raise error(f"{origin}: expected a JSON object {{label: threshold}}, got {_kind(obj)}")
    place = where or (lambda key: origin)
    names = schema.names
    if partial:
        out = np.full(len(names), np.nan, dtype=np.float32)
        for key, value in obj.items():
            j = schema.label_id(key, place(key), what="label", error=error)
            if not np.isnan(out[j]):
                raise error(f"{place(key)}: label {names[j]!r} is given twice")
            out[j] = _threshold(value, place(key), repr(names[j]), error)
        return out
    known = frozenset(names)
    for lab, value in obj.items():
        if lab in known:
            _threshold(value, place(lab), repr(lab), error)
    extra = [k for k in obj if k not in known]
    if extra:
        raise error(
            f"{place(extra[0])}: unknown label {show(extra[0])} (expected the "
            f"{len(names)} labels of {schema.name})"
        )
    missing = [lab for lab in names if lab not in obj]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise error(f"{origin}: no threshold for {', '.join(missing[:3])}{more}")
    return np.array([float(obj[lab]) for lab in names], dtype=np.float32)


def parse_threshold_list(
    obj: Any, origin: str, field: str = "thresholds", schema: LabelSchema = GOEMOTIONS
) -> np.ndarray:
    """A list of ``len(schema)`` thresholds in the schema's order (the ONNX metadata's form)."""
    n_labels = len(schema)
    if not isinstance(obj, list) or len(obj) != n_labels:
        n = f" of {len(obj)}" if isinstance(obj, list) else ""
        raise ModelError(
            f"{origin}: {field} must be a list of {n_labels} numbers, got {_kind(obj)}{n}"
        )
    for i, value in enumerate(obj):
        _threshold(value, origin, f"{field}[{i}] ({schema.names[i]!r})")
    return np.array([float(v) for v in obj], dtype=np.float32)


# ---------------------------------------------------------------------------- calibration
CALIBRATION_FORMAT = "emobalance-calibration"
CALIBRATION_VERSION = 1
CALIBRATION_LIMIT = 1e4
"""Largest slope or intercept magnitude a stored calibration may hold (fits stay under 1e3)."""


def parse_calibration(
    obj: Any, origin: str, schema: LabelSchema = GOEMOTIONS
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``calibration.json``: per-label Platt parameters ``(a, b)`` and the fit's ``info``.

    The object holds ``format`` (:data:`CALIBRATION_FORMAT`), ``version`` (1),
    ``method`` (``"platt"``), ``params`` (``{label: {"a": slope, "b": intercept}}`` for
    exactly the labels of ``schema``; ``0 < a <= 1e4``, ``|b| <= 1e4``) and optionally ``info`` (an
    object).

    Raises
    ------
    ModelError
        Naming the file and the field or label at fault.
    """
    d = json_object(obj, origin)
    if d.get("format") != CALIBRATION_FORMAT:
        raise ModelError(
            f"{origin}: 'format' must be {CALIBRATION_FORMAT!r}, got {show(d.get('format'))}"
        )
    check_int(d.get("version"), origin, "'version'", lo=1, hi=CALIBRATION_VERSION)
    if d.get("method") != "platt":
        raise ModelError(f"{origin}: 'method' must be \"platt\", got {show(d.get('method'))}")
    params = json_object(d.get("params"), f"{origin}: 'params'")
    known = frozenset(schema.names)
    extra = [k for k in params if k not in known]
    if extra:
        raise ModelError(f"{origin}: 'params': unknown label {show(extra[0])}")
    missing = [lab for lab in schema.names if lab not in params]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ModelError(f"{origin}: 'params': no entry for {', '.join(missing[:3])}{more}")
    a, b = np.empty(len(schema)), np.empty(len(schema))
    for j, lab in enumerate(schema.names):
        p = json_object(params[lab], f"{origin}: 'params'.{lab}")
        a[j] = check_number(p.get("a"), origin, f"'params'.{lab}.a",
                            what=f"a number in (0, {CALIBRATION_LIMIT:g}]")  # fmt: skip
        if not 0 < a[j] <= CALIBRATION_LIMIT:
            raise ModelError(f"{origin}: 'params'.{lab}.a must be a number in "
                             f"(0, {CALIBRATION_LIMIT:g}], got {show(p.get('a'))}")  # fmt: skip
        b[j] = check_number(p.get("b"), origin, f"'params'.{lab}.b",
                            -CALIBRATION_LIMIT, CALIBRATION_LIMIT)  # fmt: skip
    info = d.get("info", {})
    json_object(info, f"{origin}: 'info'")
    return a, b, dict(info)


# ---------------------------------------------------------------------------- metrics
def read_metrics(path: Path, required: bool = True) -> dict[str, Any]:
    """``metrics.json``: any content, but a JSON object whose ``metrics`` (when present) is an
    object and ``history`` a list; ``{}`` for a missing optional file."""
    if not required and not Path(path).exists():
        return {}
    m = read_json_object(path)
    for key, kind, name in (("metrics", dict, "an object"), ("history", list, "a list")):
        if key in m and not isinstance(m[key], kind):
            raise ModelError(f"{path}: '{key}' must be {name}, got {_kind(m[key])}")
    if m.get("dev") is not None and not isinstance(m["dev"], dict):
        raise ModelError(f"{path}: 'dev' must be an object, got {_kind(m['dev'])}")
    return m


# ---------------------------------------------------------------------------- config sections
TRAINING_ONLY = frozenset(
    {"seed", "epochs", "patience", "batch_size", "lr", "head_lr", "weight_decay", "grad_clip",
     "pos_weight_cap", "focal_gamma", "asl_gamma_neg", "asl_gamma_pos"}
)  # fmt: skip
"""Config fields a saved model used only while it trained: :func:`config_section` keeps a
saved value beyond the bounds issue 14 added (their upper bounds, the seed's range), as older
versions allowed it; the bounds older versions had still hold."""
_NEW_BOUNDS = frozenset({(f, "less_than_equal") for f in TRAINING_ONLY}) | {
    ("seed", "greater_than_equal")
}


def config_section(value: Any, model: type, origin: str, field: str, **override: Any) -> Any:
    """A config section (``model``, ``train``...) validated by its pydantic ``model``.

    ``override`` replaces keys before validation (e.g. the device a model is loaded on).
    """
    from pydantic import ValidationError

    from ..config import validate

    section = dict(json_object(value, f"{origin}: '{field}'"))
    section.update(override)
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        # a value out of the range of a training-only field (a negative seed, a patience of
        # 10**6) was valid for the version that saved the folder: keep it, it never runs here
        errors = exc.errors(include_url=False)
        kept = {
            e["loc"][0]: e["input"]
            for e in errors
            if len(e["loc"]) == 1 and (e["loc"][0], e["type"]) in _NEW_BOUNDS
        }
        # without them: the section as it loads, or the errors that remain (named below)
        section = {k: v for k, v in section.items() if k not in kept}
        if len(kept) == len(errors):
            try:
                rest = model.model_validate(section)
            except ValidationError:
                pass
            else:
                return model.model_construct(**{**dict(rest), **kept})
    except RecursionError:
        pass  # validate below names it
    try:
        return validate(model, section, f"{origin}: '{field}'")
    except EmobalanceError as exc:
        raise ModelError(" ".join(str(exc).split())) from None


# ---------------------------------------------------------------------------- weights
def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """``{tensor name: shape}`` from a safetensors header, without reading the tensors.

    Raises
    ------
    ModelError
        If the file is missing or its header is not a valid safetensors header (a truncated
        or damaged file).
    """
    from safetensors import safe_open

    if not Path(path).is_file():
        raise ModelError(f"{path}: missing model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            return {k: tuple(int(d) for d in f.get_slice(k).get_shape()) for k in names}
    except Exception as exc:  # SafetensorError, or whatever a damaged header makes it raise
        raise ModelError(f"{path}: not a readable safetensors file ({first_line(exc)})") from None


def check_shapes(
    got: Mapping[str, tuple[int, ...]],
    expected: Mapping[str, tuple[int, ...]],
    origin: str,
    source: str = "config.json",
) -> None:
    """The tensors named and shaped as ``expected`` (what ``source`` implies)."""
    for name in expected:
        if name not in got:
            raise ModelError(f"{origin}: no tensor {name!r} (which {source} implies)")
    for name, shape in got.items():
        if name not in expected:
            raise ModelError(f"{origin}: unexpected tensor {name!r} ({source} implies none)")
        if tuple(shape) != tuple(expected[name]):
            raise ModelError(
                f"{origin}: tensor {name!r} has shape {list(shape)}, "
                f"{source} implies {list(expected[name])}"
            )


def check_probe(
    scores: Any, origin: str, logits: bool = False, schema: LabelSchema = GOEMOTIONS
) -> None:
    """Scores of :data:`PROBE_TEXTS`: shape ``(3, len(schema))``, finite (probabilities in
    [0, 1])."""
    a = np.asarray(scores)
    if a.shape != (len(PROBE_TEXTS), len(schema)):
        raise ModelError(f"{origin}: the model scores probe texts with shape {list(a.shape)}")
    if not np.isfinite(a).all() or (not logits and ((a < 0) | (a > 1)).any()):
        raise ModelError(f"{origin}: the model gives non-finite or out-of-range scores")


def probe_failed(exc: BaseException, origin: str) -> ModelError:
    """The ModelError of a model that raised on :data:`PROBE_TEXTS`."""
    return ModelError(f"{origin}: the model fails on a probe text ({first_line(exc)})")


def check_arrays(arrays: Mapping[str, Any], origin: str, limit: float = WEIGHT_LIMIT) -> None:
    """Every floating-point array finite and within ``limit`` in magnitude.

    ``arrays`` maps names to anything :func:`numpy.asarray` takes without a copy (numpy
    arrays, CPU torch tensors through ``.numpy()`` by the caller).
    """
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if a.dtype.kind not in "fc" or a.size == 0:
            continue
        if not np.isfinite(a).all():
            raise ModelError(f"{origin}: tensor {name!r} holds non-finite values (NaN or inf)")
        big = float(np.abs(a).max())
        if big > limit:
            raise ModelError(
                f"{origin}: tensor {name!r} holds a value of magnitude {big:.3g} "
                f"(over {limit:g}: damaged weights)"
            )


# ---------------------------------------------------------------------------- vocabulary
def vocab_from(obj: Any, origin: str) -> Any:
    """A :class:`~emobalance.text.Vocab` from its JSON form (``vocab.json``, or the ONNX
    metadata's ``vocab``), every field checked first."""
    from ..text.vocab import FORMAT, VERSION, Vocab

    d = json_object(obj, origin)
    if d.get("format", FORMAT) != FORMAT:
        raise ModelError(f"{origin}: 'format' must be {FORMAT!r}, got {show(d.get('format'))}")
    check_int(d.get("version", VERSION), origin, "'version'", lo=1, hi=VERSION)
    itos = d.get("itos")
    if not isinstance(itos, list) or len(itos) < 2:
        raise ModelError(f"{origin}: 'itos' must be a list of tokens, got {_kind(itos)}")
    for i, tok in enumerate(itos):
        if not isinstance(tok, str):
            raise ModelError(f"{origin}: 'itos'[{i}] must be a string, got {show(tok)}")
    counts = d.get("counts")
    if counts is not None:
        if not isinstance(counts, list) or len(counts) != len(itos):
            raise ModelError(f"{origin}: 'counts' must be a list of {len(itos)} integers")
        for i, c in enumerate(counts):
            check_int(c, origin, f"'counts'[{i}]")
    try:
        return Vocab.from_dict(d, origin=origin)
    except EmobalanceError as exc:
        raise ModelError(str(exc)) from None


def read_vocab(path: Path) -> Any:
    """``vocab.json`` of a model folder (:func:`vocab_from`)."""
    return vocab_from(read_json(path), str(path))
