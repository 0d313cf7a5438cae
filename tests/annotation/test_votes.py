import pandas as pd
import pytest

from emobalance.annotation import (
    majority_vote,
)
from emobalance.errors import ConfigError, DataError


def test_majority_vote_three_annotators(votes_from):
    votes = votes_from(
        {
            ("t1", "a"): ["grief", "sadness"],
            ("t1", "b"): ["grief"],
            ("t1", "c"): ["sadness", "grief"],
            ("t2", "a"): ["joy"],
            ("t2", "b"): [],
            ("t2", "c"): ["relief"],
        }
    )
    assert majority_vote(votes) == {"t1": {"grief", "sadness"}, "t2": set()}


def test_majority_vote_five_annotators_and_threshold(votes_from):
    chosen = [["fear"], ["fear", "nervousness"], ["fear", "nervousness"], ["nervousness"], []]
    votes = votes_from({("t", f"a{k}"): c for k, c in enumerate(chosen)})
    # fear 3/5 and nervousness 3/5 are both strict majorities
    assert majority_vote(votes) == {"t": {"fear", "nervousness"}}
    # 3/5 = 0.6 is not > 0.6
    assert majority_vote(votes, threshold=0.6) == {"t": set()}


def test_majority_vote_ties_reject_and_min_annotators(votes_from):
    votes = votes_from(
        {
            ("t4", "a"): ["anger"],
            ("t4", "b"): ["anger", "annoyance"],
            ("t4", "c"): [],
            ("t4", "d"): ["annoyance"],
            ("t2", "a"): ["joy"],
            ("t2", "b"): [],
            ("t1", "a"): ["love"],
        }
    )
    out = majority_vote(votes)
    assert out["t4"] == set()  # 2 of 4 each: ties reject
    assert out["t2"] == set()  # 1 of 2
    assert out["t1"] == {"love"}  # a single annotator decides alone
    assert set(majority_vote(votes, min_annotators=2)) == {"t4", "t2"}
    with pytest.raises(ConfigError, match="min_annotators"):
        majority_vote(votes, min_annotators=0)
    with pytest.raises(ConfigError, match="threshold"):
        majority_vote(votes, threshold=1.0)


def test_votes_as_records_and_missing_labels_count_as_zero():
    # only positive rows given: an (id, annotator) pair still counts as a voter
    records = [("t", "a", "joy", 1), ("t", "b", "joy", 1), ("t", "c", "love", 1)]
    assert majority_vote(records) == {"t": {"joy"}}
    with pytest.raises(DataError, match="unknown label 'happy'"):
        majority_vote([("t", "a", "happy", 1)])
    with pytest.raises(DataError, match="vote must be 0 or 1"):
        majority_vote([("t", "a", "joy", 2)])
    with pytest.raises(DataError, match="several votes"):
        majority_vote([("t", "a", "joy", 1), ("t", "a", "joy", 0)])
    with pytest.raises(DataError, match="missing columns"):
        majority_vote(pd.DataFrame({"id": ["t"], "label": ["joy"]}))


# ------------------------------------------------------------------------------ kappa
