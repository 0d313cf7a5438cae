import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from emobalance.errors import DataError
from emobalance.labels import LABELS
from emobalance.scoring import PROBA_COLUMNS, iter_text_chunks, predict_file


class LengthModel:
    """A fake scorer: probability of label j grows with the text length (deterministic)."""

    thresholds_ = np.full(28, 0.5, dtype=np.float32)

    def predict_proba(self, texts, batch_size=256):
        lens = np.array([len(t) for t in texts], dtype=np.float32)[:, None]
        return (np.tanh(lens / 10.0) * np.linspace(0.1, 1, 28)[None, :]).astype(np.float32)


@pytest.fixture
def inputs(tmp_path):
    texts = ["hi", "hello there, friend", 'a "quoted", text', "", "last one"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    with open(tmp_path / "in.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "body"])
        w.writerows([i, t] for i, t in enumerate(texts))
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"body": t}) + "\n" for t in texts), encoding="utf-8"
    )
    return tmp_path, texts


@pytest.mark.parametrize("src", ["in.txt", "in.csv", "in.jsonl"])
@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_predict_file_formats(inputs, src, dst):
    d, texts = inputs
    n = predict_file(LengthModel(), d / src, d / dst, text_column="body", chunk_size=2)
    assert n == len(texts)
    want = LengthModel().predict_proba(texts)
    if dst.endswith(".parquet"):
        t = pq.read_table(d / dst)
        assert t.column("text").to_pylist() == texts
        got = np.stack([t.column(c).to_numpy() for c in PROBA_COLUMNS], 1)
        np.testing.assert_allclose(got, want, atol=1e-6)
    elif dst.endswith(".jsonl"):
        recs = [json.loads(x) for x in (d / dst).read_text().splitlines()]
        assert [r["text"] for r in recs] == texts and [r["row"] for r in recs] == list(range(5))
        assert recs[1]["labels"] == [lab for j, lab in enumerate(LABELS) if want[1, j] >= 0.5]
    else:
        with open(d / dst, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["text"] for r in rows] == texts
        assert float(rows[2]["p_neutral"]) == pytest.approx(float(want[2, 27]), abs=1e-5)
    assert not [p for p in d.iterdir() if p.name.startswith(".out")]


def test_bad_input_leaves_no_output(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 5}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 2"):
        predict_file(LengthModel(), bad, tmp_path / "out.csv", chunk_size=1)
    assert list(tmp_path.iterdir()) == [bad]
    with pytest.raises(DataError, match="no such file"):
        list(iter_text_chunks(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="must end in"):
        predict_file(LengthModel(), bad, tmp_path / "out.xlsx")


def test_chunks_are_bounded(inputs):
    d, texts = inputs
    chunks = list(iter_text_chunks(d / "in.txt", chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [t for c in chunks for t in c] == texts
