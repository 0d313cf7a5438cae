"""``predict``, ``explain`` and ``serve`` with no model argument use the packaged model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from emobalance.cli_options import split_model_argument

SAD = "I miss her so much"


def test_a_first_argument_that_is_no_path_is_a_text(tmp_path):
    assert split_model_argument(None, None) == ("default", [])
    assert split_model_argument("default", ["a"]) == ("default", ["a"])
    assert split_model_argument(SAD, ["b"]) == ("default", [SAD, "b"])
    assert split_model_argument(str(tmp_path), ["b"]) == (str(tmp_path), ["b"])
    # shaped like a path: a mistyped model is refused as a model, not read as a text
    assert split_model_argument("runs/typo/model", ["b"]) == ("runs/typo/model", ["b"])
    assert split_model_argument("m.onnx", []) == ("m.onnx", [])
    assert split_model_argument("this and/or that", []) == ("default", ["this and/or that"])


def test_predict_with_no_model_argument(cli):
    code, out, err = cli(["predict", SAD, "thanks, that helped a lot"])
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == [SAD, "thanks, that helped a lot"]
    assert "sadness" in rows[0]["labels"] and "gratitude" in rows[1]["labels"]
    code, named, _ = cli(["predict", "default", SAD])
    assert code == 0 and named.splitlines()[0] == out.splitlines()[0]


def test_predict_a_file_with_no_model_argument(cli, tmp_path):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": [SAD, "so happy today"]}).to_csv(src, index=False)
    code, _, err = cli(["predict", "--input", src, "--output", dst])
    assert code == 0, err
    df = pd.read_csv(dst)
    assert len(df) == 2 and "sadness" in df["labels"][0]


def test_explain_with_no_model_argument(cli):
    code, out, err = cli(["explain", SAD, "--json"])
    assert code == 0, err
    ex = json.loads(out)
    assert ex["method"] == "attention" and "sadness" in ex["labels"]
    weights = dict(zip(ex["tokens"], ex["attention"], strict=True))
    assert max(weights, key=weights.get) == "miss"


def test_explain_needs_a_text(cli, tmp_path):
    code, _, err = cli(["explain", tmp_path])
    assert code == 2 and err.startswith("error: give the text to explain") and err.count("\n") == 1
