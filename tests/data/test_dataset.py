import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emobalance.data import EmotionDataset, load_any
from emobalance.errors import DataError, EmobalanceError
from emobalance.labels import GOEMOTIONS, LABELS, NUM_LABELS


def onehot(*names_per_row):
    y = np.zeros((len(names_per_row), NUM_LABELS), dtype=np.uint8)
    for i, names in enumerate(names_per_row):
        for name in names:
            y[i, LABELS.index(name)] = 1
    return y


@pytest.fixture
def ds():
    return EmotionDataset(
        ["I love it", "so sad", "what?", "ok"],
        labels=onehot(["love", "joy"], ["sadness"], ["curiosity", "confusion"], ["neutral"]),
        source=["goemotions", "goemotions", "augmented", "generated"],
        ids=["a", "b", "c", "d"],
        weight=[1.0, 2.0, 0.5, 1.0],
        parent_id=[None, None, "a", None],
        teacher_score=[np.nan, np.nan, np.nan, 0.93],
        meta={"polarity": [4, 0, None, 2], "note": ["x", "y", "z", "w"]},
    )


def assert_same(a: EmotionDataset, b: EmotionDataset):
    assert a.texts == b.texts
    assert a.source == b.source
    assert a.ids == b.ids
    if a.labels is None:
        assert b.labels is None
    else:
        assert b.labels is not None
        assert b.labels.dtype == np.uint8 and b.labels.shape == a.labels.shape
        np.testing.assert_array_equal(a.labels, b.labels)
    for attr in ("weight", "teacher_score"):
        x, y = getattr(a, attr), getattr(b, attr)
        if x is None:
            assert y is None
        else:
            assert y.dtype == np.float32
            np.testing.assert_array_equal(x, y)  # NaN == NaN here
    assert a.parent_id == b.parent_id
    assert a.meta == b.meta
    assert list(a.meta) == list(b.meta)


# ------------------------------------------------------------------ construction
def test_construction_defaults():
    d = EmotionDataset(["a", "b"], labels=[[0] * 27 + [1], [1] + [0] * 27])
    assert len(d) == 2
    assert d.labels.dtype == np.uint8 and d.labels.shape == (2, 28)
    assert d.labels.flags["C_CONTIGUOUS"]
    assert d.source == ["user", "user"]
    assert d.ids == ["user-0", "user-1"]
    assert d.weight is None and d.parent_id is None and d.teacher_score is None
    assert d.meta == {}
    assert d.is_labelled
    assert repr(d) == "EmotionDataset(n=2, labelled, sources: user=2)"


def test_construction_accepts_bool_and_int64_labels():
    y = np.zeros((2, 28), dtype=bool)
    y[0, 3] = True
    assert EmotionDataset(["a", "b"], labels=y).labels[0, 3] == 1
    d = EmotionDataset(["a", "b"], labels=y.astype(np.int64), source="generated")
    assert d.labels.dtype == np.uint8
    assert d.ids == ["generated-0", "generated-1"]
    assert d.weight is None
    w = EmotionDataset(["a"], weight=[3], teacher_score=[0.5])
    assert w.weight.dtype == np.float32 and w.teacher_score.dtype == np.float32


def test_unlabelled_and_empty():
    d = EmotionDataset(["a", "b"])
    assert not d.is_labelled and d.labels is None
    assert repr(d) == "EmotionDataset(n=2, unlabelled, sources: user=2)"
    with pytest.raises(DataError, match="unlabelled"):
        d.label_counts()
    with pytest.raises(DataError, match="unlabelled"):
        d.label_names()
    e = EmotionDataset([], labels=np.zeros((0, 28)))
    assert len(e) == 0 and e.labels.shape == (0, 28)
    assert repr(e) == "EmotionDataset(n=0, labelled, sources: -)"


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros((2, 27)), r"shape \(2, 28\), got \(2, 27\)"),
        (np.zeros((3, 28)), r"shape \(2, 28\), got \(3, 28\)"),
        (np.zeros(56), r"shape \(2, 28\), got \(56,\)"),
        (np.zeros((2, 28, 1)), r"shape \(2, 28\)"),
        (np.full((2, 28), 0.5), "0 or 1"),
        (np.full((2, 28), np.nan), "0 or 1"),
        (np.full((2, 28), "1"), "numeric"),
    ],
)
def test_construction_rejects_bad_label_matrices(labels, match):
    with pytest.raises(DataError, match=match):
        EmotionDataset(["a", "b"], labels=labels)


