import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from emobalance.data.readers import iter_text_chunks
from emobalance.errors import DataError
from emobalance.labels import LABELS
from emobalance.scoring import PROBA_COLUMNS, parts_dir, predict_file


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


class Interrupted(Exception):
    """Stands for a kill: not an EmobalanceError, so the parts are kept."""


class CountingModel(LengthModel):
    """LengthModel that records the texts it scored and can fail on its n-th call."""

    def __init__(self, fail_on_call=None):
        self.calls, self.seen, self.fail_on_call = 0, [], fail_on_call

    def predict_proba(self, texts, batch_size=256):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise Interrupted
        self.seen.extend(texts)
        return super().predict_proba(texts, batch_size)


@pytest.fixture
def long_input(tmp_path):
    texts = [f"text number {i} " + "x" * (i % 7) for i in range(11)]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return tmp_path, texts


def interrupt(d, dst, **kw):
    """Run until the third chunk (of 3 rows) fails; 6 rows are then in 2 parts."""
    with pytest.raises(Interrupted):
        predict_file(CountingModel(3), d / "in.txt", d / dst, chunk_size=3, **kw)
    assert not (d / dst).exists()
    state = json.loads((parts_dir(d / dst) / "progress.json").read_text())
    assert (len(state["parts"]), state["rows"]) == (2, 6)


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_resume_continues_without_loss_or_duplicates(long_input, dst):
    d, texts = long_input
    predict_file(LengthModel(), d / "in.txt", d / f"clean_{dst}", chunk_size=3)
    interrupt(d, dst)
    # a kill between writing a part and counting it leaves an uncounted part: overwritten
    (parts_dir(d / dst) / f"part-000002.{dst.split('.')[1]}").write_text("junk\n")
    model = CountingModel()
    n = predict_file(model, d / "in.txt", d / dst, chunk_size=3, resume=True)
    assert n == len(texts) and model.seen == texts[6:]  # only the rest was scored
    if dst.endswith(".parquet"):
        assert pq.read_table(d / dst).equals(pq.read_table(d / f"clean_{dst}"))
        assert pq.read_table(d / dst).column("row").to_pylist() == list(range(11))
    else:
        assert (d / dst).read_bytes() == (d / f"clean_{dst}").read_bytes()
    assert not parts_dir(d / dst).exists()


def test_resume_with_another_chunk_size_and_without_parts(long_input):
    d, texts = long_input
    interrupt(d, "out.csv")
    model = CountingModel()
    predict_file(model, d / "in.txt", d / "out.csv", chunk_size=4, resume=True)
    assert model.seen == texts[6:]
    with open(d / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["row"] for r in rows] == [str(i) for i in range(11)]
    assert [r["text"] for r in rows] == texts
    model = CountingModel()  # nothing to resume from: starts at row 0
    predict_file(model, d / "in.txt", d / "out2.csv", resume=True)
    assert model.seen == texts


def test_without_resume_starts_over(long_input):
    d, texts = long_input
    interrupt(d, "out.jsonl")
    model = CountingModel()
    predict_file(model, d / "in.txt", d / "out.jsonl", chunk_size=3)
    assert model.seen == texts
    assert len((d / "out.jsonl").read_text().splitlines()) == 11


def test_resume_accepts_an_older_id_of_the_same_model(long_input):
    d, texts = long_input
    interrupt(d, "out.jsonl", model_id="torch:old-form")
    model = CountingModel()
    n = predict_file(model, d / "in.txt", d / "out.jsonl", chunk_size=3, resume=True,
                     model_id="reference:new-form", model_aliases=["torch:old-form"])  # fmt: skip
    assert n == len(texts) and model.seen == texts[6:]
    rows = [json.loads(x)["row"] for x in (d / "out.jsonl").read_text().splitlines()]
    assert rows == list(range(11))


def test_resume_refuses_another_input_or_model(long_input):
    d, _ = long_input
    interrupt(d, "out.csv", model_id="a")
    with pytest.raises(DataError, match=r"progress\.json: the interrupted run had another model"):
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", resume=True, model_id="b")
    (d / "in.txt").write_text("changed\n", encoding="utf-8")
    with pytest.raises(DataError, match="another input_size"):
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", resume=True, model_id="a")
    assert parts_dir(d / "out.csv").is_dir()  # refused, not discarded
    (parts_dir(d / "out.csv") / "progress.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable progress record"):
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", resume=True)


