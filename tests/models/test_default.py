"""The default model packaged with emobalance: it loads with no data, cache or network, is
checked against its sha256, and a damaged copy is a one-line error."""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")

import emobalance
from emobalance.errors import ModelError
from emobalance.models.default import (
    CARD,
    DEFAULT_DIR,
    MANIFEST,
    MODEL_FILE,
    is_default,
    load_default,
    read_manifest,
    verify,
)
from emobalance.models.onnx import OnnxEmotionClassifier
from emobalance.models.registry import find_kind, load_model, model_id

SAD = "I miss her so much"


def test_the_packaged_model_is_in_the_package_and_matches_its_manifest():
    m = read_manifest()
    assert verify() == DEFAULT_DIR / MODEL_FILE
    size = (DEFAULT_DIR / MODEL_FILE).stat().st_size
    assert m["bytes"] == size <= 10e6
    assert (DEFAULT_DIR / CARD).read_text(encoding="utf-8").count("| ") > 28  # per-label rows
    # the shipped figures are within the bar of the PyTorch student it was exported from
    assert m["pytorch_metrics"]["test"]["macro_f1"] - m["metrics"]["test"]["macro_f1"] <= 0.005


def test_load_returns_the_packaged_model_and_it_classifies():
    clf = emobalance.load()
    assert isinstance(clf, OnnxEmotionClassifier)
    labels = clf.predict([SAD, "thank you so much, this helped!"])
    assert "sadness" in labels[0]
    assert "gratitude" in labels[1]
    assert clf.explain(SAD)["tokens"]


def test_default_is_a_model_name_wherever_a_path_goes(tmp_path):
    assert is_default(None) and is_default("default") and not is_default("./default")
    assert find_kind("default") == "onnx"
    assert type(load_model("default")) is OnnxEmotionClassifier
    assert model_id("default") == model_id(DEFAULT_DIR / MODEL_FILE)


def _copy(tmp_path):
    d = tmp_path / "default_model"
    shutil.copytree(DEFAULT_DIR, d)
    return d


def test_a_corrupted_model_is_a_one_line_checksum_error(tmp_path):
    d = _copy(tmp_path)
    f = d / MODEL_FILE
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch") as e:
        load_default(d)
    assert "\n" not in str(e.value) and str(f) in str(e.value)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / MANIFEST).unlink(), "no packaged default model"),
        (lambda d: (d / MODEL_FILE).unlink(), "no packaged default model"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "unreadable manifest"),
        (lambda d: (d / MANIFEST).write_text(json.dumps({"file": "x"})), "no sha256"),
    ],
)
def test_a_damaged_folder_is_a_one_line_error(tmp_path, damage, message):
    d = _copy(tmp_path)
    damage(d)
    with pytest.raises(ModelError, match=message) as e:
        load_default(d)
    assert "\n" not in str(e.value)


def test_loading_it_needs_neither_torch_nor_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOBALANCE_")}
    env["EMOBALANCE_CACHE"] = str(tmp_path / "empty-cache")
    code = (
        "import sys, emobalance\n"
        f"print(emobalance.load().predict([{SAD!r}])[0])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "sadness" in out[0]
    assert out[1] == "False"
    assert not (tmp_path / "empty-cache").exists()  # nothing downloaded or cached
