"""The same checks on every model kind, as imbalanced-learn's ``check_estimator`` runs them.

Each ``check_*`` takes a loaded model (and the folder or file it was saved in) and asserts
one clause of :class:`emobalance.models.base.EmotionModel`'s contract; every check runs on
every kind of :mod:`emobalance.models.registry`. A new kind gets all of them by adding its
saved path to the ``model_kind_paths`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emobalance.errors import DataError, ModelError
from emobalance.labels import LABELS, matrix_to_names
from emobalance.models.base import EmotionModel
from emobalance.models.registry import (
    find_kind,
    kinds,
    legacy_model_ids,
    load_model,
    model_files,
    model_id,
)

KINDS = ("reference", "tfidf", "transformer", "onnx")
TEXTS = ["thanks so much", "I am furious", "so happy and glad", "the monday report", ""]
EXPLAIN_KEYS = {"text", "tokens", "attention", "method", "labels", "top", "probabilities",
                "ekman"}  # fmt: skip


# ------------------------------------------------------------------------------ checks
def check_proba(model, path, tmp_path):
    proba = model.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 28) and proba.dtype == np.float32
    assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1
    np.testing.assert_allclose(model.predict_proba(TEXTS[::-1])[::-1], proba, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(TEXTS, batch_size=2), proba, atol=1e-6)


def check_predictions_use_thresholds(model, path, tmp_path):
    th = model.thresholds_
    assert th.shape == (28,) and th.dtype == np.float32
    matrix = model.predict_matrix(TEXTS)
    assert matrix.dtype == np.uint8 and matrix.shape == (len(TEXTS), 28)
    np.testing.assert_array_equal(matrix, model.predict_proba(TEXTS) >= th)
    assert model.predict(TEXTS) == matrix_to_names(matrix)


def check_evaluate(model, path, tmp_path):
    from emobalance.data.dataset import EmotionDataset

    labels = np.zeros((len(TEXTS), 28), dtype=np.uint8)
    labels[:, LABELS.index("neutral")] = 1
    m = model.evaluate(EmotionDataset(TEXTS, labels))
    assert {"n", "macro_f1", "micro_f1", "per_label"} <= set(m) and m["n"] == len(TEXTS)
    assert 0 <= m["macro_f1"] <= 1
    with pytest.raises(DataError, match="labelled"):
        model.evaluate(EmotionDataset(TEXTS))


def check_dev_metrics(model, path, tmp_path):
    assert "macro_f1" in model.metrics_["dev"] and "per_label" in model.metrics_["dev"]


def check_save_load_round_trip(model, path, tmp_path):
    out = model.save(tmp_path / ("copy.onnx" if model.kind == "onnx" else "copy"))
    back = load_model(out, device="cpu")
    assert type(back) is type(model) and back.kind == model.kind == find_kind(out)
    np.testing.assert_array_equal(back.predict_proba(TEXTS), model.predict_proba(TEXTS))
    np.testing.assert_array_equal(back.thresholds_, model.thresholds_)
    assert back.metrics_["dev"]["macro_f1"] == pytest.approx(model.metrics_["dev"]["macro_f1"])
    # (a re-save may change the id: a transformer folder gets a new fine-tune id each time)


def check_explain(model, path, tmp_path):
    ex = model.explain("thanks so much, I am glad", top_k=3)
    assert set(ex) == EXPLAIN_KEYS
    assert ex["method"] == ("attention" if model.kind in ("reference", "onnx") else
                            "leave_one_token_out")  # fmt: skip
    assert len(ex["tokens"]) == len(ex["attention"]) > 0
    weights = np.array(ex["attention"])
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1, abs=1e-4)
    assert len(ex["top"]) == 3 and ex["top"][0]["probability"] >= ex["top"][1]["probability"]
    assert list(ex["probabilities"]) == list(LABELS) and set(ex["labels"]) <= set(LABELS)
    json.dumps(ex)  # plain JSON types only
    assert model.explain("")["tokens"] is not None
    with pytest.raises(DataError, match="one str"):
        model.explain(["a list"])


def check_bad_input(model, path, tmp_path):
    with pytest.raises(DataError, match="single str"):
        model.predict_proba("thanks")
    with pytest.raises(DataError, match="single str"):
        model.predict("thanks")
    with pytest.raises(DataError, match="text 1 is int"):
        model.predict_proba(["ok", 3])
    with pytest.raises(DataError):
        model.predict_proba(7)


def check_empty_input(model, path, tmp_path):
    proba = model.predict_proba([])
    assert proba.shape == (0, 28) and proba.dtype == np.float32
    assert model.predict([]) == [] and model.predict_matrix([]).shape == (0, 28)


def check_registry(model, path, tmp_path):
    assert isinstance(model, EmotionModel) and model.kind in kinds()
    assert find_kind(path) == model.kind
    assert model_id(path).startswith(f"{model.kind}:")
    # the listed files alone make the model again, wherever they are copied
    folder = tmp_path / "files"
    folder.mkdir()
    for name, file in model_files(path).items():
        shutil.copyfile(file, folder / name)
    again = load_model(folder, kind=model.kind)
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))
    assert model_id(folder, kind=model.kind) == model_id(path)


CHECKS = [
    check_proba,
    check_predictions_use_thresholds,
    check_evaluate,
    check_dev_metrics,
    check_save_load_round_trip,
    check_explain,
    check_bad_input,
    check_empty_input,
    check_registry,
]


@pytest.fixture(scope="module")
def loaded(model_kind_paths):
    return {kind: load_model(p, device="cpu") for kind, p in model_kind_paths.items()}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", KINDS)
def test_contract(kind, check, loaded, model_kind_paths, tmp_path):
    check(loaded[kind], model_kind_paths[kind], tmp_path)


# ------------------------------------------------------------------- the registry itself
def test_every_registered_kind_is_covered():
    assert set(kinds()) == set(KINDS)


def test_unrecognised_folder_says_what_it_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError) as exc:
        load_model(tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path}: ")
    for expected in ("emobalance_transformer.json", "cnn_bilstm_attention", "tfidf_logreg",
                     ".onnx"):  # fmt: skip
        assert expected in msg
    with pytest.raises(ModelError, match="model directory not found"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelError, match="unknown model kind 'nope'"):
        load_model(tmp_path, kind="nope")


def test_damaged_reference_folder_names_the_missing_file(model_kind_paths, tmp_path):
    d = tmp_path / "ref"
    shutil.copytree(model_kind_paths["reference"], d)
    (d / "config.json").unlink()
    with pytest.raises(ModelError, match=r"config\.json: missing model file"):
        load_model(d)


def test_onnx_kind_loads_the_export_inside_a_reference_folder(model_kind_paths, tmp_path):
    d = tmp_path / "ref"
    shutil.copytree(model_kind_paths["reference"], d)
    shutil.copyfile(model_kind_paths["onnx"], d / "model.onnx")
    assert find_kind(d) == "reference"  # the folder is still the PyTorch model
    assert load_model(d, kind="onnx").kind == "onnx"
    assert model_id(d, kind="onnx") == model_id(model_kind_paths["onnx"])
    assert model_id(d) != model_id(d, kind="onnx")


def test_legacy_ids_are_those_predict_resume_recorded_before(model_kind_paths, tmp_path):
    from emobalance.io import sha256_file

    ref, onnx = model_kind_paths["reference"], model_kind_paths["onnx"]
    weights, th = sha256_file(ref / "model.safetensors"), sha256_file(ref / "thresholds.json")
    assert legacy_model_ids(ref) == [f"torch:{weights}:{th}"]
    assert legacy_model_ids(onnx) == [f"onnx:{sha256_file(onnx)}"]
    d = tmp_path / "ref"
    shutil.copytree(ref, d)
    shutil.copyfile(onnx, d / "model.onnx")
    assert legacy_model_ids(d, kind="onnx") == legacy_model_ids(onnx)
    assert legacy_model_ids(model_kind_paths["tfidf"]) == []
    assert legacy_model_ids(model_kind_paths["transformer"]) == []


def test_a_new_kind_registers_in_one_place(model_kind_paths, tmp_path):
    from emobalance.models import registry

    d = tmp_path / "mine"
    shutil.copytree(model_kind_paths["tfidf"], d)
    (d / "MINE").write_text("")
    registry.register_kind(
        "mine", "emobalance.models.baselines:TfidfBaseline",
        recognise=lambda p: (p / "MINE").is_file(), expects="MINE (mine)",
    )  # fmt: skip
    try:
        assert find_kind(d) == "tfidf"  # kinds are tried in registration order
        assert load_model(d, kind="mine").predict_proba(["thanks"]).shape == (1, 28)
        with pytest.raises(ModelError, match=r"MINE \(mine\)"):
            load_model(tmp_path)
    finally:
        del registry._KINDS["mine"]


# --------------------------------------------------------------------------- the CLI
def _run(args, capsys):
    from emobalance.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", KINDS)
def test_cli_predict_evaluate_and_explain_every_kind(kind, model_kind_paths, capsys, tmp_path):
    path = str(model_kind_paths[kind])
    code, out, err = _run(["predict", path, "thanks so much", "furious!"], capsys)
    assert code == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["thanks so much", "furious!"]
    code, out, err = _run(["explain", path, "thanks so much", "--json"], capsys)
    assert code == 0, err
    ex = json.loads(out)
    assert ex["tokens"] and len(ex["tokens"]) == len(ex["attention"])
    src = tmp_path / "in.txt"
    src.write_text("thanks\nso happy\n")
    code, out, err = _run(["predict", path, "--input", str(src), "--output",
                           str(tmp_path / "o.csv")], capsys)  # fmt: skip
    assert code == 0 and "wrote 2 predictions" in out, err