def test_bad_label_value_is_located():
    y = np.zeros((3, 28), dtype=np.int64)
    y[2, LABELS.index("grief")] = 2
    with pytest.raises(DataError, match="row 2, label 'grief' is 2"):
        EmotionDataset(["a", "b", "c"], labels=y)
    y[2, LABELS.index("grief")] = -1
    with pytest.raises(DataError, match="row 2, label 'grief' is -1"):
        EmotionDataset(["a", "b", "c"], labels=y)


@pytest.mark.parametrize("bad", [None, b"bytes", 3, ["a"]])
def test_construction_rejects_non_str_texts(bad):
    with pytest.raises(DataError, match=r"text of row 1 is \w+, expected str"):
        EmotionDataset(["fine", bad])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": ["user"]}, "source has 1 rows but there are 2 texts"),
        ({"source": ["user"] * 3}, "source has 3 rows"),
        ({"ids": ["a"]}, "id has 1 rows"),
        ({"weight": [1.0, 1.0, 1.0]}, "weight has 3 rows"),
        ({"parent_id": [None]}, "parent_id has 1 rows"),
        ({"teacher_score": [0.5]}, "teacher_score has 1 rows"),
        ({"meta": {"polarity": [0]}}, "meta column 'polarity' has 1 rows"),
        ({"meta": {"labels": [0, 1]}}, "may not be named"),
        ({"meta": {"text": ["x", "y"], "ok": [1, 2]}}, r"may not be named \['text'\]"),
    ],
)
def test_construction_rejects_unequal_lengths(kwargs, match):
    with pytest.raises(DataError, match=match):
        EmotionDataset(["a", "b"], **kwargs)


def test_errors_are_emobalance_errors():
    assert issubclass(DataError, EmobalanceError)


# --------------------------------------------------------------------- counts
def test_label_counts_names_and_sources(ds):
    counts = ds.label_counts()
    assert list(counts) == list(LABELS)
    assert sum(counts.values()) == 6
    assert {k: v for k, v in counts.items() if v} == {
        "confusion": 1,
        "curiosity": 1,
        "joy": 1,
        "love": 1,
        "sadness": 1,
        "neutral": 1,
    }
    assert all(isinstance(v, int) for v in counts.values())
    assert ds.label_names() == [
        ["joy", "love"],
        ["sadness"],
        ["confusion", "curiosity"],
        ["neutral"],
    ]
    assert ds.counts_by_source() == {"goemotions": 2, "augmented": 1, "generated": 1}


# ------------------------------------------------------------ subset / filter
def test_subset_keeps_order_repeats_and_all_columns(ds):
    s = ds.subset([2, 0, 2, -1])
    assert s.texts == ["what?", "I love it", "what?", "ok"]
    assert s.ids == ["c", "a", "c", "d"]
    assert s.source == ["augmented", "goemotions", "augmented", "generated"]
    np.testing.assert_array_equal(s.labels, ds.labels[[2, 0, 2, 3]])
    np.testing.assert_array_equal(s.weight, [0.5, 1.0, 0.5, 1.0])
    assert s.parent_id == ["a", None, "a", None]
    np.testing.assert_array_equal(
        s.teacher_score, np.array([np.nan, np.nan, np.nan, 0.93], dtype=np.float32)
    )
    assert s.meta == {"polarity": [None, 4, None, 2], "note": ["z", "x", "z", "w"]}
    # the original is untouched
    assert ds.texts == ["I love it", "so sad", "what?", "ok"]


def test_subset_empty_and_out_of_range(ds):
    e = ds.subset([])
    assert len(e) == 0 and e.labels.shape == (0, 28) and e.meta == {"polarity": [], "note": []}
    with pytest.raises(IndexError, match="4 rows"):
        ds.subset([0, 4])
    with pytest.raises(IndexError):
        ds.subset([-5])


