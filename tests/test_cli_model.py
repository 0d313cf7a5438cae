"""The model commands of the CLI on tiny fixture data: train, evaluate, predict, explain."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from emobalance.cli import main
from emobalance.data import goemotions
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import EmobalanceError
from emobalance.labels import LABEL_TO_ID

WORDS = {"gratitude": "thanks", "anger": "furious", "joy": "happy", "neutral": "table"}


def make(n, seed):
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    texts, y = [], np.zeros((n, 28), np.uint8)
    for i in range(n):
        lab = names[i % 4]
        texts.append(f"{WORDS[lab]} " + " ".join(rng.choice(["so", "the", "it", "a"], 3)))
        y[i, LABEL_TO_ID[lab]] = 1
    return EmotionDataset(texts, y)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    make(120, 0).to_parquet(d / "train.parquet")
    make(40, 1).to_jsonl(d / "dev.jsonl")
    make(40, 2).to_parquet(d / "test.parquet")
    cfg = {
        "model": {"vectors": None, "embedding_dim": 16, "conv_channels": 8, "lstm_hidden": 8,
                  "attention_dim": 8, "min_freq": 1, "dropout": 0.0, "embedding_dropout": 0.0},
        "train": {"epochs": 8, "batch_size": 8, "lr": 0.01, "lr_schedule": "constant",
                  "mixed_precision": "off", "progress": False},
    }  # fmt: skip
    (d / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    mp = pytest.MonkeyPatch()

    def no_split(split, *a, **k):
        raise AssertionError(f"training read the GoEmotions {split} split")

    mp.setattr(goemotions, "load", no_split)  # thresholds come from --dev, never from test
    try:
        main(["train", "--train", str(d / "train.parquet"), "--dev", str(d / "dev.jsonl"),
              "--config", str(d / "tiny.yaml"), "--out", str(d / "model")])  # fmt: skip
    except SystemExit as exc:
        assert exc.code in (0, None)
    finally:
        mp.undo()
    return d


def test_train_writes_model(model_dir):
    for name in ("config.json", "vocab.json", "model.safetensors", "thresholds.json",
                 "metrics.json"):  # fmt: skip
        assert (model_dir / "model" / name).is_file()


def test_evaluate_json(cli, model_dir):
    code, out, _ = cli(["evaluate", str(model_dir / "model"), "--split",
                        str(model_dir / "test.parquet"), "--json"])  # fmt: skip
    assert code == 0
    m = json.loads(out)
    assert m["n"] == 40 and 0 <= m["macro_f1"] <= 1 and "macro_f1_at_0_5" in m
    assert m["per_label"]["gratitude"]["support"] == 10


def test_predict_texts_and_file(model_dir, cli, tmp_path):
    code, out, _ = cli(["predict", str(model_dir / "model"), "thanks so much", "furious!"])
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert code == 0 and [x["text"] for x in lines] == ["thanks so much", "furious!"]
    src = tmp_path / "in.txt"
    src.write_text("thanks a lot\nhappy happy\n\n")
    code, out, _ = cli(["predict", str(model_dir / "model"), "--input", str(src), "--output",
                        str(tmp_path / "out.jsonl")])  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert code == 0 and len(rows) == 3 and "p_gratitude" in rows[0]


def test_explain(cli, model_dir):
    code, out, _ = cli(["explain", str(model_dir / "model"), "thanks so much", "--json"])
    ex = json.loads(out)
    assert code == 0 and ex["tokens"] == ["thanks", "so", "much"]
    assert abs(sum(ex["attention"]) - 1) < 1e-5


def test_user_errors_are_one_line(model_dir, cli, tmp_path):
    for args in (
        ["evaluate", str(tmp_path / "missing")],
        ["predict", str(model_dir / "model")],
        ["predict", str(model_dir / "model"), "--input", str(tmp_path / "nope.txt"), "--output",
         str(tmp_path / "o.csv")],
        ["train", "--out", str(tmp_path / "m"), "--vectors", str(tmp_path / "none.vec")],
    ):  # fmt: skip
        code, _, err = cli(args)
        assert code == 2, args
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_export_and_predict_with_onnx(model_dir, cli, tmp_path):
    pytest.importorskip("onnxruntime")
    model, onnx_file = str(model_dir / "model"), tmp_path / "m.onnx"
    code, out, _ = cli(["export", model, "--format", "onnx", "--out", str(onnx_file)])
    assert code == 0 and onnx_file.is_file() and "wrote" in out
    diff = float(out.rsplit(":", 1)[1])
    assert diff <= 1e-4
    code, out, _ = cli(["predict", str(onnx_file), "thanks so much", "furious!"])
    code_t, out_t, _ = cli(["predict", model, "thanks so much", "furious!"])
    onnx_lines = [json.loads(x) for x in out.splitlines()]
    torch_lines = [json.loads(x) for x in out_t.splitlines()]
    assert code == code_t == 0
    assert [x["labels"] for x in onnx_lines] == [x["labels"] for x in torch_lines]
    src = tmp_path / "in.jsonl"
    make(30, 3).to_jsonl(src)
    for m, engine, dst in ((model, "torch", "t.parquet"), (onnx_file, "onnx", "o.parquet")):
        out_file = str(tmp_path / dst)
        code, _, _ = cli(["predict", str(m), "--engine", engine, "--input", str(src),
                          "--output", out_file, "--chunk-size", "7"])  # fmt: skip
        assert code == 0
    t, o = (pd.read_parquet(tmp_path / f) for f in ("t.parquet", "o.parquet"))
    assert list(o["row"]) == list(range(30)) and list(o["text"]) == list(t["text"])
    cols = [c for c in t.columns if c.startswith("p_")]
    assert np.abs(o[cols].to_numpy() - t[cols].to_numpy()).max() <= 1e-4
    code, out, _ = cli(["export", model, "--quantize", "int8", "--out",
                        str(tmp_path / "q.onnx")])  # fmt: skip
    assert code == 0 and (tmp_path / "q.onnx").is_file()


def test_predict_resume_after_interruption(model_dir, cli, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from emobalance.export import export_onnx
    from emobalance.models.onnx import OnnxEmotionClassifier

    onnx_file = export_onnx(model_dir / "model", tmp_path / "m.onnx")
    src = tmp_path / "in.txt"
    src.write_text("".join(f"thanks {i}\nhappy " + "so " * (i % 5) + "\n" for i in range(10)))
    args = ["predict", str(onnx_file), "--input", str(src), "--output", str(tmp_path / "o.csv"),
            "--chunk-size", "4"]  # fmt: skip
    real, calls = OnnxEmotionClassifier.predict_proba, []

    def killed_on_third_chunk(self, texts, batch_size=256):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, texts, batch_size)

    monkeypatch.setattr(OnnxEmotionClassifier, "predict_proba", killed_on_third_chunk)
    code, _, err = cli(args)
    assert code != 0, err
    assert not (tmp_path / "o.csv").exists()
    code, out, _ = cli([*args, "--resume"])
    assert code == 0 and "wrote 20 predictions" in out
    assert calls == [4, 4, 4, 4, 4, 4]  # chunks 1-2, the killed one, then 3 to 5 only
    monkeypatch.undo()
    code, _, _ = cli([*args[:5], str(tmp_path / "clean.csv"), *args[6:]])
    assert code == 0
    assert (tmp_path / "o.csv").read_bytes() == (tmp_path / "clean.csv").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_onnx_user_errors_are_one_line(model_dir, cli, tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage" * 50)
    model = str(model_dir / "model")
    for args in (
        ["predict", str(bad), "thanks"],
        ["predict", str(bad), "--engine", "onnx", "--input", str(bad), "--output",
         str(tmp_path / "o.csv")],
        ["predict", str(tmp_path / "missing.onnx"), "--engine", "onnx", "thanks"],
        ["predict", model, "--engine", "tensorrt", "thanks"],
        ["predict", model, "thanks", "--resume"],
        ["export", model, "--format", "tflite"],
        ["export", model, "--quantize", "int4"],
        ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x.onnx")],
    ):  # fmt: skip
        code, _, err = cli(args)
        assert code == 2, args
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = cli(["predict", str(bad), "thanks"])
    assert "bad.onnx: not a readable ONNX model" in err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "x.onnx").exists()


def test_train_set_overrides_and_named_flags_win(model_dir, cli, tmp_path):
    d = model_dir
    code, out, err = cli(
        ["train", "--train", str(d / "train.parquet"), "--dev", str(d / "dev.jsonl"),
         "--config", str(d / "tiny.yaml"), "--set", "train.epochs=5", "--epochs", "2",
         "--set", "model.lstm_hidden=4", "--set", "model.conv_kernel_sizes=[2]",
         "--out", str(tmp_path / "m")],
    )  # fmt: skip
    assert code == 0 and out.startswith(f"saved {tmp_path / 'm'}"), err
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["model"]["lstm_hidden"] == 4 and saved["model"]["conv_kernel_sizes"] == [2]
    assert saved["train"]["epochs"] == 2  # --epochs is sugar for --set, applied after it
    assert saved["train"]["lr"] == 0.01  # the --config file's value survives


# ------------------------------------------------------- the jobs behind the commands


def test_jobs_import_without_torch():
    import subprocess
    import sys

    code = "import sys, emobalance.jobs, emobalance.cli; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert proc.stdout.strip() == "False"


def test_train_model_job_is_what_the_cli_trains(model_dir, tmp_path):
    from emobalance import jobs
    from emobalance.config import load_config

    d = model_dir
    cfg = load_config(d / "tiny.yaml")
    clf = jobs.train_model(cfg, EmotionDataset.from_parquet(d / "train.parquet"),
                           str(d / "dev.jsonl"), out=tmp_path / "m")  # fmt: skip
    cli_thr = json.loads((d / "model" / "thresholds.json").read_text())
    assert json.loads((tmp_path / "m" / "thresholds.json").read_text()) == cli_thr
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == (
        d / "model" / "model.safetensors"
    ).read_bytes()
    by_path = jobs.evaluate_model(d / "model", str(d / "test.parquet"))
    by_object = jobs.evaluate_model(clf, EmotionDataset.from_parquet(d / "test.parquet"))
    assert by_path == by_object and "macro_f1_at_0_5" in by_path
    with pytest.raises(EmobalanceError, match="has no labels to evaluate against"):
        jobs.evaluate_model(clf, EmotionDataset(["thanks"], None))
    with pytest.raises(EmobalanceError, match="nope: not a split"):
        jobs.train_model(cfg, "nope")


def test_distill_model_job_logs_through_the_emobalance_logger(
    model_dir, tmp_path, caplog, monkeypatch
):
    import logging

    from emobalance import jobs
    from emobalance.config import load_config
    from emobalance.errors import DataError

    def no_test_split(split, *a, **k):
        raise DataError(f"no {split} split here")

    monkeypatch.setattr(goemotions, "load", no_test_split)
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))  # the teacher's cache
    d = model_dir
    cfg = load_config(d / "tiny.yaml", overrides=[
        "distill.teacher=tfidf", "distill.corpus=null", "distill.alpha=0.3", "train.epochs=2",
    ])  # fmt: skip
    # the CLI ran in this process before (fixtures): it leaves the logger as it found it
    with caplog.at_level(logging.INFO, logger="emobalance"):
        clf = jobs.distill_model(cfg, str(d / "train.parquet"), str(d / "dev.jsonl"),
                                 out=tmp_path / "s")  # fmt: skip
    assert "distilling from tfidf over 120 rows" in caplog.text
    dist = clf.metrics_["distillation"]
    assert dist["alpha"] == 0.3 and dist["external_rows"] == 0 and dist["teacher"] == "tfidf"
    assert (tmp_path / "s" / "model.safetensors").is_file()


# ------------------------------------------ issue 14: the API and the CLI boundary
def test_predict_proba_refuses_a_bad_batch_size_in_every_kind(model_kind_paths):
    # -5 used to read uninitialised memory (garbage probabilities) and -1 gave NaN, exit 0
    from emobalance.errors import ConfigError
    from emobalance.models.registry import load_model

    for kind, path in model_kind_paths.items():
        clf = load_model(path)
        for bad in (0, -1, -5, 2.5, True, "8"):
            with pytest.raises(ConfigError, match=r"^batch_size: expected an int >= 1") as info:
                clf.predict_proba(["thanks so much"], batch_size=bad)
            assert "\n" not in str(info.value), kind
        proba = clf.predict_proba(["thanks so much", "so furious"], batch_size=np.int64(1))
        assert proba.shape == (2, 28) and np.isfinite(proba).all(), kind
        np.testing.assert_allclose(proba, clf.predict_proba(["thanks so much", "so furious"]),
                                   atol=1e-5, err_msg=kind)  # fmt: skip


def _cli(args, tmp_path, **kw):
    import os
    import subprocess
    import sys

    env = {**os.environ, "EMOBALANCE_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, "-m", "emobalance.cli", *args], env=env,
                            stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def test_sigint_during_training_is_one_line_exit_130(cli, model_dir, tmp_path):
    import signal

    d = model_dir
    cfg = yaml.safe_load((d / "tiny.yaml").read_text())
    cfg["train"].update(epochs=5000, patience=5000, num_threads=1)
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(cfg))
    proc = _cli(["train", "--train", str(d / "train.parquet"), "--dev", str(d / "dev.jsonl"),
                 "--config", str(tmp_path / "long.yaml"), "--out", str(tmp_path / "m")],
                tmp_path)  # fmt: skip
    try:
        for line in proc.stderr:
            if "epoch 2:" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(60) == 130
    finally:
        proc.kill()
    assert rest.splitlines()[-1] == "error: interrupted" and "Traceback" not in rest
    assert not (tmp_path / "m").exists()


def test_sigint_during_scoring_is_one_line_exit_130(cli, model_dir, tmp_path):
    import signal
    import time

    src, out = tmp_path / "in.txt", tmp_path / "out.csv"
    src.write_text("thanks so much\nso furious\n" * 10_000)
    proc = _cli(["predict", str(model_dir / "model"), "--input", str(src), "--output", str(out),
                 "--chunk-size", "500", "--batch-size", "1"], tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.csv.parts/part-*")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait(60) == 130, err
    finally:
        proc.kill()
    assert err.splitlines()[-1] == "error: interrupted" and "Traceback" not in err
    assert not out.exists()


def test_an_oserror_without_a_file_names_the_output(model_dir, tmp_path, cli, monkeypatch):
    import errno

    from emobalance import jobs, scoring

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")  # a buffered write: no name

    monkeypatch.setattr(scoring, "predict_file", full)
    monkeypatch.setattr(jobs, "train_model", full)
    src = tmp_path / "in.txt"
    src.write_text("thanks\n")
    for args, target in (
        (["predict", str(model_dir / "model"), "--input", str(src), "--output",
          str(tmp_path / "o.csv")], tmp_path / "o.csv"),
        (["train", "--out", str(tmp_path / "m")], tmp_path / "m"),
    ):  # fmt: skip
        code, _, err = cli(args)
        assert code == 2 and err == f"error: {target}: No space left on device\n"
    # an error that is no write error names what the command was reading and writing
    monkeypatch.setattr(scoring, "predict_file", lambda *a, **k: (_ for _ in ()).throw(
        OSError("Couldn't deserialize thrift: TProtocolException: Invalid data")))  # fmt: skip
    code, _, err = cli(["predict", str(model_dir / "model"), "--input", str(src), "--output",
                        str(tmp_path / "o.csv")])  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"Invalid data (while reading {src}, writing {tmp_path / 'o.csv'})" in err


def test_a_corrupt_parquet_input_is_one_line(cli, model_dir, tmp_path):
    bad = tmp_path / "bad.parquet"
    raw = bytearray((model_dir / "test.parquet").read_bytes())
    raw[len(raw) // 3 : len(raw) // 3 + 64] = b"\xff" * 64  # damaged pages, intact footer
    bad.write_bytes(bytes(raw))
    code, _, err = cli(["predict", str(model_dir / "model"), "--input", str(bad), "--output",
                        str(tmp_path / "o.csv")])  # fmt: skip
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "bad.parquet" in err
    assert not (tmp_path / "o.csv").exists()


def test_train_refuses_vectors_that_cover_nothing_and_conflicting_options(model_dir, cli,
                                                                         tmp_path):  # fmt: skip
    d = model_dir
    base = ["train", "--train", str(d / "train.parquet"), "--dev", str(d / "dev.jsonl"),
            "--config", str(d / "tiny.yaml"), "--out", str(tmp_path / "m")]  # fmt: skip
    vec = tmp_path / "other.vec"
    vec.write_text("2 16\n" + "".join(f"w{i} " + " ".join(["0.1"] * 16) + "\n" for i in range(2)))
    code, _, err = cli([*base, "--vectors", str(vec)])
    assert code == 2 and "vectors for only 0 of the" in err and "min_vector_coverage" in err
    code, _, err = cli(
        [*base, "--vectors", str(vec), "--set", "model.min_vector_coverage=0"]
    )
    assert code == 0, err  # the threshold is a setting: 0 trains as before
    code, _, err = cli([*base, "--vectors", str(vec), "--set", "model.pretrained=false"])
    assert code == 2 and "--vectors conflicts with model.pretrained=false" in err
