"""The ``data:`` section (DataConfig) and load_own_data: the user's own labelled files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from emobalance.config import validate
from emobalance.config_data import PARTIAL, DataConfig
from emobalance.data.own import file_format, load_own_data
from emobalance.errors import ConfigError, DataError

FIVE = ["anger", "fear", "joy", "sadness", "surprise"]  # sorted: the order found in files
WIDE = ["joy", "anger", "fear", "sadness", "surprise"]  # the wide fixtures' column order
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own(fixtures_dir) -> Path:
    return fixtures_dir / "own"


def splits(folder: Path, ext: str) -> dict[str, str]:
    return {role: str(folder / f"{role}.{ext}") for role in ("train", "dev", "test")}


def load(**kw) -> object:
    return load_own_data(DataConfig(**kw))


def error_of(**kw) -> str:
    """The one-line message of the DataError that loading ``kw`` raises."""
    with pytest.raises(DataError) as info:
        load(**kw)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def config_error(data: dict, context: dict | None = None) -> str:
    """The one-line ConfigError message of validating a ``data:`` section."""
    with pytest.raises(ConfigError) as info:
        validate(DataConfig, data, origin="own.yaml")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("own.yaml: ")
    return msg


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------ the config section
def test_default_is_goemotions_and_refuses_other_keys():
    cfg = DataConfig()
    assert not cfg.is_own and cfg.train is None and cfg.format == "auto"
    assert "data.text_column is set but data.train is not" in config_error({"text_column": "t"})
    assert "data.format" in config_error({"format": "tsv"})
    # a value equal to its default is harmless (a template may spell the defaults out)
    assert not validate(DataConfig, {"text_column": "text", "label_sep": ","}).is_own
    with pytest.raises(ConfigError, match=r"needs data\.train"):
        cfg.require_own("--preset own")


def test_partial_context_defers_the_keys_that_go_together():
    # load_config validates the file before applying --set items that may add data.train
    part = DataConfig.model_validate({"text_column": "Tweet"}, context={PARTIAL: True})
    assert part.text_column == "Tweet" and part.train is None
    part = DataConfig.model_validate({"train": "a.csv", "dev": "b.csv"}, context={PARTIAL: True})
    assert part.dev == "b.csv"
    # but the checks of the keys themselves still apply
    with pytest.raises(ValueError, match="not both"):
        DataConfig.model_validate(
            {"label_column": "l", "label_columns": ["a"]}, context={PARTIAL: True}
        )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"label_column": "emo", "label_columns": ["a", "b"]}, "not both"),
        ({"label_columns": ["a", "b"], "labels": ["a", "b"]}, "the columns are the labels"),
        ({"labels": ["joy", "Joy"]}, "'Joy' is given twice"),
        ({"label_columns": ["joy", "joy"]}, "label 'joy' is given twice"),
        ({"labels": ["joy", ""]}, "label 1 has an empty name"),
        ({"labels": ["joy", " fear"]}, "no surrounding spaces"),
        ({"labels": [f"l{i}" for i in range(1001)]}, "1001 labels; at most 1000"),
        ({"dev": "d.csv"}, "give data.dev and data.test together, or neither"),
        ({"test": "t.csv"}, "give data.dev and data.test together"),
        ({"dev_fraction": 0.5}, "dev_fraction"),
        ({"test_fraction": 0}, "test_fraction"),
        ({"dev": "d", "test": "t", "split_seed": 3}, "data.split_seed splits data.train"),
        ({"labels": ["a", "b"], "descriptions": {"c": "x"}}, "data.descriptions: 'c' is not"),
        ({"label_columns": ["a", "b"], "neutral": "none"}, "data.neutral: 'none' is not"),
        ({"label_columns": ["text", "b"]}, "data.text_column 'text' is also a label"),
        ({"text_column": "labels"}, "data.text_column 'labels' is also a label"),
        ({"text_column": "id", "id_column": "id"}, "data.text_column 'id' is also"),
        ({"name": "my data"}, "name"),
        ({"format": "xlsx"}, "format"),
        ({"labelcolumn": "x"}, "labelcolumn"),
    ],
)
def test_config_errors_are_one_line(data, expected):
    assert expected in config_error({"train": "train.csv", **data})


def test_config_accepts_both_layouts_and_a_split():
    long = validate(DataConfig, {"train": "t.csv", "labels": ["b", "a"], "label_sep": "|"})
    assert long.is_own and not long.wide and long.names_column == "labels"
    assert DataConfig(train="t.csv", label_column="emo").names_column == "emo"
    wide = DataConfig(train="t.txt", format="tsv", label_columns=WIDE, neutral="joy")
    assert wide.wide
    split = DataConfig(train="t.csv", split_seed=7, dev_fraction=0.2, test_fraction=0.25)
    assert split.dev is None and split.split_seed == 7


def test_template_config_validates(tmp_path):
    doc = yaml.safe_load((REPO / "configs" / "own-data.yaml").read_text(encoding="utf-8"))
    data = doc.get("data") or {}
    # the file alone (the --set items that name the files follow) and completed by them
    DataConfig.model_validate(data, context={PARTIAL: True})
    xed = {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"}
    assert validate(DataConfig, {**data, **xed}).is_own


# ------------------------------------------------------------------ formats and layouts
def test_long_csv(own):
    data = load(**splits(own / "long", "csv"), name="five")
    assert data.schema.names == tuple(FIVE) and data.schema.name == "five"
    assert len(data.train) == 12 and len(data.dev) == 6 and len(data.test) == 6
    for ds in (data.train, data.dev, data.test):
        assert ds.schema is data.schema and set(ds.source) == {"user"}
        assert ds.labels.dtype == np.uint8 and ds.labels.shape[1] == 5
    names = data.train.label_names()
    assert data.train.texts[0] == "I'm so happy, really happy!" and names[0] == ["joy"]
    assert data.train.texts[2] == 'He said "get out" and slammed the door'
    assert names[2] == ["anger", "sadness"]
    assert names[5] == [] and data.train.ids[:2] == ["train-0", "train-1"]
    assert data.test.ids[0] == "test-0"
    assert data.warnings == [] and any("the names found in the files" in n for n in data.notes)


def test_declared_labels_give_the_order_and_descriptions(own):
    order = ["surprise", "sadness", "joy", "fear", "anger"]
    data = load(
        **splits(own / "long", "csv"),
        labels=order,
        descriptions={"joy": "happiness,  delight"},
        neutral=None,
        allow_empty=True,
    )
    assert data.schema.names == tuple(order)
    assert data.schema.descriptions == {"joy": "happiness, delight"}
    assert data.train.labels[0].tolist() == [0, 0, 1, 0, 0]
    assert any("declared in data.labels" in n for n in data.notes)


def test_wide_txt_tsv_keeps_raw_quotes(own):
    data = load(
        **splits(own / "wide", "txt"),
        format="tsv",
        text_column="Tweet",
        label_columns=WIDE,
        id_column="ID",
    )
    assert data.schema.names == tuple(WIDE)
    train = data.train
    assert train.texts[0] == '"Happy" days are here again'
    assert train.texts[2] == 'A quote " that never closes'
    assert train.texts[3] == 'so sad ""really""'
    assert len(train) == 7 and train.ids[0] == "2018-En-01"
    assert train.label_names()[4] == ["joy", "surprise"] and train.label_names()[5] == []
    assert data.test.texts[2] == 'shaking with "fear' and len(data.test) == 5


def test_txt_needs_a_format(own):
    msg = error_of(**splits(own / "wide", "txt"), text_column="Tweet", label_columns=WIDE)
    assert "train.txt: cannot tell the format from '.txt'; set data.format" in msg
    assert file_format("a.TSV") == "tsv" and file_format("a.txt", "csv") == "csv"
    assert file_format("x.ndjson") == "jsonl" and file_format("x.pq") == "parquet"


def test_format_overrides_the_extension(tmp_path):
    # quotes are text in TSV, field delimiters in CSV
    tsv = write(tmp_path / "t.dat", 'text\tlabels\n"a, b" c\tx\n')
    assert load(train=tsv, dev=tsv, test=tsv, format="tsv").train.texts == ['"a, b" c']
    csv_path = write(tmp_path / "c.dat", 'text,labels\n"a, ""b""",x\n')
    as_csv = load(train=csv_path, dev=csv_path, test=csv_path, format="csv")
    assert as_csv.train.texts == ['a, "b"']


