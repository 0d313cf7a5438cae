import json

import pytest

from emobalance.annotation import (
    apply_review,
    export_label_studio,
    load_votes,
)
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import DataError
from emobalance.labels import names_to_matrix


def test_same_annotator_in_json_and_csv_is_an_error(tmp_path):
    tasks = [{"data": {"id": "g1", "text": "x"},
              "annotations": [{"completed_by": "alice", "result": []}]}]  # fmt: skip
    j = tmp_path / "ls.json"
    j.write_text(json.dumps(tasks))
    c = tmp_path / "alice.csv"
    c.write_text("id,grief\ng1,1\n")
    with pytest.raises(DataError, match="annotator 'alice' voted on id 'g1' in several files"):
        load_votes([j, c])


def test_apply_review_edge_cases(votes_from, candidates):
    cand = candidates()
    votes = votes_from({("g1", "a"): ["grief"], ("zzz", "a"): ["joy"]})
    out, report = apply_review(cand, votes)
    assert out.ids == ["g1"] and report["unknown_ids"] == 1 and report["unreviewed"] == 3
    assert report["kappa"] is None  # one annotator: no agreement to measure
    # no intended meta: the proposed labels are the intended ones
    plain = EmotionDataset(["a", "b"], names_to_matrix([["joy", "love"], ["fear"]]), ids=["p", "q"])
    votes = votes_from({("p", "a"): ["joy"], ("q", "a"): ["fear", "nervousness"]})
    out, _ = apply_review(plain, votes)
    assert out.ids == ["q"] and out.label_names() == [["fear", "nervousness"]]
    dup = EmotionDataset(["a", "b"], names_to_matrix([["joy"], ["joy"]]), ids=["p", "p"])
    with pytest.raises(DataError, match="id 'p' appears in rows 0 and 1"):
        apply_review(dup, votes)
    with pytest.raises(DataError, match="ids must be unique"):
        export_label_studio(dup, "unused.json")
