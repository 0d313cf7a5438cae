import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emobalance.data import goemotions
from emobalance.data.corpora import load_any, sentiment140
from emobalance.data.dataset import EmotionDataset
from emobalance.data.readers import check_unicode, iter_text_chunks, lone_surrogate, read_texts
from emobalance.errors import DataError


def test_read_texts_formats(fixtures_dir, tmp_path):
    folder = fixtures_dir / "datasets"
    assert read_texts(folder / "texts.csv", column="body") == ["hello, world", "second"]
    assert read_texts(folder / "texts.tsv", column="body") == ["hello tsv", "second"]
    assert read_texts(folder / "texts.jsonl", column="body") == ["hello json", "second"]
    assert read_texts(folder / "texts.txt") == [
        "first line",
        'second line with "quotes", commas',
    ]
    pq.write_table(pa.table({"body": ["p1", "p2"], "n": [1, 2]}), tmp_path / "t.parquet")
    assert read_texts(tmp_path / "t.parquet", column="body") == ["p1", "p2"]
    assert read_texts(folder / "labels_names.csv") == [
        "I love it",
        "What, exactly?",
        'a "quoted" text\nspanning two lines',
        "no labels here",
    ]


def test_read_texts_errors(fixtures_dir, tmp_path):
    folder = fixtures_dir / "datasets"
    cases = [
        (folder / "texts.csv", "text", "line 1: no column 'text'"),
        (folder / "texts_short_row.csv", "body", "line 3: missing field 'body'"),
        (folder / "bad_json.jsonl", "text", "line 3: invalid JSON"),
        (folder / "texts_bad.jsonl", "body", "line 2: field 'body' missing or not text"),
        (folder / "texts.jsonl", "text", "line 1: field 'text' missing or not text"),
        (tmp_path / "nope.txt", "text", "no such file"),
    ]
    pq.write_table(pa.table({"body": ["ok", None]}), tmp_path / "nulls.parquet")
    pq.write_table(pa.table({"body": [1, 2]}), tmp_path / "ints.parquet")
    cases += [
        (tmp_path / "nulls.parquet", "body", "row 1: column 'body' is not text"),
        (tmp_path / "ints.parquet", "body", "row 0: column 'body' is not text"),
        (tmp_path / "ints.parquet", "text", r"no column 'text' \(columns: body\)"),
    ]
    for path, column, match in cases:
        with pytest.raises(DataError, match=match) as info:
            read_texts(path, column=column)
        assert str(info.value).startswith(f"{path}: "), (path, info.value)


def test_read_texts_not_utf8(fixtures_dir):
    for name in ("bad_not_utf8.csv",):
        path = fixtures_dir / "datasets" / name
        with pytest.raises(DataError, match="not UTF-8"):
            read_texts(path)
    with pytest.raises(DataError, match="not UTF-8"):
        read_texts(fixtures_dir / "sentiment140" / "csv" / "training_sample.csv")


def test_csv_dict_reader_takes_long_fields_and_tabs():
    import io as _io

    from emobalance.data.readers import csv_dict_reader

    long = "y" * 300_000
    rows = list(csv_dict_reader(_io.StringIO(f"text\tid\n{long}\t7\n"), tsv=True))
    assert rows == [{"text": long, "id": "7"}]


# ------------------------------------------------ issue 14: regressions of the fuzz suite

LONG = "y" * 131_073  # one character over the csv module's default limit


@pytest.fixture
def default_field_limit():
    """The csv module's process-wide field limit back at its default (131,072) for a test:
    every reader must lift it itself, whichever reader ran first."""
    old = csv.field_size_limit(131_072)
    yield
    csv.field_size_limit(old)


def _chunked(path, column="text"):
    return [t for chunk in iter_text_chunks(path, column, chunk_size=1) for t in chunk]


@pytest.mark.usefixtures("default_field_limit")
def test_every_csv_and_tsv_reader_takes_long_fields(tmp_path):
    tsv = tmp_path / "split.tsv"
    tsv.write_text(f"{LONG}\t1\tid1\nshort\t2\tid2\n", encoding="utf-8")
    assert goemotions.read_tsv(tsv).texts == [LONG, "short"]  # data stats --split, train
    csv.field_size_limit(131_072)
    assert load_any(tsv).texts == [LONG, "short"]
    with_header = tmp_path / "texts.tsv"
    with_header.write_text(f"text\tid\n{LONG}\t1\n", encoding="utf-8")
    for path in (with_header, tmp_path / "texts.csv"):
        if path.suffix == ".csv":
            path.write_text(f"text,labels\n{LONG},joy\n", encoding="utf-8")
        csv.field_size_limit(131_072)
        assert read_texts(path) == [LONG]  # corpora
        csv.field_size_limit(131_072)
        assert _chunked(path) == [LONG]  # predict
    csv.field_size_limit(131_072)
    assert EmotionDataset.from_csv(tmp_path / "texts.csv").texts == [LONG]  # data stats, train
    s140 = tmp_path / "s140" / "training.csv"
    s140.parent.mkdir()
    s140.write_text(f'"0","1","d","q","u","{LONG}"\n', encoding="latin-1")
    csv.field_size_limit(131_072)
    assert sentiment140(s140).texts == [LONG]


