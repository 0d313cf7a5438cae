import json
import re

import numpy as np
import pytest
import yaml

from emobalance.config import load_config
from emobalance.labels import LABEL_TO_ID
from emobalance.pipeline import run_experiment

WORDS = {
    "gratitude": "thanks", "anger": "furious", "joy": "happy", "neutral": "table",
    "sadness": "sad", "grief": "mourning", "pride": "proud", "fear": "scared",
}  # fmt: skip
# a GoEmotions-like imbalance: neutral common, grief and pride rare
WEIGHTS = {"neutral": 30, "gratitude": 15, "joy": 12, "anger": 10, "sadness": 8, "fear": 5,
           "grief": 2, "pride": 2}  # fmt: skip


def write_split(path, n, seed):
    rng = np.random.default_rng(seed)
    names = list(WEIGHTS)
    p = np.array(list(WEIGHTS.values()), float)
    p /= p.sum()
    lines = []
    for i in range(n):
        lab = names[rng.choice(len(names), p=p)]
        filler = " ".join(rng.choice(["the", "a", "so", "it", "was", "really"], 3))
        lines.append(f"{WORDS[lab]} {filler} {i}\t{LABEL_TO_ID[lab]}\t{path.stem}{i}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "goemotions").mkdir(parents=True)
    for split, n, seed in (("train", 240, 0), ("dev", 80, 1), ("test", 80, 2)):
        write_split(root / "goemotions" / f"{split}.tsv", n, seed)
    s140 = root / "sentiment140_sample_100k"
    s140.mkdir()
    (s140 / "negative.txt").write_text("".join(f"so sad and mourning {i}\n" for i in range(40)))
    (s140 / "positive.txt").write_text("".join(f"so proud and happy {i}\n" for i in range(40)))
    monkeypatch.setenv("EMOBALANCE_DATA", str(root))
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))
    cfg = {
        "model": {"embedding_dim": 16, "conv_channels": 8, "lstm_hidden": 8, "attention_dim": 8,
                  "min_freq": 1, "max_len": 16},
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.01, "eval_batch_size": 64,
                  "mixed_precision": "off"},
        "balance": {"target": 40, "augment": {"vectors": None},
                    "pseudo_label": {"part_rows": 32}},
        "run": {"seeds": [0, 1], "variants": ["imbalanced", "balanced", "no_attention", "tfidf"],
                "bootstrap": 50},
    }  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pipeline_end_to_end_and_resume(tiny_data, tmp_path, capsys):
    cfg = load_config(tiny_data, preset="quick")  # the YAML overrides the preset
    assert cfg.run.seeds == [0, 1] and cfg.train.epochs == 3
    run_dir = tmp_path / "run"
    entries = run_experiment(cfg, run_dir, progress=False)
    assert {(e["variant"], e["seed"]) for e in entries} == {
        (v, s) for v in ("imbalanced", "balanced", "no_attention", "tfidf") for s in (0, 1)
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == entries
    for e in metrics:
        assert set(e["test"]) >= {"macro_f1", "micro_f1", "weighted_f1", "exact_match",
                                  "hamming_loss", "macro_auc", "per_label_f1"}  # fmt: skip
        assert len(e["test"]["per_label_f1"]) == 28
    for name in ("config.yaml", "run_info.json", "report.md", "report.html", "bootstrap.json",
                 "balance/balance_report.json", "models/balanced-seed1/model.safetensors",
                 "models/tfidf-seed0/thresholds.json"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img" in html
    # every mean macro-F1 in the report equals metrics.json
    for v in ("imbalanced", "balanced", "tfidf"):
        vals = [e["test"]["macro_f1"] for e in metrics if e["variant"] == v]
        m, s = np.mean(vals), np.std(vals, ddof=1)
        assert f"{m:.4f} ± {s:.4f}" in md
        row = re.search(rf"^\| {v} \| 2 \|.*$", md, re.M).group(0)
        assert f"{m:.4f} ± {s:.4f}" in row
    boot = json.loads((run_dir / "bootstrap.json").read_text())
    assert f"{boot[0]['p_value']:.4f}" in md
    assert [(b["variant"], b["seed"]) for b in boot] == [("balanced", 0), ("balanced", 1)]
    # the comparison over seeds: every variant against imbalanced, paired by seed
    sig = json.loads((run_dir / "significance.json").read_text())
    assert sig["baseline"] == "imbalanced" and len(sig["rare"]) == 6
    assert [r["variant"] for r in sig["rows"]] == ["balanced", "no_attention", "tfidf"]
    bal = sig["rows"][0]
    assert bal["seeds"] == [0, 1] and bal["metrics"]["test_macro_f1"]["n"] == 2
    diff = np.mean([e["test"]["macro_f1"] for e in metrics if e["variant"] == "balanced"]) - (
        np.mean([e["test"]["macro_f1"] for e in metrics if e["variant"] == "imbalanced"])
    )
    assert bal["metrics"]["test_macro_f1"]["mean_diff"] == pytest.approx(diff)
    assert "external_accuracy" in bal["metrics"]  # the quick preset holds the polarity guard
    assert sig["selected_by_dev"] in ("imbalanced", "balanced", "no_attention", "tfidf")
    assert "## Comparison over seeds" in md and f"{diff:+.4f}" in md
    assert f"among all the variants: {sig['selected_by_dev']}" in md

    # --resume: nothing is trained again
    import emobalance.models.reference as clf_mod

    def boom(*a, **k):
        raise AssertionError("retrained a finished model")

    orig = clf_mod.EmotionClassifier.fit
    clf_mod.EmotionClassifier.fit = boom
    try:
        again = run_experiment(cfg, run_dir, resume=True, progress=False)
    finally:
        clf_mod.EmotionClassifier.fit = orig
    assert again == entries


def test_pipeline_distilled_variants(tiny_data, tmp_path):
    cfg = load_config(tiny_data, preset="quick")
    cfg.run.seeds = [0]
    cfg.run.variants = ["imbalanced", "tfidf", "distilled", "distilled_balanced"]
    cfg.distill.teacher = "ensemble"  # this run's reference + TF-IDF (no MiniLM in tests)
    run_dir = tmp_path / "run"
    entries = run_experiment(cfg, run_dir, progress=False)
    by = {e["variant"]: e for e in entries}
    assert set(by) == {"imbalanced", "tfidf", "distilled", "distilled_balanced"}
    d = by["distilled"]["distillation"]
    assert d["teacher"] == "ensemble(reference, tfidf)" and d["train_rows"] == 240
    # the 80 tweets of the fixture corpus less the 8 of the polarity guard (10% of each
    # polarity) are scored and added with soft labels
    assert d["external_rows"] == 72 and by["distilled"]["n_train"] == 312
    assert by["distilled_balanced"]["distillation"]["train_rows"] >= 240
    md = (run_dir / "report.md").read_text()
    assert "distilled: the reference network distilled from ensemble(reference, tfidf)" in md
    assert re.search(r"^\| distilled \| 1 \|", md, re.M)
    # distilled_balanced's bootstrap vs imbalanced (no balanced variant here); one seed
    boot = json.loads((run_dir / "bootstrap.json").read_text())
    assert [(b["variant"], b["seed"]) for b in boot] == [("distilled_balanced", 0)]
    assert f"macro-F1(distilled_balanced) − macro-F1(imbalanced) = {boot[0]['diff']:+.4f}" in md
    assert "A paired test needs at least 2 seeds" in md


def test_pipeline_external_sets_and_the_polarity_guard(tiny_data, tmp_path):
    from emobalance.data.corpora import guard_keys, polarity_guard
    from emobalance.data.dataset import EmotionDataset
    from emobalance.text.normalize import normalize

    ext = tmp_path / "dialogue.csv"
    ext.write_text("utterance,emotion\nthanks so much,joy\nI am furious,anger\n"
                   "so sad today,sadness\nwhat a table,neutral\nhmm,boredom\n")  # fmt: skip
    cfg = load_config(tiny_data, preset="quick", overrides=[
        "run.seeds=[0]", "run.bootstrap=0", "run.variants=[imbalanced, balanced, tfidf]",
        "run.external=[{name: sentiment140_polarity_guard, path: sentiment140_polarity_guard, "
        f"label_map: polarity}}, {{name: dialogue, path: '{ext}', label_map: ekman, "
        "text_column: utterance, label_column: emotion}]",
    ])  # fmt: skip
    run_dir = tmp_path / "run"
    entries = run_experiment(cfg, run_dir, progress=False)
    assert {e["variant"] for e in entries} == {"imbalanced", "balanced", "tfidf"}
    for e in entries:  # every trained model on every external set
        guard, dialogue = e["external"]["sentiment140_polarity_guard"], e["external"]["dialogue"]
        assert guard["label_map"] == "polarity" and guard["n_scored"] == 8
        assert sum(guard["per_target"][t]["support"] for t in ("positive", "negative")) == 8
        assert 0 <= guard["macro_f1"] <= 1 and 0 <= guard["accuracy"] <= 1
        assert dialogue["n_scored"] == 4 and dialogue["gold_outside_map"] == {"boredom": 1}
    md = (run_dir / "report.md").read_text()
    assert "## External datasets" in md and "**dialogue**" in md
    for v in ("imbalanced", "balanced", "tfidf"):
        f1 = next(e for e in entries if e["variant"] == v)["external"]["dialogue"]["macro_f1"]
        assert re.search(rf"^\| {v} \| 1 \| {f1:.4f} \|", md, re.M)
    # neither the guard's tweets nor the external texts became training rows
    balanced = EmotionDataset.from_parquet(
        next((tmp_path / "cache" / "balanced").rglob("balanced_train.parquet"))
    )
    assert len(polarity_guard()) == 8
    assert not guard_keys() & {normalize(t) for t in balanced.texts}
    assert not {"thanks so much", "so sad today"} & set(balanced.texts)


def test_auto_teacher_resolution(monkeypatch):
    import importlib.util

    from emobalance.teachers import resolve_teacher_spec

    assert resolve_teacher_spec("ensemble") == "reference+tfidf"
    assert resolve_teacher_spec("minilm") == "minilm"
    assert resolve_teacher_spec("ensemble+minilm") == "reference+tfidf+minilm"
    assert resolve_teacher_spec("tfidf+ensemble") == "tfidf+reference+tfidf"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None
                        if name == "all_minilm_l6_v2" else real(name, *a))  # fmt: skip
    assert resolve_teacher_spec("auto") == "reference+tfidf"  # no teacher extra: the old one
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert resolve_teacher_spec("auto") == "minilm+tfidf"


def test_cli_balance_uses_the_balance_config_defaults(tiny_data, tmp_path, capsys):
    from emobalance.cli import main

    out = tmp_path / "bal"
    with pytest.raises(SystemExit) as info:
        main(["balance", "--out", str(out), "--teacher", "tfidf", "--target", "40",
              "--set", "balance.pseudo_label.part_rows=32"])  # fmt: skip
    assert info.value.code in (0, None)
    stdout = capsys.readouterr().out
    assert "balanced train:" in stdout and "leaked texts: 0" in stdout
    rep = json.loads((out / "balance_report.json").read_text())
    saved = yaml.safe_load((out / "config.yaml").read_text())["balance"]
    assert saved["target"] == 40 and saved["teacher"] == "tfidf"
    assert saved["pseudo_label"]["part_rows"] == 32
    # BalanceConfig's recipe: all of train kept (no undersampling), rare examples cloned at
    # most twice, learnt with soft labels (the printed command)
    assert saved["undersample"] == "none" and saved["sources"] == ["oversample"]
    assert saved["max_copies"] == 2 and saved["soft_labels"] is True
    assert rep["n_after"] > rep["n_before"] == 240
    assert set(rep["counts_by_source"]) == {"goemotions", "oversampled"}
    assert "--distill-from auto" in stdout


def test_resume_adds_seeds_and_variants_and_refuses_other_changes(tiny_data, tmp_path):
    import emobalance.models.reference as clf_mod
    from emobalance.errors import ConfigError

    small = ["run.seeds=[0]", "run.variants=[imbalanced, tfidf]", "run.bootstrap=0"]
    run_dir = tmp_path / "run"
    first = run_experiment(load_config(tiny_data, preset="quick", overrides=small), run_dir,
                           progress=False)  # fmt: skip
    # config.yaml as an older version wrote it: without a field the code has since added
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    del saved["run"]["balanced_holdout"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))

    more = load_config(tiny_data, preset="quick", overrides=[
        "run.seeds=[0, 1]", "run.variants=[imbalanced, tfidf, no_conv]", "run.bootstrap=0",
    ])  # fmt: skip
    real, fits = clf_mod.EmotionClassifier.fit, []

    def fit(self, train, dev=None, **kw):
        fits.append(self.model_config.use_conv)
        return real(self, train, dev, **kw)

    clf_mod.EmotionClassifier.fit = fit
    try:
        entries = run_experiment(more, run_dir, resume=True, progress=False)
    finally:
        clf_mod.EmotionClassifier.fit = real
    assert entries[:2] == first  # the finished models kept, not retrained
    assert {(e["variant"], e["seed"]) for e in entries} == {
        (v, s) for v in ("imbalanced", "tfidf", "no_conv") for s in (0, 1)
    }
    assert sorted(fits) == [False, False, True]  # no_conv x 2, imbalanced seed 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["run"]["seeds"] == [0, 1]
    sig = json.loads((run_dir / "significance.json").read_text())
    assert [(r["variant"], r["seeds"]) for r in sig["rows"]] == [("tfidf", [0, 1]),
                                                                  ("no_conv", [0, 1])]  # fmt: skip

    for change, key in (("balance.target=50", "balance.target"),
                        ("train.epochs=4", "train.epochs"),
                        ("run.bootstrap=10", "run.bootstrap")):  # fmt: skip
        other = load_config(tiny_data, preset="quick", overrides=[*small, change])
        with pytest.raises(ConfigError) as info:
            run_experiment(other, run_dir, resume=True, progress=False)
        msg = str(info.value)
        assert f"({key} differs;" in msg and "\n" not in msg, msg


