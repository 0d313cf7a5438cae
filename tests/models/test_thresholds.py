"""Per-label thresholds given by the user: one value, a mapping, 28 values or a JSON file;
copies leave the model alone; bad input is one line naming the file, line and label."""

from __future__ import annotations

import numpy as np
import pytest

from emobalance.errors import ConfigError, ModelError
from emobalance.labels import LABEL_TO_ID, LABELS, NUM_LABELS
from emobalance.models.schema import parse_thresholds
from emobalance.models.thresholds import read_threshold_file, resolve_thresholds

BASE = np.linspace(0.1, 0.9, NUM_LABELS).astype(np.float32)
GRIEF, RELIEF = LABEL_TO_ID["grief"], LABEL_TO_ID["relief"]


def test_one_value_for_every_label():
    want = np.full(NUM_LABELS, 0.3, np.float32)
    np.testing.assert_array_equal(resolve_thresholds(0.3, BASE), want)
    assert resolve_thresholds(np.float64(1), BASE).dtype == np.float32
    assert (resolve_thresholds(0, BASE) == 0).all()


def test_a_mapping_changes_the_labels_it_names_only():
    got = resolve_thresholds({"grief": 0.2, " Relief ": 0.35}, BASE)
    want = BASE.copy()
    want[GRIEF], want[RELIEF] = 0.2, 0.35
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(resolve_thresholds({}, BASE), BASE)
    np.testing.assert_array_equal(resolve_thresholds(list(BASE[::-1]), BASE), BASE[::-1])


def test_a_file_changes_the_labels_it_names_only(tmp_path):
    f = tmp_path / "t.json"
    f.write_text('{\n  "grief": 0.2,\n  "relief": 1\n}\n')
    got = resolve_thresholds(f, BASE)
    assert got[GRIEF] == pytest.approx(0.2) and got[RELIEF] == 1.0
    others = np.ones(NUM_LABELS, bool)
    others[[GRIEF, RELIEF]] = False
    np.testing.assert_array_equal(got[others], BASE[others])
    assert np.isnan(read_threshold_file(f)[0])  # the labels not named


IDS = ["unknown", "range", "string", "bool", "nan", "negative", "twice", "case-twice",
       "not-json", "list", "empty"]  # fmt: skip


@pytest.mark.parametrize(
    "text, message",
    [
        ('{\n  "grief": 0.2,\n  "griefx": 0.3\n}', "{f}: line 3: unknown label 'griefx'; "),
        ('{\n  "grief": 7.5\n}', "{f}: line 2: 'grief' must be a number in [0, 1], got 7.5"),
        ('{"grief": "0.2"}', "{f}: line 1: 'grief' must be a number in [0, 1], got \"0.2\""),
        ('{"grief": true}', "{f}: line 1: 'grief' must be a number in [0, 1], got true"),
        ('{"grief": NaN}', "{f}: line 1: 'grief' must be a number in [0, 1], got NaN"),
        ('{"grief": -0.1}', "{f}: line 1: 'grief' must be a number in [0, 1], got -0.1"),
        ('{\n"grief": 0.2,\n"grief": 0.3}', "{f}: line 2: label 'grief' is given twice"),
        ('{"grief": 0.2, "Grief": 0.3}', "{f}: line 1: label 'grief' is given twice"),
        ('{\n  "grief": 0.2,\n}', "{f}: line 3: not valid JSON (Expecting property name"),
        ("[0.2, 0.3]", "{f}: expected a JSON object {{label: threshold}}, got a list"),
        ("", "{f}: line 1: not valid JSON (Expecting value)"),
    ],
    ids=IDS,
)
def test_bad_file_is_one_line_naming_file_line_and_label(tmp_path, text, message):
    f = tmp_path / "t.json"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        resolve_thresholds(f, BASE)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(message.format(f=f)), msg


def test_other_bad_input_is_one_line(tmp_path):
    cases = {
        1.5: "threshold must be a number in [0, 1], got 1.5",
        float("nan"): "threshold must be a number in [0, 1], got nan",
        tmp_path / "missing.json": f"{tmp_path / 'missing.json'}: no such thresholds file",
        tmp_path: f"{tmp_path}: is a directory",
        b"0.3": "thresholds: expected a number, a {label: threshold} mapping",
        True: "thresholds: expected a number",
    }
    for spec, start in cases.items():
        with pytest.raises(ConfigError) as info:
            resolve_thresholds(spec, BASE)
        assert str(info.value).startswith(start) and "\n" not in str(info.value), spec
    with pytest.raises(ConfigError, match=r"^thresholds: thresholds must be a list of 28"):
        resolve_thresholds([0.5] * 3, BASE)
    with pytest.raises(ConfigError, match=r"^thresholds: unknown label 'nope'"):
        resolve_thresholds({"nope": 0.1}, BASE)
    (tmp_path / "latin1.json").write_bytes('{"gr\xefef": 0.1}'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        resolve_thresholds(tmp_path / "latin1.json", BASE)


def test_the_model_file_check_is_unchanged():
    # thresholds.json of a model folder: exactly the 28, a ModelError (partial=False)
    full = {lab: 0.5 for lab in LABELS}
    np.testing.assert_array_equal(parse_thresholds(full, "m/thresholds.json"), 0.5)
    with pytest.raises(ModelError, match=r"^m/thresholds.json: no threshold for admiration"):
        parse_thresholds({"grief": 0.2}, "m/thresholds.json")
    with pytest.raises(ModelError, match=r"^m/t.json: 'grief' must be a number in \[0, 1\]"):
        parse_thresholds({**full, "grief": 2}, "m/t.json")


@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer", "onnx"])
def test_with_thresholds_returns_a_copy_for_every_kind(kind, model_kind_paths, tmp_path):
    from emobalance.models.registry import load_model

    m = load_model(model_kind_paths[kind], device="cpu")
    saved = m.thresholds_.copy()
    texts = ["thanks so much", "I am furious", "so happy and glad"]
    low = m.with_thresholds(0.0)
    assert low is not m and type(low) is type(m)
    np.testing.assert_array_equal(m.thresholds_, saved)  # the model is untouched
    assert all(len(labels) == NUM_LABELS for labels in low.predict(texts))
    np.testing.assert_array_equal(low.predict_proba(texts), m.predict_proba(texts))
    one = m.with_thresholds({"grief": 0.0})
    assert all("grief" in labels for labels in one.predict(texts))
    assert "grief" in one.explain("so happy")["labels"]
    out = one.save(tmp_path / ("t.onnx" if kind == "onnx" else "t"))
    back = load_model(out, device="cpu")
    np.testing.assert_array_equal(back.thresholds_, one.thresholds_)
