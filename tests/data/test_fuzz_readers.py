"""Fuzz suite of the dataset readers: whatever the bytes of a file, a reader returns a valid
dataset (or list of texts) or raises one :class:`EmobalanceError` naming the file, never
another exception, and leaves no file behind.

Covered: GoEmotions TSV (:func:`goemotions.read_tsv`), CSV, TSV, JSON lines and Parquet through
:func:`load_any` / :meth:`EmotionDataset.from_*`, :func:`read_texts`, :func:`iter_text_chunks`
(what ``predict`` reads) and :func:`read_corpus`. The inputs mix the characters that broke
readers before: lone surrogates, NUL, quotes, BOMs, CR/CRLF, non-ASCII digits, fields over the
csv module's 131,072-character limit, UTF-16 and arbitrary bytes.

The budget comes from the hypothesis profile of ``tests/conftest.py`` (``ci``: 60 examples per
test); ``HYPOTHESIS_PROFILE=long`` searches harder.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emobalance.data import goemotions
from emobalance.data.corpora import load_any, read_corpus
from emobalance.data.dataset import EmotionDataset
from emobalance.data.readers import iter_text_chunks, lone_surrogate, read_texts
from emobalance.errors import EmobalanceError
from emobalance.labels import LABELS, NUM_LABELS

pytestmark = pytest.mark.fuzz
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

LONG = "x" * 131_073  # one more than the csv module's default field limit

# pieces that broke (or could break) a reader; text() draws the rest of the alphabet
_TRICKY = st.sampled_from(
    [
        '"', '""', ",", "\t", "\n", "\r", "\r\n", "\x00", "\ufeff", "\ud83d", "\udc00",
        "\U0001f600", "²", "١٧", "17", "-1", "28", "007", "1" * 5000, "joy", " love ", "NaN",
        "\\ud83d", "\\u0000", "{", "[", "null", "\u2028", "\x85", LONG,
    ]
)  # fmt: skip
_cell = st.lists(_TRICKY | st.text(max_size=8), max_size=4).map("".join)
_label_cell = st.lists(
    st.sampled_from(["0", "17", "27", "28", "²", "١", "-1", " 3 ", "joy", "Grief", "", "1" * 5000])
    | st.text(max_size=3),
    max_size=3,
).map(",".join)
# how a text becomes bytes: the encodings users have, and broken ones
_ENCODE = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "surrogatepass", "latin-1"])


def _encode(text: str, how: str) -> bytes:
    if how == "surrogatepass":
        return text.encode("utf-8", "surrogatepass")  # lone surrogates as (invalid) UTF-8
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode(how, "surrogatepass")


def _fresh(factory: pytest.TempPathFactory) -> Path:
    return Path(tempfile.mkdtemp(dir=factory.getbasetemp()))


def _valid(result: object) -> None:
    """What a reader may return: a well-formed dataset, or texts that are Unicode text."""
    if isinstance(result, EmotionDataset):
        texts = result.texts
        assert len(result.ids) == len(texts) == len(result.source)
        if result.labels is not None:
            assert result.labels.shape == (len(texts), NUM_LABELS)
            assert result.labels.dtype == np.uint8 and set(np.unique(result.labels)) <= {0, 1}
        for col in (result.ids, result.source):
            assert all(isinstance(x, str) and lone_surrogate(x) is None for x in col)
    else:
        texts = result
    assert all(isinstance(t, str) and lone_surrogate(t) is None for t in texts)


def _check(read, path: Path) -> object | None:
    """Run ``read(path)``: a valid result, or one EmobalanceError line naming the file."""
    before = sorted(path.parent.iterdir())
    try:
        result = read(path)
    except EmobalanceError as exc:
        msg = str(exc)
        assert "\n" not in msg and "\r" not in msg, msg
        assert str(path) in msg, msg
        result = None
    else:
        _valid(result)
    assert sorted(path.parent.iterdir()) == before  # no partial or stray file
    return result


def _chunks(path: Path) -> list[str]:
    return [t for chunk in iter_text_chunks(path, chunk_size=2) for t in chunk]


def _texts_agree(path: Path, column: str = "text") -> None:
    """``read_texts`` (data, train's corpora) and ``iter_text_chunks`` (predict) agree."""
    a = _check(lambda p: read_texts(p, column=column), path)
    b = _check(_chunks, path)
    if path.suffix == ".txt":  # read_texts skips blank lines; predict keeps one row per line
        return
    assert (a is None) == (b is None), (a is None, b is None)
    if a is not None:
        assert a == b


# ----------------------------------------------------------------------- TSV / CSV
@st.composite
def _table_text(draw, sep: str) -> str:
    header = draw(st.sampled_from([["text", "labels", "id"], ["id", "text"], ["labels", "text"]]))
    rows = draw(st.lists(st.lists(_cell, min_size=1, max_size=4), max_size=4))
    quote = draw(st.booleans())

    def fmt(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if quote else cell

    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [sep.join(header)] + [sep.join(fmt(c) for c in r) for r in rows]
    return ending.join(lines) + draw(st.sampled_from(["", ending]))


@st.composite
def _goemotions_tsv(draw) -> str:
    rows = draw(
        st.lists(
            st.tuples(_cell, _label_cell, st.text(max_size=4)).map("\t".join) | _cell, max_size=5
        )
    )
    return draw(st.sampled_from(["\n", "\r\n"])).join(rows)


@fixture_ok
@given(text=_goemotions_tsv(), how=_ENCODE)
@example(text="hi\t²\tid1\n", how="utf-8")
@example(text=f"{LONG}\t1\tid1\n", how="utf-8")
@example(text="hi\t" + "1" * 5000 + "\tid1\n", how="utf-8")
def test_goemotions_tsv_fuzz(tmp_path_factory, text, how):
    path = _fresh(tmp_path_factory) / "split.tsv"
    path.write_bytes(_encode(text, how))
    ds = _check(goemotions.read_tsv, path)
    _check(load_any, path)  # the same parser, through --split file.tsv
    if ds is not None:
        assert ds.source == ["goemotions"] * len(ds)


@fixture_ok
@given(text=_table_text(","), how=_ENCODE, raw=st.none() | st.binary(max_size=64))
@example(text=f"text,labels\n{LONG},1\n", how="utf-8", raw=None)
@example(text="text,labels\nhi,²\n", how="utf-8", raw=None)
@example(text='text\n"unclosed\nrest', how="utf-8", raw=None)
@example(text="text\nhello, world\n", how="utf-8", raw=None)
def test_csv_fuzz(tmp_path_factory, text, how, raw):
    path = _fresh(tmp_path_factory) / "data.csv"
    path.write_bytes(raw if raw is not None else _encode(text, how))
    _check(load_any, path)
    _texts_agree(path)
    _check(lambda p: read_corpus(p), path)


@fixture_ok
@given(text=_table_text("\t"), how=_ENCODE)
@example(text=f"text\tid\n{LONG}\t1\n", how="utf-8")
def test_tsv_with_header_fuzz(tmp_path_factory, text, how):
    path = _fresh(tmp_path_factory) / "texts.tsv"
    path.write_bytes(_encode(text, how))
    _texts_agree(path)
    _check(lambda p: EmotionDataset.from_csv(p, delimiter="\t"), path)


# ---------------------------------------------------------------------- JSON lines
_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | _cell | _label_cell
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "text": _cell | _json_value,
        "labels": st.lists(_label_cell | st.integers(-3, 40), max_size=3)
        | _label_cell
        | _json_value,
        "id": _cell | st.integers(),
    },
)


