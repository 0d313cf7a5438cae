"""`emobalance balance`: the balancing job from one config section.

Loads GoEmotions (or takes the splits it is given, of any label schema: everything then
speaks ``train.schema``), builds (or reuses) the teacher, pseudo-labels the external corpus,
runs the optional LLM generation with its teacher filter and human review, prepares the offline
augmenter, lets :class:`~emobalance.balance.planner.BalancePlanner` fill the deficits, and
writes ``balanced_train.parquet``, ``balance_report.json`` and ``balance_counts.png``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import EmobalanceConfig, ModelConfig
from ..data import goemotions
from ..data.corpora import resolve_corpus
from ..data.dataset import EmotionDataset
from ..errors import DataError
from ..io import write_json_atomic, write_text_atomic
from ..labels import LabelSchema
from ..log import get_logger
from ..metrics import tune_thresholds
from ..teachers import Teacher, align_teacher, build_teacher, teacher_proba
from .planner import BalancePlanner
from .pseudo_label import assign_labels, score_corpus, thresholds_vector
from .selection import precision_thresholds
from .stats import plot_balance

log = get_logger(__name__)


def run_balance(
    config: EmobalanceConfig,
    out_dir: str | os.PathLike[str],
    *,
    train: EmotionDataset | None = None,
    dev: EmotionDataset | None = None,
    test: EmotionDataset | None = None,
    teacher: Teacher | None = None,
    progress: bool | None = None,
    exclude_texts: Sequence[str] = (),
    splits: tuple[EmotionDataset, EmotionDataset, EmotionDataset] | None = None,
) -> tuple[EmotionDataset, dict[str, Any]]:
    """Run the balancing job; return the balanced train set and the report.

    Parameters
    ----------
    config : EmobalanceConfig
        Its ``balance`` section drives the job; ``model``/``train`` configure a reference
        teacher when one is trained.
    out_dir : path
    train, dev, test : EmotionDataset, optional
        Default: the GoEmotions splits. The test split is read only for the leakage guard:
        its texts never enter the output.
    teacher : Teacher, optional
        Use this teacher instead of building the one named in ``balance.teacher``. It is
        aligned to ``train.schema`` by label name; labels it lacks get no pseudo-labelled
        candidate (the report's shortfall states what they still lack).
    exclude_texts : sequence of str, optional
        More texts kept out of the output like dev and test (the external evaluation sets
        of a run).
    splits : (train, dev, test) of EmotionDataset, optional
        The three splits at once, instead of ``train``/``dev``/``test`` (a user's own data).
        Their schema (``train.schema``; dev and test must share it) drives the job: the
        teacher is trained on this train split, the balanced Parquet carries the schema and
        the report names it.

    Raises
    ------
    DataError
        If dev or test speaks another schema than train, or ``splits`` is given with
        ``train``/``dev``/``test``.
    """
    t0 = time.perf_counter()
    bc = config.balance
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if splits is not None:
        if train is not None or dev is not None or test is not None:
            raise DataError("run_balance: give splits or train/dev/test, not both")
        train, dev, test = splits
    train = train if train is not None else goemotions.load("train")
    dev = dev if dev is not None else goemotions.load("dev")
    test = test if test is not None else goemotions.load("test")
    schema = train.schema
    schema.check_same(dev.schema, "the train split", "the dev split")
    schema.check_same(test.schema, "the train split", "the test split")
    planner = BalancePlanner(
        strategy=bc.strategy,
        target=bc.target,
        mean_ir_target=bc.mean_ir_target,
        tolerance=bc.tolerance,
        undersample=None if bc.undersample == "none" else bc.undersample,
        sources=bc.sources,
        max_copies=bc.max_copies,
        random_state=bc.seed,
    )
    report: dict[str, Any] = {}
    pools: dict[str, EmotionDataset] = {}
    needs_teacher = ("pseudo_label" in bc.sources and bc.pseudo_label.enabled) or (
        "generated" in bc.sources and bc.generation.enabled
    )
    if teacher is not None:
        report["teacher"] = str(getattr(teacher, "name", type(teacher).__name__))
        teacher = align_teacher(teacher, schema, allow_missing=True)
    elif needs_teacher:
        t1 = time.perf_counter()
        teacher, teacher_name = build_teacher(
            bc.teacher, train, dev, config.model, config.train, out / "teachers",
            teacher_cfg=config.teacher, progress=progress, allow_missing_labels=True,
        )  # fmt: skip
        report["teacher"] = teacher_name
        report["teacher_seconds"] = time.perf_counter() - t1
    pool_proba: dict[str, np.ndarray] = {}
    dev_proba: np.ndarray | None = None
    if teacher is not None and "pseudo_label" in bc.sources and bc.pseudo_label.enabled:
        pool, proba, dev_proba, report["pseudo_label"] = _pseudo_label_pool(
            bc, teacher, report["teacher"], dev, out, progress
        )
        if pool is not None:
            pools["pseudo_label"] = pool
        if proba is not None:
            pool_proba["pseudo_label"] = proba  # each label ranked by its own probability
    if teacher is not None and "generated" in bc.sources and bc.generation.enabled:
        pools["generated"], report["generation"] = _generated_pool(
            bc, planner, train, pools.get("pseudo_label"), teacher, out
        )
    augmenter = None
    if "augment" in bc.sources and bc.augment.enabled:
        checker = None
        if bc.augment.teacher_check and teacher is not None and dev.is_labelled:
            if dev_proba is None:
                dev_proba = teacher_proba(teacher, dev.texts)
            known = dev_proba  # labels the teacher lacks (NaN) are not checked: 0 for tuning
            if np.isnan(known).any():
                known = np.where(np.isnan(known), np.float32(0), known)
            checker = AugmentChecker(teacher, tune_thresholds(dev.labels, known))
            report["augment_check"] = checker.counts
        augmenter = _augmenter(config, train, checker)
    balanced = planner.fit_resample(
        train, pools, augmenter=augmenter, exclude_texts=[*dev.texts, *test.texts, *exclude_texts],
        pool_proba=pool_proba,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    report = {**planner.report(balanced, seconds), **report}
    if "per_label" in report.get("pseudo_label", {}):
        added = next((f.per_label for f in planner.fills_ if f.source == "pseudo_label"), {})
        for lab, row in report["pseudo_label"]["per_label"].items():
            row["added"] = int(added.get(lab, 0))
    balanced.to_parquet(out / "balanced_train.parquet")
    plot_balance(report["label_counts_before"], balanced, out / "balance_counts.png")
    write_json_atomic(out / "balance_report.json", report)
    write_text_atomic(out / "config.yaml", config.to_yaml())
    return balanced, report


def _pseudo_label_pool(
    bc: Any,
    teacher: Teacher,
    teacher_name: str,
    dev: EmotionDataset,
    out: Path,
    progress: bool | None,
) -> tuple[EmotionDataset | None, np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """The teacher-labelled corpus rows: (pool, their probabilities when ranked per label,
    the dev probabilities when computed, the report section)."""
    pc = bc.pseudo_label
    t1 = time.perf_counter()
    corpus = resolve_corpus(pc.corpus, pc.text_column)
    if pc.max_rows is not None:
        corpus = corpus.subset(np.arange(min(pc.max_rows, len(corpus))))
    if len(corpus) == 0:
        # nothing to label: the job goes on with the other sources and says so
        msg = f"the corpus {pc.corpus!r} has no usable rows: no pseudo-labelled rows"
        log.warning(msg)
        return None, None, None, {"corpus": pc.corpus, "corpus_rows": 0, "kept_rows": 0,
                                  "status": msg}  # fmt: skip
    schema = dev.schema
    th, info, dev_proba = thresholds_vector(pc.threshold, schema=schema), {}, None
    if pc.selection == "precision":
        dev_proba = teacher_proba(teacher, dev.texts)
        th, info = precision_thresholds(
            dev.labels, dev_proba, target_precision=pc.target_precision,
            min_threshold=pc.min_threshold, random_state=bc.seed, schema=schema,
        )  # fmt: skip
    proba = score_corpus(
        corpus, teacher, out / "pseudo_label", batch_size=pc.batch_size,
        part_rows=pc.part_rows, teacher_name=teacher_name, progress=progress, engine=pc.engine,
        schema=schema,
    )  # fmt: skip
    th = thresholds_vector(th, pc.thresholds, schema)
    pool, keep = assign_labels(corpus, proba, threshold=th, return_index=True, schema=schema)
    if pc.weight == "confidence":
        pool = pool.replace(weight=pool.teacher_score)
    candidates = pool.label_counts() if len(pool) else {}
    # a label the teacher never scores (0 or NaN on every row: one it lacks) gets no candidate
    col_max = _column_max(proba)  # the corpus is not empty here
    uncovered = [
        lab for j, lab in enumerate(schema.names) if col_max[j] <= 0 and lab != schema.neutral
    ]
    if uncovered:
        log.warning(f"the teacher gives no probability to {', '.join(uncovered)} on the corpus")
    section = {
        "corpus": pc.corpus,
        "corpus_rows": len(corpus),
        "kept_rows": len(pool),
        "selection": pc.selection,
        "threshold": pc.threshold,
        "label_counts": candidates,
        "teacher_uncovered_labels": uncovered,
        "per_label": {
            lab: {"threshold": None if not np.isfinite(th[j]) else round(float(th[j]), 2),
                  "candidates": int(candidates.get(lab, 0)),
                  **({k: v for k, v in info[lab].items() if k != "threshold"}
                     if lab in info else {})}
            for j, lab in enumerate(schema.names)
        },
        "seconds": time.perf_counter() - t1,
    }  # fmt: skip
    ranked = proba[keep] if pc.selection == "precision" else None
    if ranked is not None and np.isnan(ranked).any():
        ranked = np.where(np.isnan(ranked), 0.0, ranked)  # a missing label ranks no row
    return pool, ranked, dev_proba, section


def _column_max(proba: np.ndarray) -> np.ndarray:
    """The max of each column, NaN (a label the teacher lacks) read as 0."""
    if np.isnan(proba).any():
        proba = np.where(np.isnan(proba), 0.0, proba)
    return proba.max(axis=0)


class AugmentChecker:
    """Keeps an augmented row only if the teacher still gives its intended labels.

    A row passes when the teacher's probability of each of its labels is at least that
    label's threshold and no other label except the schema's neutral one reaches its
    threshold. The teacher speaks the rows' schema (aligned by name): a label it lacks (NaN)
    is not checked. ``counts`` records how many rows were checked and kept.
    """

    def __init__(self, teacher: Teacher, thresholds: np.ndarray) -> None:
        self.teacher = teacher
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.counts = {"checked": 0, "kept": 0}

    def __call__(self, rows: EmotionDataset) -> EmotionDataset:
        if len(rows) == 0:
            return rows
        schema: LabelSchema = rows.schema
        p = teacher_proba(align_teacher(self.teacher, schema, allow_missing=True), rows.texts)
        y = rows.labels.astype(bool)
        unknown = np.isnan(p)
        with np.errstate(invalid="ignore"):
            on = p >= self.thresholds
        if unknown.any():
            on = np.where(unknown, y, on)
        other = on & ~y
        if schema.neutral is not None:
            other[:, schema.label_id(schema.neutral)] = False
        ok = np.all(on | ~y, axis=1) & ~other.any(axis=1)
        self.counts["checked"] += len(rows)
        self.counts["kept"] += int(ok.sum())
        return rows.subset(np.flatnonzero(ok))


def _augmenter(
    config: EmobalanceConfig, train: EmotionDataset, checker: AugmentChecker | None = None
):
    from ..embeddings import load_vectors
    from ..text import tokenize
    from .augment import EDAAugmenter

    ac = config.balance.augment
    vectors = None
    path = ModelConfig(vectors=ac.vectors).resolve_vectors() if ac.vectors is not None else None
    if path is not None:
        words = {w for t in train.texts for w in tokenize(t)}
        vectors = load_vectors(path, words=words)
    aug = EDAAugmenter(
        alpha_sr=ac.alpha_sr,
        alpha_ri=ac.alpha_ri,
        alpha_rs=ac.alpha_rs,
        p_rd=ac.p_rd,
        vectors=vectors,
        random_state=config.balance.seed,
    )
    if checker is None:
        return lambda parents, need: aug.augment(parents, need)
    return lambda parents, need: checker(aug.augment(parents, need))


def _generated_pool(
    bc: Any,
    planner: BalancePlanner,
    train: EmotionDataset,
    pseudo: EmotionDataset | None,
    teacher: Teacher,
    out: Path,
) -> tuple[EmotionDataset, dict[str, Any]]:
    """Generate, filter by teacher, export for review; use only reviewed-and-accepted texts."""
    from .. import annotation as rv
    from .filter import teacher_filter
    from .generate import generate_candidates

    gc = bc.generation.llm
    if "cache_dir" not in gc.model_fields_set:  # an unset cache lives in the output folder
        gc = gc.model_copy(update={"cache_dir": out / "llm_cache"})
    schema = train.schema
    counts = train.labels.sum(0)
    targets = planner.compute_targets(counts, schema)
    have = pseudo.labels.sum(0) if pseudo is not None and len(pseudo) else np.zeros_like(counts)
    names = schema.names
    need = {
        names[j]: int(np.ceil((targets[j] - counts[j] - have[j]) * bc.generation.margin))
        for j in range(len(names))
        if targets[j] - counts[j] - have[j] > 0 and names[j] != schema.neutral
    }
    info: dict[str, Any] = {"requested": need}
    if not need:
        empty = np.zeros((0, len(schema)), np.uint8)
        return EmotionDataset([], empty, source="generated", schema=schema), info
    cand = generate_candidates(need, train, gc, existing_texts=train.texts, schema=schema)
    passed = teacher_filter(cand, teacher, threshold=bc.generation.teacher_threshold)
    review_dir = out / "review"
    rv.export_label_studio(passed, review_dir / "label_studio_tasks.json")
    rv.export_csv(passed, review_dir / "review.csv")
    info.update({"candidates": len(cand), "passed_teacher": len(passed)})
    if not bc.generation.review:
        info["status"] = f"{len(passed)} candidates await review in {review_dir}"
        return passed.subset([]), info
    votes = rv.load_votes(bc.generation.review, schema)
    accepted, agreement = rv.apply_review(passed, votes)
    info.update({"accepted": len(accepted), "agreement": agreement})
    return accepted, info
