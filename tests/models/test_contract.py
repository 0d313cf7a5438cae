"""The same checks on every model kind, as imbalanced-learn's ``check_estimator`` runs them.

Each ``check_*`` takes a loaded model (and the folder or file it was saved in) and asserts
one clause of :class:`emobalance.models.base.EmotionModel`'s contract; every check runs on
every kind of :mod:`emobalance.models.registry`. A new kind gets all of them by adding its
saved path to the ``model_kind_paths`` fixture (tests/conftest.py). Every check runs on
GoEmotions models and on models of two own schemas (``own_kind_paths``,
tests/models/conftest.py): 5 labels with a grouping, and 3 single-label classes.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emobalance.errors import ConfigError, DataError, ModelError
from emobalance.metrics import predict_labels
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
SCHEMAS = ("goemotions", "five", "three")
TEXTS = ["thanks so much", "I am furious", "so happy and glad", "the monday report", ""]
EXPLAIN_KEYS = {"text", "tokens", "attention", "method", "labels", "top", "probabilities"}


def n_labels(model) -> int:
    return len(model.labels_)


# ------------------------------------------------------------------------------ checks
def check_proba(model, path, tmp_path):
    proba = model.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), n_labels(model)) and proba.dtype == np.float32
    assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1
    np.testing.assert_allclose(model.predict_proba(TEXTS[::-1])[::-1], proba, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(TEXTS, batch_size=2), proba, atol=1e-6)


def check_predictions_use_thresholds(model, path, tmp_path):
    th, single = model.thresholds_, model.labels_.single_label
    assert th.shape == (n_labels(model),) and th.dtype == np.float32
    matrix = model.predict_matrix(TEXTS)
    assert matrix.dtype == np.uint8 and matrix.shape == (len(TEXTS), n_labels(model))
    proba = model.predict_proba(TEXTS)
    np.testing.assert_array_equal(matrix, predict_labels(proba, th, single))
    if single:  # the most probable label, whatever the thresholds
        assert (matrix.sum(1) == 1).all()
        np.testing.assert_array_equal(matrix.argmax(1), proba.argmax(1))
    else:
        np.testing.assert_array_equal(matrix, proba >= th)
    assert model.predict(TEXTS) == model.labels_.matrix_to_names(matrix)


def check_evaluate(model, path, tmp_path):
    from emobalance.data.dataset import EmotionDataset

    schema = model.labels_
    labels = np.zeros((len(TEXTS), len(schema)), dtype=np.uint8)
    labels[:, -1] = 1  # GoEmotions: neutral
    m = model.evaluate(EmotionDataset(TEXTS, labels, schema=schema))
    assert {"n", "macro_f1", "micro_f1", "per_label", "jaccard"} <= set(m)
    assert m["n"] == len(TEXTS) and 0 <= m["macro_f1"] <= 1
    assert list(m["per_label"]) == list(schema.names)
    assert ("accuracy" in m) == schema.single_label
    assert set(schema.groupings) <= set(m)  # GoEmotions: ekman and sentiment
    with pytest.raises(DataError, match="labelled"):
        model.evaluate(EmotionDataset(TEXTS, schema=schema))


def check_dev_metrics(model, path, tmp_path):
    assert "macro_f1" in model.metrics_["dev"] and "per_label" in model.metrics_["dev"]


def check_save_load_round_trip(model, path, tmp_path):
    out = model.save(tmp_path / ("copy.onnx" if model.kind == "onnx" else "copy"))
    back = load_model(out, device="cpu")
    assert type(back) is type(model) and back.kind == model.kind == find_kind(out)
    np.testing.assert_array_equal(back.predict_proba(TEXTS), model.predict_proba(TEXTS))
    np.testing.assert_array_equal(back.thresholds_, model.thresholds_)
    assert back.labels_ == model.labels_ and back.labels_.to_dict() == model.labels_.to_dict()
    assert back.threshold_objective == model.threshold_objective
    assert back.metrics_["dev"]["macro_f1"] == pytest.approx(model.metrics_["dev"]["macro_f1"])
    # (a re-save may change the id: a transformer folder gets a new fine-tune id each time)


def check_explain(model, path, tmp_path):
    ex = model.explain("thanks so much, I am glad", top_k=3)
    groupings = list(model.labels_.groupings)[:1]  # the first grouping's group (GoEmotions: ekman)
    assert set(ex) == EXPLAIN_KEYS | set(groupings)
    assert ex["method"] == ("attention" if model.kind in ("reference", "onnx") else
                            "leave_one_token_out")  # fmt: skip
    assert len(ex["tokens"]) == len(ex["attention"]) > 0
    weights = np.array(ex["attention"])
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1, abs=1e-4)
    assert len(ex["top"]) == 3 and ex["top"][0]["probability"] >= ex["top"][1]["probability"]
    names = model.labels_.names
    assert list(ex["probabilities"]) == list(names) and set(ex["labels"]) <= set(names)
    if model.labels_.single_label:
        assert ex["labels"] == [ex["top"][0]["label"]]
    for g in groupings:
        assert ex[g] in model.labels_.group_names(g)
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
    assert proba.shape == (0, n_labels(model)) and proba.dtype == np.float32
    assert model.predict([]) == [] and model.predict_matrix([]).shape == (0, n_labels(model))


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


def check_records_and_views(model, path, tmp_path):
    schema = model.labels_
    recs = model.predict_records(TEXTS, top_k=2)
    assert [r["labels"] for r in recs] == model.predict(TEXTS)
    for r in recs:
        assert set(r) == {"labels", "top", "probabilities", *schema.groupings}
        assert len(r["top"]) == min(2, len(schema)) and list(r["probabilities"]) == list(schema)
    for g in schema.groupings:
        grouped = model.predict_records(TEXTS, view=g.upper())  # case ignored
        assert all(list(r["probabilities"]) == list(schema.group_names(g)) for r in grouped)
    with pytest.raises(ConfigError, match=r"^view: expected labels.* got 'nope'$"):
        model.predict_records(TEXTS, view="nope")


def check_other_schema_is_refused(model, path, tmp_path):
    from emobalance.data.dataset import EmotionDataset
    from emobalance.labels import LabelSchema

    other = LabelSchema(["x", "y"], name="other")
    ds = EmotionDataset(["a", "b"], np.eye(2, dtype=np.uint8), schema=other)
    with pytest.raises(ModelError) as exc:
        model.evaluate(ds)
    msg = str(exc.value)
    assert "\n" not in msg and model.labels_.name in msg and "other (2 labels: x, y)" in msg


CHECKS = [*CHECKS, check_records_and_views, check_other_schema_is_refused]


@pytest.fixture(scope="module")
def schema_kind_paths(model_kind_paths, own_kind_paths):
    """``{schema: {kind: saved path}}``: GoEmotions' models and those of own schemas."""
    return {"goemotions": model_kind_paths, **own_kind_paths}


@pytest.fixture(scope="module")
def loaded(schema_kind_paths):
    return {
        (schema, kind): load_model(p, device="cpu")
        for schema, paths in schema_kind_paths.items()
        for kind, p in paths.items()
    }


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("schema", SCHEMAS)
def test_contract(schema, kind, check, loaded, schema_kind_paths, tmp_path):
    check(loaded[schema, kind], schema_kind_paths[schema][kind], tmp_path)


def test_own_schemas_are_what_the_models_speak(loaded, own_schemas):
    from emobalance.labels import GOEMOTIONS

    for kind in KINDS:
        assert loaded["goemotions", kind].labels_ is GOEMOTIONS
        assert loaded["five", kind].labels_ == own_schemas["five"]
        assert loaded["three", kind].labels_ == own_schemas["three"]
        assert loaded["three", kind].labels_.single_label
    for kind in ("reference", "tfidf", "transformer"):  # saved with the model's config
        assert loaded["five", kind].threshold_objective == "jaccard"
        assert loaded["goemotions", kind].threshold_objective == "f1"


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
