"""``predict``'s long-text, top-k, view and threshold options, ``emobalance thresholds`` and
``emobalance calibrate`` (cli_model.py), on the tiny models of every kind."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from emobalance.cli import main
from emobalance.labels import EKMAN_LABELS, LABELS, SENTIMENT_LABELS
from emobalance.models.registry import load_model

TEXTS = ["thanks so much", "I am furious", "so happy and glad. the monday report"]


def one_line_error(code, err, start):
    assert code == 2, err
    assert err.startswith(f"error: {start}") and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def ref(model_kind_paths):
    return model_kind_paths["reference"]


@pytest.fixture(scope="module")
def splits(kind_splits):
    return kind_splits


# ------------------------------------------------------------------------- predict
@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer", "onnx"])
def test_default_output_is_what_it_was_to_the_byte(cli, kind, model_kind_paths):
    path = model_kind_paths[kind]
    code, out, err = cli(["predict", path, *TEXTS])
    assert code == 0, err
    clf = load_model(path)
    lines = []  # the formula of the command before the options existed
    for text, row in zip(TEXTS, clf.predict_proba(TEXTS), strict=True):
        labels = [lab for lab, p, t in zip(LABELS, row, clf.thresholds_, strict=True) if p >= t]
        top = sorted(zip(LABELS, row, strict=True), key=lambda kv: -kv[1])[:3]
        lines.append(json.dumps({"text": text, "labels": labels,
                                 "top": {k: round(float(v), 4) for k, v in top}},
                                ensure_ascii=False))  # fmt: skip
    assert out == "\n".join(lines) + "\n"


def test_top_k_and_views(cli, ref):
    clf = load_model(ref)
    code, out, err = cli(["predict", ref, *TEXTS, "--top-k", "5"])
    assert code == 0, err
    for line, rec in zip(out.splitlines(), clf.predict_records(TEXTS, top_k=5), strict=True):
        got = json.loads(line)
        assert list(got["top"]) == [n for n, _ in rec["top"]] and len(got["top"]) == 5
        assert list(got["top"].values()) == sorted(got["top"].values(), reverse=True)
    for view, names in (("ekman", EKMAN_LABELS), ("sentiment", SENTIMENT_LABELS)):
        code, out, err = cli(["predict", ref, *TEXTS, "--view", view, "--top-k", "28"])
        assert code == 0, err
        recs = clf.predict_records(TEXTS, view=view)
        for line, rec in zip(out.splitlines(), recs, strict=True):
            got = json.loads(line)
            assert got["labels"] == rec["labels"] and set(got["labels"]) <= set(names)
            assert sorted(got["top"]) == sorted(names)  # --top-k beyond the view: all groups


def test_thresholds_from_the_command_line_and_a_file(ref, cli, tmp_path):
    code, out, err = cli(["predict", ref, *TEXTS, "--threshold", "0"])
    assert code == 0, err
    assert all(json.loads(line)["labels"] == list(LABELS) for line in out.splitlines())
    f = tmp_path / "t.json"
    f.write_text('{"grief": 0.0}')
    code, out, err = cli(["predict", ref, *TEXTS, "--thresholds", f])
    assert code == 0, err
    assert all("grief" in json.loads(line)["labels"] for line in out.splitlines())
    # --threshold first, the file's labels over it
    code, out, err = cli(["predict", ref, *TEXTS, "--threshold", "1", "--thresholds", f])
    assert [json.loads(line)["labels"] for line in out.splitlines()] == [["grief"]] * 3


def test_long_text_options(cli, ref):
    clf = load_model(ref)
    text = "thanks so much. I am furious! " * 3
    for args, kw in (
        (["--long-text", "sentences"], {"long_text": "sentences"}),
        (["--long-text", "sentences", "--aggregate", "mean"],
         {"long_text": "sentences", "aggregate": "mean"}),
        (["--long-text", "windows", "--window", "4"], {"long_text": "windows", "window": 4}),
    ):  # fmt: skip
        code, out, err = cli(["predict", ref, text, *args])
        assert code == 0, err
        rec = clf.predict_records([text], top_k=3, **kw)[0]
        got = json.loads(out)
        assert got["labels"] == rec["labels"]
        assert got["top"] == {n: round(p, 4) for n, p in rec["top"]}


@pytest.mark.parametrize(
    "args, start",
    [
        (["x", "--long-text", "pages"], "long_text: expected truncate, sentences or windows"),
        (["x", "--aggregate", "mean"], "--aggregate needs --long-text sentences or windows"),
        (["x", "--long-text", "sentences", "--window", "5"], "--window needs --long-text windows"),
        (["x", "--view", "plutchik"], "view: expected labels, ekman or sentiment"),
        (["x", "--threshold", "1.5"], "invalid value for '--threshold'"),
        (["x", "--thresholds", "missing.json"], "missing.json: no such thresholds file"),
        (["--input", "in.txt", "--output", "o.csv", "--top-k", "2"],
         "--top-k and --view are for texts given as arguments"),
        (["--input", "in.txt", "--output", "o.csv", "--engine", "ray", "--threshold", "0.3"],
         "--threshold: not with --engine ray yet"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line(ref, cli, tmp_path, monkeypatch, args, start):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("thanks\n")
    code, _, err = cli(["predict", ref, *args])
    one_line_error(code, err, start)


def test_a_bad_thresholds_file_names_the_file_line_and_label(ref, cli, tmp_path):
    f = tmp_path / "t.json"
    f.write_text('{\n  "grief": 0.2,\n  "griefx": 0.3\n}\n')
    code, _, err = cli(["predict", ref, "x", "--thresholds", f])
    one_line_error(code, err, f"{f}: line 3: unknown label 'griefx'")
    f.write_text('{"joy": 2}')
    code, _, err = cli(["predict", ref, "x", "--thresholds", f])
    one_line_error(code, err, f"{f}: line 1: 'joy' must be a number in [0, 1], got 2")
    f.write_text('{"joy": 0.2')
    code, _, err = cli(["predict", ref, "x", "--thresholds", f])
    one_line_error(code, err, f"{f}: line 1: not valid JSON")


def test_file_scoring_takes_the_options_and_names_a_text_over_the_limit(ref, cli, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("thanks so much. I am furious!\nso happy\n")
    out = tmp_path / "o.csv"
    code, _, err = cli(["predict", ref, "--input", src, "--output", out, "--threshold", "0",
                        "--long-text", "sentences"])  # fmt: skip
    assert code == 0, err
    df = pd.read_csv(out)
    assert df["labels"].str.split(",").map(len).tolist() == [28, 28]
    clf = load_model(ref)
    want = clf.predict_proba(["thanks so much. I am furious!"], long_text="sentences")[0]
    np.testing.assert_allclose(df.iloc[0][[f"p_{lab}" for lab in LABELS]].to_numpy(float),
                               want, atol=1e-6)  # fmt: skip
    src.write_text("short\n" + "x" * 40 + "\n")
    code, _, err = cli(["predict", ref, "--input", src, "--output", tmp_path / "p.csv",
                        "--max-chars", "20"])  # fmt: skip
    one_line_error(code, err, f"{src}: row 1 (0-based) has 40 characters, over the limit of 20")
    code, _, err = cli(["predict", ref, "y" * 30, "--max-chars", "20"])
    one_line_error(code, err, "text 0 has 30 characters, over the limit of 20")


def test_resume_ids_carry_what_changes_the_outputs(ref):
    from emobalance.cli_model import ModelOptions

    clf = load_model(ref)
    ids = ["reference:abc", "torch:old"]
    assert ModelOptions().resume_ids(clf, ids) == ids
    assert ModelOptions(max_chars=5).resume_ids(clf, ids) == ids  # refuses, changes nothing
    opts = ModelOptions(threshold=0.3, long_text="windows", window=8)
    new = opts.apply(clf)
    (got,) = opts.resume_ids(new, ids)
    assert got.startswith("reference:abc+thresholds=") and got.endswith("+long_text=windows/max/8")
    other = ModelOptions(threshold=0.4).apply(clf)
    assert ModelOptions(threshold=0.4).resume_ids(other, ids) != [got]


def test_explain_takes_the_threshold_options(cli, ref):
    code, out, err = cli(["explain", ref, "so happy", "--json", "--threshold", "0"])
    assert code == 0, err
    assert json.loads(out)["labels"] == list(LABELS)


# ---------------------------------------------------------------------- thresholds
def test_thresholds_command(ref, cli, tmp_path):
    code, out, err = cli(["thresholds", ref, "--json"])
    assert code == 0, err
    assert json.loads(out) == json.loads((ref / "thresholds.json").read_text())
    f = tmp_path / "t.json"
    f.write_text('{"grief": 0.05}')
    code, out, err = cli(
        ["thresholds", ref, "--json", "--threshold", "0.3", "--thresholds", f]
    )
    got = json.loads(out)
    assert got["grief"] == pytest.approx(0.05)
    assert {k for k, v in got.items() if v != pytest.approx(0.3)} == {"grief"}
    # what --json prints, --thresholds reads back
    (tmp_path / "all.json").write_text(out)
    code, out2, _ = cli(
        ["thresholds", ref, "--json", "--thresholds", tmp_path / "all.json"]
    )
    assert json.loads(out2) == got
    code, out, err = cli(["thresholds", ref])
    assert code == 0 and "grief" in out and "calibration: none" in out, err
    code, _, err = cli(["thresholds", ref, "--thresholds", tmp_path / "nope.json"])
    one_line_error(code, err, f"{tmp_path / 'nope.json'}: no such thresholds file")


# ----------------------------------------------------------------------- calibrate
@pytest.mark.parametrize("kind", ["reference", "tfidf", "onnx"])
def test_calibrate_command(kind, model_kind_paths, splits, cli, tmp_path):
    dev, test = splits
    src = model_kind_paths[kind]
    out = tmp_path / ("cal.onnx" if kind == "onnx" else "cal")
    code, text, err = cli(["calibrate", src, "--dev", dev, "--test", test, "--out", out])
    assert code == 0, err
    assert "ECE" in text and "(measured only)" in text and f"saved {out}" in text
    back = load_model(out)
    assert back.calibration_ is not None and load_model(src).calibration_ is None
    code, text, err = cli(["thresholds", out])
    assert "calibration: platt per label, fitted on 64 dev rows" in text, err
    code, text, err = cli(["predict", out, "thanks so much"])
    assert code == 0, err
    code, text, err = cli(["explain", out, "thanks so much", "--json"])
    assert code == 0, err
    ex = json.loads(text)
    probe = back.predict_proba(["thanks so much"])[0]
    np.testing.assert_allclose([ex["probabilities"][lab] for lab in LABELS], probe, atol=1e-5)


def test_calibrate_json_in_place_and_without_test(model_kind_paths, splits, cli, tmp_path):
    dev, _ = splits
    d = tmp_path / "m"
    shutil.copytree(model_kind_paths["tfidf"], d)
    code, text, err = cli(["calibrate", d, "--dev", dev, "--test", "none", "--json"])
    assert code == 0, err
    rep = json.loads(text)
    assert rep["ece_dev_after"] < rep["ece_dev_before"] and rep["ece_test_after"] is None
    assert rep["saved"] == str(d) and (d / "calibration.json").is_file()
    code, _, err = cli(["calibrate", d, "--dev", tmp_path / "nope.jsonl"])
    assert code == 2 and err.count("\n") == 1 and "nope.jsonl" in err, err


def test_serve_takes_the_threshold_options(ref, monkeypatch, tmp_path):
    import torch
    import uvicorn

    pytest.importorskip("fastapi")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(ref), "--port", "0", "--threshold", "0.25"])
    assert exc.value.code == 0
    assert (seen["app"].state.classifier.thresholds_ == np.float32(0.25)).all()
    from fastapi.testclient import TestClient

    with TestClient(seen["app"]) as client:
        assert client.get("/healthz").json()["model"] == ref.name
        assert set(client.get("/v1/labels").json()["thresholds"].values()) == {0.25}