def test_unsupported_input_type_and_directory_output(tmp_path):
    odd = tmp_path / "posts.xlsx"
    odd.write_text("not really a spreadsheet\n")
    with pytest.raises(DataError, match=r"posts\.xlsx: unsupported input type"):
        list(iter_text_chunks(odd))
    good = tmp_path / "in.txt"
    good.write_text("a\nb\n")
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        predict_file(LengthModel(), good, tmp_path / "out.csv")
    assert not parts_dir(tmp_path / "out.csv").exists()


def test_json_lines_with_json_suffix_and_long_csv_fields(tmp_path):
    (tmp_path / "in.json").write_text('{"text": "one"}\n{"text": "two"}\n')
    assert list(iter_text_chunks(tmp_path / "in.json")) == [["one", "two"]]
    long = "x" * 200_000  # past the csv module's default field limit
    with open(tmp_path / "in.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text"], [long]])
    assert list(iter_text_chunks(tmp_path / "in.csv")) == [[long]]


def test_malformed_csv_names_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('text\nfine\n"unterminated\n')
    with pytest.raises(DataError, match=r"bad\.csv: line \d+"):
        list(iter_text_chunks(bad))


# ------------------------------------------------------------------ issue 14: bad text, resume
# state, disk faults, the output lock


def listing(d):
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_lone_surrogate_is_one_line_and_leaves_nothing(tmp_path, dst):
    bad = tmp_path / "bad.jsonl"  # a JSON escape of half a surrogate pair, in the 3rd record
    bad.write_text('{"text": "ok"}\n{"text": "fine"}\n{"text": "x \\ud83d y"}\n', "utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl: (line 3|row 2)") as exc:
        predict_file(LengthModel(), bad, tmp_path / dst, chunk_size=2)
    assert "\n" not in str(exc.value)
    assert listing(tmp_path) == ["bad.jsonl"]  # no output, no .parts/, no temp, no lock


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_unencodable_text_at_the_writer_names_the_row(tmp_path, monkeypatch, dst):
    # whatever the reader lets through, the writer boundary turns it into a DataError
    from emobalance import scoring

    chunks = [["a", "b"], ["c", "d\udc80e"], ["f"]]
    monkeypatch.setattr(scoring, "iter_text_chunks", lambda *a, **k: iter(chunks))
    (tmp_path / "in.txt").write_text("placeholder\n")
    with pytest.raises(DataError, match=r"in\.txt: row 3 \(0-based.*'\\udc80' at character 1"):
        predict_file(LengthModel(), tmp_path / "in.txt", tmp_path / dst, chunk_size=2)
    assert listing(tmp_path) == ["in.txt"]  # the finished first part is discarded too


