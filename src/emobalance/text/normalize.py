"""Text normalisation and tokenisation for Reddit (GoEmotions) and Twitter (Sentiment140) text.

:func:`normalize` makes the two sources look alike before tokenisation:

* HTML entities are unescaped (Sentiment140 keeps ``&quot;``, ``&amp;``, ``&lt;3`` ...);
* typographic apostrophes and quotes become ASCII (``I’m`` -> ``i'm``, a word the pre-trained
  vectors know);
* the text is lower-cased;
* URLs become :data:`URL_TOKEN`, Twitter ``@user`` and Reddit ``u/name`` / ``/u/name`` become
  :data:`USER_TOKEN` (GoEmotions' own ``[NAME]`` and ``[RELIGION]`` stay as they are);
* a character repeated 3 or more times is cut to 2 (``soooo`` -> ``soo``, ``!!!!`` -> ``!!``);
  digits are left alone so that numbers keep their value (``1000`` stays ``1000``); the same
  goes for a repeated emoji made of several code points (``👍🏽👍🏽👍🏽`` -> ``👍🏽👍🏽``);
* emoji become words with the ``emoji`` package (``😂`` -> ``face with tears of joy``); the
  package is only consulted when the text contains a character that can start an emoji;
* whitespace is collapsed.

:func:`tokenize` splits normalised text with ``[a-z0-9']+|[^\\sa-z0-9]`` (the tokenisation of
the shared pre-trained vectors: ``don't`` is one token, each punctuation mark is one token),
keeping the placeholders (:data:`PLACEHOLDERS`) whole.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from ..errors import DataError

URL_TOKEN = "[url]"
"""Placeholder replacing URLs."""
USER_TOKEN = "[user]"
"""Placeholder replacing ``@user`` (Twitter) and ``u/name`` (Reddit) mentions."""
PLACEHOLDERS: tuple[str, ...] = ("[name]", "[religion]", URL_TOKEN, USER_TOKEN)
"""Tokens kept whole by :func:`tokenize` (GoEmotions' ``[NAME]``, ``[RELIGION]`` lower-cased)."""

# Typographic apostrophes/quotes -> ASCII (only looked at when the text is not ASCII).
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
# Applied to lower-cased text.
_URL_RE = re.compile(r"(?:https?://|www\.)\S*[^\s.,!?;:)\]'\"]")
_USER_RE = re.compile(r"(?<![\w@])@\w+|(?<![\w/])/?u/[\w-]+")
_ELONG_RE = re.compile(r"([^\d\s])\1{2,}")
# Repeated multi-code-point sequences (emoji with a skin tone or U+FE0F): 3+ copies -> 2.
_ELONG_MULTI_RE = re.compile(r"([^\x00-\x7f]{2,4}?)\1{2,}")
_TOKEN_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS) + r"|[a-z0-9']+|[^\sa-z0-9]")


@lru_cache(maxsize=1)
def _emoji_tools() -> tuple[Any, re.Pattern[str]]:
    """The ``emoji`` module and a regex matching any non-ASCII character used in an emoji.

    The regex is a cheap pre-check: ``emoji.replace_emoji`` costs tens of microseconds even on
    a text without emoji, while searching a character class runs at C speed.
    """
    import emoji

    chars = {c for key in emoji.EMOJI_DATA for c in key if ord(c) > 127}
    # U+20E3 (keycap) makes "1" + U+FE0F + U+20E3 an emoji; it is non-ASCII so it is in the set.
    cls = "".join(re.escape(c) for c in sorted(chars))
    return emoji, re.compile(f"[{cls}]")


def _emoji_words(chars: str, data: dict[str, Any]) -> str:
    name = data.get("en", "")
    return " " + name.strip(":").replace("_", " ").lower() + " "


def demojize(text: str) -> str:
    """Replace each emoji in ``text`` by its English name in words, padded with spaces.

    Examples
    --------
    >>> demojize("ok 😂")
    'ok  face with tears of joy '
    """
    if text.isascii():
        return text
    emoji, probe = _emoji_tools()
    if probe.search(text) is None:
        return text
    return emoji.replace_emoji(text, replace=_emoji_words)


def _check_str(text: object) -> str:
    if not isinstance(text, str):
        raise DataError(f"text must be a str, got {type(text).__name__}")
    return text


def normalize(text: str) -> str:
    """Normalise one Reddit or Twitter text (see the module docstring for the steps).

    Parameters
    ----------
    text : str
        Raw text.

    Returns
    -------
    str
        Lower-cased, single-spaced text with placeholders for URLs and user mentions and
        emoji spelled out; ``""`` for an empty or whitespace-only text.

    Raises
    ------
    DataError
        If ``text`` is not a ``str``.

    Examples
    --------
    >>> normalize("@bob Soooo funny &amp; true!!!! 😂 http://t.co/x")
    '[user] soo funny & true!! face with tears of joy [url]'
    """
    text = _check_str(text)
    if "&" in text:
        text = html.unescape(text)
    ascii_only = text.isascii()
    if not ascii_only:
        text = text.translate(_QUOTES)
    text = text.lower()
    if "http" in text or "www." in text:
        text = _URL_RE.sub(f" {URL_TOKEN} ", text)
    if "@" in text or "u/" in text:
        text = _USER_RE.sub(f" {USER_TOKEN} ", text)
    text = _ELONG_RE.sub(r"\1\1", text)
    if not ascii_only:
        text = demojize(_ELONG_MULTI_RE.sub(r"\1\1", text))
    return " ".join(text.split())


def tokenize(text: str, normalized: bool = False) -> list[str]:
    """Split a text into tokens.

    Parameters
    ----------
    text : str
        The text.
    normalized : bool, default=False
        ``True`` when ``text`` already went through :func:`normalize` (it is then only
        lower-cased, which is idempotent, and split).

    Returns
    -------
    list of str
        Tokens: placeholders (:data:`PLACEHOLDERS`) whole, runs of ``[a-z0-9']``, and every
        other non-space character on its own. ``[]`` for an empty or whitespace-only text.

    Raises
    ------
    DataError
        If ``text`` is not a ``str``, as :func:`normalize` does.

    Examples
    --------
    >>> tokenize("[NAME] don't go... http://x.io")
    ['[name]', "don't", 'go', '.', '.', '[url]']
    """
    text = _check_str(text)
    text = text.lower() if normalized else normalize(text)
    return _TOKEN_RE.findall(text)
