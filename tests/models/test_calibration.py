"""Per-label Platt calibration: it lowers the ECE of miscalibrated probabilities, keeps each
label's ranking, round-trips through calibration.json (and the ONNX metadata) for every kind,
and ``calibrate_model`` re-tunes the thresholds on dev while test is only measured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emobalance.errors import DataError, ModelError
from emobalance.labels import LABELS, NUM_LABELS
from emobalance.metrics import expected_calibration_error, tune_thresholds
from emobalance.models.calibration import CALIBRATION_FILE, PlattCalibration
from emobalance.models.registry import load_model, model_files, model_id

KINDS = ("reference", "tfidf", "transformer", "onnx")
TEXTS = ["thanks so much", "I am furious", "so happy and glad", "the monday report", ""]
ROOT = Path(__file__).resolve().parents[2]


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true probabilities, and a model that is overconfident (x3 on the
    logit) and biased upwards (+1): the kind of error a reweighted loss leaves."""
    rng = np.random.default_rng(seed)
    true = rng.beta(0.5, 3.0, (n, NUM_LABELS))
    y = (rng.uniform(size=true.shape) < true).astype(np.uint8)
    logit = np.log(true) - np.log1p(-true)
    return y, (1 / (1 + np.exp(-(3 * logit + 1)))).astype(np.float32)


def test_platt_lowers_the_ece_of_miscalibrated_probabilities_on_new_rows():
    y_dev, p_dev = _miscalibrated(4000, 0)
    y_test, p_test = _miscalibrated(4000, 1)
    cal = PlattCalibration.fit(y_dev, p_dev)
    before = expected_calibration_error(y_test, p_test)
    after = expected_calibration_error(y_test, cal.apply(p_test))
    assert before > 0.05 and after < before / 4, (before, after)
    # the fit recovers the distortion: slope 1/3, intercept -1/3
    np.testing.assert_allclose(cal.a, 1 / 3, atol=0.06)
    np.testing.assert_allclose(cal.b, -1 / 3, atol=0.25)
    assert cal.info == {"rows": 4000, "identity": []}


def test_calibration_keeps_each_labels_ranking_and_calibrated_input_nearly_as_is():
    y, p = _miscalibrated(2000, 2)
    out = PlattCalibration.fit(y, p).apply(p)
    assert out.dtype == np.float32 and out.shape == p.shape
    for j in range(NUM_LABELS):
        order = np.argsort(p[:, j], kind="stable")
        assert (np.diff(out[order, j]) >= 0).all()
    rng = np.random.default_rng(3)
    true = rng.uniform(0.01, 0.99, (20_000, NUM_LABELS)).astype(np.float32)
    y = (rng.uniform(size=true.shape) < true).astype(np.uint8)
    cal = PlattCalibration.fit(y, true)
    np.testing.assert_allclose(cal.a, 1, atol=0.08)
    np.testing.assert_allclose(cal.b, 0, atol=0.08)


def test_labels_without_dev_evidence_keep_their_values_to_the_bit():
    y, p = _miscalibrated(500, 4)
    y[:, 3] = 0  # no positive on dev
    y[:, 5] = 1  # no negative
    p[:, 7] = 0.2  # flat scores: no ranking
    y[:, 7] = np.arange(500) % 2
    p[:10, 3] = 0.0
    cal = PlattCalibration.fit(y, p)
    assert cal.info["identity"] == [LABELS[3], LABELS[5], LABELS[7]]
    out = cal.apply(p)
    np.testing.assert_array_equal(out[:, [3, 5, 7]], p[:, [3, 5, 7]])
    assert (out[:10, 3] == 0).all()
    np.testing.assert_array_equal(PlattCalibration.identity().apply(p), p)


def test_fit_refuses_shapes_that_do_not_match():
    with pytest.raises(DataError, match="one shape"):
        PlattCalibration.fit(np.zeros((3, 28)), np.zeros((4, 28)))
    with pytest.raises(DataError, match="one shape"):
        PlattCalibration.fit(np.zeros((0, 28)), np.zeros((0, 28)))