def read_rows(path):
    if path.suffix == ".parquet":
        t = pq.read_table(path)
        return t.column("row").to_pylist(), t.column("text").to_pylist()
    if path.suffix == ".jsonl":
        recs = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
        return [r["row"] for r in recs], [r["text"] for r in recs]
    with open(path, newline="", encoding="utf-8") as f:
        recs = list(csv.DictReader(f))
    return [int(r["row"]) for r in recs], [r["text"] for r in recs]


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
@pytest.mark.parametrize("damage", ["truncate", "delete", "garble"])
def test_a_damaged_part_and_the_rest_are_scored_again(long_input, dst, damage):
    d, texts = long_input
    interrupt(d, dst)  # parts 0 and 1 (rows 0-5) done
    part = parts_dir(d / dst) / f"part-000001.{dst.split('.')[1]}"
    if damage == "truncate":
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    elif damage == "delete":
        part.unlink()
    else:  # same size, other bytes
        raw = bytearray(part.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        part.write_bytes(bytes(raw))
    model = CountingModel()
    n = predict_file(model, d / "in.txt", d / dst, chunk_size=3, resume=True)
    assert n == len(texts) and model.seen == texts[3:]  # part 1 onwards again
    assert read_rows(d / dst) == (list(range(11)), texts)
    assert listing(d) == ["in.txt", dst]


def test_a_damaged_first_part_and_stray_files_in_the_parts_folder(long_input):
    d, texts = long_input
    interrupt(d, "out.csv")
    parts = parts_dir(d / "out.csv")
    (parts / "part-000000.csv").write_text("0,x\n")
    (parts / "part-000007.csv").write_text("junk\n")  # not counted: removed
    (parts / ".part-000002.csv.tmp-00000000-1-ab.csv").write_text("half")
    model = CountingModel()
    predict_file(model, d / "in.txt", d / "out.csv", chunk_size=3, resume=True)
    assert model.seen == texts
    assert read_rows(d / "out.csv") == (list(range(11)), texts)
    assert listing(d) == ["in.txt", "out.csv"]


BAD_RECORDS = [
    "[]",
    '"progress"',
    '{"format": "emobalance-predict-progress"}',
    '{"format": "other", "key": {}, "rows": 0, "parts": []}',
    '{"format": "emobalance-predict-progress", "key": [], "rows": 0, "parts": []}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": -1, "parts": []}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": true, "parts": []}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": 3, "parts": "x"}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": 3, "parts": [3]}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": 3,'
    ' "parts": [{"file": "../x.csv", "rows": 3, "sha256": "' + "0" * 64 + '"}]}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": 3,'
    ' "parts": [{"file": "part-000000.csv", "rows": 3, "sha256": "nope"}]}',
    '{"format": "emobalance-predict-progress", "key": {}, "rows": 4,'
    ' "parts": [{"file": "part-000000.csv", "rows": 3, "sha256": "' + "0" * 64 + '"}]}',
]


@pytest.mark.parametrize("record", BAD_RECORDS)
def test_a_progress_record_of_the_wrong_shape_is_one_line(long_input, record):
    d, _ = long_input
    interrupt(d, "out.csv")
    (parts_dir(d / "out.csv") / "progress.json").write_text(record)
    with pytest.raises(DataError, match=r"progress\.json: unreadable progress record") as exc:
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", chunk_size=3, resume=True)
    assert "\n" not in str(exc.value) and "without --resume" in str(exc.value)
    assert parts_dir(d / "out.csv").is_dir()  # refused, not discarded
    predict_file(LengthModel(), d / "in.txt", d / "out.csv", chunk_size=3)  # starts over
    assert listing(d) == ["in.txt", "out.csv"]


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_a_progress_record_without_checksums_is_verified_by_its_rows(long_input, dst):
    # the record of emobalance before issue 14: "parts" counts the part files
    d, texts = long_input
    interrupt(d, dst)
    path = parts_dir(d / dst) / "progress.json"
    state = json.loads(path.read_text())
    state["parts"] = len(state["parts"])
    del state["version"]
    path.write_text(json.dumps(state))
    model = CountingModel()
    predict_file(model, d / "in.txt", d / dst, chunk_size=3, resume=True)
    assert model.seen == texts[6:]  # both parts hold the rows expected: trusted
    assert read_rows(d / dst) == (list(range(11)), texts)
    (d / dst).unlink()
    interrupt(d, dst)  # again, now with the second part truncated
    path.write_text(json.dumps(state))
    part = parts_dir(d / dst) / f"part-000001.{dst.split('.')[1]}"
    part.write_bytes(part.read_bytes()[:-9])
    model = CountingModel()
    predict_file(model, d / "in.txt", d / dst, chunk_size=3, resume=True)
    assert model.seen == texts[3:]
    assert read_rows(d / dst) == (list(range(11)), texts)


def enospc_on(monkeypatch, target, attr, call):
    """Make ``target.attr`` raise ENOSPC on its ``call``-th call (1-based)."""
    import errno

    real, calls = getattr(target, attr), [0]

    def fake(*a, **k):
        calls[0] += 1
        if calls[0] == call:
            raise OSError(errno.ENOSPC, "No space left on device", str(a[0]) if a else None)
        return real(*a, **k)

    monkeypatch.setattr(target, attr, fake)


def test_disk_full_keeps_the_finished_parts_for_resume(long_input, monkeypatch):
    from emobalance import scoring

    d, texts = long_input
    enospc_on(monkeypatch, scoring._Writer, "write", 3)
    with pytest.raises(scoring.ResumableWriteError, match="No space left") as exc:
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", chunk_size=3)
    msg = str(exc.value)
    assert "\n" not in msg and "6 rows scored so far are kept" in msg and "--resume" in msg
    assert isinstance(exc.value, OSError) and exc.value.errno == 28
    assert listing(parts_dir(d / "out.csv")) == ["part-000000.csv", "part-000001.csv",
                                                 "progress.json"]  # fmt: skip
    assert listing(d) == [".out.csv.parts", "in.txt"]  # no temp, no lock
    monkeypatch.undo()  # space freed
    model = CountingModel()
    predict_file(model, d / "in.txt", d / "out.csv", chunk_size=3, resume=True)
    assert model.seen == texts[6:]
    assert read_rows(d / "out.csv") == (list(range(11)), texts)


def test_disk_full_before_any_part_or_in_the_join(long_input, monkeypatch):
    from emobalance import scoring

    d, texts = long_input
    enospc_on(monkeypatch, scoring._Writer, "write", 1)
    with pytest.raises(scoring.ResumableWriteError) as exc:
        predict_file(LengthModel(), d / "in.txt", d / "out.csv", chunk_size=3)
    assert "kept" not in str(exc.value)
    assert listing(d) == ["in.txt"]  # nothing scored: nothing kept
    monkeypatch.undo()
    enospc_on(monkeypatch, scoring, "_join_parts", 1)
    with pytest.raises(scoring.ResumableWriteError, match="the 11 rows scored so far are kept"):
        predict_file(LengthModel(), d / "in.txt", d / "out.jsonl", chunk_size=3)
    assert listing(d) == [".out.jsonl.parts", "in.txt"]
    monkeypatch.undo()
    model = CountingModel()
    predict_file(model, d / "in.txt", d / "out.jsonl", chunk_size=3, resume=True)
    assert model.seen == []  # only the join was left to do
    assert read_rows(d / "out.jsonl") == (list(range(11)), texts)


def test_the_output_is_locked_and_the_lock_released_on_every_exit(long_input):
    import os

    from emobalance.io import LockedError, output_lock

    d, _ = long_input
    held = rf"out\.csv: another process \(pid {os.getpid()} "
    with output_lock(d / "out.csv", "test holder"), pytest.raises(LockedError, match=held):
        predict_file(LengthModel(), d / "in.txt", d / "out.csv")
    assert listing(d) == ["in.txt"]
    interrupt(d, "out.csv")  # an exception that is not ours: parts kept, lock released
    assert listing(d) == [".out.csv.parts", "in.txt"]
    (d / "bad.jsonl").write_text('{"text": 5}\n')
    with pytest.raises(DataError):  # bad input
        predict_file(LengthModel(), d / "bad.jsonl", d / "out.csv")
    assert listing(d) == ["bad.jsonl", "in.txt"]
    predict_file(LengthModel(), d / "in.txt", d / "out.csv")
    assert listing(d) == ["bad.jsonl", "in.txt", "out.csv"]


@pytest.fixture(scope="module")
def tfidf_dir(tmp_path_factory):
    from emobalance.data.dataset import EmotionDataset
    from emobalance.labels import LABEL_TO_ID
    from emobalance.models.baselines import TfidfBaseline

    words = {"gratitude": "thanks a lot", "anger": "so angry", "neutral": "the table"}
    texts = [f"{w} {i}" for i in range(8) for w in words.values()]
    labels = np.zeros((len(texts), 28), dtype=np.uint8)
    for i, lab in enumerate(list(words) * 8):
        labels[i, LABEL_TO_ID[lab]] = 1
    data = EmotionDataset(texts, labels, source="user")
    return TfidfBaseline(min_df=1).fit(data, data).save(tmp_path_factory.mktemp("tfidf") / "m")


def test_cli_errors_of_the_writer_and_the_lock_are_one_line(tfidf_dir, tmp_path, capsys):
    import os

    from emobalance.cli import main
    from emobalance.io import output_lock

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(["predict", str(tfidf_dir), *args])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and err.startswith("error: ") and "\n" not in err, err
        return err

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "thanks"}\n{"text": "so \\ud83d"}\n', encoding="utf-8")
    err = run("--input", str(bad), "--output", str(tmp_path / "out.csv"))
    assert "bad.jsonl" in err and ("line 2" in err or "row 1" in err)
    assert listing(tmp_path) == ["bad.jsonl"]
    good = tmp_path / "in.txt"
    good.write_text("thanks\nso angry\n", encoding="utf-8")
    with output_lock(tmp_path / "out.csv", "emobalance predict"):
        err = run("--input", str(good), "--output", str(tmp_path / "out.csv"))
    assert f"pid {os.getpid()} " in err
    assert listing(tmp_path) == ["bad.jsonl", "in.txt"]


