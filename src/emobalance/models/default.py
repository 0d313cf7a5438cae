"""The default model that ships inside the package (``emobalance/default_model/``).

The folder holds ``model.onnx`` (the distilled reference network, int8, with its vocabulary,
thresholds and calibration inside), ``MODEL_CARD.md`` and ``manifest.json``, which records the
file's sha256 (and, in folders written since label schemas, its ``label_schema``: the
packaged default model speaks GoEmotions; a user's ``emobalance package --out`` folder
may speak its own labels). :func:`load_default` checks that sha256 before onnxruntime reads
a byte of the graph, so a corrupted or swapped file is a one-line error, never a wrong prediction.
:func:`emobalance.packaging.package_model` writes the folder (``make model``).

Loading needs only ``numpy`` and ``onnxruntime``: no torch, no data, no network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import EmobalanceError, ModelError
from ..io import sha256_file

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "default_model"
"""Where the packaged model lives (inside the installed package)."""
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"
DEFAULT_NAME = "default"
"""The word that names the packaged model wherever a model path is expected."""
REBUILD_HINT = "reinstall emobalance, or rebuild it with `make model`"


def read_manifest(folder: str | os.PathLike[str] = DEFAULT_DIR) -> dict[str, Any]:
    """The packaged model's manifest (sha256, size, where it came from, its metrics).

    Raises
    ------
    ModelError
        If the folder has no model or its manifest is unreadable (one line naming the file).
    """
    d = Path(folder)
    f = d / MANIFEST
    if not (d / MODEL_FILE).is_file() or not f.is_file():
        raise ModelError(
            f"{d}: no packaged default model here ({MODEL_FILE} and {MANIFEST}); {REBUILD_HINT}"
        )
    try:
        m = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{f}: unreadable manifest ({e}); {REBUILD_HINT}") from None
    if not isinstance(m, dict) or not isinstance(m.get("sha256"), str):
        raise ModelError(f"{f}: the manifest has no sha256 entry; {REBUILD_HINT}")
    return m


def verify(folder: str | os.PathLike[str] = DEFAULT_DIR) -> Path:
    """Check the packaged model against its manifest; return the model file.

    Raises
    ------
    ModelError
        If the file is missing or its sha256 differs from the manifest's.
    """
    d = Path(folder)
    expected = read_manifest(d)["sha256"]
    path = d / MODEL_FILE
    got = sha256_file(path)
    if got != expected:
        raise ModelError(
            f"{path}: checksum mismatch (sha256 {got[:16]}..., the manifest says "
            f"{expected[:16]}...): the packaged model is corrupted; {REBUILD_HINT}"
        )
    return path


def is_default(spec: object) -> bool:
    """Whether a model argument names the packaged model (``None``, ``default``)."""
    return spec is None or spec == DEFAULT_NAME


def model_path(spec: str | os.PathLike[str]) -> Path:
    """``spec`` as a path, where ``default`` is the packaged model's file (checked)."""
    return verify() if is_default(spec) else Path(spec)


def load_default(
    folder: str | os.PathLike[str] = DEFAULT_DIR, num_threads: int | None = None
) -> Any:
    """The packaged default model, checked against its sha256.

    Parameters
    ----------
    folder : path, optional
        The packaged-model folder (default: the one inside the installed package).
    num_threads : int, optional
        CPU threads of the onnxruntime session.

    Returns
    -------
    OnnxEmotionClassifier

    Raises
    ------
    ModelError
        If the model is missing or corrupted (checksum mismatch), or its manifest's
        ``label_schema`` (written since models of their own labels are packaged) is not
        the file's.
    """
    from .onnx import OnnxEmotionClassifier

    model = OnnxEmotionClassifier.load(verify(folder), num_threads=num_threads)
    recorded = read_manifest(folder).get("label_schema")
    if recorded is not None:
        from ..labels import LabelSchema

        origin = f"{Path(folder) / MANIFEST}: 'label_schema'"
        try:
            schema = LabelSchema.from_dict(recorded, origin)
        except EmobalanceError as exc:
            raise ModelError(str(exc)) from None
        schema.check_same(model.labels_, "the manifest", f"{MODEL_FILE}", error=ModelError)
    return model
