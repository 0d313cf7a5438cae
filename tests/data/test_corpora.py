import shutil

import pytest

from emobalance.data import EmotionDataset, read_corpus, sentiment140
from emobalance.data.corpora import resolve_corpus
from emobalance.errors import DataError


# ---------------------------------------------------------------- sentiment140
def test_sentiment140_csv_latin1(fixtures_dir):
    d = sentiment140(fixtures_dir / "sentiment140" / "csv" / "training_sample.csv")
    assert len(d) == 4
    assert not d.is_labelled
    assert d.source == ["sentiment140"] * 4
    assert d.ids == ["s140-1467810369", "s140-1467810672", "s140-1467811184", "s140-1467811193"]
    assert d.meta == {"polarity": [0, 2, 4, 0]}
    assert d.texts[0] == "@switchfoot Awww, that's a bummer. Café naïve"
    assert d.texts[1] == "neutral tweet costs £5, über"
    assert d.texts[2] == 'my whole body feels itchy and like its on fire, "really"'


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("bad_fields.csv", "line 2: expected 6 fields, got 5"),
        ("bad_polarity.csv", "line 3: polarity must be 0, 2 or 4, got '3'"),
    ],
)
def test_sentiment140_csv_malformed(fixtures_dir, name, match):
    path = fixtures_dir / "sentiment140" / name
    with pytest.raises(DataError, match=match) as info:
        sentiment140(path)
    assert str(info.value).startswith(f"{path}: ")


def test_sentiment140_txt_files(fixtures_dir):
    neg = sentiment140(fixtures_dir / "sentiment140" / "txt" / "negative.txt")
    assert neg.texts == [
        "is upset that he can't update his Facebook",
        "@Kenichan I dived many times for the ball",
    ]  # the blank line is skipped
    assert neg.meta == {"polarity": [0, 0]}
    assert neg.ids == ["s140-negative-1", "s140-negative-2"]
    pos = sentiment140(fixtures_dir / "sentiment140" / "txt" / "positive.txt")
    assert pos.texts[0] == "Loving the sunshine today été 😊"
    assert pos.meta == {"polarity": [4, 4]}
    other = sentiment140(fixtures_dir / "sentiment140" / "tweets.txt")
    assert other.meta == {"polarity": [None, None]}
    assert other.source == ["sentiment140", "sentiment140"] and not other.is_labelled


def test_sentiment140_directories(fixtures_dir, tmp_path):
    txt = sentiment140(fixtures_dir / "sentiment140" / "txt")
    assert len(txt) == 4
    assert txt.meta["polarity"] == [0, 0, 4, 4]  # negative.txt first, then positive.txt
    assert txt.ids[0] == "s140-negative-1" and txt.ids[2] == "s140-positive-1"
    csv_dir = sentiment140(fixtures_dir / "sentiment140" / "csv")
    assert csv_dir.meta["polarity"] == [0, 2, 4, 0]
    # the directory result survives Parquet with its polarity column
    back = EmotionDataset.from_parquet(txt.to_parquet(tmp_path / "s140.parquet"))
    assert back.meta == txt.meta and back.texts == txt.texts and not back.is_labelled
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no Sentiment140 CSV or negative\.txt/positive\.txt"):
        sentiment140(empty)
    with pytest.raises(DataError, match="no such file"):
        sentiment140(tmp_path / "missing.csv")


def test_sentiment140_directory_with_one_file(fixtures_dir, tmp_path):
    shutil.copy(fixtures_dir / "sentiment140" / "txt" / "positive.txt", tmp_path / "positive.txt")
    d = sentiment140(tmp_path)
    assert d.meta == {"polarity": [4, 4]}


@pytest.mark.data
def test_sentiment140_real_sample(data_dir):
    folder = data_dir / "sentiment140_sample_100k"
    if not (folder / "negative.txt").is_file():
        pytest.skip("no sentiment140_sample_100k in EMOBALANCE_DATA")
    d = sentiment140(folder)
    assert len(d) == 100_000
    pol = d.meta["polarity"]
    assert pol.count(0) == 50_000 and pol.count(4) == 50_000
    assert d.texts[0].startswith("@switchfoot http://twitpic.com/2y1zl")


# ------------------------------------------------------------------ read_corpus
def test_read_corpus(fixtures_dir):
    d = read_corpus(fixtures_dir / "datasets" / "texts.jsonl", column="body", source="generated")
    assert d.texts == ["hello json", "second"]
    assert d.ids == ["texts-0", "texts-1"]
    assert d.source == ["generated", "generated"]
    assert not d.is_labelled


# -------------------------------------------------------------- resolve_corpus
def test_resolve_corpus_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOBALANCE_DATA", raising=False)
    with pytest.raises(DataError, match="EMOBALANCE_DATA"):
        resolve_corpus("sentiment140")
    with pytest.raises(DataError, match="not found"):
        resolve_corpus(str(tmp_path / "missing.csv"))
    f = tmp_path / "texts.txt"
    f.write_text("one\ntwo\n")
    assert resolve_corpus(str(f)).texts == ["one", "two"]
