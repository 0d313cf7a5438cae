import csv

import pytest

from emobalance.annotation import (
    apply_review,
    export_csv,
    import_csv,
    load_votes,
    majority_vote,
)
from emobalance.errors import DataError
from emobalance.labels import LABELS


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


def test_csv_export_layout(tmp_path, candidates):
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


def test_csv_round_trip(tmp_path, candidates):
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


def test_csv_malformed(tmp_path, candidates):
    cand = candidates()
    exported = export_csv(cand, tmp_path / "review.csv")
    bad = fill(exported, tmp_path / "eve.csv", {"g2": ["joy"]})
    text = bad.read_text().splitlines()
    text[2] = text[2].replace(",1,", ",maybe,", 1)
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"eve\.csv: line 3: column 'joy' must be 0/1"):
        import_csv(bad)
    for name, content, message in [
        ("noid", "text,joy\nx,1\n", r"noid\.csv: line 1: no 'id' column"),
        ("nolabels", "id,text\ng1,x\n", "no label columns and no 'accept' column"),
        ("rep", "id,joy,joy\ng1,1,0\n", r"rep\.csv: line 1: repeated columns \['joy'\]"),
        ("short", "id,text,joy\ng1,x,1\ng2,y\n", r"short\.csv: line 3: expected 3 fields"),
        ("twice", "id,joy\ng1,1\ng2,0\ng1,0\n",
         r"twice\.csv: line 4: annotator 'twice' already voted"),
        ("badprop", "id,proposed_labels,accept\ng1,grief,1\ng2,happyness,1\n",
         r"badprop\.csv: line 3: proposed_labels: unknown label"),
    ]:  # fmt: skip
        f = tmp_path / f"{name}.csv"
        f.write_text(content)
        with pytest.raises(DataError, match=message):
            import_csv(f)
    # two files, same stem: the second repeats the first annotator's votes
    (tmp_path / "x").mkdir()
    a = fill(exported, tmp_path / "alice.csv", {})
    b = fill(exported, tmp_path / "x" / "alice.csv", {})
    with pytest.raises(DataError, match="annotator 'alice' already voted on id 'g1'"):
        import_csv([a, b])
    with pytest.raises(DataError, match="unknown annotation file type"):
        load_votes([tmp_path / "notes.txt"])