def test_json_round_trip_and_one_line_errors(tmp_path):
    y, p = _miscalibrated(300, 5)
    cal = PlattCalibration.fit(y, p)
    obj = json.loads(json.dumps(cal.to_json()))
    back = PlattCalibration.from_json(obj, "m/calibration.json")
    np.testing.assert_array_equal(back.a, cal.a)
    np.testing.assert_array_equal(back.b, cal.b)
    assert back.info == cal.info
    bad = {
        "format": ({**obj, "format": "x"}, "'format' must be 'emobalance-calibration'"),
        "version": ({**obj, "version": 9}, "'version' must be an integer in [1, 1], got 9"),
        "method": ({**obj, "method": "isotonic"}, "'method' must be \"platt\", got \"isotonic\""),
        "missing": ({**obj, "params": {k: v for k, v in obj["params"].items() if k != "grief"}},
                    "'params': no entry for grief"),
        "unknown": ({**obj, "params": {**obj["params"], "griefx": {"a": 1, "b": 0}}},
                    "'params': unknown label \"griefx\""),
        "slope": ({**obj, "params": {**obj["params"], "joy": {"a": -1, "b": 0}}},
                  "'params'.joy.a must be a number in (0, 10000], got -1"),
        "nan": ({**obj, "params": {**obj["params"], "joy": {"a": 1, "b": float("nan")}}},
                "'params'.joy.b must be a number in [-10000, 10000], got NaN"),
        "info": ({**obj, "info": []}, "'info': expected a JSON object, got a list"),
        "list": ([], "expected a JSON object, got a list"),
    }  # fmt: skip
    for name, (value, message) in bad.items():
        with pytest.raises(ModelError) as info:
            PlattCalibration.from_json(value, "m/calibration.json")
        msg = str(info.value)
        assert msg == f"m/calibration.json: {message}" or msg.startswith(
            f"m/calibration.json: {message}"
        ), (name, msg)
        assert "\n" not in msg


# ------------------------------------------------------------------ every model kind
@pytest.fixture(scope="module")
def calibration():
    rng = np.random.default_rng(6)
    return PlattCalibration(rng.uniform(0.5, 2, NUM_LABELS), rng.uniform(-1, 1, NUM_LABELS),
                            {"rows": 32, "identity": []})  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_calibration_round_trips_through_save_and_load(kind, model_kind_paths, calibration,
                                                       tmp_path):  # fmt: skip
    m = load_model(model_kind_paths[kind], device="cpu")
    assert m.calibration_ is None
    cal = m.with_calibration(calibration)
    raw = m.predict_proba(TEXTS)
    np.testing.assert_allclose(cal.predict_proba(TEXTS), calibration.apply(raw), atol=1e-6)
    out = cal.save(tmp_path / ("c.onnx" if kind == "onnx" else "c"))
    back = load_model(out, device="cpu")
    np.testing.assert_array_equal(back.calibration_.a, calibration.a)
    np.testing.assert_array_equal(back.calibration_.b, calibration.b)
    np.testing.assert_array_equal(back.predict_proba(TEXTS), cal.predict_proba(TEXTS))
    ex = back.explain("so happy and glad")
    probe = back.predict_proba(["so happy and glad"])[0]
    np.testing.assert_allclose([ex["probabilities"][lab] for lab in LABELS], probe, atol=1e-5)
    if kind != "onnx":
        assert (out / CALIBRATION_FILE).is_file() and CALIBRATION_FILE in model_files(out)
        assert model_id(out) != model_id(model_kind_paths[kind])
        # saved again without calibration over the folder: the old file goes
        m.save(out)
        assert not (out / CALIBRATION_FILE).exists()
        assert load_model(out, device="cpu").calibration_ is None
    else:
        assert (
            m.save(tmp_path / "plain.onnx").read_bytes()
            == out.with_name("plain.onnx").read_bytes()
            == Path(model_kind_paths["onnx"]).read_bytes()
        )  # unchanged: a copy