def test_replace_keeps_other_columns_and_copies(ds):
    score = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    out = ds.replace(teacher_score=score, source="generated")
    assert out.source == ["generated"] * 4 and out.teacher_score.tolist() == score.tolist()
    assert_same(out.replace(teacher_score=ds.teacher_score, source=ds.source), ds)
    assert_same(ds.replace(), ds)
    out.labels[0, :] = 0  # an unchanged column is a copy: the original is untouched
    out.weight[0] = 9.0
    assert ds.labels[0].sum() == 2 and ds.weight[0] == 1.0
    assert not ds.replace(labels=None).is_labelled
    assert ds.replace(parent_id=None).parent_id is None and ds.parent_id is not None


def test_replace_validates_new_columns(ds):
    with pytest.raises(DataError, match="weight has 2 rows but there are 4 texts"):
        ds.replace(weight=[1.0, 2.0])
    with pytest.raises(DataError, match=r"labels must have shape \(4, 28\)"):
        ds.replace(labels=np.zeros((4, 3)))
    with pytest.raises(DataError, match=r"labels must have shape \(2, 28\), got \(4, 28\)"):
        ds.replace(texts=["a", "b"])
    with pytest.raises(TypeError, match=r"unknown columns \['label'\]"):
        ds.replace(label=None)


def test_filter_mask_and_predicate(ds):
    f = ds.filter([True, False, True, False])
    assert f.ids == ["a", "c"]
    assert f.meta["note"] == ["x", "z"]
    g = ds.filter(np.array([False, False, False, True]))
    assert g.texts == ["ok"] and g.teacher_score.tolist() == pytest.approx([0.93])
    h = ds.filter(lambda t: "o" in t)
    assert h.texts == ["I love it", "so sad", "ok"]
    assert len(ds.filter(lambda t: False)) == 0
    with pytest.raises(DataError, match=r"mask has shape \(3,\), expected \(4,\)"):
        ds.filter([True, True, False])


# ---------------------------------------------------------------------- concat
def test_concat_fills_missing_optional_columns():
    a = EmotionDataset(["a1", "a2"], onehot(["joy"], ["neutral"]), source="goemotions")
    b = EmotionDataset(
        ["b1"],
        onehot(["grief"]),
        source="oversampled",
        ids=["b-0"],
        weight=[3.0],
        parent_id=["a1-id"],
    )
    c = EmotionDataset(
        ["c1"], onehot(["fear"]), source="generated", teacher_score=[0.8], meta={"model": ["m"]}
    )
    out = EmotionDataset.concat([a, b, c])
    assert out.texts == ["a1", "a2", "b1", "c1"]
    assert out.source == ["goemotions", "goemotions", "oversampled", "generated"]
    assert out.ids == ["goemotions-0", "goemotions-1", "b-0", "generated-0"]
    assert out.labels.dtype == np.uint8
    assert out.label_names() == [["joy"], ["neutral"], ["grief"], ["fear"]]
    np.testing.assert_array_equal(out.weight, np.array([1.0, 1.0, 3.0, 1.0], dtype=np.float32))
    assert out.parent_id == [None, None, "a1-id", None]
    ts = out.teacher_score
    assert np.isnan(ts[:3]).all() and ts[3] == pytest.approx(0.8)
    assert out.meta == {"model": [None, None, None, "m"]}
    assert out.counts_by_source() == {"goemotions": 2, "oversampled": 1, "generated": 1}


def test_concat_without_optional_columns_keeps_none():
    a = EmotionDataset(["x"], onehot(["joy"]))
    out = a + EmotionDataset(["y"], onehot(["love"]))
    assert out.texts == ["x", "y"]
    assert out.weight is None and out.parent_id is None and out.teacher_score is None
    assert out.meta == {}


