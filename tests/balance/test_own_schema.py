"""Balancing on a user's own label set: a 5-label schema and a single-label one.

Every part (statistics, the planner, ML-ROS/ML-RUS, pseudo-labelling, per-label selection,
the teacher filter, augmentation, generation prompts and the whole job) takes its labels from
the data's schema, never from GoEmotions'.
"""

import json
import math
import re

import numpy as np
import pytest

from emobalance.balance.augment import EMOTION_SEED_WORDS, EDAAugmenter, seed_words
from emobalance.balance.build import AugmentChecker, run_balance
from emobalance.balance.filter import teacher_filter
from emobalance.balance.generate import LLMGenerator
from emobalance.balance.planner import BalancePlanner
from emobalance.balance.prompts import (
    EMOTION_DEFINITIONS,
    build_messages,
    example_pools,
    label_definition,
    sample_examples,
)
from emobalance.balance.pseudo_label import assign_labels, pseudo_label, thresholds_vector
from emobalance.balance.resample import MLROS, MLRUS
from emobalance.balance.selection import precision_thresholds, select_soft_mass
from emobalance.balance.stats import counts_by_source_and_label, imbalance_stats, plot_balance
from emobalance.config import EmobalanceConfig, GenerationConfig
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError, DataError
from emobalance.labels import GOEMOTIONS, LabelSchema

FIVE = LabelSchema(
    ["joy", "anger", "fear", "anticipation", "trust"],
    descriptions={"joy": "a feeling of great pleasure and happiness"},
    name="five",
)
FIVE_NEUTRAL = FIVE.replace(names=[*FIVE.names[:4], "calm"], neutral="calm", name="five_n",
                            descriptions=None)  # fmt: skip
SINGLE = LabelSchema(["positive", "negative", "mixed"], single_label=True, name="polarity")
KEYWORDS = {"happy": "joy", "angry": "anger", "scared": "fear", "waiting": "anticipation",
            "trust": "trust", "good": "positive", "bad": "negative", "meh": "mixed"}  # fmt: skip


def dataset(schema, counts, source="user", prefix="row"):
    """``counts[label]`` single-label rows per label, texts carrying the label's keyword."""
    word = {lab: w for w, lab in KEYWORDS.items()}
    texts, rows = [], []
    for lab, n in counts.items():
        for i in range(n):
            texts.append(f"{prefix} {word.get(lab, lab)} {lab} {i}")
            rows.append([lab])
    return EmotionDataset(texts, schema.names_to_matrix(rows), source=source, schema=schema)


class KeywordTeacher:
    """0.9 for the labels whose keyword is in the text, else 0.05, in its own schema."""

    name = "keywords"

    def __init__(self, schema):
        self.labels_ = schema

    def predict_proba(self, texts):
        out = np.full((len(texts), len(self.labels_)), 0.05, dtype=np.float32)
        for i, t in enumerate(texts):
            for w, lab in KEYWORDS.items():
                if w in t.lower() and lab in self.labels_:
                    out[i, self.labels_.label_id(lab)] = 0.9
        return out


# ------------------------------------------------------------------------------ stats
def test_stats_over_the_datasets_schema():
    ds = dataset(FIVE, {"joy": 8, "anger": 4, "fear": 2, "anticipation": 1})
    s = imbalance_stats(ds)
    assert list(s.label_counts) == list(FIVE.names)
    assert s.irlbl == {"joy": 1.0, "anger": 2.0, "fear": 4.0, "anticipation": 8.0}
    assert s.absent_labels == ["trust"] and s.mean_ir == pytest.approx(15 / 4)
    assert s.density == pytest.approx(1 / 5)
    # no neutral label in the schema: nothing is left out
    assert s.mean_ir_without_neutral == s.mean_ir
    with_neutral = dataset(FIVE_NEUTRAL, {"joy": 2, "anger": 1, "calm": 20})
    sn = imbalance_stats(with_neutral)
    assert sn.mean_ir_without_neutral == pytest.approx(1.5)  # joy 1, anger 2; calm left out
    assert sn.mean_ir > sn.mean_ir_without_neutral
    # a bare matrix with the schema given
    assert imbalance_stats(ds.labels, schema=FIVE).to_dict() == s.to_dict()
    with pytest.raises(ValueError, match="five has 5 labels, the matrix 28"):
        imbalance_stats(np.zeros((2, 28)), schema=FIVE)


