import itertools
import json
import logging
import re
import socket
import time
from collections import Counter

import pydantic
import pytest

from emobalance.balance.generate import (
    GenerationError,
    LLMGenerator,
    generate_candidates,
    parse_completion,
)
from emobalance.config import GenerationConfig
from emobalance.data.dataset import EmotionDataset
from emobalance.labels import LABEL_TO_ID, names_to_matrix
from emobalance.text.normalize import normalize

TEMPLATE = "EMOTION={emotion} N={n}\n{examples}"
SLEEP_S = 1.2  # the "slow" response; the client timeout is TIMEOUT_S
TIMEOUT_S = 0.4


# ------------------------------------------------------------------ fake OpenAI server
def ok_content(fake, body):
    """An answer in one of three formats, with a duplicate, a short line and a known text."""
    m = re.search(r"EMOTION=(\w+) N=(\d+)", body["messages"][1]["content"])
    emotion, n = m.group(1), int(m.group(2))
    with fake.lock:
        k = next(fake.uid)
    lines = [f"{emotion} comment {k}-{i}: the weather was something else today" for i in range(n)]
    extras = [lines[0].upper(), "ok", f"Existing text number one for {emotion}"]
    items = lines + extras
    if k % 3 == 0:
        return json.dumps(items)
    if k % 3 == 1:
        return "Here you go:\n" + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(items))
    return "\n".join(f'- "{t}"' for t in items)


@pytest.fixture
def llm(llm):
    """The fake server of conftest.py, answering generation prompts (``TEMPLATE``)."""
    llm.uid = itertools.count()
    llm.sleep_s = SLEEP_S
    llm.answer = lambda body: ok_content(llm, body)
    return llm


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make_cfg(base_url, tmp_path, **kw):
    args = {
        "base_url": base_url,
        "model": "fake-model",
        "per_request": 5,
        "concurrency": 3,
        "timeout_s": TIMEOUT_S,
        "max_retries": 8,
        "backoff_base_s": 0.001,
        "backoff_max_s": 0.01,
        "cache_dir": tmp_path / "cache",
        "examples_per_prompt": 2,
        "prompt_template": TEMPLATE,
        "seed": 0,
    }
    args.update(kw)
    return GenerationConfig(**args)


@pytest.fixture
def examples():
    texts = [
        "I still can't believe she's gone, rest in peace",
        "Miss you every day, grandpa",
        "Funeral was today. Hardest thing I've done.",
        "Phew, the test came back negative",
        "So glad that's over with, finally",
        "This is a neutral remark about trains",
    ]
    rows = [["grief"], ["grief", "sadness"], ["grief"], ["relief"], ["relief"], ["neutral"]]
    return EmotionDataset(texts, names_to_matrix(rows), source="goemotions")


def cache_files(tmp_path):
    d = tmp_path / "cache"
    return sorted(d.rglob("*.json")) if d.exists() else []


# ------------------------------------------------------------------------ generation
def test_generation_survives_failures(llm, tmp_path, examples):
    llm.script.extend(["429", "429", "500", "sleep", "drop", "notjson", "nochoices"])
    existing = ["EXISTING   text number one for GRIEF", "unrelated"]
    t0 = time.perf_counter()
    gen = LLMGenerator(make_cfg(llm.base_url, tmp_path))
    out = gen.generate({"grief": 12, "relief": 7}, examples, existing_texts=existing)
    assert time.perf_counter() - t0 < 10
    assert len(out) == 19
    assert Counter(out.meta["intended"]) == {"grief": 12, "relief": 7}
    assert out.meta["intended"][:12] == ["grief"] * 12  # emotions in the order asked
    assert set(out.source) == {"generated"} and set(out.meta["model"]) == {"fake-model"}
    for i, emotion in enumerate(out.meta["intended"]):
        assert out.labels[i].tolist() == [int(j == LABEL_TO_ID[emotion]) for j in range(28)]
        assert re.fullmatch(rf"gen-{emotion}-[0-9a-f]{{10}}", out.ids[i])
    assert len(set(out.ids)) == 19
    keys = [normalize(t) for t in out.texts]
    assert len(set(keys)) == 19
    assert not set(keys) & {normalize(t) for t in existing + examples.texts}
    assert all(len(t) >= 10 for t in out.texts)
    assert not any(t.startswith(("-", '"', "1.")) for t in out.texts)
    # 3 + 2 completions, plus one request per scripted failure; no API key -> no header
    assert llm.requests == 5 + 7
    assert gen.stats_.requests == 12 and gen.stats_.retries == 7 and gen.stats_.jobs == 5
    assert set(llm.auth) == {None}
    assert len(cache_files(tmp_path)) == 5
    # the prompts carry real examples of the emotion as style anchors
    grief_prompts = [b["messages"][1]["content"] for b in llm.bodies if "=grief" in str(b)]
    assert any(t in p for p in grief_prompts for t in examples.texts[:3])
    assert all(b["model"] == "fake-model" and b["max_tokens"] == 1024 for b in llm.bodies)


def test_cache_second_run_is_free(llm, tmp_path, examples):
    cfg = make_cfg(llm.base_url, tmp_path)
    first = generate_candidates({"grief": 8, "relief": 3}, examples, cfg)
    assert llm.requests == 3
    gen = LLMGenerator(cfg)
    second = gen.generate({"grief": 8, "relief": 3}, examples)
    assert llm.requests == 3  # zero new requests
    assert gen.stats_.cache_hits == 3 and gen.stats_.requests == 0
    assert second.texts == first.texts and second.ids == first.ids
    # asking for more reuses the cached requests and only pays for the new ones
    generate_candidates({"grief": 12, "relief": 3}, examples, cfg)
    assert llm.requests == 4