def test_concat_unlabelled_and_edge_cases():
    u = EmotionDataset.concat([EmotionDataset(["a"]), EmotionDataset(["b"], meta={"p": [4]})])
    assert u.labels is None and u.texts == ["a", "b"] and u.meta == {"p": [None, 4]}
    with pytest.raises(DataError, match="labelled and unlabelled"):
        EmotionDataset.concat([EmotionDataset(["a"]), EmotionDataset(["b"], onehot(["joy"]))])
    empty = EmotionDataset.concat([])
    assert len(empty) == 0 and empty.labels.shape == (0, 28)
    one = EmotionDataset.concat(iter([EmotionDataset(["only"], onehot([]))]))
    assert one.texts == ["only"]


# --------------------------------------------------------------------- parquet
def test_parquet_round_trip_all_columns(ds, tmp_path):
    path = ds.to_parquet(tmp_path / "ds.parquet")
    assert path == tmp_path / "ds.parquet"
    assert [p.name for p in tmp_path.iterdir()] == ["ds.parquet"]  # no temp file left
    back = EmotionDataset.from_parquet(path)
    assert_same(ds, back)
    assert np.isnan(back.teacher_score[:3]).all()
    table = pq.read_table(path)
    assert pa.types.is_fixed_size_list(table.schema.field("labels").type)
    assert table.schema.field("labels").type.list_size == 28
    assert json.loads(table.schema.metadata[b"emobalance.labels"]) == list(LABELS)


def test_parquet_round_trip_unlabelled_and_empty(tmp_path):
    u = EmotionDataset(
        ["tweet one", "tweet two"], None, source="sentiment140", meta={"polarity": [0, 4]}
    )
    back = EmotionDataset.from_parquet(u.to_parquet(tmp_path / "u.parquet"))
    assert_same(u, back)
    assert not back.is_labelled
    e = EmotionDataset([], labels=np.zeros((0, 28), dtype=np.uint8))
    assert_same(e, EmotionDataset.from_parquet(e.to_parquet(tmp_path / "e.parquet")))
    e2 = EmotionDataset([])
    assert_same(e2, EmotionDataset.from_parquet(e2.to_parquet(tmp_path / "e2.parquet")))