def test_plots_use_the_schema(tmp_path):
    ds = dataset(FIVE, {"joy": 3, "fear": 1})
    by_source = counts_by_source_and_label(ds)
    assert list(by_source["user"]) == list(FIVE.names)
    path = plot_balance(imbalance_stats(ds).label_counts, ds, tmp_path / "b.png")
    assert path.is_file() and path.stat().st_size > 0


# ---------------------------------------------------------------------------- planner
def test_planner_fills_and_reports_the_schemas_labels():
    train = dataset(FIVE, {"joy": 12, "anger": 6, "fear": 3, "anticipation": 2, "trust": 1})
    planner = BalancePlanner(target=6, sources=["oversample"], max_copies=10, random_state=0)
    out = planner.fit_resample(train)
    assert out.schema is FIVE and planner.schema_ is FIVE
    assert np.all(planner.counts_after_ >= planner.targets_)
    rep = planner.report(out)
    assert rep["label_schema"] == "five"
    assert list(rep["targets"]) == list(FIVE.names) and rep["all_targets_reached"]
    assert rep["label_counts_after"]["joy"] == 6  # undersampled to the target
    assert rep["fills"][-1]["per_label"] == {"fear": 3, "anticipation": 4, "trust": 5}
    # undersampling names are the schema's
    keep_joy = BalancePlanner(target=6, sources=["oversample"], undersample=["anger"])
    assert keep_joy.fit_resample(train).label_counts()["joy"] == 12
    with pytest.raises(ConfigError, match=r"balance\.undersample: unknown labels 'grief'"):
        BalancePlanner(undersample=["grief"]).fit_resample(train)
    # a pool of another schema is refused, naming both
    pool = dataset(GOEMOTIONS, {"joy": 2})
    with pytest.raises(DataError, match=r"five .* goemotions"):
        BalancePlanner(sources=["pseudo_label"]).fit_resample(train, {"pseudo_label": pool})


def test_max_non_neutral_uses_the_schemas_neutral_label():
    counts = np.array([4, 2, 1, 1, 50])
    planner = BalancePlanner(target="max_non_neutral")
    assert planner.compute_targets(counts, FIVE_NEUTRAL).tolist() == [4] * 5
    assert planner.compute_targets(counts, FIVE).tolist() == [50] * 5  # no neutral label


def test_planner_plans_a_single_label_schema_per_class():
    train = dataset(SINGLE, {"positive": 20, "negative": 5, "mixed": 2})
    planner = BalancePlanner(target="median", sources=["oversample"], max_copies=5)
    out = planner.fit_resample(train)
    assert out.schema is SINGLE
    assert (out.labels.sum(axis=1) == 1).all()  # still one class per row
    assert out.label_counts() == {"positive": 5, "negative": 5, "mixed": 5}
    assert planner.report(out)["shortfall"] == {}


# ----------------------------------------------------------------------- ML-ROS / RUS
def test_ml_ros_and_rus_take_the_schemas_label_names():
    ds = dataset(FIVE, {"joy": 20, "anger": 10, "fear": 2, "anticipation": 1, "trust": 1})
    ros = MLROS(targets={"Fear": 6, "trust": 9}, max_copies=3, random_state=0)
    out = ros.resample_dataset(ds)
    assert out.schema is FIVE
    assert out.label_counts()["fear"] == 6 and out.label_counts()["trust"] == 4
    assert ros.unmet_ == {"trust": 5}  # named by the schema, not by column index
    ros2 = MLROS(sampling_ratio=0.2, labels=["anticipation"], random_state=0)
    added = ros2.resample_dataset(ds)
    assert added.label_counts()["anticipation"] > 1 and added.label_counts()["fear"] == 2
    rus = MLRUS(sampling_ratio=0.3, protected_labels=["anger"], random_state=0)
    kept = rus.resample_dataset(ds)
    assert kept.schema is FIVE and kept.label_counts()["anger"] == 10
    assert kept.label_counts()["joy"] < 20
    # fit_resample on a dataset reads names with its schema; a bare 5-column y takes indices
    _, y = MLRUS(sampling_ratio=0.3, protected_labels=["joy"], random_state=0).fit_resample(
        ds, ds.labels
    )
    assert y[:, 0].sum() == 20
    with pytest.raises(ConfigError, match="label names need a dataset"):
        MLRUS(protected_labels=["joy"]).fit_resample(list(ds.texts), ds.labels)
    _, y2 = MLRUS(sampling_ratio=0.3, protected_labels=[0], random_state=0).fit_resample(
        list(ds.texts), ds.labels
    )
    assert y2[:, 0].sum() == 20
    with pytest.raises(ConfigError, match="unknown emotion label 'grief'"):
        MLROS(targets={"grief": 3}).resample_dataset(ds)


