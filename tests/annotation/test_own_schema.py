"""The review round on a user's own label set (a 5-label schema and a single-label one)."""

import json

import numpy as np
import pandas as pd
import pytest

from emobalance.annotation import (
    apply_review,
    export_csv,
    export_label_studio,
    fleiss_kappa,
    import_csv,
    import_label_studio,
    label_studio_config,
    load_votes,
    majority_vote,
)
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import DataError
from emobalance.labels import LABELS, LabelSchema

FIVE = LabelSchema(["joy", "anger", "fear", "anticipation", "trust"], name="five")
SINGLE = LabelSchema(["positive", "negative", "mixed"], single_label=True, name="polarity")


def candidates(schema, rows):
    texts = [f"candidate {i}" for i in range(len(rows))]
    return EmotionDataset(texts, schema.names_to_matrix(rows), source="generated",
                          ids=[f"c{i}" for i in range(len(rows))], schema=schema)  # fmt: skip


def votes(schema, chosen):
    """{(id, annotator): [labels]} -> a vote table over the schema's labels."""
    return pd.DataFrame(
        [(tid, ann, lab, int(lab in labs)) for (tid, ann), labs in chosen.items()
         for lab in schema.names],
        columns=["id", "annotator", "label", "vote"],
    )  # fmt: skip


def test_label_studio_config_lists_the_schemas_labels():
    xml = label_studio_config(FIVE)
    choices = [line.split('"')[1] for line in xml.splitlines() if "<Choice " in line]
    assert choices == list(FIVE.names) and 'choice="multiple"' in xml
    single = label_studio_config(SINGLE)
    assert 'choice="single"' in single and "anticipation" not in single
    assert '<Choice value="mixed"/>' in single
    # the default is GoEmotions' 28, as before
    assert label_studio_config().count("<Choice ") == len(LABELS)
    assert label_studio_config(["a", "b"]).count("<Choice ") == 2


def test_label_studio_round_trip_with_own_labels(tmp_path):
    cands = candidates(FIVE, [["fear"], ["anticipation"], ["trust"]])
    path = export_label_studio(cands, tmp_path / "tasks.json")
    tasks = json.loads(path.read_text())
    assert tasks[1]["predictions"][0]["result"][0]["value"]["choices"] == ["anticipation"]
    for task, chosen in zip(tasks, [["fear"], ["Anticipation", "joy"], []], strict=True):
        task["annotations"] = [{"completed_by": {"email": "ann@x"},
                                "result": [{"type": "choices", "from_name": "emotions",
                                            "value": {"choices": chosen}}]}]  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    df = import_label_studio(tmp_path / "export.json", schema=FIVE)
    assert set(df["label"]) == set(FIVE.names) and len(df) == 3 * 5
    kept, report = apply_review(cands, df)
    assert kept.schema is FIVE and kept.ids == ["c0", "c1"]
    assert kept.label_names() == [["fear"], ["joy", "anticipation"]]  # relabelled
    assert list(report["kappa_per_label"]) == list(FIVE.names)
    # a label outside the schema is refused, naming the place
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["grief"]
    with pytest.raises(DataError, match=r"task index 0, annotation 0, result 0: unknown label"):
        import_label_studio([tasks], schema=FIVE)


def test_spreadsheet_round_trip_with_own_labels(tmp_path):
    cands = candidates(FIVE, [["fear"], ["trust"]])
    path = export_csv(cands, tmp_path / "review.csv", prefill=True)
    header = path.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header[-5:] == list(FIVE.names)
    filled = path.read_text(encoding="utf-8-sig").replace(
        "c1,candidate 1,trust,,", "c1,candidate 1,trust,0,"
    )
    (tmp_path / "bob.csv").write_text(filled, encoding="utf-8")
    df = load_votes([tmp_path / "bob.csv"], FIVE)
    assert set(df["label"]) == set(FIVE.names)
    assert majority_vote(df, schema=FIVE) == {"c0": {"fear"}, "c1": set()}
    assert import_csv(tmp_path / "bob.csv", FIVE).equals(df)


def test_single_label_review_keeps_one_accepted_label():
    cands = candidates(SINGLE, [["positive"], ["negative"]])
    df = votes(
        SINGLE,
        {
            ("c0", "a"): ["positive"],
            ("c0", "b"): ["positive"],
            ("c1", "a"): ["negative", "mixed"],
            ("c1", "b"): ["negative", "mixed"],
        },
    )
    kept, report = apply_review(cands, df)
    assert kept.ids == ["c0"] and report["rejected"] == 1  # two accepted classes: rejected
    assert kept.schema is SINGLE and (kept.labels.sum(axis=1) == 1).all()
    kappa = fleiss_kappa(df, SINGLE)
    assert list(kappa["kappa_per_label"]) == list(SINGLE.names) and kappa["kappa_raters"] == 2
    np.testing.assert_array_equal(kept.labels, [[1, 0, 0]])