def test_parquet_overwrite_is_atomic(ds, tmp_path):
    path = tmp_path / "ds.parquet"
    ds.to_parquet(path)
    ds.subset([0]).to_parquet(path)
    assert len(EmotionDataset.from_parquet(path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ds.parquet"]


def test_from_parquet_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        EmotionDataset.from_parquet(tmp_path / "missing.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet at all", encoding="utf-8")
    with pytest.raises(DataError, match=r"junk\.parquet: not a readable Parquet file"):
        EmotionDataset.from_parquet(junk)
    no_text = tmp_path / "no_text.parquet"
    pq.write_table(pa.table({"body": ["a"]}), no_text)
    with pytest.raises(DataError, match=r"no_text\.parquet: no 'text' column \(columns: body\)"):
        EmotionDataset.from_parquet(no_text)
    null_text = tmp_path / "null_text.parquet"
    pq.write_table(pa.table({"text": ["a", None]}), null_text)
    with pytest.raises(DataError, match=r"null_text\.parquet: row 1: text is NoneType"):
        EmotionDataset.from_parquet(null_text)
    order = tmp_path / "order.parquet"
    table = EmotionDataset(["a"], onehot(["joy"])).to_arrow()
    meta = {b"emobalance.labels": json.dumps(list(reversed(LABELS))).encode()}
    pq.write_table(table.replace_schema_metadata(meta), order)
    # another order is another schema: read as such, refused where GoEmotions' is expected
    assert EmotionDataset.from_parquet(order).schema.names == tuple(reversed(LABELS))
    with pytest.raises(DataError, match=r"speaks goemotions \(28 labels.*order\.parquet"):
        EmotionDataset.from_parquet(order, schema=GOEMOTIONS)
    bad = tmp_path / "bad_schema.parquet"
    meta = {b"emobalance.label_schema": b'{"labels": ["a", "A"]}'}
    pq.write_table(table.replace_schema_metadata(meta), bad)
    with pytest.raises(DataError, match=r"bad_schema\.parquet.*'A' is given twice"):
        EmotionDataset.from_parquet(bad)


def test_from_arrow_plain_list_labels_and_minimal_columns():
    # e.g. written by pandas: labels as list<int64>, no source/id columns
    rows = [[0] * 28, [1] + [0] * 27]
    table = pa.table({"text": ["a", "b"], "labels": pa.array(rows, type=pa.list_(pa.int64()))})
    d = EmotionDataset.from_arrow(table)
    assert d.labels.dtype == np.uint8 and d.labels[1, 0] == 1
    assert d.source == ["user", "user"] and d.ids == ["user-0", "user-1"]
    bad = pa.table({"text": ["a"], "labels": pa.array([[0, 1]], type=pa.list_(pa.int64()))})
    with pytest.raises(DataError, match=r"shape \(1, 28\)"):
        EmotionDataset.from_arrow(bad)


_text = st.text(max_size=20)
_opt_str = st.none() | st.text(max_size=5)


@st.composite
def datasets(draw):
    n = draw(st.integers(0, 8))
    texts = draw(st.lists(_text, min_size=n, max_size=n))
    labelled = draw(st.booleans())
    labels = None
    if labelled:
        bits = draw(st.lists(st.integers(0, 2**28 - 1), min_size=n, max_size=n))
        labels = np.array([[(b >> j) & 1 for j in range(28)] for b in bits], dtype=np.uint8)
        labels = labels.reshape(n, 28)
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    kwargs = {}
    if draw(st.booleans()):
        kwargs["weight"] = draw(st.lists(floats, min_size=n, max_size=n))
    if draw(st.booleans()):
        kwargs["parent_id"] = draw(st.lists(_opt_str, min_size=n, max_size=n))
    if draw(st.booleans()):
        kwargs["teacher_score"] = draw(st.lists(floats, min_size=n, max_size=n))
    if n and draw(st.booleans()):
        kwargs["meta"] = {
            "polarity": draw(
                st.lists(st.none() | st.sampled_from([0, 2, 4]), min_size=n, max_size=n)
            ),
            "note": draw(st.lists(_text, min_size=n, max_size=n)),
        }
    source = draw(
        st.sampled_from(["user", "goemotions"])
        | st.lists(st.sampled_from(["generated", "augmented"]), min_size=n, max_size=n)
    )
    ids = draw(st.none() | st.lists(st.text(max_size=6), min_size=n, max_size=n))
    return EmotionDataset(texts, labels, source=source, ids=ids, **kwargs)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(d=datasets())
def test_parquet_round_trip_property(d, tmp_path):
    path = tmp_path / "prop.parquet"
    back = EmotionDataset.from_parquet(d.to_parquet(path))
    assert_same(d, back)
    assert [p.name for p in tmp_path.iterdir()] == ["prop.parquet"]


# ------------------------------------------------------------------------- csv
def test_from_csv_label_names(fixtures_dir):
    d = EmotionDataset.from_csv(fixtures_dir / "datasets" / "labels_names.csv")
    assert d.ids == ["r1", "r2", "r3", "r4"]
    assert d.texts[1] == "What, exactly?"
    assert d.texts[2] == 'a "quoted" text\nspanning two lines'
    assert d.label_names() == [["joy", "love"], ["curiosity"], ["neutral"], []]
    assert d.source == ["user"] * 4


def test_from_csv_label_ids(fixtures_dir):
    d = EmotionDataset.from_csv(fixtures_dir / "datasets" / "labels_ids.csv", source="goemotions")
    assert d.label_names() == [["joy", "love"], ["curiosity"], ["neutral"]]
    assert d.source == ["goemotions"] * 3


def test_from_csv_configurable_columns(fixtures_dir):
    d = EmotionDataset.from_csv(
        fixtures_dir / "datasets" / "custom_columns.csv",
        text_column="comment",
        labels_column="emotions",
        id_column="comment_id",
        delimiter=";",
        label_sep="|",
    )
    assert d.texts == ["so happy", "so sad"]
    assert d.ids == ["c1", "c2"]
    assert d.label_names() == [["excitement", "joy"], ["sadness"]]


def test_from_csv_wide_format(fixtures_dir):
    path = fixtures_dir / "datasets" / "wide.csv"
    for kwargs in ({}, {"labels_column": None}):
        d = EmotionDataset.from_csv(path, **kwargs)
        assert d.texts == ["thanks, I love it", "nothing", "no label at all"]
        assert d.ids == ["w1", "w2", "w3"]
        assert d.label_names() == [["gratitude", "love"], ["neutral"], []]


def test_from_csv_unlabelled(fixtures_dir):
    d = EmotionDataset.from_csv(fixtures_dir / "datasets" / "unlabelled.csv")
    assert not d.is_labelled
    assert d.texts == ["first text", "second text"]
    assert d.ids == ["user-0", "user-1"]  # no id column


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("bad_extra_field.csv", {}, "line 4: expected 3 fields"),
        ("bad_missing_field.csv", {}, "line 3: expected 3 fields"),
        ("bad_unknown_label.csv", {}, "line 3: unknown label 'happiness'"),
        ("bad_label_id.csv", {}, "line 3: label id 28 outside 0..27"),
        ("wide_bad_flag.csv", {}, "line 3: column 'neutral' must be 0 or 1, got '2'"),
        ("labels_names.csv", {"text_column": "body"}, "line 1: no column 'body'"),
        ("bad_not_utf8.csv", {}, "not UTF-8"),
    ],
)
def test_from_csv_malformed_rows_name_file_and_line(fixtures_dir, name, kwargs, match):
    path = fixtures_dir / "datasets" / name
    with pytest.raises(DataError, match=match) as info:
        EmotionDataset.from_csv(path, **kwargs)
    assert str(path) in str(info.value)