def test_ml_ros_on_a_single_label_schema():
    ds = dataset(SINGLE, {"positive": 12, "negative": 3, "mixed": 1})
    out = MLROS(sampling_ratio=0.5, random_state=0).resample_dataset(ds)
    assert out.schema is SINGLE and len(out) > 16
    assert (out.labels.sum(axis=1) == 1).all()
    assert out.label_counts()["positive"] == 12 and out.label_counts()["mixed"] > 1


# ---------------------------------------------------------------------- pseudo-labels
def corpus(texts):
    return EmotionDataset(texts, source="sentiment140")


def test_pseudo_label_thresholds_by_name_of_the_schema():
    c = corpus(["so happy", "angry and scared", "waiting", "nothing"])
    proba = KeywordTeacher(FIVE).predict_proba(c.texts)
    th = thresholds_vector(0.95, {"FEAR": 0.5, " joy": 0.5}, FIVE)
    assert th.tolist() == pytest.approx([0.5, 0.95, 0.5, 0.95, 0.95])
    out = assign_labels(c, proba, threshold=0.95, thresholds={"Fear": 0.5}, schema=FIVE)
    assert out.schema is FIVE and out.texts == ["angry and scared"]
    assert out.label_names() == [["fear"]]
    with pytest.raises(ConfigError) as err:
        assign_labels(c, proba, thresholds={"grief": 0.5}, schema=FIVE)
    msg = str(err.value)
    assert "\n" not in msg and "balance.pseudo_label.thresholds: unknown label 'grief'" in msg
    assert "anticipation" in msg  # lists the schema's labels
    # no neutral label: nothing is excluded by default; an own neutral label is
    assert assign_labels(c, proba, schema=FIVE).label_counts()["joy"] == 1
    pn = KeywordTeacher(FIVE_NEUTRAL).predict_proba(c.texts)
    pn[:, 4] = 0.99
    assert assign_labels(c, pn, schema=FIVE_NEUTRAL).label_counts()["calm"] == 0
    with pytest.raises(ConfigError, match="exclude: unknown label 'neutral'"):
        assign_labels(c, proba, exclude=("neutral",), schema=FIVE)


def test_pseudo_label_with_a_teacher_lacking_labels(tmp_path):
    """A teacher lacking a label of the schema: its column is NaN, never assigned."""
    c = corpus(["so happy", "angry", "waiting here", "trust me"])
    teacher = KeywordTeacher(LabelSchema(["trust", "joy", "anger"], name="three"))
    out = pseudo_label(c, teacher, tmp_path / "parts", threshold=0.5, schema=FIVE,
                       part_rows=2)  # fmt: skip
    assert out.schema is FIVE
    assert out.label_names() == [["joy"], ["anger"], ["trust"]]
    manifest = json.loads((tmp_path / "parts" / "manifest.json").read_text())
    assert manifest["labels"] == list(FIVE.names)
    again = pseudo_label(c, teacher, tmp_path / "parts", threshold=0.5, schema=FIVE,
                         part_rows=2)  # fmt: skip
    assert again.label_names() == out.label_names()  # resumed from the parts (NaN kept)


def test_pseudo_label_single_label_keeps_the_most_probable():
    c = corpus(["good but bad", "meh", "nothing"])
    proba = np.array([[0.8, 0.9, 0.1], [0.1, 0.1, 0.75], [0.2, 0.2, 0.2]], np.float32)
    out = assign_labels(c, proba, threshold=0.7, schema=SINGLE)
    assert out.label_names() == [["negative"], ["mixed"]]
    assert out.teacher_score.tolist() == pytest.approx([0.9, 0.75])


def test_selection_per_label_of_the_schema_with_missing_teacher_labels():
    rng = np.random.default_rng(0)
    y = (rng.random((60, 5)) < 0.3).astype(np.uint8)
    p = np.clip(y * 0.7 + rng.random((60, 5)) * 0.3, 0, 1).astype(np.float32)
    p[:, 3] = np.nan  # the teacher lacks anticipation
    th, info = precision_thresholds(y, p, target_precision=0.9, schema=FIVE)
    assert list(info) == list(FIVE.names)
    assert math.isinf(th[3]) and np.isfinite(th[[0, 1, 2, 4]]).all()
    rows, per = select_soft_mass(p, np.array([10, 5, 2, 1, 1]), np.full(5, 8), schema=FIVE)
    assert list(per) == list(FIVE.names)
    assert per["anticipation"]["rows"] == 0 and per["anticipation"]["shortfall"] == 7.0
    assert not np.isnan(per["fear"]["mass_after"])
    assert len(rows) == len(set(rows.tolist())) > 0


