"""Every command on a user's own label set: a tiny 5-label dataset (and a 3-class single-label
one) in the layouts users have, through the config's ``data:`` section and its flags."""

import json

import numpy as np
import pytest
import yaml

from emobalance.labels import GOEMOTIONS, LabelSchema

OWN_LABELS = ["joy", "anger", "fear", "trust", "anticipation"]
WORDS = {"joy": "delighted", "anger": "furious", "fear": "terrified", "trust": "reliable",
         "anticipation": "awaiting"}  # fmt: skip
# an imbalanced own set: joy common, anticipation rare; some rows carry two labels, some none
SHARES = {"joy": 0.4, "anger": 0.25, "fear": 0.15, "trust": 0.12, "anticipation": 0.08}


def own_rows(n: int, seed: int) -> list[tuple[str, list[str]]]:
    rng = np.random.default_rng(seed)
    names = list(SHARES)
    p = np.array(list(SHARES.values()))
    rows = []
    for i in range(n):
        if i % 10 == 9:  # a line with no emotion
            rows.append((f'the meeting is at {i} "sharp" it said', []))
            continue
        labs = [names[rng.choice(len(names), p=p)]]
        if i % 7 == 0:
            labs.append(names[(names.index(labs[0]) + 1) % len(names)])
        filler = " ".join(rng.choice(["the", "so", "it", "was", "really", "today"], 3))
        rows.append((" ".join([*(WORDS[x] for x in labs), filler, str(i)]), sorted(set(labs))))
    return rows


def write_long_csv(path, rows) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["utterance", "emotions"])
        for text, labs in rows:
            w.writerow([text, ";".join(labs)])


TINY = {
    "model": {"vectors": None, "pretrained": False, "embedding_dim": 16, "conv_channels": 8,
              "lstm_hidden": 8, "attention_dim": 8, "min_freq": 1, "max_len": 16},
    "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "eval_batch_size": 64,
              "mixed_precision": "off", "progress": False},
    "balance": {"augment": {"vectors": None}, "pseudo_label": {"part_rows": 32}},
    "run": {"seeds": [0], "variants": ["imbalanced", "balanced", "tfidf", "teacher"],
            "bootstrap": 20},
}  # fmt: skip


@pytest.fixture(scope="module")
def own(tmp_path_factory, tiny_bert_dir):
    """``{dir, config}``: the files of a 5-label dataset and a config naming them."""
    root = tmp_path_factory.mktemp("own")
    for split, n, seed in (("train", 160, 0), ("dev", 60, 1), ("test", 60, 2)):
        write_long_csv(root / f"{split}.csv", own_rows(n, seed))
    (root / "corpus.txt").write_text(
        "".join(f"so {w} about it {i}\n" for i in range(20) for w in WORDS.values())
    )
    cfg = json.loads(json.dumps(TINY))
    cfg["data"] = {
        "train": str(root / "train.csv"), "dev": str(root / "dev.csv"),
        "test": str(root / "test.csv"), "text_column": "utterance", "label_column": "emotions",
        "label_sep": ";", "labels": OWN_LABELS, "name": "tiny5",
        "descriptions": {"trust": "confidence in someone"},
    }  # fmt: skip
    cfg["distill"] = {"corpus": str(root / "corpus.txt")}
    cfg["teacher"] = {"base": str(tiny_bert_dir), "epochs": 1, "batch_size": 16,
                      "max_length": 16, "mixed_precision": "off", "device": "cpu",
                      "progress": False}  # fmt: skip
    path = root / "own.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return {"dir": root, "config": path}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))


def test_the_splits_of_the_data_section_carry_their_schema(own):
    from emobalance.config import load_config
    from emobalance.jobs import load_splits

    splits = load_splits(load_config(own["config"]))
    assert splits.schema.names == tuple(OWN_LABELS) and splits.schema is not GOEMOTIONS
    assert splits.schema.descriptions["trust"] == "confidence in someone"
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (160, 60, 60)
    assert splits.train.labels.shape == (160, 5) and splits.train.labels.dtype == np.uint8
    assert splits.dev.schema == splits.train.schema == splits.test.schema