def test_from_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        EmotionDataset.from_csv(tmp_path / "nope.csv")


# ----------------------------------------------------------------------- jsonl
def test_from_jsonl_label_names(fixtures_dir):
    d = EmotionDataset.from_jsonl(fixtures_dir / "datasets" / "labels_names.jsonl")
    assert d.ids == ["j1", "j2", "j3"]  # the blank line is skipped
    assert d.texts == ["I love it", "What, exactly?", "nothing"]
    assert d.label_names() == [["joy", "love"], ["curiosity"], ["neutral"]]


def test_from_jsonl_label_ids_and_custom_fields(fixtures_dir):
    d = EmotionDataset.from_jsonl(
        fixtures_dir / "datasets" / "labels_ids.jsonl",
        text_column="body",
        labels_column="emotions",
        source="generated",
    )
    assert d.ids == ["1", "2", "3"]
    assert d.texts == ["I love it", "What, exactly?", "nothing"]
    assert d.label_names() == [["joy", "love"], ["curiosity"], ["neutral"]]
    assert d.source == ["generated"] * 3


def test_from_jsonl_unlabelled(fixtures_dir):
    d = EmotionDataset.from_jsonl(fixtures_dir / "datasets" / "unlabelled.jsonl")
    assert not d.is_labelled and d.texts == ["first", "second"]
    empty = EmotionDataset.from_jsonl(
        fixtures_dir / "datasets" / "labels_names.jsonl", labels_column=None
    )
    assert not empty.is_labelled and len(empty) == 3


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("bad_json.jsonl", "line 3: invalid JSON"),
        ("bad_not_object.jsonl", "line 2: expected a JSON object"),
        ("bad_missing_text.jsonl", "line 2: no field 'text'"),
        ("bad_text_type.jsonl", "line 1: field 'text' is not a string"),
        ("bad_missing_labels.jsonl", "line 3: no field 'labels'"),
        ("bad_labels_type.jsonl", "line 1: labels must be a list or a string, got dict"),
        ("bad_label_id.jsonl", "line 2: label id 28 outside 0..27"),
        ("bad_partial_ids.jsonl", "line 2: no field 'id'"),
        ("bad_not_utf8.csv", "not UTF-8"),
    ],
)
def test_from_jsonl_malformed_rows_name_file_and_line(fixtures_dir, name, match):
    path = fixtures_dir / "datasets" / name
    with pytest.raises(DataError, match=match) as info:
        EmotionDataset.from_jsonl(path)
    assert str(path) in str(info.value)