def test_a_damaged_calibration_file_is_a_one_line_model_error(model_kind_paths, tmp_path):
    for kind in ("reference", "tfidf"):
        d = tmp_path / kind
        shutil.copytree(model_kind_paths[kind], d)
        (d / CALIBRATION_FILE).write_text('{"format": "emobalance-calibration", "version": 1}')
        with pytest.raises(ModelError) as info:
            load_model(d)
        assert str(info.value) == f"{d / CALIBRATION_FILE}: 'method' must be \"platt\", got null"
        (d / CALIBRATION_FILE).write_text("{")
        with pytest.raises(ModelError, match=rf"^{d / CALIBRATION_FILE}: not valid JSON"):
            load_model(d)


def test_export_carries_the_calibration_into_the_onnx_file(model_kind_paths, calibration,
                                                           tmp_path):  # fmt: skip
    from emobalance.export import check_export, export_onnx

    ref = load_model(model_kind_paths["reference"]).with_calibration(calibration)
    folder = ref.save(tmp_path / "ref")
    path = export_onnx(folder, tmp_path / "ref.onnx")
    assert load_model(path).calibration_ == calibration
    assert check_export(folder, path) < 1e-5


# ------------------------------------------------------------------------ the job
@pytest.fixture(scope="module")
def splits(kind_splits):
    from emobalance.data.dataset import EmotionDataset

    dev_path, test_path = kind_splits
    return (
        dev_path,
        test_path,
        EmotionDataset.from_jsonl(dev_path),
        EmotionDataset.from_parquet(test_path),
    )


@pytest.mark.parametrize("kind", ["reference", "tfidf"])
def test_calibrate_model_fits_on_dev_and_retunes_the_thresholds(kind, model_kind_paths, splits,
                                                                tmp_path):  # fmt: skip
    from emobalance.jobs import calibrate_model

    dev_path, test_path, dev, test = splits
    path = model_kind_paths[kind]
    new, rep = calibrate_model(path, dev_path, test_path, out=tmp_path / "cal")
    assert rep["ece_dev_after"] < rep["ece_dev_before"]
    raw = load_model(path).predict_proba(dev.texts)
    cal = PlattCalibration.fit(dev.labels, raw)
    np.testing.assert_array_equal(new.calibration_.a, cal.a)
    np.testing.assert_array_equal(new.thresholds_, tune_thresholds(dev.labels, cal.apply(raw)))
    assert new.metrics_["dev"]["macro_f1"] == pytest.approx(rep["macro_f1_dev_after"])
    assert new.metrics_["calibration"]["ece_dev_after"] == rep["ece_dev_after"]
    test_proba = load_model(path).predict_proba(test.texts)
    assert rep["ece_test_before"] == pytest.approx(
        expected_calibration_error(test.labels, test_proba)
    )
    assert (rep["n_dev"], rep["n_test"]) == (64, 48) and rep["saved"] == str(tmp_path / "cal")
    back = load_model(tmp_path / "cal")
    np.testing.assert_array_equal(back.thresholds_, new.thresholds_)
    np.testing.assert_array_equal(back.predict_proba(test.texts), new.predict_proba(test.texts))
    # test is only measured: another test set gives the same model
    other, rep2 = calibrate_model(path, dev_path, None)
    np.testing.assert_array_equal(other.thresholds_, new.thresholds_)
    assert rep2["ece_test_before"] is None and rep2["saved"] is None
    assert not (Path(path) / CALIBRATION_FILE).exists()  # out=None saves nothing


def test_the_benchmark_script_prints_its_json_on_a_fixture_model(model_kind_paths, splits):
    dev_path, test_path, _, _ = splits
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "calibration.py"),
         str(model_kind_paths["tfidf"]), "--dev", str(dev_path), "--test", str(test_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("ece_dev_before", "ece_dev_after", "ece_test_before", "ece_test_after",
                "macro_f1_test_before", "macro_f1_test_after"):  # fmt: skip
        assert isinstance(out[key], float) and 0 <= out[key] <= 1, key
    assert out["ece_dev_after"] < out["ece_dev_before"] and out["kind"] == "tfidf"
    assert not (Path(model_kind_paths["tfidf"]) / CALIBRATION_FILE).exists()
