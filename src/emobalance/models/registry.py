"""The one place that recognises a saved model: a registry of named model kinds.

Each kind names its class (imported on first use, so loading an ONNX file never imports
torch), how to recognise its folder or file, and what that folder holds (for the error on a
folder nobody recognises). :func:`load_model` tries the kinds in registration order::

    transformer  a folder with emobalance_transformer.json (TransformerClassifier)
    reference    a folder whose config.json says architecture cnn_bilstm_attention
                 (EmotionClassifier; a distilled student is one too)
    tfidf        a folder whose config.json says architecture tfidf_logreg (TfidfBaseline)
    onnx         a .onnx file of ``emobalance export`` (OnnxEmotionClassifier)

A new kind registers in one place, here or from its own module::

    register_kind("mykind", "mypackage.models:MyModel", recognise=..., expects="...")

:func:`model_id` identifies a saved model's weights (``predict --resume`` and the Ray engine
record it); :func:`model_files` lists the files that make it (the Ray engine ships them).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from .default import model_path

if TYPE_CHECKING:
    from .base import EmotionModel

__all__ = [
    "ModelKind",
    "find_kind",
    "get_kind",
    "kinds",
    "legacy_model_ids",
    "load_model",
    "model_files",
    "model_id",
    "register_kind",
]


@dataclass(frozen=True)
class ModelKind:
    """A named kind of model in the registry.

    Attributes
    ----------
    name : str
        The kind's name (the class's ``kind`` attribute).
    target : str
        ``"module:Class"`` of its :class:`~emobalance.models.base.EmotionModel` subclass.
    recognise : callable
        ``path -> bool``: whether a folder or file is a model of this kind. It must be cheap
        and import nothing heavy (it runs on every :func:`load_model`).
    expects : str
        What a folder of this kind holds, for the error on an unrecognised folder.
    options : tuple of str
        Which options of :func:`load_model` (``device``, ``num_threads``) its ``load`` takes.
    """

    name: str
    target: str
    recognise: Callable[[Path], bool]
    expects: str
    options: tuple[str, ...] = ()

    def model_class(self) -> type[EmotionModel]:
        """The class, imported now."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


_KINDS: dict[str, ModelKind] = {}


def register_kind(
    name: str,
    target: str,
    *,
    recognise: Callable[[Path], bool],
    expects: str,
    options: tuple[str, ...] = (),
) -> ModelKind:
    """Add (or replace) a model kind; kinds are tried in registration order.

    Parameters
    ----------
    name : str
        The kind's name; :func:`load_model` ``kind=`` selects it.
    target : str
        ``"module:Class"``, imported when a model of this kind is loaded.
    recognise : callable
        ``path -> bool`` (cheap: file names and small JSON files only).
    expects : str
        What its folder holds, e.g. ``"model.joblib (tfidf)"``.
    options : tuple of str
        The options of :func:`load_model` its ``load`` classmethod accepts.
    """
    kind = ModelKind(name, target, recognise, expects, tuple(options))
    _KINDS[name] = kind
    return kind


def kinds() -> list[str]:
    """The registered kind names, in the order :func:`load_model` tries them."""
    return list(_KINDS)


