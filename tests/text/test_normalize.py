"""Normalisation and tokenisation of Reddit and Twitter text."""

from __future__ import annotations

import time

import pytest

from emobalance.errors import DataError
from emobalance.text import PLACEHOLDERS, URL_TOKEN, USER_TOKEN, normalize, tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # URLs
        ("see http://t.co/abc123 now", "see [url] now"),
        ("read https://www.reddit.com/r/aww/.", "read [url] ."),
        ("go to www.example.com, ok", "go to [url] , ok"),
        # users: Twitter and Reddit
        ("@switchfoot that's a bummer", "[user] that's a bummer"),
        ("thanks u/Some_User and /u/other-1!", "thanks [user] and [user] !"),
        ("mail me@example.com", "mail me@example.com"),
        # HTML entities (Sentiment140)
        ("&quot;hi&quot; &amp; bye &lt;3", '"hi" & bye <3'),
        # emoji -> words; the probe leaves other non-ASCII text alone
        ("lol 😂", "lol face with tears of joy"),
        ("I ❤️ it", "i red heart it"),
        ("café naïve", "café naïve"),
        # elongation: 3+ -> 2; digits kept
        ("Soooooo good!!!!!", "soo good!!"),
        ("it costs 1000 dollars", "it costs 1000 dollars"),
        ("😂😂😂😂", "face with tears of joy face with tears of joy"),
        ("👍🏽👍🏽👍🏽", "thumbs up medium skin tone thumbs up medium skin tone"),
        # GoEmotions placeholders, case, typographic apostrophes, whitespace
        ("[NAME] is with [RELIGION] people", "[name] is with [religion] people"),
        ("I’m   SO\ttired \n now", "i'm so tired now"),
        ("", ""),
        ("   \t\n ", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    raw = "@bob Soooo funny &amp; true!!!! 😂 http://t.co/x [NAME] I’m"
    once = normalize(raw)
    assert normalize(once) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Don't stop!", ["don't", "stop", "!"]),
        ("[NAME] said hi...", ["[name]", "said", "hi", ".", "."]),
        ("@bob look: http://x.io :)", [USER_TOKEN, "look", ":", URL_TOKEN, ":", ")"]),
        ("it's 5pm, 100%", ["it's", "5pm", ",", "100", "%"]),
        ("über cool", ["ü", "ber", "cool"]),
        ("", []),
        ("  \n\t ", []),
    ],
)
def test_tokenize(raw: str, expected: list[str]) -> None:
    assert tokenize(raw) == expected


def test_tokenize_keeps_placeholders_whole() -> None:
    assert tokenize(" ".join(PLACEHOLDERS), normalized=True) == list(PLACEHOLDERS)


def test_tokenize_normalized_flag_skips_normalisation() -> None:
    # Already normalised: an entity stays as it is (no second unescape), text is only split.
    assert tokenize("a &amp; b", normalized=True) == ["a", "&", "amp", ";", "b"]
    assert tokenize("a &amp; b") == ["a", "&", "b"]


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a"]])
def test_non_string_is_a_data_error(bad: object) -> None:
    with pytest.raises(DataError, match=type(bad).__name__):
        normalize(bad)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=type(bad).__name__):
        tokenize(bad)  # type: ignore[arg-type]


def test_long_text_is_fast() -> None:
    text = "sooo good 😂 http://x.io @bob " * 4000  # ~120k characters
    start = time.perf_counter()
    tokens = tokenize(text)
    assert time.perf_counter() - start < 2.0
    assert tokens[:3] == ["soo", "good", "face"]
