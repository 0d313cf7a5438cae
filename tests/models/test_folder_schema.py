"""Every file of a saved model is checked at load (issue 14, class 4): a bad value gives one
line naming the file and the field, through the one loader (load_model), ``predict`` and
``serve`` start-up alike. Each case edits one file of a valid folder copied to tmp_path."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from emobalance.errors import ModelError
from emobalance.labels import LABELS
from emobalance.models.registry import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def copy_kind(model_kind_paths, kind, tmp_path) -> Path:
    src = model_kind_paths[kind]
    dst = tmp_path / src.name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def edit_json(path: Path, fn) -> None:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def thresholds_with(**values):
    def fn(th):
        th.update(values)
        return th

    return fn


def refused(path, *fragments) -> str:
    """load_model refuses ``path`` in one line holding every fragment."""
    with pytest.raises(ModelError) as exc:
        load_model(path)
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# ------------------------------------------------------------------------- thresholds
BAD_THRESHOLDS = [
    (thresholds_with(grief=7.5), "'grief' must be a number in [0, 1], got 7.5"),
    (thresholds_with(grief=math.nan), "'grief' must be a number in [0, 1], got NaN"),
    (thresholds_with(joy=-math.inf), "'joy' must be a number in [0, 1], got -Infinity"),
    (thresholds_with(joy="0.5"), "'joy' must be a number in [0, 1], got \"0.5\""),
    (thresholds_with(joy=None), "'joy' must be a number in [0, 1], got null"),
    (thresholds_with(joy=True), "'joy' must be a number in [0, 1], got true"),
    (thresholds_with(joy=10**400), "'joy' must be a number in [0, 1], got 1000"),
    (thresholds_with(happiness=0.5), 'unknown label "happiness"'),
    (lambda th: {k: v for k, v in th.items() if k != "relief"}, "no threshold for relief"),
    (lambda th: list(th.values()), "expected a JSON object {label: threshold}, got a list"),
    (lambda th: None, "got null"),
]


@pytest.mark.parametrize(
    ("kind", "edit", "message"),
    [(kind, *case) for kind in ("reference", "tfidf") for case in BAD_THRESHOLDS]
    # every kind reads thresholds.json through one schema: two cases for the slow kind
    + [("transformer", *BAD_THRESHOLDS[i]) for i in (1, 3)],
)
def test_bad_thresholds_are_refused(model_kind_paths, tmp_path, kind, edit, message):
    d = copy_kind(model_kind_paths, kind, tmp_path)
    edit_json(d / "thresholds.json", edit)
    msg = refused(d, message)
    assert msg.startswith(f"{d / 'thresholds.json'}: ")


def test_the_issue_example_reads_as_promised(model_kind_paths, tmp_path):
    d = copy_kind(model_kind_paths, "reference", tmp_path)
    edit_json(d / "thresholds.json", thresholds_with(grief=7.5))
    assert refused(d) == f"{d / 'thresholds.json'}: 'grief' must be a number in [0, 1], got 7.5"


# ------------------------------------------------------------------------- config.json
REFERENCE_CONFIGS = [
    (lambda c: [], "config.json: expected a JSON object, got a list"),
    (lambda c: c | {"labels": LABELS[:-1]}, "'labels': label list differs"),
    # another kind's architecture: that kind's load names what the folder lacks
    (lambda c: c | {"architecture": "tfidf_logreg"}, "model.joblib: missing model file"),
    (lambda c: c | {"vocab_size": "12"}, "'vocab_size' must be an integer >= 2, got \"12\""),
    (lambda c: c | {"model": "big"}, "'model': expected a JSON object, got a string"),
    (lambda c: c | {"train": None}, "'train': expected a JSON object, got null"),
    (lambda c: c | {"model": c["model"] | {"lstm_hidden": "x"}}, "'model': lstm_hidden"),
    (lambda c: c | {"train": c["train"] | {"lr": -1}}, "'train': lr"),
    # a size that would need gigabytes is refused before any allocation (by the config's bound)
    (lambda c: c | {"model": c["model"] | {"embedding_dim": 10**9}},
     "'model': embedding_dim"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "message"), REFERENCE_CONFIGS)
def test_bad_reference_config_is_refused(model_kind_paths, tmp_path, edit, message):
    d = copy_kind(model_kind_paths, "reference", tmp_path)
    edit_json(d / "config.json", edit)
    refused(d, message)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: [], "config.json: expected a JSON object, got a list"),
        (lambda c: c | {"params": c["params"] | {"C": "1"}}, "'params.C' must be"),
        (lambda c: c | {"params": c["params"] | {"word_ngram_range": [2, 1]}},
         "'params.word_ngram_range'[1] must be an integer in [2, 100], got 1"),
        (lambda c: c | {"params": c["params"] | {"nope": 1}}, "unknown key \"nope\""),
        (lambda c: c | {"n_features": c["n_features"] + 1}, "'n_features' is"),
        (lambda c: c | {"fit_seconds": "slow"}, "'fit_seconds' must be a number >= 0"),
    ],
)  # fmt: skip
def test_bad_tfidf_config_is_refused(model_kind_paths, tmp_path, edit, message):
    d = copy_kind(model_kind_paths, "tfidf", tmp_path)
    edit_json(d / "config.json", edit)
    refused(d, message)


# ------------------------------------------------------------------------- other files
def test_bad_vocab_and_metrics_are_refused(model_kind_paths, tmp_path):
    d = copy_kind(model_kind_paths, "reference", tmp_path)
    vocab = json.loads((d / "vocab.json").read_text())
    for bad, message in (
        ({**vocab, "itos": [*vocab["itos"][:5], 7, *vocab["itos"][6:]]}, "'itos'[5] must be"),
        ({**vocab, "version": "1"}, "'version' must be an integer in [1, 1], got \"1\""),
        ({**vocab, "itos": vocab["itos"][::-1]}, "must start with"),
        ([], "vocab.json: expected a JSON object"),
    ):
        (d / "vocab.json").write_text(json.dumps(bad))
        refused(d, "vocab.json", message)
    (d / "vocab.json").write_text(json.dumps(vocab))
    for bad, message in (([], "expected a JSON object, got a list"),
                         ({"metrics": 3}, "'metrics' must be an object, got a number"),
                         ({"history": {}}, "'history' must be a list")):  # fmt: skip
        (d / "metrics.json").write_text(json.dumps(bad))
        refused(d, "metrics.json", message)
    (d / "metrics.json").write_text("{}")  # any content, as long as it is an object
    assert load_model(d).metrics_ == {}
    (d / "metrics.json").write_bytes(b"\xff\xfe{")
    refused(d, "metrics.json: not valid JSON (not UTF-8 text)")
    (d / "metrics.json").write_text("[" * 100_000)
    refused(d, "metrics.json: not valid JSON")


def _edit_safetensors(path: Path, fn) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    save_file(fn(tensors), str(path))


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda t: t | {"classifier.bias": np.full_like(t["classifier.bias"], np.nan)},
         "tensor 'classifier.bias' holds non-finite values (NaN or inf)"),
        (lambda t: t | {"lstm.weight_hh_l0": t["lstm.weight_hh_l0"] * np.float32(np.inf)},
         "tensor 'lstm.weight_hh_l0' holds non-finite"),
        (lambda t: t | {"classifier.weight": t["classifier.weight"] + np.float32(1e30)},
         "tensor 'classifier.weight' holds a value of magnitude 1e+30"),
        (lambda t: {k: v for k, v in t.items() if k != "classifier.bias"},
         "no tensor 'classifier.bias' (which config.json implies)"),
        (lambda t: t | {"extra": np.zeros(2, np.float32)}, "unexpected tensor 'extra'"),
        (lambda t: t | {"classifier.bias": np.zeros(27, np.float32)},
         "tensor 'classifier.bias' has shape [27], config.json implies [28]"),
    ],
)  # fmt: skip
def test_bad_reference_weights_are_refused(model_kind_paths, tmp_path, fn, message):
    d = copy_kind(model_kind_paths, "reference", tmp_path)
    _edit_safetensors(d / "model.safetensors", fn)
    refused(d, "model.safetensors", message)


def test_truncated_weights_are_refused(model_kind_paths, tmp_path):
    d = copy_kind(model_kind_paths, "reference", tmp_path)
    data = (d / "model.safetensors").read_bytes()
    for cut in (0, 7, 100, len(data) - 1):
        (d / "model.safetensors").write_bytes(data[:cut])
        refused(d, "model.safetensors")


def test_bad_tfidf_weights_are_refused(model_kind_paths, tmp_path):
    import joblib

    d = copy_kind(model_kind_paths, "tfidf", tmp_path)
    state = joblib.load(d / "model.joblib")
    state["classifier"].coef_[3, 0] = np.nan
    joblib.dump(state, d / "model.joblib")
    refused(d, "model.joblib: tensor 'coef_' holds non-finite values")
    state["classifier"].coef_[3, 0] = 0.0
    state["classifier"].constant_[5] = 7.5
    joblib.dump(state, d / "model.joblib")
    refused(d, "model.joblib: classifier constant_ must be NaN or probabilities")
    joblib.dump({"vectorizer": None, "classifier": state["classifier"]}, d / "model.joblib")
    refused(d, "model.joblib: not a TF-IDF model of emobalance")
    joblib.dump([1, 2], d / "model.joblib")
    refused(d, "model.joblib: not a TF-IDF model of emobalance")


def test_bad_transformer_files_are_refused(model_kind_paths, tmp_path):
    from emobalance.models.transformer import MARKER

    d = copy_kind(model_kind_paths, "transformer", tmp_path)
    marker = json.loads((d / MARKER).read_text())
    for bad, message in (
        (marker | {"config": marker["config"] | {"max_length": "long"}}, "'config': max_length"),
        (marker | {"config": []}, "'config': expected a JSON object, got a list"),
        (marker | {"labels": [*marker["labels"], "joy"]}, "'labels' names a label twice"),
        (marker | {"labels": "joy"}, "'labels' must be a list of label names"),
        (marker | {"pooling": "cls"}, "'pooling' must be \"mean\""),
    ):
        (d / MARKER).write_text(json.dumps(bad))
        refused(d, MARKER, message)
    (d / MARKER).write_text(json.dumps(marker))
    _edit_safetensors(d / "head.safetensors", lambda t: t | {"bias": t["bias"] * np.nan})
    refused(d, "head.safetensors: tensor 'bias' holds non-finite values")
    _edit_safetensors(d / "head.safetensors", lambda t: t | {"bias": np.zeros(3, np.float32)})
    refused(d, "head.safetensors: tensor 'bias' has shape [3]")


def _edit_onnx_metadata(path: Path, key: str, value: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == f"emobalance.{key}":
            entry.value = value
    onnx.save(proto, str(path))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("thresholds", json.dumps([0.5] * 27 + [7.5]),
         "emobalance.thresholds[27] ('neutral') must be a number in [0, 1], got 7.5"),
        ("thresholds", "[" + ", ".join(["NaN"] * 28) + "]", "got NaN"),
        ("thresholds", json.dumps(["0.5"] * 28), "thresholds[0] ('admiration') must be"),
        ("thresholds", json.dumps([0.5] * 3), "must be a list of 28 numbers, got a list of 3"),
        ("thresholds", "null", "must be a list of 28 numbers, got null"),
        ("model", "[]", "emobalance.model': expected a JSON object, got a list"),
        ("model", json.dumps({"max_len": 0}), "max_len"),
        ("vocab", json.dumps({"itos": ["<pad>", "<unk>", 3]}), "'itos'[2] must be a string"),
        ("labels", json.dumps(LABELS[::-1]), "label list differs"),
        ("metrics", "[1]", "emobalance.metrics: expected a JSON object"),
        ("format_version", "\"1\"", "format_version must be an integer >= 1"),
        ("quantize", "int4", "quantize must be none or int8"),
        ("vocab", "{not json", "emobalance.vocab is not valid JSON"),
    ],
)  # fmt: skip
def test_bad_onnx_metadata_is_refused(model_kind_paths, tmp_path, key, value, message):
    p = copy_kind(model_kind_paths, "onnx", tmp_path)
    _edit_onnx_metadata(p, key, value)
    msg = refused(p, message)
    assert msg.startswith(f"{p}: ")


def test_non_finite_onnx_weights_are_refused(model_kind_paths, tmp_path):
    import onnx
    from onnx import numpy_helper

    p = copy_kind(model_kind_paths, "onnx", tmp_path)
    proto = onnx.load(str(p))
    init = max(proto.graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] = np.nan
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(p))
    refused(p, f"tensor {init.name!r} holds non-finite values")


def test_valid_folders_still_load(model_kind_paths):
    for kind, path in model_kind_paths.items():
        model = load_model(path)
        assert model.kind == kind and model.thresholds_.shape == (28,)


# ------------------------------------------------------------------ the same line in the CLI
def test_predict_and_serve_start_up_refuse_a_bad_folder_in_one_line(
    model_kind_paths, tmp_path, capsys
):
    from emobalance.cli import main

    pytest.importorskip("fastapi")
    from emobalance.serve.app import create_app

    d = copy_kind(model_kind_paths, "reference", tmp_path)
    for name, content in (("config.json", "[]"), ("thresholds.json", '{"grief": "high"}')):
        good = (d / name).read_text()
        (d / name).write_text(content)
        for args in (["predict", str(d), "thanks"], ["serve", str(d), "--port", "0"]):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code
            err = capsys.readouterr().err
            assert code == 2, (args, err)
            assert err.startswith(f"error: {d / name}: ") and err.count("\n") == 1, err
        with pytest.raises(ModelError, match=f"^{d / name}: "):
            create_app(d)
        (d / name).write_text(good)


def test_damage_that_shows_only_when_scoring_is_found_at_load(model_kind_paths, tmp_path):
    """What the fuzz found: a pickled vectorizer with a renamed attribute, a tokenizer
    without its vocabulary. Both loaded, then failed in predict; load refuses them now."""
    import joblib

    d = copy_kind(model_kind_paths, "tfidf", tmp_path)
    state = joblib.load(d / "model.joblib")
    word = dict(state["vectorizer"].transformer_list)["word"]
    word.token_patterm = word.__dict__.pop("token_pattern")  # one flipped bit of the pickle
    joblib.dump(state, d / "model.joblib")
    refused(d, "model.joblib", "token_pattern")
    del word.token_patterm
    word.token_pattern, word.analyzer = r"(?u)\b\w\w+\b", "wprd"
    joblib.dump(state, d / "model.joblib")
    refused(d, "model.joblib: vectorizer 'word' has analyzer=\"wprd\"")

    t = copy_kind(model_kind_paths, "transformer", tmp_path)
    edit_json(t / "tokenizer.json", lambda tok: tok | {"model": tok["model"] | {"vocab": {}}})
    refused(t, f"{t}: ")


def test_training_only_values_of_older_versions_still_load(model_kind_paths, tmp_path):
    # a negative seed or a huge patience was valid before issue 14's bounds: such a folder
    # loads (the values never run at inference); a bound of a field inference uses still holds
    d = copy_kind(model_kind_paths, "reference", tmp_path)

    def old(cfg):
        cfg["train"].update(seed=-1, patience=10**6, epochs=20_000)
        return cfg

    edit_json(d / "config.json", old)
    model = load_model(d)
    assert (model.train_config.seed, model.train_config.patience) == (-1, 10**6)
    assert model.predict_proba(["I love it"]).shape == (1, len(LABELS))

    def huge_batch(cfg):
        cfg["train"]["eval_batch_size"] = 10**9
        return cfg

    edit_json(d / "config.json", huge_batch)
    with pytest.raises(ModelError, match="eval_batch_size"):
        load_model(d)
