"""Shared fixtures: the hand-written fixture folder and the real data folder (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

_REAL_FILES = (
    "goemotions/train.tsv",
    "goemotions/dev.tsv",
    "goemotions/test.tsv",
    "goemotions/emotions.txt",
    "goemotions/ekman_mapping.json",
    "goemotions/sentiment_dict.json",
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/fixtures``: tiny hand-written files (never the real data)."""
    return FIXTURES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (``$EMOBALANCE_DATA``); skips the test when unset or incomplete."""
    root = os.environ.get("EMOBALANCE_DATA")
    if not root:
        pytest.skip("EMOBALANCE_DATA is not set")
    path = Path(root).expanduser()
    missing = [f for f in _REAL_FILES if not (path / f).is_file()]
    if missing:
        pytest.skip(f"EMOBALANCE_DATA={root} lacks {', '.join(missing)}")
    return path


@pytest.fixture(scope="session")
def real_train(data_dir):
    """The official GoEmotions train split, parsed once per session."""
    from emobalance.data import goemotions

    return goemotions.read_tsv(data_dir / "goemotions" / "train.tsv")
