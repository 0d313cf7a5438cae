import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from emobalance.annotation import (
    VOTE_COLUMNS,
    apply_review,
    export_label_studio,
    fleiss_kappa_table,
    format_report,
    import_label_studio,
    label_studio_config,
    load_votes,
)
from emobalance.errors import DataError
from emobalance.labels import LABELS


def test_label_studio_config_is_valid_xml():
    root = ET.fromstring(label_studio_config())
    choices = root.find("Choices")
    assert choices.get("name") == "emotions" and choices.get("toName") == "text"
    assert choices.get("choice") == "multiple"
    assert [c.get("value") for c in choices.findall("Choice")] == list(LABELS)
    assert root.find("Text").get("value") == "$text"


def label_studio_export(tasks, annotations):
    """What Label Studio exports after annotation: our tasks with ids and annotations."""
    out = []
    for k, task in enumerate(tasks):
        t = {**task, "id": 100 + k, "annotations": []}
        for a_id, (by, chosen, cancelled) in enumerate(annotations.get(task["data"]["id"], [])):
            t["annotations"].append(
                {
                    "id": a_id,
                    "completed_by": by,
                    "was_cancelled": cancelled,
                    "result": [
                        {
                            "from_name": "emotions",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": chosen},
                        },
                        {"from_name": "comment", "to_name": "text", "type": "textarea",
                         "value": {"text": ["ok"]}},
                    ]
                    if chosen is not None
                    else [],
                }
            )  # fmt: skip
        out.append(t)
    return out


def test_label_studio_round_trip(tmp_path, candidates):
    cand = candidates()
    path = export_label_studio(cand, tmp_path / "review" / "tasks.json")
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert [t["data"]["id"] for t in tasks] == cand.ids
    assert tasks[0]["data"]["text"] == cand.texts[0] and tasks[0]["data"]["intended"] == "grief"
    pred = tasks[0]["predictions"][0]
    assert pred["model_version"] == "qwen" and pred["score"] == pytest.approx(0.9)
    assert pred["result"] == [
        {"from_name": "emotions", "to_name": "text", "type": "choices",
         "value": {"choices": ["grief"]}}
    ]  # fmt: skip
    assert "score" not in tasks[3]["predictions"][0]  # NaN teacher score
    assert list(tmp_path.joinpath("review").iterdir()) == [path]  # no temp file left

    alice, bob = 1, {"id": 2, "email": "bob@example.org"}
    annotations = {
        "g1": [(alice, ["grief", "sadness"], False), (bob, ["grief", "sadness"], False)],
        "g2": [(alice, ["relief"], False), (bob, ["joy"], False)],
        "g3": [(alice, ["disgust"], False), (bob, ["disgust"], False), (3, ["joy"], True)],
        "g4": [(alice, None, False), (bob, [], False)],
    }
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(label_studio_export(tasks, annotations)), encoding="utf-8")
    votes = import_label_studio(exported)
    assert list(votes.columns) == list(VOTE_COLUMNS)
    assert set(votes["annotator"]) == {"1", "bob@example.org"}  # the cancelled one is skipped
    assert len(votes) == 4 * 2 * len(LABELS)
    # the same from the parsed object, and through load_votes
    pd.testing.assert_frame_equal(
        import_label_studio(json.loads(exported.read_text()))[["id", "annotator", "label", "vote"]],
        votes[["id", "annotator", "label", "vote"]],
    )
    accepted, report = apply_review(cand, load_votes([exported]))
    # g1 kept and relabelled with the added sadness; g2 1-1 tie on relief: rejected;
    # g3 kept; g4 nobody chose anything: rejected
    assert accepted.ids == ["g1", "g3"]
    assert accepted.label_names() == [["grief", "sadness"], ["disgust"]]
    assert accepted.source == ["generated", "generated"]
    assert accepted.meta["intended"] == ["grief", "disgust"]
    assert report["accepted"] == 2 and report["rejected"] == 2 and report["unreviewed"] == 0
    assert report["n_texts"] == 4 and report["n_annotators"] == 2 and report["relabelled"] == 1
    assert report["kappa_texts"] == 4 and report["kappa_raters"] == 2
    assert report["kappa_per_label"]["grief"] == pytest.approx(
        fleiss_kappa_table([[0, 2], [2, 0], [2, 0], [2, 0]])
    )
    assert "2 accepted, 2 rejected" in format_report(report)
    json.dumps(report)  # JSON-ready


def test_label_studio_malformed(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"data": {"id": "g1"}, "annotations": [}', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: line 1: invalid JSON"):
        import_label_studio(bad_json)
    no_id = [{"id": 7, "data": {"text": "x", "id": "g1"}, "annotations": []},
             {"id": 8, "data": {"text": "y"}, "annotations": []}]  # fmt: skip
    f = tmp_path / "noid.json"
    f.write_text(json.dumps(no_id))
    with pytest.raises(
        DataError, match=r"noid\.json: task index 1 \(Label Studio id 8\): no data\.id"
    ):
        import_label_studio(f)
    unknown = [
        {
            "data": {"id": "g1"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [
                        {
                            "from_name": "emotions",
                            "type": "choices",
                            "value": {"choices": ["happyness"]},
                        }
                    ],
                }
            ],
        }
    ]
    with pytest.raises(DataError, match=r"task index 0, annotation 0, result 0: unknown label"):
        import_label_studio([unknown])
    no_by = [{"data": {"id": "g1"}, "annotations": [{"result": []}]}]
    with pytest.raises(DataError, match="annotation 0: no 'completed_by'"):
        import_label_studio([no_by])
    with pytest.raises(DataError, match="import file, not a Label Studio export"):
        import_label_studio([[{"data": {"id": "g1", "text": "x"}, "predictions": []}]])
    f = tmp_path / "obj.json"
    f.write_text('{"tasks": []}')
    with pytest.raises(DataError, match=r"obj\.json: expected a JSON list of tasks"):
        import_label_studio(f)
    with pytest.raises(DataError, match="no such file"):
        import_label_studio(tmp_path / "missing.json")


# ------------------------------------------------------------------------------ CSV