def get_kind(name: str) -> ModelKind:
    """The registered kind ``name``; a ModelError lists the known ones otherwise."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ModelError(f"unknown model kind {name!r}; known kinds: {', '.join(_KINDS)}") from None


def find_kind(path: str | os.PathLike[str]) -> str | None:
    """The name of the kind the folder or file at ``path`` is, or ``None``."""
    p = model_path(path)
    for kind in _KINDS.values():
        if kind.recognise(p):
            return kind.name
    return None


def _resolve(path: Path, kind: str | None) -> ModelKind:
    if kind is not None:
        return get_kind(kind)
    found = find_kind(path)
    if found is not None:
        return _KINDS[found]
    if not path.exists():
        raise ModelError(f"{path}: model directory not found")
    exp = [k.expects for k in _KINDS.values()]
    expected = ", ".join(exp[:-1]) + (" or " if len(exp) > 1 else "") + exp[-1]
    raise ModelError(f"{path}: not a model folder emobalance knows: expected {expected}")


def load_model(
    path: str | os.PathLike[str],
    device: str | None = None,
    *,
    kind: str | None = None,
    num_threads: int | None = None,
) -> EmotionModel:
    """Load any saved model: the registry recognises its kind.

    Parameters
    ----------
    path : path
        A model folder (reference, distilled, transformer, TF-IDF), a ``.onnx`` file, or
        ``"default"``: the model packaged with emobalance (checked against its sha256).
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (a GPU when there is one), for the kinds
        that run on torch. Default: the kind's own (CPU for the reference network, ``auto``
        for a transformer). TF-IDF and ONNX always run on the CPU.
    kind : str, optional
        Skip recognition and load ``path`` as this kind (``"onnx"`` on a reference folder
        loads the ``model.onnx`` exported into it).
    num_threads : int, optional
        CPU threads of an ONNX session (default: the cores this process may use).

    Returns
    -------
    EmotionModel

    Raises
    ------
    ModelError
        If ``path`` does not exist, is of no registered kind (the message names what each
        kind expects to find), or its files are invalid (the message names the file).
    """
    p = model_path(path)
    k = _resolve(p, kind)
    given = {"device": device, "num_threads": num_threads}
    options = {o: v for o, v in given.items() if o in k.options and v is not None}
    return k.model_class().load(p, **options)


def model_files(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, Path]:
    """The files that make the saved model at ``path``: ``{name inside the model: file}``.

    Copying them into an empty folder under these names (one ``.onnx`` file is named
    ``model.onnx``) gives a folder :func:`load_model` loads as the same kind.
    """
    p = model_path(path)
    return _resolve(p, kind).model_class().saved_files(p)


def model_id(path: str | os.PathLike[str], kind: str | None = None) -> str:
    """``"<kind>:<sha256>"`` of the model's files (names and contents): the same weights,
    thresholds and vocabulary give the same id wherever the files are."""
    p = model_path(path)
    k = _resolve(p, kind)
    h = hashlib.sha256()
    for name, file in sorted(k.model_class().saved_files(p).items()):
        h.update(name.encode() + b"\0")
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return f"{k.name}:{h.hexdigest()}"


def legacy_model_ids(path: str | os.PathLike[str], kind: str | None = None) -> list[str]:
    """The ids that ``predict --resume`` recorded for this model before :func:`model_id`
    existed (``torch:<sha of weights>:<sha of thresholds>`` of a reference folder,
    ``onnx:<sha of the file>``), so that a run interrupted across the upgrade resumes."""
    from ..io import sha256_file

    p = model_path(path)
    name = _resolve(p, kind).name
    if name == "reference":
        return ["torch:" + ":".join(sha256_file(p / f) for f in _LEGACY_TORCH_ID_FILES)]
    if name == "onnx":  # the file, or the model.onnx of a folder (as OnnxEmotionClassifier)
        return [f"onnx:{sha256_file(p / 'model.onnx' if p.is_dir() else p)}"]
    return []


_LEGACY_TORCH_ID_FILES = ("model.safetensors", "thresholds.json")


# --------------------------------------------------------------------------- built-in kinds
_NO_CONFIG = object()


def _architecture(folder: Path) -> object:
    """``architecture`` in the folder's ``config.json``: a str, ``None`` when the file holds
    a mapping without it (e.g. a Hugging Face folder's config), or ``_NO_CONFIG`` when there is
    no readable mapping (a missing or damaged file)."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _NO_CONFIG
    return cfg.get("architecture") if isinstance(cfg, dict) else _NO_CONFIG


TRANSFORMER_MARKER = "emobalance_transformer.json"
"""``transformer.MARKER``, spelled out here: importing transformer.py would import torch."""


def _is_transformer(p: Path) -> bool:
    return (p / TRANSFORMER_MARKER).is_file()


def _is_reference(p: Path) -> bool:
    if not p.is_dir():
        return False
    arch = _architecture(p)
    if arch is not _NO_CONFIG:  # a readable config decides (a Hugging Face one is not ours)
        return arch == "cnn_bilstm_attention"
    # a damaged folder still goes to EmotionClassifier.load, which names the bad file
    return (p / "model.safetensors").is_file() or (p / "vocab.json").is_file()


def _is_tfidf(p: Path) -> bool:
    if not p.is_dir():
        return False
    arch = _architecture(p)
    return arch == "tfidf_logreg" if arch is not _NO_CONFIG else (p / "model.joblib").is_file()


def _is_onnx(p: Path) -> bool:
    if p.is_dir():  # a packaged folder (`emobalance package --out`): manifest + model.onnx
        return (p / "manifest.json").is_file() and (p / "model.onnx").is_file()
    return p.suffix.lower() == ".onnx"


register_kind(
    "transformer",
    "emobalance.models.transformer:TransformerClassifier",
    recognise=_is_transformer,
    expects=f"{TRANSFORMER_MARKER} (transformer)",
    options=("device",),
)
register_kind(
    "reference",
    "emobalance.models.reference:EmotionClassifier",
    recognise=_is_reference,
    expects="config.json with architecture cnn_bilstm_attention (reference or distilled)",
    options=("device",),
)
register_kind(
    "tfidf",
    "emobalance.models.baselines:TfidfBaseline",
    recognise=_is_tfidf,
    expects="config.json with architecture tfidf_logreg (tfidf)",
)
register_kind(
    "onnx",
    "emobalance.models.onnx:OnnxEmotionClassifier",
    recognise=_is_onnx,
    expects="a .onnx file of `emobalance export`, or a folder of `emobalance package` (onnx)",
    options=("num_threads",),
)
