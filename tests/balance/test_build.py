import json
from typing import ClassVar

import numpy as np
import pytest
import yaml

from emobalance.balance.build import run_balance
from emobalance.config import EmobalanceConfig
from emobalance.data.dataset import EmotionDataset
from emobalance.labels import LABEL_TO_ID, NUM_LABELS


class KeywordTeacher:
    """Probability 0.9 for an emotion whose keyword is in the text, else 0.05."""

    name = "keywords"
    words: ClassVar[dict[str, str]] = {
        "sad": "sadness", "love": "love", "scared": "fear", "proud": "pride",
        "relieved": "relief", "happy": "joy",
    }  # fmt: skip

    def predict_proba(self, texts):
        out = np.full((len(texts), NUM_LABELS), 0.05, dtype=np.float32)
        for i, t in enumerate(texts):
            for w, lab in self.words.items():
                if w in t.lower():
                    out[i, LABEL_TO_ID[lab]] = 0.9
        return out


def splits():
    rng = np.random.default_rng(0)
    pool = ["I am so sad today", "love this", "scared of the dark", "so proud of you",
            "relieved it is over", "happy friday", "whatever", "the meeting is at 5"]  # fmt: skip
    labs = ["sadness", "love", "fear", "pride", "relief", "joy", "neutral", "neutral"]
    texts, y = [], []
    for i in range(200):
        k = min(int(rng.zipf(1.6)) - 1, 7)
        k = 7 - k if i % 3 else k
        texts.append(f"{pool[k]} number {i}")
        row = np.zeros(NUM_LABELS, np.uint8)
        row[LABEL_TO_ID[labs[k]]] = 1
        y.append(row)
    train = EmotionDataset(texts, np.array(y), source="goemotions")
    dev = EmotionDataset(
        ["love this number 3", "dev only text"], np.eye(NUM_LABELS, dtype=np.uint8)[[18, 27]]
    )
    test = EmotionDataset(
        ["so proud of you number 5", "test only text"], np.eye(NUM_LABELS, dtype=np.uint8)[[21, 27]]
    )
    return train, dev, test


def test_run_balance_end_to_end(tmp_path, fixtures_dir):
    corpus_dir = tmp_path / "tweets"
    corpus_dir.mkdir()
    (corpus_dir / "negative.txt").write_text(
        "".join(f"so sad and scared tonight {i}\n" for i in range(30))
        + "so proud of you number 5\n"  # a test text: must never enter train
    )
    (corpus_dir / "positive.txt").write_text(
        "".join(f"relieved and happy, love it {i}\n" for i in range(30))
    )
    cfg = EmobalanceConfig.model_validate({
        "balance": {"target": 30, "augment": {"vectors": None}, "sources": ["pseudo_label"],
                    "pseudo_label": {"corpus": str(corpus_dir), "part_rows": 16}},
    })  # fmt: skip
    train, dev, test = splits()
    out, rep = run_balance(cfg, tmp_path / "out", train=train, dev=dev, test=test,
                           teacher=KeywordTeacher(), progress=False)  # fmt: skip
    d = tmp_path / "out"
    for name in ("balanced_train.parquet", "balance_report.json", "balance_counts.png",
                 "config.yaml"):  # fmt: skip
        assert (d / name).is_file()
    saved = json.loads((d / "balance_report.json").read_text())
    for key in ("mean_ir_before", "mean_ir_after", "label_counts_before", "label_counts_after",
                "counts_by_source", "leaked_texts", "seconds"):  # fmt: skip
        assert key in saved
    assert saved["leaked_texts"] == 0 and rep["teacher"] == "keywords"
    assert "so proud of you number 5" not in out.texts and "love this number 3" not in out.texts
    back = EmotionDataset.from_parquet(d / "balanced_train.parquet")
    assert back.texts == out.texts and back.source == out.source
    np.testing.assert_array_equal(back.labels, out.labels)
    by_src = rep["counts_by_source"]
    assert by_src.get("sentiment140", 0) > 0
    tweets = np.array(out.source) == "sentiment140"
    assert np.all(out.teacher_score[tweets] >= 0.7)
    assert rep["mean_ir_after"] < rep["mean_ir_before"]
    assert rep["pseudo_label"]["corpus_rows"] == 61