def test_corrupt_cache_entry_is_requested_again(llm, tmp_path, examples, caplog):
    cfg = make_cfg(llm.base_url, tmp_path)
    first = generate_candidates({"grief": 15}, examples, cfg)
    files = cache_files(tmp_path)
    assert len(files) == 3 and llm.requests == 3
    files[0].write_text("{not json", encoding="utf-8")
    files[1].write_text(json.dumps({"key": "x", "no": "content"}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.llm_client"):
        second = generate_candidates({"grief": 15}, examples, cfg)
    assert llm.requests == 5
    assert sum("cache entry" in r.getMessage() for r in caplog.records) == 2
    assert len(second) == len(first) == 15
    for f in files:  # rewritten, valid again
        assert isinstance(json.loads(f.read_text(encoding="utf-8"))["content"], str)


def test_unreachable_endpoint_fails_fast_and_writes_nothing(tmp_path, examples):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = make_cfg(f"http://127.0.0.1:{port}/v1", tmp_path, backoff_base_s=1.0, max_retries=5)
    t0 = time.perf_counter()
    with pytest.raises(GenerationError, match=rf"127\.0\.0\.1:{port}.*refused"):
        generate_candidates({"grief": 20, "relief": 20}, examples, cfg)
    assert time.perf_counter() - t0 < 3
    assert not (tmp_path / "cache").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["401", "400"])
def test_client_error_is_not_retried(llm, tmp_path, examples, status):
    llm.script.append(status)
    cfg = make_cfg(llm.base_url, tmp_path, concurrency=1)
    with pytest.raises(GenerationError, match=rf"{re.escape(llm.base_url)}.* HTTP {status}") as ei:
        generate_candidates({"grief": 5}, examples, cfg)
    assert llm.requests == 1
    if status == "401":
        assert "OPENAI_API_KEY" in str(ei.value)
    assert cache_files(tmp_path) == []


def test_api_key_header_from_env(llm, tmp_path, examples, monkeypatch):
    monkeypatch.setenv("EMOB_TEST_KEY", "sekret")
    cfg = make_cfg(llm.base_url, tmp_path, api_key_env="EMOB_TEST_KEY", cache_dir=None)
    generate_candidates({"relief": 2}, examples, cfg)
    assert llm.auth == ["Bearer sekret"]


def test_persistently_malformed_request_is_skipped(llm, tmp_path, examples, caplog):
    llm.script.extend(["notjson", "nochoices"])
    cfg = make_cfg(llm.base_url, tmp_path, concurrency=1, max_retries=1)
    gen = LLMGenerator(cfg)
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.generate"):
        out = gen.generate({"grief": 10}, examples)
    assert len(out) == 10  # a second round made up for the skipped request
    assert gen.stats_.failed_jobs == 1 and llm.requests == 4
    assert any("skipping request grief" in r.getMessage() for r in caplog.records)
    assert len(cache_files(tmp_path)) == 2


def test_all_requests_failing_raises(llm, tmp_path, examples):
    llm.script.extend(["500"] * 10)
    cfg = make_cfg(llm.base_url, tmp_path, max_retries=1)
    with pytest.raises(GenerationError, match=r"all 1 requests .* failed.*HTTP 500"):
        generate_candidates({"grief": 5}, examples, cfg)
    assert llm.requests == 2


def test_input_validation(examples):
    with pytest.raises(GenerationError, match="unknown emotion 'happiness'"):
        generate_candidates({"happiness": 3}, examples, GenerationConfig(cache_dir=None))
    with pytest.raises(GenerationError, match=">= 0"):
        generate_candidates({"joy": -1}, examples)
    assert len(generate_candidates({"joy": 0}, examples)) == 0  # nothing asked, no request
    with pytest.raises(pydantic.ValidationError, match="placeholders"):
        GenerationConfig(prompt_template="{emotion} {n} {oops}")
    with pytest.raises(pydantic.ValidationError, match="http"):
        GenerationConfig(base_url="localhost:8000")
    assert (
        GenerationConfig(base_url="http://h:1/v1/").endpoint() == "http://h:1/v1/chat/completions"
    )
    assert GenerationConfig(base_url="http://h/v1/chat/completions").endpoint().count("chat") == 1


def test_parse_completion_formats():
    good = ["first comment is here", "second comment is here"]
    assert parse_completion(json.dumps(good)) == good
    assert parse_completion("```json\n" + json.dumps(good) + "\n```") == good
    assert parse_completion("<think>plan</think>" + json.dumps({"comments": good})) == good
    assert parse_completion(json.dumps([{"text": good[0]}, {"comment": good[1]}])) == good
    assert (
        parse_completion("Here are two:\n1. first comment is here\n2) second comment is here")
        == good
    )
    assert (
        parse_completion('* "first comment is here"\n• \u201csecond comment is here\u201d') == good
    )
    truncated = json.dumps(good)[:-10]  # cut short by max_tokens
    assert parse_completion("Sure:\n" + truncated) == good[:1]
    assert parse_completion("3.5 stars, would watch again") == ["3.5 stars, would watch again"]
    assert parse_completion("ok\n" + "x" * 400, max_chars=300) == []
    assert parse_completion("[NAME] you are the best ever") == ["[NAME] you are the best ever"]