@st.composite
def _jsonl_text(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["record", "record", "value", "junk"]))
        if kind == "junk":
            lines.append(draw(_cell))
        else:
            obj = draw(_record) if kind == "record" else draw(_json_value)
            lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@fixture_ok
@given(text=_jsonl_text(), how=_ENCODE, suffix=st.sampled_from([".jsonl", ".ndjson"]))
@example(text='{"text": "a\\ud83d", "labels": [1]}', how="utf-8", suffix=".jsonl")
@example(text='{"text": "ok", "id": "\\udc00"}', how="utf-8", suffix=".jsonl")
@example(text='{"text": "ok", "labels": ["\\u00b2"]}', how="utf-8", suffix=".jsonl")
@example(text='{"text": "ok", "n": ' + "9" * 5000 + "}", how="utf-8", suffix=".jsonl")
@example(text="[" * 100_000, how="utf-8", suffix=".jsonl")
@example(text='{"text": "ok"}', how="utf-8-sig", suffix=".jsonl")
def test_jsonl_fuzz(tmp_path_factory, text, how, suffix):
    path = _fresh(tmp_path_factory) / f"data{suffix}"
    path.write_bytes(_encode(text, how))
    _check(load_any, path)
    _texts_agree(path)


# ------------------------------------------------------------------------- Parquet
def _labels_columns(n: int) -> st.SearchStrategy:
    flags = st.lists(st.integers(0, 1), min_size=NUM_LABELS, max_size=NUM_LABELS)
    per_row = {
        "flags": flags,
        "ids": st.lists(st.integers(-2, 40), max_size=4),
        "names": st.lists(st.sampled_from([*LABELS[:4], "x", "17", "²", "0", "1"]), max_size=3),
        "string": _label_cell,
        "int": st.integers(-2, 40),
        "float": st.floats(),
        "nested": st.lists(st.lists(st.integers(0, 1), max_size=2), max_size=2),
    }
    return st.sampled_from(sorted(per_row)).flatmap(
        lambda k: st.tuples(
            st.just(k), st.lists(per_row[k] | st.none(), min_size=n, max_size=n), st.booleans()
        )
    )


