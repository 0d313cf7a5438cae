import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from emobalance.balance.review import (
    VOTE_COLUMNS,
    apply_review,
    export_csv,
    export_label_studio,
    fleiss_kappa,
    fleiss_kappa_table,
    format_report,
    import_csv,
    import_label_studio,
    label_studio_config,
    load_votes,
    majority_vote,
)
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABELS, names_to_matrix


def votes_from(annotations):
    """{(id, annotator): [chosen labels]} -> a long vote table with all 28 labels."""
    rows = [
        (tid, ann, lab, int(lab in chosen))
        for (tid, ann), chosen in annotations.items()
        for lab in LABELS
    ]
    return pd.DataFrame(rows, columns=["id", "annotator", "label", "vote"])


def candidates():
    texts = ["my dog died today", "finally home, what a relief", "that is so gross", "meh"]
    intended = ["grief", "relief", "disgust", "grief"]
    return EmotionDataset(
        texts,
        names_to_matrix([[x] for x in intended]),
        source="generated",
        ids=["g1", "g2", "g3", "g4"],
        teacher_score=np.array([0.9, 0.8, 0.75, np.nan]),
        meta={"intended": intended, "model": ["qwen"] * 4},
    )


# ------------------------------------------------------------------------------ majority
def test_majority_vote_three_annotators():
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


def test_majority_vote_five_annotators_and_threshold():
    chosen = [["fear"], ["fear", "nervousness"], ["fear", "nervousness"], ["nervousness"], []]
    votes = votes_from({("t", f"a{k}"): c for k, c in enumerate(chosen)})
    # fear 3/5 and nervousness 3/5 are both strict majorities
    assert majority_vote(votes) == {"t": {"fear", "nervousness"}}
    # 3/5 = 0.6 is not > 0.6
    assert majority_vote(votes, threshold=0.6) == {"t": set()}


def test_majority_vote_ties_reject_and_min_annotators():
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
WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    # P_bar = 0.378, P_e = 0.213 (Fleiss' kappa article): kappa = 0.210
    assert fleiss_kappa_table(WIKIPEDIA) == pytest.approx(0.210, abs=5e-4)
    c = np.array(WIKIPEDIA, dtype=float)
    p_j = c.sum(0) / 140
    assert p_j == pytest.approx([0.143, 0.200, 0.279, 0.150, 0.229], abs=5e-4)


def test_fleiss_kappa_small_table_by_hand():
    # 3 subjects, 3 raters, binary: P_i = 1, 1, 1/3 -> P_bar 7/9; p = 4/9, 5/9 -> P_e 41/81
    # kappa = (7/9 - 41/81) / (40/81) = 22/40
    assert fleiss_kappa_table([[0, 3], [3, 0], [1, 2]]) == pytest.approx(0.55)
    assert fleiss_kappa_table([[3, 0], [0, 3]]) == pytest.approx(1.0)
    assert np.isnan(fleiss_kappa_table([[3, 0], [3, 0]]))  # no variation: undefined
    with pytest.raises(DataError, match="same number of raters"):
        fleiss_kappa_table([[1, 2], [2, 2]])
    with pytest.raises(DataError, match="at least 2 raters"):
        fleiss_kappa_table([[1, 0], [0, 1]])


def test_fleiss_kappa_from_votes_per_label_and_overall():
    # the hand example above as the "joy" votes of 3 texts; "love" chosen by nobody
    votes = votes_from(
        {
            ("t1", "a"): ["joy"],
            ("t1", "b"): ["joy"],
            ("t1", "c"): ["joy"],
            ("t2", "a"): [],
            ("t2", "b"): [],
            ("t2", "c"): [],
            ("t3", "a"): ["joy"],
            ("t3", "b"): ["joy"],
            ("t3", "c"): [],
            # a text with 1 annotator: not the modal number, left out of kappa
            ("t4", "a"): ["joy"],
        }
    )
    k = fleiss_kappa(votes)
    assert k["kappa_texts"] == 3 and k["kappa_raters"] == 3
    assert k["kappa_per_label"]["joy"] == pytest.approx(0.55)
    assert k["kappa_per_label"]["love"] is None
    # overall: pooled over the labels someone chose (only joy here)
    assert k["kappa"] == pytest.approx(0.55)
    assert fleiss_kappa(votes.iloc[:0])["kappa"] is None


# ------------------------------------------------------------------------------ Label Studio
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