def test_jsonl_round_trip(ds, tmp_path):
    path = ds.to_jsonl(tmp_path / "out.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "id": "a",
        "text": "I love it",
        "source": "goemotions",
        "labels": ["joy", "love"],
    }
    back = EmotionDataset.from_jsonl(path)
    assert back.texts == ds.texts and back.ids == ds.ids
    np.testing.assert_array_equal(back.labels, ds.labels)
    u = EmotionDataset(["é ü"], None)
    u_back = EmotionDataset.from_jsonl(u.to_jsonl(tmp_path / "u.jsonl"))
    assert u_back.texts == ["é ü"] and not u_back.is_labelled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "u.jsonl"]


# -------------------------------------------------------------------- load_any
def test_load_any_by_extension(fixtures_dir, ds, tmp_path):
    tsv = load_any(fixtures_dir / "goemotions" / "dev.tsv")
    assert len(tsv) == 3 and tsv.source == ["user"] * 3
    assert load_any(fixtures_dir / "datasets" / "labels_ids.csv").ids == ["r1", "r2", "r3"]
    assert len(load_any(fixtures_dir / "datasets" / "labels_names.jsonl")) == 3
    assert_same(ds, load_any(ds.to_parquet(tmp_path / "x.parquet")))
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_any(fixtures_dir / "datasets" / "texts.txt")


def test_teacher_score_nan_survives_everything(tmp_path):
    d = EmotionDataset(["a", "b"], onehot([], ["joy"]), teacher_score=[math.nan, 0.25])
    back = EmotionDataset.from_parquet(d.to_parquet(tmp_path / "t.parquet"))
    assert math.isnan(back.teacher_score[0]) and back.teacher_score[1] == 0.25
    both = EmotionDataset.concat([back, back.subset([1])])
    assert np.isnan(both.teacher_score).tolist() == [True, False, False]


# ------------------------------------------------- issue 14: Parquet labels in other forms
def _labels_parquet(tmp_path, labels, **extra):
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "labels": labels, **extra}), path)
    return path


def test_from_parquet_labels_as_names_strings_or_float_flags(tmp_path):
    names = EmotionDataset.from_parquet(_labels_parquet(tmp_path, pa.array([["joy"], ["love"]])))
    assert names.label_names() == [["joy"], ["love"]]
    ids_as_text = _labels_parquet(tmp_path, pa.array([["17"], ["16", "Love"]]))
    assert EmotionDataset.from_parquet(ids_as_text).label_names() == [["joy"], ["grief", "love"]]
    comma = _labels_parquet(tmp_path, pa.array(["joy", "love,grief"]).dictionary_encode())
    assert EmotionDataset.from_parquet(comma).label_names() == [["joy"], ["grief", "love"]]
    none = _labels_parquet(tmp_path, pa.array([[], []], pa.list_(pa.string())))
    assert EmotionDataset.from_parquet(none).label_names() == [[], []]
    flags = _labels_parquet(tmp_path, pa.array([[0.0] * 27 + [1.0], [1.0] + [0.0] * 27]))
    assert EmotionDataset.from_parquet(flags).label_names() == [["neutral"], ["admiration"]]


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (pa.array([[1, 2], [3]]), r"row 0: 'labels' holds 2 integers, not 28 0/1 flags"),
        (pa.array([[0] * 28, [3]]), r"row 1: 'labels' holds 1 integers, not 28 0/1 flags"),
        (pa.array([[0, 1], [1, 0]]), r"labels must have shape \(2, 28\), got \(2, 2\)"),
        (pa.array([[2] * 28, [0] * 28]), r"row 0, label 'admiration' is 2"),
        (pa.array([["0"] * 28, ["1"] * 28]), r"row 0: 'labels' holds 28 '0'/'1' strings"),
        (pa.array([["joy"], ["²"]]), r"row 1: unknown label '²'"),
        (pa.array(["joy", "x"]), r"row 1: unknown label 'x'"),
        (pa.array(["joy", None]), r"row 1: 'labels' is null"),
        (pa.array([1, 2]), r"column 'labels' has type int64; expected one 0/1 flag per label"),
        (pa.array([[[1]], [[0]]]), r"column 'labels' has type list<.*; expected"),
        (pa.array([[0] * 28, [None] * 28], pa.list_(pa.int8())), r"'labels' holds null flags"),
    ],
)
def test_from_parquet_bad_labels_name_the_file(tmp_path, labels, match):
    path = _labels_parquet(tmp_path, labels)
    with pytest.raises(DataError, match=match) as info:
        EmotionDataset.from_parquet(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        (b"[", "'emobalance.labels' metadata is not JSON"),
        (b"\xff", "'emobalance.labels' metadata is not JSON"),
        (b"[" * 100_000, "'emobalance.labels' metadata is not JSON"),
        (b"{}", "expected a label schema"),
        (b'["joy", ""]', "label 1 has an empty name"),
    ],
)
def test_from_parquet_bad_label_metadata(tmp_path, meta, match):
    path = tmp_path / "meta.parquet"
    table = EmotionDataset(["a"], onehot(["joy"])).to_arrow()
    pq.write_table(table.replace_schema_metadata({b"emobalance.labels": meta}), path)
    with pytest.raises(DataError, match=match) as info:
        EmotionDataset.from_parquet(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"weight": pa.array(["1", "2"])}, "column 'weight' has type string, expected numbers"),
        ({"weight": pa.array([1.0, None])}, "column 'weight' has null rows"),
        ({"teacher_score": pa.array([[1.0], [2.0]])}, "column 'teacher_score' has type list"),
        ({"source": pa.array(["user", None])}, "row 1: column 'source' is not text"),
        ({"id": pa.array([1, 2])}, "row 0: column 'id' is not text"),
        ({"parent_id": pa.array([None, 3])}, "row 1: column 'parent_id' is not text"),
    ],
)
def test_from_parquet_bad_columns_name_the_file(tmp_path, extra, match):
    path = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], **extra}), path)
    with pytest.raises(DataError, match=match) as info:
        EmotionDataset.from_parquet(path)
    assert str(info.value).startswith(f"{path}: ")
    ok = EmotionDataset.from_parquet(_labels_parquet(tmp_path, pa.array([["joy"], []])))
    assert ok.teacher_score is None and ok.weight is None