# ------------------------------------------------------------------- filter, augment
def test_teacher_filter_and_augment_check_on_the_schema():
    cands = dataset(FIVE, {"fear": 2, "anticipation": 2}, source="generated")
    cands = cands.replace(texts=["scared a", "calm b", "waiting c", "waiting d"])
    kept = teacher_filter(cands, KeywordTeacher(FIVE), threshold=0.7)
    assert kept.texts == ["scared a", "waiting c", "waiting d"] and kept.schema is FIVE
    # a teacher in another order is aligned by name; one lacking the label drops its rows
    lacking = KeywordTeacher(LabelSchema(["fear", "joy"], name="two"))
    assert teacher_filter(cands, lacking, threshold=0.7).texts == ["scared a"]
    checker = AugmentChecker(lacking, np.full(5, 0.5, np.float32))
    rows = dataset(FIVE, {"fear": 1, "anticipation": 1}).replace(
        texts=["scared x", "waiting but happy y"]
    )
    # anticipation is not checked (the teacher lacks it), but joy fires on row 2
    assert checker(rows).texts == ["scared x"] and checker.counts == {"checked": 2, "kept": 1}


def test_eda_augments_rows_of_the_schema():
    ds = dataset(FIVE, {"joy": 4, "anticipation": 3})
    aug = EDAAugmenter(alpha_sr=0, alpha_ri=0, random_state=0)
    out = aug.augment(ds, {"Anticipation": 4})
    assert out.schema is FIVE and len(out) == 4
    assert out.label_counts()["anticipation"] == 4
    with pytest.raises(ConfigError, match="unknown emotion label 'grief'"):
        aug.augment(ds, {"grief": 1})
    assert seed_words(GOEMOTIONS) is EMOTION_SEED_WORDS
    assert "anticipation" in seed_words(FIVE) and "anticipation" not in EMOTION_SEED_WORDS


# --------------------------------------------------------------------------- prompts
def test_prompts_from_the_schemas_descriptions():
    cfg = GenerationConfig(prompt_template="{emotion}: {definition} ({n})\n{examples}")
    msg = build_messages("joy", [], 3, cfg, FIVE)[1]["content"]
    assert msg.startswith("joy: a feeling of great pleasure and happiness")
    # no description: the label name itself
    assert label_definition(FIVE, "Anticipation") == "the emotion 'anticipation'"
    msg = build_messages("anticipation", ["waiting for friday"], 3, cfg, FIVE)[1]["content"]
    assert msg.startswith("anticipation: the emotion 'anticipation'")
    assert "waiting for friday" in msg
    with pytest.raises(DataError, match="unknown emotion 'grief'"):
        build_messages("grief", [], 3, cfg, FIVE)
    # GoEmotions' definitions are the schema's descriptions, unchanged
    assert EMOTION_DEFINITIONS is GOEMOTIONS.descriptions
    assert label_definition(GOEMOTIONS, "grief") == EMOTION_DEFINITIONS["grief"]
    ds = dataset(FIVE, {"joy": 3, "anticipation": 2})
    pools = example_pools(ds, ["anticipation"], cfg)
    assert len(pools["anticipation"]) == 2
    pick = sample_examples(pools["anticipation"], 1, 0, "anticipation", 0, FIVE)
    assert pick == sample_examples(pools["anticipation"], 1, 0, "anticipation", 0, FIVE)


def test_generation_labels_in_the_schema(llm, tmp_path):
    def answer(body):
        wanted = re.search(r"WANT=(\w+)", body["messages"][1]["content"]).group(1)
        return json.dumps([f"text {wanted} number {i}" for i in range(3)])

    llm.answer = answer
    cfg = GenerationConfig(base_url=llm.base_url, model="m", per_request=3,
                           cache_dir=tmp_path / "c",
                           prompt_template="WANT={emotion} {definition} {n}",
                           examples_per_prompt=0)  # fmt: skip
    examples = dataset(FIVE, {"joy": 2})
    out = LLMGenerator(cfg).generate({"anticipation": 2, "Trust": 1}, examples)
    assert out.schema is FIVE
    assert out.label_names() == [["anticipation"], ["anticipation"], ["trust"]]
    prompts = sorted(b["messages"][1]["content"] for b in llm.bodies)
    assert prompts == ["WANT=anticipation the emotion 'anticipation' 3",
                       "WANT=trust the emotion 'trust' 3"]  # fmt: skip