def test_soft_label_balancing_variants(tiny_data, tmp_path):
    cfg = load_config(tiny_data, preset="quick")
    cfg.run.seeds = [0]
    cfg.run.variants = ["imbalanced", "tfidf", "balanced", "distilled_balanced"]
    cfg.distill.teacher = "ensemble"
    cfg.balance.soft_labels = True  # balanced learns the teacher's probabilities too
    cfg.balance.sources = ["oversample"]
    cfg.balance.max_copies = 2
    cfg.distill.corpus_selection = "balance"
    entries = run_experiment(cfg, tmp_path / "run", progress=False)
    by = {e["variant"]: e for e in entries}
    bal = by["balanced"]["distillation"]
    assert bal["corpus_selection"] == "balance" and bal["train_rows"] > 240  # + copies
    sel = bal["selection"]
    # only the tweets that fill the labels under the target of 40 are kept
    assert sel["corpus_rows"] == 72 and 0 < sel["kept_rows"] == bal["external_rows"] <= 72
    assert sel["per_label"]["neutral"]["rows"] == 0
    assert by["balanced"]["n_train"] == bal["train_rows"] + bal["external_rows"]
    # the same balanced set and settings: distilled_balanced is the same model
    assert by["distilled_balanced"]["test"]["macro_f1"] == by["balanced"]["test"]["macro_f1"]
