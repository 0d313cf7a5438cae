import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import emobalance
from emobalance.errors import ConfigError, DataError
from emobalance.labels import (
    EKMAN,
    EKMAN_LABELS,
    GROUPINGS,
    LABEL_TO_ID,
    LABELS,
    NEUTRAL,
    NUM_LABELS,
    SENTIMENT,
    SENTIMENT_LABELS,
    LabelError,
    collapse_labels,
    collapse_probabilities,
    group_names,
    label_id,
    label_ids,
    matrix_to_names,
    names_to_matrix,
)


def test_label_constants():
    assert NUM_LABELS == 28 == len(LABELS) == len(set(LABELS))
    assert LABELS[0] == "admiration"
    assert LABELS[16] == "grief"
    assert LABELS[27] == NEUTRAL == "neutral"
    assert all(LABEL_TO_ID[name] == i for i, name in enumerate(LABELS))
    assert emobalance.LABELS is LABELS
    assert emobalance.EKMAN is EKMAN and emobalance.SENTIMENT is SENTIMENT


@pytest.mark.parametrize("grouping", ["ekman", "sentiment"])
def test_groupings_partition_the_28_labels(grouping):
    members = [m for group in GROUPINGS[grouping].values() for m in group]
    assert sorted(members) == sorted(LABELS)  # every label exactly once
    assert GROUPINGS[grouping][NEUTRAL] == (NEUTRAL,)


def test_group_names():
    assert group_names("ekman") == EKMAN_LABELS
    assert EKMAN_LABELS == ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
    assert group_names("sentiment") == SENTIMENT_LABELS
    assert SENTIMENT_LABELS == ("positive", "negative", "ambiguous", "neutral")
    assert group_names({"a": ["joy"], "b": ["grief"]}) == ("a", "b")
    with pytest.raises(ValueError, match="unknown grouping 'plutchik'"):
        group_names("plutchik")


@pytest.mark.data
def test_labels_equal_official_emotions_txt(data_dir):
    text = (data_dir / "goemotions" / "emotions.txt").read_text(encoding="utf-8")
    assert tuple(text.split()) == LABELS


@pytest.mark.data
def test_ekman_equals_official_mapping(data_dir):
    official = json.loads((data_dir / "goemotions" / "ekman_mapping.json").read_text())
    ours = {k: list(v) for k, v in EKMAN.items() if k != NEUTRAL}
    assert ours == official
    assert list(ours) == list(official)  # same group order too


@pytest.mark.data
def test_sentiment_equals_official_dict(data_dir):
    official = json.loads((data_dir / "goemotions" / "sentiment_dict.json").read_text())
    ours = {k: list(v) for k, v in SENTIMENT.items() if k != NEUTRAL}
    assert ours == official
    assert list(ours) == list(official)


def test_label_id():
    assert label_id("grief") == 16
    assert label_id("  Neutral ") == 27
    with pytest.raises(KeyError, match="unknown emotion label 'happiness'"):
        label_id("happiness")


def test_label_id_accepts_ids_and_names_the_place():
    assert label_id(16) == label_id(np.int64(16)) == label_id(" 16 ") == 16
    with pytest.raises(LabelError, match=r"^train\.csv: line 3: unknown label 'happy'; expected"):
        label_id("happy", "train.csv: line 3", what="label")
    with pytest.raises(DataError) as info:
        label_id(28, "row 2")
    err = info.value
    assert str(err) == "row 2: label id 28 outside 0..27"  # one line, no KeyError quotes
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    for bad in ("-1", -1, True, None, 2.0, "", "1.5"):
        with pytest.raises(LabelError):
            label_id(bad)
    with pytest.raises(ConfigError, match=r"^balance\.undersample: unknown emotion label 'x'"):
        label_id("x", "balance.undersample", error=ConfigError)


def test_label_ids():
    assert label_ids("love, joy,,17") == [17, 18]
    assert label_ids(["neutral", 0, "admiration"]) == [0, 27]
    assert label_ids(5) == [5] and label_ids("") == [] and label_ids(()) == []
    assert label_ids("joy;love", sep=";") == [17, 18]
    with pytest.raises(LabelError, match=r"^line 2: labels must be a list or a string, got dict"):
        label_ids({"joy": 1}, "line 2")
    with pytest.raises(LabelError, match=r"^line 2: unknown label 'happiness'"):
        label_ids("joy,happiness", "line 2", what="label")


def _rows(*names_per_row):
    y = np.zeros((len(names_per_row), NUM_LABELS), dtype=np.uint8)
    for i, names in enumerate(names_per_row):
        for name in names:
            y[i, LABELS.index(name)] = 1
    return y


def test_collapse_labels_ekman_any():
    y = _rows(
        ["annoyance", "disapproval"],  # both anger
        ["grief", "joy"],  # sadness + joy
        ["neutral"],
        [],  # nothing on
        ["curiosity", "fear", "disgust"],
    )
    out = collapse_labels(y, "ekman")
    assert out.dtype == np.uint8
    #            anger disgust fear joy sadness surprise neutral
    expected = [
        [1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 1, 0],
    ]
    assert out.tolist() == expected
    assert collapse_labels(y).tolist() == expected  # ekman is the default


def test_collapse_labels_sentiment_any():
    y = _rows(["admiration"], ["anger", "relief"], ["surprise"], ["neutral", "realization"])
    #            positive negative ambiguous neutral
    expected = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]
    assert collapse_labels(y, "sentiment").tolist() == expected