# ------------------------------------------------------- own label schemas (issue 24)
class SchemaModel:
    """A fake scorer of its own schema: p(label j) = (j + 1) / 10 for texts with "up", 0.05
    otherwise; labels_ names the schema."""

    def __init__(self, schema):
        self.labels_ = schema
        self.thresholds_ = np.full(len(schema), 0.35, dtype=np.float32)

    def predict_proba(self, texts, batch_size=256):
        up = np.array([["up" in t] for t in texts], dtype=bool)
        ramp = (np.arange(len(self.labels_)) + 1) / 10
        return np.where(up, ramp[None, :], 0.05).astype(np.float32)


@pytest.mark.parametrize("dst", ["out.csv", "out.jsonl", "out.parquet"])
def test_predict_file_writes_the_models_own_columns(tmp_path, dst):
    from emobalance.labels import LabelSchema
    from emobalance.scoring import csv_header, proba_columns

    five = LabelSchema(["joy", "anger", "fear", "trust", "calm"], name="five")
    (tmp_path / "in.txt").write_text("up we go\nflat\n", encoding="utf-8")
    assert predict_file(SchemaModel(five), tmp_path / "in.txt", tmp_path / dst, chunk_size=1) == 2
    cols = proba_columns(five)
    assert cols == ["p_joy", "p_anger", "p_fear", "p_trust", "p_calm"]
    if dst.endswith(".parquet"):
        t = pq.read_table(tmp_path / dst)
        assert t.column_names == csv_header(five)
        assert t.column("labels").to_pylist() == ["trust,calm", ""]
    elif dst.endswith(".jsonl"):
        recs = [json.loads(x) for x in (tmp_path / dst).read_text().splitlines()]
        assert list(recs[0]) == csv_header(five)
        assert recs[0]["labels"] == ["trust", "calm"] and recs[0]["p_calm"] == 0.5
    else:
        with open(tmp_path / dst, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == csv_header(five) and rows[2][2] == ""


def test_predict_file_of_a_single_label_model_writes_its_most_probable_label(tmp_path):
    from emobalance.labels import LabelSchema

    three = LabelSchema(["pos", "neg", "other"], name="three", single_label=True)
    (tmp_path / "in.txt").write_text("up\nflat\n", encoding="utf-8")
    predict_file(SchemaModel(three), tmp_path / "in.txt", tmp_path / "out.jsonl")
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    # "up": 0.1, 0.2, 0.3 -> other; "flat": all 0.05, below every threshold -> still one label
    assert [r["labels"] for r in recs] == [["other"], ["pos"]]
    assert set(recs[0]) == {"row", "text", "labels", "p_pos", "p_neg", "p_other"}


def test_resume_with_a_five_label_model_keeps_its_columns(tmp_path, monkeypatch):
    from emobalance import scoring
    from emobalance.labels import LabelSchema

    five = LabelSchema(["joy", "anger", "fear", "trust", "calm"], name="five")
    (tmp_path / "in.txt").write_text("up\nflat\nup again\n", encoding="utf-8")
    real, calls = scoring._write_part, []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "_write_part", fail_second)
    with pytest.raises(OSError):
        predict_file(SchemaModel(five), tmp_path / "in.txt", tmp_path / "o.csv", chunk_size=1)
    monkeypatch.setattr(scoring, "_write_part", real)
    n = predict_file(SchemaModel(five), tmp_path / "in.txt", tmp_path / "o.csv", chunk_size=1,
                     resume=True)  # fmt: skip
    with open(tmp_path / "o.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert n == 3 and [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert rows[0][3:] == scoring.proba_columns(five) and all(len(r) == 8 for r in rows)