def test_llm_section_is_validated_when_the_config_is_loaded(tmp_path):
    from emobalance.config import GenerationConfig
    from emobalance.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("balance:\n  generation:\n    llm:\n      base_url: localhost:8000\n")
    with pytest.raises(ConfigError, match=r"balance\.generation\.llm\.base_url: .*http"):
        EmobalanceConfig.from_yaml(path)
    path.write_text("balance:\n  generation:\n    llm:\n      modle: x\n")
    with pytest.raises(ConfigError, match=r"balance\.generation\.llm\.modle"):
        EmobalanceConfig.from_yaml(path)
    path.write_text("balance:\n  generation:\n    llm:\n      model: m\n      per_request: 3\n")
    cfg = EmobalanceConfig.from_yaml(path)
    assert isinstance(cfg.balance.generation.llm, GenerationConfig)
    assert cfg.balance.generation.llm.per_request == 3
    # only the fields given are written back: a default config still reads `llm: {}`
    assert EmobalanceConfig().balance.model_dump()["generation"]["llm"] == {}
    again = EmobalanceConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again.balance.generation.llm.model_fields_set == {"model", "per_request"}


def _tweets(tmp_path):
    corpus_dir = tmp_path / "tweets"
    corpus_dir.mkdir()
    (corpus_dir / "negative.txt").write_text(
        "".join(f"so sad and scared tonight {i}\n" for i in range(30))
    )
    (corpus_dir / "positive.txt").write_text(
        "".join(f"relieved and happy, love it {i}\n" for i in range(30))
    )
    return corpus_dir


def test_precision_selection_reports_thresholds_estimates_and_rows_per_label(tmp_path):
    train, _, test = splits()
    # dev: the keyword teacher is right on sadness and relief, wrong on love
    texts, labs = [], []
    for i in range(12):
        texts += [f"sad dev {i}", f"relieved dev {i}", f"love dev {i}"]
        labs += ["sadness", "relief", "anger"]
    y = np.zeros((len(texts), NUM_LABELS), np.uint8)
    y[np.arange(len(texts)), [LABEL_TO_ID[lab] for lab in labs]] = 1
    dev = EmotionDataset(texts, y)
    cfg = EmobalanceConfig.model_validate({
        "balance": {"target": 40, "sources": ["pseudo_label"],
                    "pseudo_label": {"corpus": str(_tweets(tmp_path)), "selection": "precision",
                                     "target_precision": 0.9, "weight": "confidence"}},
    })  # fmt: skip
    out, rep = run_balance(cfg, tmp_path / "out", train=train, dev=dev, test=test,
                           teacher=KeywordTeacher(), progress=False)  # fmt: skip
    per = rep["pseudo_label"]["per_label"]
    assert per["sadness"]["threshold"] == pytest.approx(0.2)  # min_threshold: 0.05 < 0.2 < 0.9
    assert per["sadness"]["estimated_precision"] == 1.0
    assert per["relief"]["threshold"] is not None and per["love"]["threshold"] is None
    assert per["love"]["candidates"] == 0  # the teacher's love is never right on dev
    assert per["relief"]["candidates"] == 30 and per["relief"]["added"] > 0
    assert per["love"]["added"] == 0 and per["grief"]["added"] == 0
    assert "grief" in rep["shortfall"]  # no source has grief: said, not hidden
    tweets = np.array(out.source) == "sentiment140"
    np.testing.assert_allclose(out.weight[tweets], out.teacher_score[tweets])


def test_teacher_checked_augmentation_drops_rows_the_teacher_reads_otherwise(tmp_path):
    from emobalance.balance.build import AugmentChecker

    class Teacher(KeywordTeacher):
        def predict_proba(self, texts):
            out = super().predict_proba(texts)
            for i, t in enumerate(texts):
                if "bad" in t:  # an augmentation that changed the emotion
                    out[i, LABEL_TO_ID["anger"]] = 0.9
            return out

    th = np.full(NUM_LABELS, 0.5, np.float32)
    checker = AugmentChecker(Teacher(), th)
    y = np.zeros((4, NUM_LABELS), np.uint8)
    y[:, LABEL_TO_ID["sadness"]] = 1
    y[3, LABEL_TO_ID["fear"]] = 1
    rows = EmotionDataset(["so sad", "so sad bad", "not it", "sad and scared"], y)
    kept = checker(rows)
    # kept: intended labels above threshold, no new label; "not it" lost its sadness
    assert kept.texts == ["so sad", "sad and scared"]
    assert checker.counts == {"checked": 4, "kept": 2}
    assert len(checker(rows.subset([]))) == 0