def test_data_stats_on_own_labels(own, cli):
    code, out, err = cli(["data", "stats", "--config", own["config"], "--json"])
    assert code == 0, err
    stats = json.loads(out)
    assert set(stats["label_counts"]) == set(OWN_LABELS)
    # the flags mirror the section: the same data without a config file
    d = own["dir"]
    code, out2, err = cli(["data", "stats", "--json", "--split", "dev", "--data-train",
                           d / "train.csv", "--data-dev", d / "dev.csv", "--data-test",
                           d / "test.csv", "--text-column", "utterance", "--label-column",
                           "emotions", "--set", "data.label_sep=';'"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out2)["n"] == 60


def test_train_evaluate_thresholds_calibrate_predict_explain_export(own, cli, cache, tmp_path):
    m = tmp_path / "ref"
    code, out, err = cli(["train", "--config", own["config"], "--out", m])
    assert code == 0, err
    from emobalance.models.registry import load_model

    model = load_model(m)
    assert model.labels_.names == tuple(OWN_LABELS)
    assert model.predict_proba(["furious today"]).shape == (1, 5)

    code, out, err = cli(["evaluate", m, "--config", own["config"], "--json"])
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics["per_label_f1"]) == set(OWN_LABELS) and 0 <= metrics["jaccard"] <= 1
    # a file of GoEmotions labels is another schema: one line naming both
    go = tmp_path / "go.csv"
    go.write_text("text,labels\nso furious,anger\nthanks,gratitude\n")
    code, _, err = cli(["evaluate", m, "--split", go])
    assert code == 2 and err.count("\n") == 1 and "tiny5" in err and "goemotions" in err

    code, out, err = cli(["thresholds", m, "--json"])
    assert code == 0, err
    assert list(json.loads(out)) == OWN_LABELS

    code, out, err = cli(["calibrate", m, "--config", own["config"], "--out", tmp_path / "cal",
                          "--json"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["n_dev"] == 60

    code, out, err = cli(["predict", m, "so furious and terrified"])
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer["labels"]) <= set(OWN_LABELS) and set(answer["top"]) <= set(OWN_LABELS)

    code, out, err = cli(["explain", m, "so furious and terrified", "--json"])
    assert code == 0, err
    assert set(json.loads(out)["probabilities"]) == set(OWN_LABELS)

    onnx = tmp_path / "ref.onnx"
    code, _, err = cli(["export", m, "--out", onnx])
    assert code == 0, err
    exported = load_model(onnx)
    assert exported.labels_.names == tuple(OWN_LABELS)
    np.testing.assert_allclose(
        exported.predict_proba(["furious today"]), model.predict_proba(["furious today"]),
        atol=1e-4,
    )  # fmt: skip


def test_teacher_train_distill_and_package(own, cli, cache, tmp_path):
    t = tmp_path / "teacher"
    code, _, err = cli(["teacher", "train", "--config", own["config"], "--out", t])
    assert code == 0, err
    code, _, err = cli(["train", "--config", own["config"], "--distill-from", t, "--out",
                        tmp_path / "student"])  # fmt: skip
    assert code == 0, err
    from emobalance.models.registry import load_model

    student = load_model(tmp_path / "student")
    assert student.labels_.names == tuple(OWN_LABELS)
    assert student.metrics_["distillation"]["teacher"]

    # a user packages their own model into their own folder, measured on their own splits
    code, _out, err = cli(["package", tmp_path / "student", "--out", tmp_path / "pkg",
                          "--config", own["config"], "--max-f1-drop", "1"])  # fmt: skip
    assert code == 0, err
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["label_schema"]["labels"] == OWN_LABELS
    packaged = load_model(tmp_path / "pkg" / "model.onnx")
    assert packaged.labels_.names == tuple(OWN_LABELS)


def test_balance_keeps_the_schema_in_the_parquet(own, cli, cache, tmp_path):
    from emobalance.data.dataset import EmotionDataset

    out = tmp_path / "bal"
    code, _, err = cli(["balance", "--config", own["config"], "--out", out, "--teacher",
                        "tfidf"])  # fmt: skip
    assert code == 0, err
    balanced = EmotionDataset.from_parquet(out / "balanced_train.parquet")
    assert balanced.schema.names == tuple(OWN_LABELS)
    counts = balanced.label_counts()
    assert counts["anticipation"] > 0
    report = json.loads((out / "balance_report.json").read_text())
    assert set(report["label_counts_before"]) == set(OWN_LABELS)
    assert report["label_schema"] == "tiny5" or report["label_schema"]["name"] == "tiny5"


def test_run_own_preset_selects_on_dev(own, cli, cache, tmp_path):
    run_dir = tmp_path / "run"
    code, _out, err = cli(["run", "--config", own["config"], "--out", run_dir])
    assert code == 0, err
    entries = json.loads((run_dir / "metrics.json").read_text())
    assert {e["variant"] for e in entries} == {"imbalanced", "balanced", "tfidf", "teacher"}
    for e in entries:
        assert set(e["test"]["per_label_f1"]) == set(OWN_LABELS)
        assert 0 <= e["test"]["jaccard"] <= 1
    sig = json.loads((run_dir / "significance.json").read_text())
    assert sig["selected_by_dev"] in {"imbalanced", "balanced", "tfidf", "teacher"}
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["label_schema"]["labels"] == OWN_LABELS
    report = (run_dir / "report.md").read_text()
    assert "anticipation" in report and "Jaccard" in report

    # more seeds of two variants: the balanced one still learns from the run's own teacher
    # model (its minilm part), never from a second fine-tune in the user cache
    fewer = "run.variants=[imbalanced,balanced]"
    code, _, err = cli(["run", "--config", own["config"], "--out", run_dir, "--resume",
                        "--seeds", "0,1", "--set", fewer])  # fmt: skip
    assert code == 0, err
    entries = json.loads((run_dir / "metrics.json").read_text())
    assert {(e["variant"], e["seed"]) for e in entries} >= {("balanced", 1), ("imbalanced", 1)}
    assert not list((tmp_path / "cache").glob("teachers/minilm-*"))


def test_a_single_label_dataset_predicts_one_label_and_reports_accuracy(cli, cache, tmp_path):
    import csv

    rng = np.random.default_rng(0)
    classes = ["joy", "anger", "fear"]
    for split, n in (("train", 90), ("dev", 30), ("test", 30)):
        with open(tmp_path / f"{split}.tsv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t")
            w.writerow(["sentence", "label"])
            for i in range(n):
                c = classes[rng.choice(3, p=[0.6, 0.3, 0.1])]
                w.writerow([f"{WORDS[c]} it was {i}", c])
    cfg = {**TINY, "data": {"train": str(tmp_path / "train.tsv"), "dev": str(tmp_path / "dev.tsv"),
                            "test": str(tmp_path / "test.tsv"), "text_column": "sentence",
                            "label_column": "label", "single_label": True,
                            "allow_empty": False}}  # fmt: skip
    path = tmp_path / "single.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, _, err = cli(["train", "--config", path, "--out", tmp_path / "m"])
    assert code == 0, err
    code, out, err = cli(["evaluate", tmp_path / "m", "--config", path, "--json"])
    assert code == 0, err
    assert 0 <= json.loads(out)["accuracy"] <= 1
    code, out, err = cli(["predict", tmp_path / "m", "furious it was", "terrified it was"])
    assert code == 0, err
    for line in out.splitlines():
        assert len(json.loads(line)["labels"]) == 1  # the most probable class, always one


def test_goemotions_and_own_models_served_side_by_side(own, cache, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from emobalance.data.dataset import EmotionDataset
    from emobalance.models.baselines import TfidfBaseline
    from emobalance.serve.app import create_app

    schema = LabelSchema(OWN_LABELS, name="tiny5")
    rows = own_rows(80, 3)
    ds = EmotionDataset([t for t, _ in rows], schema.names_to_matrix([r for _, r in rows]),
                        schema=schema)  # fmt: skip
    own_model = TfidfBaseline(min_df=1).fit(ds, ds)
    go = EmotionDataset(
        ["thanks a lot", "i am so angry"] * 20,
        GOEMOTIONS.names_to_matrix([["gratitude"], ["anger"]] * 20),
    )
    go_model = TfidfBaseline(min_df=1).fit(go, go)
    with TestClient(create_app(own_model)) as a, TestClient(create_app(go_model)) as b:
        ra = a.post("/v1/predict", json={"texts": ["furious"]}).json()
        rb = b.post("/v1/predict", json={"texts": ["furious"]}).json()
    assert set(ra["predictions"][0]["probabilities"]) == set(OWN_LABELS)
    assert set(rb["predictions"][0]["probabilities"]) == set(GOEMOTIONS.names)


@pytest.mark.parametrize(
    ("cell", "match"),
    [("joy;happiness", "label 'happiness' is not one of data.labels"), ("joy;;anger", None)],
)
def test_a_label_outside_the_declared_labels_names_file_line_and_label(own, cli, tmp_path,
                                                                       cell, match):  # fmt: skip
    bad = tmp_path / "train.csv"
    write_long_csv(bad, own_rows(20, 5))
    with open(bad, "a", encoding="utf-8") as f:
        f.write(f"an odd row,{cell}\n")
    code, _out, err = cli(["data", "stats", "--config", own["config"], "--set",
                          f"data.train={json.dumps(str(bad))}", "--json"])  # fmt: skip
    if match is None:  # an empty item between separators is skipped
        assert code == 0, err
        return
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "train.csv" in err and "line 22" in err and match in err