def test_lone_surrogates_are_refused_at_the_reading_boundary(fixtures_dir):
    path = fixtures_dir / "datasets" / "bad_surrogate.jsonl"
    want = f"{path}: line 2: field 'text': unpaired surrogate U+D83D at character 13"
    for read in (load_any, read_texts, _chunked, EmotionDataset.from_jsonl):
        with pytest.raises(DataError) as info:
            read(path)
        assert str(info.value).startswith(want), (read, info.value)
        assert "\n" not in str(info.value)


def test_lone_surrogates_in_any_field_and_pairs_accepted(fixtures_dir, tmp_path):
    pairs = fixtures_dir / "datasets" / "surrogate_pairs.jsonl"
    d = load_any(pairs)
    assert d.texts == ["a pair \U0001f600", "an escaped backslash \\ud83d"]
    assert read_texts(pairs) == _chunked(pairs) == d.texts
    bad_id = tmp_path / "bad_id.jsonl"
    bad_id.write_text('{"text": "ok", "id": "\\udc00x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: field 'id': unpaired surrogate U\+DC00"):
        load_any(bad_id)
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"text": "ok", "extra": {"a": ["\\ud800"]}}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: field 'extra.a\[0\]': unpaired surrogate"):
        _chunked(nested)
    key = tmp_path / "key.jsonl"
    key.write_text('{"text": "ok", "\\ud800": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: a key: unpaired surrogate"):
        read_texts(key)


def test_check_unicode():
    assert check_unicode("fine \U0001f600", "x") == "fine \U0001f600"
    assert lone_surrogate("ab\udfffc") == 2 and lone_surrogate("") is None
    with pytest.raises(DataError, match=r"^here: unpaired surrogate U\+DFFF at character 2"):
        check_unicode("ab\udfffc", "here")


def test_json_lines_that_json_cannot_decode(tmp_path):
    cases = {
        "huge.jsonl": '{"text": "ok", "n": ' + "9" * 5000 + "}\n",
        "deep.jsonl": "[" * 100_000 + "\n",
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        for read in (load_any, read_texts, _chunked):
            with pytest.raises(DataError, match=rf"^{path}: line 1: invalid JSON"):
                read(path)


def test_bom_json_lines_read_alike(fixtures_dir):
    path = fixtures_dir / "datasets" / "texts_bom.jsonl"
    assert read_texts(path) == _chunked(path) == load_any(path).texts == ["with a BOM"]


def test_json_suffix_is_read_as_json_lines_as_predict_does(tmp_path):
    path = tmp_path / "texts.json"
    path.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    assert read_texts(path) == _chunked(path) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("bad_unclosed_quote.csv", "line 2: unexpected end of data"),  # where the quote opens
        ("bad_unquoted_comma.csv", "line 3: expected 1 fields, got 2"),
    ],
)
def test_malformed_csv_is_refused_by_every_text_reader(fixtures_dir, name, match):
    # before: read_texts (corpora) read the unclosed quote as one text swallowing the file,
    # and cut "hello, world" to "hello"; predict refused the first and cut the second too
    path = fixtures_dir / "datasets" / name
    for read in (read_texts, _chunked):
        with pytest.raises(DataError, match=match) as info:
            read(path)
        assert str(info.value).startswith(f"{path}: ")


def test_parquet_strings_that_are_not_utf8(tmp_path):
    bad = pa.array([b"fine", b"a\xed\xa0\xbd"], pa.binary()).view(pa.string())
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": bad, "id": ["1", "2"]}), path)
    for read in (load_any, read_texts, _chunked):
        with pytest.raises(DataError, match=r"row 1: column 'text' is not UTF-8") as info:
            read(path)
        assert str(info.value).startswith(f"{path}: ")
    pq.write_table(pa.table({"text": ["ok", "ok"], "id": bad}), path)
    with pytest.raises(DataError, match=r"row 1: column 'id' is not UTF-8"):
        load_any(path)


def test_parquet_damaged_footer_or_pages_name_the_file(tmp_path):
    path = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "source": pa.nulls(2)}), path)
    data = path.read_bytes()
    names = tmp_path / "names.parquet"  # a column name that is no longer UTF-8
    at = data.index(b"source")  # the schema's name (the last one is a column chunk's path)
    names.write_bytes(data[:at] + b"\x80" + data[at + 1 :])
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    for path in (names, truncated):
        for read in (load_any, read_texts, _chunked):
            with pytest.raises(DataError, match="not a readable Parquet file") as info:
                read(path)
            assert str(info.value).startswith(f"{path}: ")
            assert "\n" not in str(info.value)


def test_parquet_repeated_text_column(tmp_path):
    path = tmp_path / "twice.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"])
    pq.write_table(table, path)
    for read in (load_any, read_texts, _chunked):
        with pytest.raises(DataError, match=r"more than once|Multiple matches for .*text"):
            read(path)


def test_parquet_column_errors_same_in_both_readers(tmp_path):
    # read_texts and iter_text_chunks share one schema check (readers._parquet_file)
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "body.parquet")
    dup = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"])
    pq.write_table(dup, tmp_path / "dup.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    cases = [
        ("body.parquet", r"no column 'text' \(columns: body\)"),
        ("dup.parquet", "column 'text' appears more than once"),
        ("junk.parquet", "not a readable Parquet file"),
    ]
    for name, match in cases:
        path = tmp_path / name
        for read in (read_texts, lambda p, c: list(iter_text_chunks(p, c))):
            with pytest.raises(DataError, match=match) as info:
                read(path, "text")
            assert str(info.value).startswith(f"{path}: "), info.value
