"""Fuzz of the config loader (issue 14): arbitrary YAML documents, bytes and ``--set`` items,
with keys drawn from the real schema and values that are inf, NaN, huge, negative, strings,
lists or mappings. Property: a valid config or one ConfigError line; through the CLI, a job
that starts with a valid config or one line ``error: ...`` and exit 2, never a traceback."""

from __future__ import annotations

import contextlib
import io
import math
import typing
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from emobalance import jobs
from emobalance.cli import main
from emobalance.config import EmobalanceConfig, load_config
from emobalance.errors import ConfigError

pytestmark = pytest.mark.fuzz


def _schema_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of the config schema, sections included (``balance.pseudo_label``)."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _schema_keys(sub, f"{key}.")
        else:
            for arg in typing.get_args(sub):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    keys += _schema_keys(arg, f"{key}.")
    return keys


KEYS = _schema_keys(EmobalanceConfig)
SECTIONS = {k.rsplit(".", 1)[0] for k in KEYS if "." in k}
FIELDS = [k for k in KEYS if k not in SECTIONS]  # the leaves: train.lr, model.max_len...
LEAVES = sorted({k.rsplit(".", 1)[-1] for k in KEYS})
# numbers at and past every kind of bound: what a typo or a unit mistake gives
extremes = st.sampled_from(
    [float("inf"), float("-inf"), float("nan"), 1e9, 1e300, -1e-300, 0.0, -1, 0, 1, 2**31,
     2**63, 10**30, -(10**30), 0.5, 1.5, 7.5, 4097, 65536]
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e9, 1e300, -1e-300, 0.0]),
    st.text(max_size=12),
    st.sampled_from(["auto", "cpu", "cuda", "cuda:7", "quantum:7", "mps", "median", "none",
                     "asl", "minilm+tfidf", "sentiment140", "1e9", ".inf", "even", "linear"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(LEAVES) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
keys = st.sampled_from(KEYS) | st.sampled_from(["", ".", "train.", "nosuch.key", "a..b"])


def _nest(items: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for dotted, value in items.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            child = node.get(p)
            if not isinstance(child, dict):
                child = node[p] = {}
            node = child
        node[leaf] = value
    return out


def _yaml_value(value: object) -> str:
    """``value`` as a one-line YAML flow value, as a user types it after ``--set key=``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _assert_one_line(exc: ConfigError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg


documents = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
    # one or two fields set to a number at a bound: mostly valid documents, so that a value
    # the schema lets through (inf, a huge size) is seen by the property
    st.dictionaries(st.sampled_from(FIELDS), extremes | scalars, min_size=1, max_size=2),
).map(_nest)


@given(doc=documents)
def test_yaml_documents_give_a_config_or_one_config_error(doc, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        _assert_one_line(exc)
        assert str(path) in str(exc)
        return
    assert isinstance(cfg, EmobalanceConfig)
    _assert_finite(cfg.model_dump())


@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_give_a_config_or_one_config_error(raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        _assert_one_line(exc)
        assert str(path) in str(exc)


set_items = st.one_of(
    st.tuples(st.sampled_from(FIELDS), extremes.map(_yaml_value)).map("=".join),
    st.tuples(keys, values.map(_yaml_value)).map("=".join),
    st.tuples(keys, st.text(max_size=30)).map("=".join),
    st.text(max_size=30),
)


@given(items=st.lists(set_items, min_size=1, max_size=3))
def test_set_items_give_a_config_or_one_config_error(items):
    try:
        cfg = load_config(overrides=items)
    except ConfigError as exc:
        _assert_one_line(exc)
        return
    _assert_finite(cfg.model_dump())


class _JobStarted(Exception):
    """Raised by the stub job: the command got as far as a validated config."""


def _stub_job(cfg, *args, **kwargs):
    assert isinstance(cfg, EmobalanceConfig)
    _assert_finite(cfg.model_dump())  # an AssertionError here is a traceback: a failure
    raise _JobStarted


@given(item=set_items, command=st.sampled_from(["train", "teacher", "balance", "run"]))
def test_cli_set_items_start_the_job_or_print_one_error_line(item, command, tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    argv = {"train": ["train", "--out", str(out / "m")],
            "teacher": ["teacher", "train", "--out", str(out / "t")],
            "balance": ["balance", "--out", str(out / "b")],
            "run": ["run", "--out", str(out / "r")]}[command]  # fmt: skip
    job = {"train": "train_model", "teacher": "train_teacher", "balance": "balance",
           "run": "run"}[command]  # fmt: skip
    err = io.StringIO()
    with mock.patch.object(jobs, job, _stub_job), contextlib.redirect_stderr(err):
        try:
            main([*argv, "--set", item])
        except _JobStarted:
            return  # a valid config reached the job
        except SystemExit as exc:
            code = exc.code
        else:  # pragma: no cover - main always exits
            raise AssertionError("main returned")
    text = err.getvalue()
    assert code == 2, text
    assert text.startswith("error: ") and text.count("\n") == 1, text
    assert "Traceback" not in text
    assert list(Path(out).iterdir()) == []


def _assert_finite(obj: object) -> None:
    """A valid config holds no inf or NaN anywhere."""
    if isinstance(obj, float):
        assert math.isfinite(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _assert_finite(v)
    elif isinstance(obj, list):
        for v in obj:
            _assert_finite(v)