def test_jsonl_long_lists_strings_and_null(own):
    data = load(**splits(own / "jsonl", "jsonl"))
    names = data.train.label_names()
    assert names == [["joy"], ["fear"], ["anger", "sadness"], [], [], ["joy", "surprise"]]
    assert data.schema.names == tuple(FIVE)


def test_jsonl_wide_and_label_sep(tmp_path):
    rows = [
        {"t": "a", "x": 1, "y": 0, "id": 7},
        {"t": "b", "x": False, "y": True, "id": 8},
        {"t": "c", "x": "1", "y": 1.0, "id": 9},
    ]
    path = write(tmp_path / "w.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    data = load(train=path, dev=path, test=path, text_column="t", label_columns=["x", "y"])
    assert data.train.labels.tolist() == [[1, 0], [0, 1], [1, 1]]
    data = load(train=path, dev=path, test=path, text_column="t", label_columns=["x", "y"],
                id_column="id")  # fmt: skip
    assert data.train.ids == ["7", "8", "9"]
    piped = write(tmp_path / "p.csv", "text,emo\nhello,joy| fear\nbye,\n")
    data = load(train=piped, dev=piped, test=piped, label_column="emo", label_sep="|")
    assert data.train.label_names() == [["fear", "joy"], []]


def test_parquet_long_and_wide(tmp_path):
    long = tmp_path / "long.parquet"
    pq.write_table(
        pa.table(
            {
                "text": ["one", "two", "three"],
                "labels": [["joy"], [], ["anger", "joy"]],
                "other": [1, 2, 3],
            }
        ),
        long,
    )
    data = load(train=str(long), dev=str(long), test=str(long))
    assert data.schema.names == ("anger", "joy")
    assert data.train.labels.tolist() == [[0, 1], [0, 0], [1, 1]]
    joined = tmp_path / "joined.pq"
    pq.write_table(pa.table({"text": ["a", "b"], "labels": ["joy,anger", None]}), joined)
    data = load(train=str(joined), dev=str(joined), test=str(joined))
    assert data.train.labels.tolist() == [[1, 1], [0, 0]]
    wide = tmp_path / "wide.parquet"
    pq.write_table(
        pa.table({"body": ["x", "y"], "joy": [1, 0], "fear": pa.array([False, True])}), wide
    )
    data = load(
        train=str(wide), dev=str(wide), test=str(wide), text_column="body",
        label_columns=["joy", "fear"],
    )  # fmt: skip
    assert data.train.labels.tolist() == [[1, 0], [0, 1]]


def test_single_label(own):
    data = load(**splits(own / "single_label", "tsv"), label_column="label", single_label=True)
    assert data.schema.single_label and data.schema.names == tuple(FIVE)
    assert data.train.labels.sum(axis=1).tolist() == [1] * 7
    assert "single-label" in data.notes[1]
    # dev has no sadness nor surprise
    assert data.warnings == [
        "label(s) never in dev: sadness, surprise (their thresholds fall back to 0.5)",
        "label(s) never in test: surprise (their test F1 is undefined)",
    ]


# ------------------------------------------------------------------ the single-file split
def _many(tmp_path: Path, n: int = 200) -> str:
    rng = np.random.default_rng(1)
    lines = ["text,labels"]
    for i in range(n):
        k = rng.random()
        labs = "rare" if i % 25 == 0 else ("joy,anger" if k < 0.3 else "joy" if k < 0.7 else "")
        lines.append(f'text number {i},"{labs}"')
    return write(tmp_path / "all.csv", "\n".join(lines) + "\n")


def test_single_file_split_is_deterministic_disjoint_and_sized(tmp_path):
    path = _many(tmp_path)
    a, b = load(train=path), load(train=path)
    whole = load(train=path, dev=path, test=path)
    for role in ("train", "dev", "test"):
        assert getattr(a, role).ids == getattr(b, role).ids
        assert getattr(a, role).schema is a.schema
    ids = [set(getattr(a, role).ids) for role in ("train", "dev", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set.union(*ids) == {f"train-{i}" for i in range(200)}
    assert (len(a.train), len(a.dev), len(a.test)) == (160, 20, 20)
    # rows keep their texts and ids (the row of the file) through the split
    for ds in (a.train, a.dev, a.test):
        assert ds.texts == [f"text number {i.split('-')[1]}" for i in ds.ids]
    assert a.test.label_names()[0] == whole.train.label_names()[int(a.test.ids[0].split("-")[1])]
    # each label, the rare one included (8 rows), reaches dev and test
    for ds in (a.dev, a.test):
        assert (ds.labels.sum(axis=0) > 0).all()
    assert a.warnings == []
    note = next(n for n in a.notes if "deterministically" in n)
    assert "split from all.csv deterministically (seed 0" in note and "160/20/20" in note
    other = load(train=path, split_seed=1, dev_fraction=0.2, test_fraction=0.25)
    assert other.test.ids != a.test.ids
    assert (len(other.train), len(other.dev), len(other.test)) == (110, 40, 50)


def test_split_refuses_too_few_rows(tmp_path):
    path = write(tmp_path / "few.csv", "text,labels\na,joy\nb,fear\n")
    assert "2 rows are too few to split" in error_of(train=path)


# ------------------------------------------------------------------ bad input
def test_unknown_label_names_file_line_and_label(own, tmp_path):
    bad = write(tmp_path / "dev.csv", 'text,labels\nfine,joy\n"ok, then","joy,joyy"\n')
    msg = error_of(train=str(own / "long" / "train.csv"), dev=bad, test=bad, labels=FIVE)
    assert msg.startswith(f"{bad}: line 3: label 'joyy' is not one of data.labels (anger,")


def test_wide_cell_not_01(own, tmp_path):
    text = (own / "wide" / "train.txt").read_text().replace("\t0\t0\t1\t0\t0", "\t0\t0\t2\t0\t0")
    bad = write(tmp_path / "train.txt", text)
    msg = error_of(
        train=bad, dev=bad, test=bad, format="tsv", text_column="Tweet", label_columns=WIDE
    )
    assert msg == f"{bad}: line 4: column 'fear' must be 0 or 1, got '2'"
    path = write(tmp_path / "w.jsonl", '{"text": "a", "x": 0.5}\n')
    assert "line 1: column 'x' must be 0 or 1, got 0.5" in error_of(
        train=path, dev=path, test=path, label_columns=["x"]
    )


def test_missing_column_lists_the_columns(own):
    msg = error_of(**splits(own / "wide", "txt"), format="tsv", label_columns=WIDE)
    assert msg.endswith(
        "train.txt: no column 'text' (columns: ID, Tweet, joy, anger, fear, sadness, surprise)"
    )
    msg = error_of(**splits(own / "long", "csv"), label_column="emotions")
    assert msg.endswith("train.csv: no column 'emotions' (columns: text, labels)")
    msg = error_of(**splits(own / "jsonl", "jsonl"), text_column="body")
    assert msg.endswith("train.jsonl: line 1: no field 'body' (fields: text, labels)")


def test_duplicate_and_empty_label_names(tmp_path):
    dup = write(tmp_path / "d.csv", "text,a,a\nx,1,0\n")
    assert "column 'a' appears more than once" in error_of(
        train=dup, dev=dup, test=dup, label_columns=["a"]
    )
    tab = write(tmp_path / "t.jsonl", '{"text": "x", "labels": ["jo\\ty"]}\n')
    msg = error_of(train=tab, dev=tab, test=tab)
    assert msg.startswith(f"the labels of {tab}, {tab}, {tab}: label 0 'jo\\ty'")
    none = write(tmp_path / "n.csv", 'text,labels\nx,\ny," ,"\n')
    assert "no row has a label in column 'labels'" in error_of(train=none, dev=none, test=none)


def test_more_than_1000_labels_found(tmp_path):
    rows = "".join(f"t{i},l{i}\n" for i in range(1001))
    path = write(tmp_path / "many.csv", "text,labels\n" + rows)
    msg = error_of(train=path, dev=path, test=path)
    assert "1001 labels; at most 1000 are supported" in msg


def test_single_label_row_with_several_labels(own, tmp_path):
    text = (own / "single_label" / "train.tsv").read_text()
    bad = write(tmp_path / "train.tsv", text.replace("My cat died\tsadness", "Sad\tsadness,fear"))
    msg = error_of(
        train=bad,
        dev=str(own / "single_label" / "dev.tsv"),
        test=str(own / "single_label" / "test.tsv"),
        label_column="label",
        single_label=True,
    )
    assert msg == (
        f"{bad}: line 5: 2 labels (sadness, fear) in a row of a single-label dataset "
        "(data.single_label)"
    )


def test_row_without_label_when_not_allowed(own):
    msg = error_of(**splits(own / "long", "csv"), allow_empty=False)
    assert msg.endswith("train.csv: line 7: no label, but data.allow_empty is false")


def test_not_utf8_empty_and_header_only(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,labels\nok,joy\ncaf\xe9,joy\n".encode("latin-1"))
    assert error_of(train=str(latin)).startswith(f"{latin}: line 3: not UTF-8")
    empty = write(tmp_path / "empty.csv", "")
    assert error_of(train=empty) == f"{empty}: empty file (data.train)"
    header = write(tmp_path / "header.csv", "text,labels\n")
    assert error_of(train=header) == f"{header}: no rows (data.train)"
    blank = write(tmp_path / "blank.jsonl", "\n\n")
    assert error_of(train=blank) == f"{blank}: no rows (data.train)"
    latin_pq = tmp_path / "bad.parquet"
    latin_pq.write_bytes(b"not parquet at all")
    assert "not a readable Parquet file" in error_of(train=str(latin_pq))


def test_malformed_rows(tmp_path):
    extra = write(tmp_path / "extra.csv", "text,labels\na,joy\nb,joy,fear\n")
    assert error_of(train=extra).endswith("line 3: expected 2 fields, got 3")
    short = write(tmp_path / "short.tsv", "text\tlabels\na\tjoy\nb\n")
    assert error_of(train=short).endswith("line 3: expected 2 fields, got 1")
    quote = write(tmp_path / "quote.csv", 'text,labels\na,joy\n"never closed,joy\n')
    assert "line 3: unexpected end of data" in error_of(train=quote)
    js = write(tmp_path / "bad.jsonl", '{"text": "a", "labels": []}\n{"text": 3, "labels": []}\n')
    assert error_of(train=js).endswith("line 2: column 'text' is not text")
    js = write(tmp_path / "num.jsonl", '{"text": "a", "labels": [1]}\n')
    assert "line 1: column 'labels' holds 1; expected label names" in error_of(train=js)
    js = write(tmp_path / "arr.jsonl", "[1, 2]\n")
    assert error_of(train=js).endswith("line 1: expected a JSON object")
    ids = write(tmp_path / "ids.csv", "id,text,labels\n1,a,joy\n,b,joy\n")
    assert error_of(train=ids, id_column="id").endswith("line 3: column 'id' is empty")
    assert error_of(train=str(tmp_path / "absent.csv")).endswith(
        "absent.csv: no such file (data.train)"
    )
    with pytest.raises(DataError, match=r"data\.train is not set"):
        load_own_data(DataConfig())


def test_schema_settings_checked_against_found_labels(own):
    msg = error_of(**splits(own / "long", "csv"), neutral="calm")
    assert "the labels of" in msg and "neutral label 'calm' is not a label" in msg


# ------------------------------------------------------------------ warnings
def test_warnings_name_the_labels_and_are_logged(own, tmp_path, caplog):
    train = write(tmp_path / "train.csv", "text,labels\na,joy\nb,anger\nc,\n")
    dev = write(tmp_path / "dev.csv", "text,labels\nd,joy\ne,\n")
    test = write(tmp_path / "test.csv", "text,labels\nf,fear\ng,joy\n")
    with caplog.at_level(logging.WARNING, logger="emobalance"):
        data = load(train=train, dev=dev, test=test, labels=["joy", "anger", "fear", "calm"])
    assert data.warnings == [
        "label(s) never in train: fear, calm (no model learns them; test has fear)",
        "label(s) never in dev: anger, fear, calm (their thresholds fall back to 0.5)",
        "label(s) never in test: anger, calm (their test F1 is undefined)",
    ]
    assert [n for n in data.notes if n.startswith("warning: ")] == [
        f"warning: {w}" for w in data.warnings
    ]
    for w in data.warnings:
        assert w in caplog.text
    # undeclared labels: a test-only label joins the schema and is named the same way
    data = load(train=train, dev=dev, test=test)
    assert data.schema.names == ("anger", "fear", "joy")
    assert data.warnings[0] == "label(s) never in train: fear (no model learns them; test has fear)"


# ------------------------------------------------------------------ the real XED files
XED = ("train.csv", "dev.csv", "test.csv")


@pytest.mark.data
def test_real_xed():
    root = os.environ.get("EMOBALANCE_DATA")
    if not root:
        pytest.skip("EMOBALANCE_DATA is not set")
    folder = Path(root).expanduser() / "xed_en"
    if not all((folder / f).is_file() for f in XED):
        pytest.skip(f"EMOBALANCE_DATA={root} lacks xed_en/{{train,dev,test}}.csv")
    data = load(**splits(folder, "csv"), name="xed_en")
    plutchik = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")
    assert data.schema.names == plutchik and data.schema.name == "xed_en"
    assert (len(data.train), len(data.dev), len(data.test)) == (21047, 2668, 2589)
    assert int((data.train.labels.sum(axis=1) == 0).sum()) == 7010
    assert data.train.label_counts()["anger"] == 3089
    assert data.train.label_counts()["trust"] == 2172
    assert data.warnings == []


def test_texts_shared_with_train_are_warned_about(tmp_path):
    train = write(tmp_path / "train.csv", "text,labels\na,joy\nb,fear\nc,\n")
    dev = write(tmp_path / "dev.csv", "text,labels\na,joy\nd,fear\n")
    test = write(tmp_path / "test.csv", "text,labels\nb,fear\nc,joy\n")
    data = load(train=train, dev=dev, test=test)
    assert data.warnings == [
        "1 dev and 2 test texts also occur in train (exact duplicates): their figures may be "
        "optimistic"
    ]
    assert "1 of 3 train rows carry no label" in data.notes


def test_label_names_ignore_case_and_repeats(tmp_path):
    path = write(tmp_path / "t.csv", 'text,labels\na,"JOY, joy"\nb,Fear\n')
    data = load(train=path, dev=path, test=path, labels=["joy", "fear"], single_label=True)
    assert data.train.labels.tolist() == [[1, 0], [0, 1]]
    found = load(train=path, dev=path, test=path)
    assert found.schema.names == ("Fear", "JOY")  # the first spelling of each name


def test_long_header_is_listed_in_part(tmp_path):
    header = ",".join(f"c{i}" for i in range(40))
    path = write(tmp_path / "wide.csv", header + "\n" + ",".join("0" * 40) + "\n")
    msg = error_of(train=path, dev=path, test=path)
    assert msg.endswith("no column 'text' (columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, "
                        "c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, "
                        "c24, c25, c26, c27, c28, c29, ... (40 in all))")  # fmt: skip
