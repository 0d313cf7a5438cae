import pytest

from emobalance.errors import DataError
from emobalance.evaluation import load_external, read_external


def test_single_and_multi_label_files(external_dir):
    ds = read_external(external_dir / "single.csv")
    assert len(ds) == 10 and ds.labels[7] == ("Surprise",) and not ds.multi_label
    multi = read_external(external_dir / "multi.csv", label_column="emotions",
                          multi_label=True, label_sep="|")  # fmt: skip
    assert multi.labels[0] == ("happy", "angry") and multi.labels[4] == ()
    jsonl = read_external(external_dir / "polarity_abstain.jsonl")
    assert len(jsonl) == 6  # the blank line is skipped


def test_label_ids_and_tsv(tmp_path):
    path = tmp_path / "ids.tsv"
    path.write_text("label\ttext\n3\tso happy\n0\tso cross\n")
    assert read_external(path).labels == [("3",), ("0",)]
    jl = tmp_path / "ids.jsonl"
    jl.write_text('{"text": "a", "label": 3}\n{"text": "b", "label": [1, 2]}\n')
    assert read_external(jl, multi_label=True).labels == [("3",), ("1", "2")]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("bad_no_label_column.csv", {},
         "line 1: no column 'label' (columns: text, emotion)"),
        ("bad_no_label_field.jsonl", {}, "line 2: no field 'label'"),
        ("bad_several_labels.csv", {},
         "line 3: several labels in column 'label' ('joy,anger'); read the file as "
         "multi-label (--multi-label)"),
        ("bad_empty.csv", {}, "empty file"),
        ("bad_header_only.csv", {}, "no rows (an empty file)"),
        ("bad_empty.jsonl", {}, "no rows (an empty file)"),
        ("multi.csv", {"label_column": "emotions"},
         "line 2: several labels in column 'emotions' ('happy|angry')"),
    ],
)  # fmt: skip
def test_bad_files_give_one_line_naming_the_place(external_dir, name, options, message):
    path = external_dir / name
    if name == "multi.csv":
        options = {**options, "label_sep": "|"}
    with pytest.raises(DataError) as info:
        read_external(path, **options)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}") and "\n" not in text


def test_more_bad_rows(tmp_path):
    cases = {
        "a.csv": ("text,label\nso happy,\n", "line 2: empty label in column 'label'"),
        "b.csv": ("text,label\nso, happy,joy\n", "line 2: expected 2 fields, got 3"),
        "c.jsonl": ('{"text": "a", "label": ["joy", "love"]}\n',
                    "line 1: several labels in column 'label'"),
        "d.jsonl": ('{"text": "a", "label": {"x": 1}}\n',
                    "line 1: column 'label' must hold label names, got dict"),
        "e.txt": ("so happy\n", "unsupported file type .txt"),
    }  # fmt: skip
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(DataError) as info:
            read_external(path)
        assert str(info.value).startswith(f"{path}: {message}"), name
    import pandas as pd

    pd.DataFrame({"text": ["a"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"p\.parquet: no column 'label' \(columns: text\)"):
        read_external(tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"missing\.csv: no such file"):
        read_external(tmp_path / "missing.csv")


def test_the_polarity_guard_as_an_external_dataset(monkeypatch, tmp_path):
    root = tmp_path / "data" / "sentiment140_sample_100k"
    root.mkdir(parents=True)
    (root / "negative.txt").write_text("".join(f"sad tweet {i}\n" for i in range(30)))
    (root / "positive.txt").write_text("".join(f"glad tweet {i}\n" for i in range(30)))
    monkeypatch.setenv("EMOBALANCE_DATA", str(tmp_path / "data"))
    ds = load_external("sentiment140_polarity_guard")
    assert ds.labels == [("negative",)] * 3 + [("positive",)] * 3  # 10% of 30 per class
    assert all(t.startswith("sad") for t in ds.texts[:3])
    monkeypatch.setenv("EMOBALANCE_DATA", str(tmp_path / "nothing"))
    with pytest.raises(DataError, match="sentiment140_polarity_guard needs EMOBALANCE_DATA"):
        load_external("sentiment140_polarity_guard")