def test_from_arrow_teacher_score_nulls_are_nan():
    table = pa.table({"text": ["a", "b"], "teacher_score": pa.array([None, 0.5])})
    d = EmotionDataset.from_arrow(table)
    assert np.isnan(d.teacher_score[0]) and d.teacher_score[1] == 0.5


@pytest.mark.parametrize("name", ["bad_superscript_label.csv", "bad_superscript_label.jsonl"])
def test_superscript_label_is_an_unknown_label(fixtures_dir, name):
    path = fixtures_dir / "datasets" / name
    line = 3 if name.endswith(".csv") else 2
    with pytest.raises(DataError, match=rf"^{path}: line {line}: unknown label '²'; expected"):
        load_any(path)


def test_a_dataset_of_its_own_schema_round_trips_through_parquet(tmp_path):
    from emobalance.labels import LabelSchema

    schema = LabelSchema(
        ["joy", "anger", "trust"], {"valence": {"pos": ["joy", "trust"], "neg": ["anger"]}},
        {"trust": "confidence in someone"}, name="tiny", single_label=True,
    )  # fmt: skip
    ds = EmotionDataset(["a", "b", "c"], [[1, 0, 0], [0, 0, 1], [0, 0, 0]], schema=schema)
    back = EmotionDataset.from_parquet(ds.to_parquet(tmp_path / "d.parquet"))
    assert back.schema == schema and back.labels.tolist() == ds.labels.tolist()
    assert back.label_counts() == {"joy": 1, "anger": 0, "trust": 1}
    assert back.subset([1]).schema is back.schema
    with pytest.raises(DataError, match="row 0: 2 labels \\(joy, anger\\) in a single-label"):
        EmotionDataset(["x"], [[1, 1, 0]], schema=schema)
    with pytest.raises(DataError, match=r"speaks tiny.*speaks goemotions"):
        EmotionDataset.concat([ds, EmotionDataset(["y"], onehot(["joy"]))])
    with pytest.raises(DataError, match=r"shape \(1, 3\), got \(1, 28\)"):
        EmotionDataset(["y"], onehot(["joy"]), schema=schema)