def test_label_studio_round_trip(tmp_path):
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
def fill(src, dst, marks, accept=None, annotator_column=None):
    """Copy an exported CSV, writing 1 under the labels in ``marks[id]``."""
    with open(src, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0].keys()) + (["annotator"] if annotator_column else [])
    with open(dst, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for row in rows:
            for lab in marks.get(row["id"], []):
                row[lab] = "x" if lab == "sadness" else "1"
            if accept and row["id"] in accept:
                row["accept"] = accept[row["id"]]
            if annotator_column:
                row["annotator"] = annotator_column
            w.writerow(row)
    return dst


def test_csv_export_layout(tmp_path):
    cand = candidates()
    path = export_csv(cand, tmp_path / "review.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM for spreadsheet programs
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "text", "proposed_labels", "intended", "accept", *LABELS]
    assert rows[0]["proposed_labels"] == "grief" and rows[0]["grief"] == ""
    prefilled = export_csv(cand, tmp_path / "pre.csv", prefill=True)
    with open(prefilled, encoding="utf-8-sig", newline="") as f:
        assert next(csv.DictReader(f))["grief"] == "1"


def test_csv_round_trip(tmp_path):
    cand = candidates()
    exported = export_csv(cand, tmp_path / "review.csv")
    a = fill(exported, tmp_path / "alice.csv", {"g1": ["grief", "sadness"], "g2": ["relief"]},
             accept={"g3": "1"})  # fmt: skip
    b = fill(exported, tmp_path / "bob.csv", {"g1": ["grief"], "g3": ["disgust"], "g4": ["joy"]},
             accept={"g2": "1"})  # fmt: skip
    c = fill(exported, tmp_path / "c.csv", {"g1": ["sadness", "grief"], "g2": ["relief"]},
             accept={"g3": "0"}, annotator_column="carol")  # fmt: skip
    votes = import_csv([a, b, c])
    assert set(votes["annotator"]) == {"alice", "bob", "carol"}
    assert len(votes) == 3 * 4 * len(LABELS)
    assert majority_vote(votes) == {
        "g1": {"grief", "sadness"},
        "g2": {"relief"},
        "g3": {"disgust"},  # alice accept=1 + bob's mark; carol accept=0
        "g4": set(),
    }
    accepted, report = apply_review(cand, load_votes([a, b, c]), min_annotators=3)
    assert accepted.ids == ["g1", "g2", "g3"]
    assert accepted.label_names()[0] == ["grief", "sadness"]
    assert report["accepted"] == 3 and report["rejected"] == 1
    assert report["kappa_raters"] == 3 and report["kappa"] is not None
    # relabel=False keeps the proposed labels
    kept, _ = apply_review(cand, votes, relabel=False)
    assert kept.label_names()[0] == ["grief"]
    # requiring 4 annotators leaves everything unreviewed
    none, report = apply_review(cand, votes, min_annotators=4)
    assert len(none) == 0 and report["unreviewed"] == 4


def test_csv_semicolons_and_only_accept_column(tmp_path):
    f = tmp_path / "dora.csv"
    f.write_text("id;text;proposed_labels;accept\ng1;x;grief;yes\ng2;y;relief,joy;\n\n")
    assert majority_vote(import_csv(f)) == {"g1": {"grief"}, "g2": set()}


def test_csv_malformed(tmp_path):
    cand = candidates()
    exported = export_csv(cand, tmp_path / "review.csv")
    bad = fill(exported, tmp_path / "eve.csv", {"g2": ["joy"]})
    text = bad.read_text().splitlines()
    text[2] = text[2].replace(",1,", ",maybe,", 1)
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"eve\.csv: line 3: column 'joy' must be 0/1"):
        import_csv(bad)
    f = tmp_path / "noid.csv"
    f.write_text("text,joy\nx,1\n")
    with pytest.raises(DataError, match=r"noid\.csv: line 1: no 'id' column"):
        import_csv(f)
    f = tmp_path / "nolabels.csv"
    f.write_text("id,text\ng1,x\n")
    with pytest.raises(DataError, match="no label columns and no 'accept' column"):
        import_csv(f)
    f = tmp_path / "rep.csv"
    f.write_text("id,joy,joy\ng1,1,0\n")
    with pytest.raises(DataError, match=r"rep\.csv: line 1: repeated columns \['joy'\]"):
        import_csv(f)
    f = tmp_path / "short.csv"
    f.write_text("id,text,joy\ng1,x,1\ng2,y\n")
    with pytest.raises(DataError, match=r"short\.csv: line 3: expected 3 fields"):
        import_csv(f)
    f = tmp_path / "twice.csv"
    f.write_text("id,joy\ng1,1\ng2,0\ng1,0\n")
    with pytest.raises(DataError, match=r"twice\.csv: line 4: annotator 'twice' already voted"):
        import_csv(f)
    f = tmp_path / "badprop.csv"
    f.write_text("id,proposed_labels,accept\ng1,grief,1\ng2,happyness,1\n")
    with pytest.raises(DataError, match=r"badprop\.csv: line 3: proposed_labels: unknown label"):
        import_csv(f)
    # two files, same stem: the second repeats the first annotator's votes
    (tmp_path / "x").mkdir()
    a = fill(exported, tmp_path / "alice.csv", {})
    b = fill(exported, tmp_path / "x" / "alice.csv", {})
    with pytest.raises(DataError, match="annotator 'alice' already voted on id 'g1'"):
        import_csv([a, b])
    with pytest.raises(DataError, match="unknown annotation file type"):
        load_votes([tmp_path / "notes.txt"])


def test_same_annotator_in_json_and_csv_is_an_error(tmp_path):
    tasks = [{"data": {"id": "g1", "text": "x"},
              "annotations": [{"completed_by": "alice", "result": []}]}]  # fmt: skip
    j = tmp_path / "ls.json"
    j.write_text(json.dumps(tasks))
    c = tmp_path / "alice.csv"
    c.write_text("id,grief\ng1,1\n")
    with pytest.raises(DataError, match="annotator 'alice' voted on id 'g1' in several files"):
        load_votes([j, c])


def test_apply_review_edge_cases():
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