def test_collapse_labels_custom_mapping():
    y = _rows(["joy"], ["grief"], ["joy", "grief"])
    out = collapse_labels(y, {"happy": ["joy", "love"], "sad": ["grief"]})
    assert out.tolist() == [[1, 0], [0, 1], [1, 1]]


def test_collapse_probabilities_max():
    p = np.zeros((2, NUM_LABELS), dtype=np.float64)
    p[0, LABELS.index("anger")] = 0.2
    p[0, LABELS.index("annoyance")] = 0.7  # max of the anger group
    p[0, LABELS.index("disapproval")] = 0.1
    p[0, LABELS.index("neutral")] = 0.05
    p[1, LABELS.index("grief")] = 0.4
    p[1, LABELS.index("remorse")] = 0.9
    p[1, LABELS.index("surprise")] = 0.3
    out = collapse_probabilities(p, "ekman")
    assert out.dtype == np.float32
    expected = [
        [0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05],
        [0.0, 0.0, 0.0, 0.0, 0.9, 0.3, 0.0],
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    sent = collapse_probabilities(p, "sentiment")
    np.testing.assert_allclose(sent, [[0.0, 0.7, 0.0, 0.05], [0.0, 0.9, 0.3, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("func", [collapse_labels, collapse_probabilities])
def test_collapse_rejects_bad_shapes(func):
    with pytest.raises(ValueError, match=r"shape \(n, 28\)"):
        func(np.zeros((3, 27)))
    with pytest.raises(ValueError, match=r"shape \(n, 28\)"):
        func(np.zeros(28))
    with pytest.raises(ValueError, match="unknown grouping"):
        func(np.zeros((1, 28)), "nope")


def test_collapse_empty_matrix():
    assert collapse_labels(np.zeros((0, 28), dtype=np.uint8)).shape == (0, 7)
    assert collapse_probabilities(np.zeros((0, 28)), "sentiment").shape == (0, 4)


def test_names_to_matrix_and_back():
    y = names_to_matrix([["joy", "Love"], [27], [], [0, "admiration"]])
    assert y.dtype == np.uint8 and y.shape == (4, 28)
    assert y.sum() == 4
    assert matrix_to_names(y) == [["joy", "love"], ["neutral"], [], ["admiration"]]
    with pytest.raises(ValueError, match=r"row 1: label id 28 outside 0\.\.27"):
        names_to_matrix([["joy"], [28]])
    with pytest.raises(KeyError):
        names_to_matrix([["happiness"]])
    with pytest.raises(ValueError):
        matrix_to_names(np.zeros((2, 5)))


# ----------------------------------------------------- issue 14: odd digits, fuzzed labels
@pytest.mark.parametrize(
    ("label", "match"),
    [
        ("²", r"unknown label '²'"),  # str.isdigit() is True, int() refuses it
        ("١٧", r"unknown label '١٧'"),  # Arabic-Indic 17: int() would read it as 17
        ("１７", r"unknown label '１７'"),  # fullwidth 17
        ("1" * 5000, r"label id 1{40}\.\.\. outside 0\.\.27$"),  # int() refuses 4,300+ digits
        ("-" + "9" * 5000, r"label id -9{39}\.\.\. outside 0\.\.27$"),
        ("x" * 5000, r"unknown label 'x{39}\.\.\.; expected one of"),
        ("10**5000", r"label id \(an integer of over 38 digits\) outside 0\.\.27$"),
        ("-10**50", r"label id \(an integer of over 38 digits\) outside"),
    ],
)
def test_label_id_odd_digits_and_long_labels(label, match):
    if "**" in label:  # a huge int (built here: pytest cannot show it as a test id)
        base, exp = label.lstrip("-").split("**")
        label = (-1 if label.startswith("-") else 1) * int(base) ** int(exp)
    with pytest.raises(LabelError, match=match) as info:
        label_id(label, what="label")
    assert len(str(info.value)) < 400


def test_label_id_ascii_ids_with_zeros():
    assert label_id("0" * 5000 + "17") == 17 and label_id("-0") == 0 and label_id("027") == 27
    with pytest.raises(LabelError, match="label id 028 outside"):
        label_id("028")


_label_like = (
    st.text(max_size=6)
    | st.sampled_from(
        ["²", "١٧", "17", " 17 ", "-1", "28", "Joy", "neutral ", "1" * 5000, "0" * 99]
    )
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.none()
    | st.binary(max_size=3)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)
)


@pytest.mark.fuzz
@given(label=_label_like)
def test_label_id_fuzz(label):
    """An id in 0..27 or one LabelError line; an ASCII id or a name reads as what it says."""
    try:
        j = label_id(label, "here", what="label")
    except LabelError as exc:
        msg = str(exc)
        assert msg.startswith("here: ") and "\n" not in msg and len(msg) < 400
        return
    assert isinstance(j, int) and 0 <= j < NUM_LABELS
    if isinstance(label, str):
        key = label.strip().lower()
        assert key == LABELS[j] or (key.isascii() and int(key) == j)
    else:
        assert not isinstance(label, bool) and label == j


@pytest.mark.fuzz
@given(labels=_label_like | st.lists(_label_like, max_size=4), sep=st.sampled_from([",", ";"]))
def test_label_ids_fuzz(labels, sep):
    try:
        ids = label_ids(labels, "here", sep=sep, what="label")
    except LabelError as exc:
        assert str(exc).startswith("here: ") and "\n" not in str(exc)
        return
    assert ids == sorted(set(ids)) and all(0 <= j < NUM_LABELS for j in ids)
    assert names_to_matrix([ids]).sum() == len(ids)
