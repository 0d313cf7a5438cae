import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emobalance.data.readers import read_texts
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
        (tmp_path / "ints.parquet", "text", "cannot read column 'text'"),
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
