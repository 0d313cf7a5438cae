"""Fuzz of the one model loader (issue 14): damaged copies of valid saved models of every kind.

The property: :func:`~emobalance.models.registry.load_model` gives a model whose thresholds
and probabilities are finite and in [0, 1], or raises an EmobalanceError (ModelError); never
another exception. Each example copies one saved model (``model_kind_paths``) to a fresh
folder and damages one of its files: a JSON value (of a JSON file, or of a JSON value of the
ONNX metadata) replaced by arbitrary JSON, the file truncated, bytes flipped, or the file
deleted. The kinds are weighted by their load cost (a transformer loads ~20x slower).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emobalance.errors import EmobalanceError
from emobalance.models.registry import load_model

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TEXTS = ["thanks so much", "I am furious", "", "the monday report 😂"]
KINDS = ["reference"] * 4 + ["tfidf"] * 3 + ["onnx"] * 3 + ["transformer"]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities included
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in a JSON value (the root included)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


def _damage_json(data, value: Any) -> Any:
    paths = _paths(value)
    path = data.draw(st.sampled_from(paths), label="json position")
    return _replace(value, path, data.draw(JSON, label="new json value"))


def _damage_bytes(data, raw: bytes) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip"]), label="byte damage")
    if how == "truncate" or not raw:
        return raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)), label="keep")]
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(out) - 1), label="offset")
        out[i] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(out)


def _damage_onnx_metadata(data, path: Path) -> None:
    import onnx

    proto = onnx.load(str(path))
    entries = [e for e in proto.metadata_props if e.key.startswith("emobalance.")]
    entry = data.draw(st.sampled_from(entries), label="metadata key")
    try:
        value = json.loads(entry.value)
        entry.value = json.dumps(_damage_json(data, value))
    except ValueError:  # format, quantize: plain strings
        entry.value = data.draw(st.text(max_size=12), label="new metadata string")
    onnx.save(proto, str(path))


def damage(data, src: Path, dst: Path) -> str:
    """Copy the model ``src`` to ``dst`` and damage one of its files; say what was done."""
    if src.is_dir():
        shutil.copytree(src, dst)
        files = sorted(p for p in dst.iterdir() if p.is_file())
    else:
        shutil.copyfile(src, dst)
        files = [dst]
    target = data.draw(st.sampled_from(files), label="file")
    ops = ["bytes", "delete"] + (["json"] if target.suffix in (".json", ".onnx") else [])
    op = data.draw(st.sampled_from(ops), label="operation")
    if op == "delete":
        target.unlink()
    elif op == "json" and target.suffix == ".onnx":
        _damage_onnx_metadata(data, target)
    elif op == "json":
        try:
            value = json.loads(target.read_text(encoding="utf-8"))
        except ValueError:
            value = None
        target.write_text(json.dumps(_damage_json(data, value)), encoding="utf-8")
    else:
        target.write_bytes(_damage_bytes(data, target.read_bytes()))
    return f"{op} {target.name}"


@given(data=st.data())
def test_damaged_model_loads_or_fails_with_a_model_error(model_kind_paths, data):
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    with tempfile.TemporaryDirectory(prefix="fuzz-model-") as tmp:
        src = model_kind_paths[kind]
        path = Path(tmp) / src.name
        what = damage(data, src, path)
        try:
            model = load_model(path)
        except EmobalanceError as exc:
            assert "\n" not in str(exc), (what, str(exc))
            return
        th = model.thresholds_
        assert th.shape == (28,) and np.isfinite(th).all(), what
        assert ((th >= 0) & (th <= 1)).all(), what
        proba = model.predict_proba(TEXTS)
        assert proba.shape == (len(TEXTS), 28), what
        assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1, what