# ------------------------------------------------------------------------- the job
def own_splits(schema=FIVE):
    train = dataset(schema, {"joy": 30, "anger": 12, "fear": 4, "anticipation": 3, "trust": 2},
                    source="own")  # fmt: skip
    dev = dataset(schema, {"joy": 3, "anger": 2, "fear": 2, "anticipation": 2, "trust": 2},
                  prefix="dev")  # fmt: skip
    test = dataset(schema, {"joy": 2, "fear": 1}, prefix="test")
    return train, dev, test


def write_corpus(tmp_path):
    d = tmp_path / "tweets"
    d.mkdir()
    (d / "negative.txt").write_text("".join(f"so scared tonight {i}\n" for i in range(20)))
    (d / "positive.txt").write_text(
        "".join(f"waiting for it, trust me {i}\n" for i in range(20)) + "test happy joy 0\n"
    )
    return d


def own_config(tmp_path, **balance):
    return EmobalanceConfig.model_validate({
        "balance": {"target": 12, "augment": {"vectors": None},
                    "sources": ["pseudo_label", "oversample"],
                    "pseudo_label": {"corpus": str(write_corpus(tmp_path)), "part_rows": 8,
                                     "threshold": 0.7, "thresholds": {"Trust": 0.8}},
                    **balance},
    })  # fmt: skip


def test_run_balance_on_own_splits(tmp_path):
    train, dev, test = own_splits()
    teacher = KeywordTeacher(LabelSchema(["trust", "fear", "joy", "anger"], name="kw"))
    out, rep = run_balance(own_config(tmp_path), tmp_path / "out", splits=(train, dev, test),
                           teacher=teacher, progress=False)  # fmt: skip
    assert out.schema is FIVE and rep["label_schema"] == "five"
    back = EmotionDataset.from_parquet(tmp_path / "out" / "balanced_train.parquet")
    assert back.schema == FIVE and back.texts == out.texts
    saved = json.loads((tmp_path / "out" / "balance_report.json").read_text())
    assert list(saved["targets"]) == list(FIVE.names)
    pl = saved["pseudo_label"]
    # the teacher lacks anticipation: no candidate, stated; oversampling fills it instead
    assert pl["teacher_uncovered_labels"] == ["anticipation"]
    assert pl["per_label"]["anticipation"]["candidates"] == 0
    assert pl["per_label"]["trust"]["threshold"] == 0.8
    assert pl["label_counts"]["fear"] == 20 and pl["label_counts"]["trust"] == 20
    assert saved["counts_by_source"]["sentiment140"] > 0
    assert "test happy joy 0" not in out.texts and saved["leaked_texts"] == 0
    assert saved["label_counts_after"]["anticipation"] > 3


def test_run_balance_shortfall_for_labels_the_teacher_lacks(tmp_path):
    train, dev, test = own_splits()
    teacher = KeywordTeacher(LabelSchema(["fear", "joy"], name="kw2"))
    cfg = own_config(tmp_path, sources=["pseudo_label"])
    _, rep = run_balance(cfg, tmp_path / "out", splits=(train, dev, test), teacher=teacher,
                         progress=False)  # fmt: skip
    assert rep["shortfall"]["anticipation"] == 12 - 3 and rep["shortfall"]["trust"] == 10
    assert "fear" not in rep["shortfall"]
    with pytest.raises(DataError, match="give splits or train/dev/test"):
        run_balance(cfg, tmp_path / "o2", splits=(train, dev, test), train=train)
    other = dataset(GOEMOTIONS, {"joy": 2})
    with pytest.raises(DataError, match=r"the train split speaks five .* the dev split speaks"):
        run_balance(cfg, tmp_path / "o3", splits=(train, other, test), teacher=teacher)


def _tfidf_speaks_schemas() -> bool:
    from emobalance.models.baselines import TfidfBaseline

    train, dev, _ = own_splits()
    try:
        model = TfidfBaseline().fit(train, dev)
    except Exception:  # the models branch may not have generalised it yet
        return False
    return getattr(model, "labels_", None) == FIVE


@pytest.mark.skipif("not _tfidf_speaks_schemas()", reason="TfidfBaseline is GoEmotions-only")
def test_run_balance_trains_a_tfidf_teacher_on_own_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))
    train, dev, test = own_splits()
    cfg = own_config(tmp_path, teacher="tfidf")
    out, rep = run_balance(cfg, tmp_path / "out", splits=(train, dev, test), progress=False)
    assert rep["teacher"] == "tfidf" and out.schema is FIVE
    assert list(rep["label_counts_after"]) == list(FIVE.names)