@st.composite
def _parquet_table(draw) -> pa.Table:
    n = draw(st.integers(0, 4))
    cols: dict[str, pa.Array] = {}
    text_kind = draw(st.sampled_from(["str", "str", "str", "int", "binary", "none"]))
    if text_kind == "str":
        texts = draw(st.lists(_cell.filter(lambda t: lone_surrogate(t) is None), min_size=n,
                              max_size=n))  # fmt: skip
        cols["text"] = pa.array(texts, pa.string())
    elif text_kind == "int":
        cols["text"] = pa.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)))
    elif text_kind == "binary":  # bytes stored under a string type: Arrow does not check them
        raw = draw(st.lists(st.binary(max_size=6), min_size=n, max_size=n))
        cols["text"] = pa.array(raw, pa.binary()).view(pa.string())
    if draw(st.booleans()):
        kind, rows, fixed = draw(_labels_columns(n))
        try:
            if kind == "flags" and fixed and None not in rows:
                flat = pa.array([b for r in rows for b in r], pa.uint8())
                cols["labels"] = pa.FixedSizeListArray.from_arrays(flat, NUM_LABELS)
            else:
                cols["labels"] = pa.array(rows)
        except (pa.ArrowException, OverflowError):
            pass  # a column Arrow itself cannot build
    for name, values in (
        ("source", st.lists(st.none() | st.sampled_from(["user", "generated"]), min_size=n,
                            max_size=n)),
        ("id", st.lists(st.none() | st.text(max_size=3) | st.integers(), min_size=n, max_size=n)),
        ("weight", st.lists(st.none() | st.floats(width=32) | st.text(max_size=2), min_size=n,
                            max_size=n)),
        ("teacher_score", st.lists(st.none() | st.floats(width=32), min_size=n, max_size=n)),
        ("parent_id", st.lists(st.none() | st.text(max_size=3) | st.integers(), min_size=n,
                               max_size=n)),
        ("note", st.lists(st.none() | st.text(max_size=3), min_size=n, max_size=n)),
    ):  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            with contextlib.suppress(pa.ArrowException, OverflowError):  # Arrow cannot build it
                cols[name] = pa.array(draw(values))
    table = pa.table(cols) if cols else pa.table({"other": pa.array([1] * n)})
    if draw(st.booleans()):
        meta = draw(
            st.sampled_from([json.dumps(list(LABELS)).encode(), b"[", b"\xff", b"null", b"{}"])
            | st.binary(max_size=8)
        )
        table = table.replace_schema_metadata({b"emobalance.labels": meta})
    return table


@fixture_ok
@given(table=_parquet_table(), damage=st.none() | st.tuples(st.integers(0, 4096), st.binary()))
def test_parquet_fuzz(tmp_path_factory, table, damage):
    path = _fresh(tmp_path_factory) / "data.parquet"
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    if damage is not None:  # truncate, or overwrite some bytes: a corrupt page or footer
        at, junk = damage
        at %= max(len(data), 1)
        data = data[:at] if not junk else data[:at] + junk + data[at + len(junk) :]
    path.write_bytes(data)
    ds = _check(load_any, path)
    _texts_agree(path)
    if ds is not None and damage is None:  # what was read writes back and reads the same
        back = EmotionDataset.from_parquet(ds.to_parquet(path.with_name("back.parquet")))
        assert back.texts == ds.texts and back.ids == ds.ids


@given(
    raw=st.binary(max_size=256),
    suffix=st.sampled_from([".parquet", ".jsonl", ".csv", ".tsv", ".txt", ".json"]),
)
@fixture_ok
@example(raw=b'"', suffix=".csv")  # an unclosed quote in the header: a csv.Error traceback
@example(raw=b"\xff\xfet\x00e\x00x\x00t\x00\n\x00", suffix=".csv")  # UTF-16
def test_arbitrary_bytes_fuzz(tmp_path_factory, raw, suffix):
    path = _fresh(tmp_path_factory) / f"data{suffix}"
    path.write_bytes(raw)
    _check(load_any, path)
    _texts_agree(path)
