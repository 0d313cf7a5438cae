"""`emobalance balance`: the balancing job from one config section.

Loads GoEmotions, builds (or reuses) the teacher, pseudo-labels the external corpus, runs the
optional LLM generation with its teacher filter and human review, prepares the offline
augmenter, lets :class:`~emobalance.balance.planner.BalancePlanner` fill the deficits, and
writes ``balanced_train.parquet``, ``balance_report.json`` and ``balance_counts.png``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import EmobalanceConfig, ModelConfig, TrainConfig, TransformerConfig
from ..data import goemotions
from ..data.corpora import read_corpus, sentiment140
from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..io import write_json_atomic, write_text_atomic
from ..labels import LABELS
from .planner import BalancePlanner
from .pseudo_label import pseudo_label
from .stats import plot_balance
from .teacher import ClassifierTeacher, EnsembleTeacher, HFTeacher, Teacher

SENTIMENT140_DIR = "sentiment140_sample_100k"


def resolve_corpus(spec: str, text_column: str = "text") -> EmotionDataset:
    """``sentiment140`` -> the sample under ``$EMOBALANCE_DATA``; else a file or folder."""
    if spec == "sentiment140":
        root = os.environ.get("EMOBALANCE_DATA")
        path = Path(root) / SENTIMENT140_DIR if root else None
        if path is None or not path.is_dir():
            raise DataError(
                "the sentiment140 corpus needs EMOBALANCE_DATA with "
                f"{SENTIMENT140_DIR}/ inside, or a path in balance.pseudo_label.corpus"
            )
        return sentiment140(path)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{path}: corpus not found")
    if path.is_dir() or path.name.lower() in ("negative.txt", "positive.txt"):
        return sentiment140(path)
    return read_corpus(path, column=text_column, source="user")


def _config_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def resolve_teacher_spec(spec: str) -> str:
    """Expand each ``+`` part: ``auto`` -> ``minilm+tfidf`` when the ``teacher`` extra is
    installed, else ``reference+tfidf``; ``ensemble`` -> ``reference+tfidf`` (a repeated part
    counts twice in the mean)."""
    import importlib.util

    parts = []
    for part in spec.split("+"):
        if part == "auto":
            have = all(
                importlib.util.find_spec(m) is not None
                for m in ("transformers", "all_minilm_l6_v2")
            )
            part = "minilm+tfidf" if have else "reference+tfidf"
        elif part == "ensemble":
            part = "reference+tfidf"
        parts.extend(part.split("+"))
    return "+".join(parts)


def dataset_hash(data: EmotionDataset) -> str:
    """sha256 of a dataset's texts and labels (keys caches of models trained on it)."""
    h = hashlib.sha256()
    for t in data.texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    if data.is_labelled:
        h.update(np.ascontiguousarray(data.labels).tobytes())
    return h.hexdigest()[:16]


def minilm_teacher(
    train: EmotionDataset,
    dev: EmotionDataset,
    teacher_cfg: TransformerConfig | None = None,
    progress: bool | None = None,
) -> tuple[Path, str]:
    """The fine-tuned transformer teacher folder for ``train``: trained and cached on first use.

    The folder lives in the user cache (``teachers/minilm-<key>``), keyed by the teacher
    config and the training data, so every run and balancing job shares one fine-tune.
    Returns ``(folder, key)``.
    """
    from ..models.transformer import TransformerClassifier, is_transformer_dir

    tc = teacher_cfg or TransformerConfig()
    d, key = minilm_cache_dir(train, dev, tc)
    if not is_transformer_dir(d):
        print(
            f"fine-tuning the transformer teacher ({tc.base}, {tc.epochs} epochs; cached in {d})",
            flush=True,
        )
        upd = {"progress": progress} if progress is not None else {}
        # save() publishes the folder with one rename; a concurrent winner's copy is kept
        TransformerClassifier(tc.model_copy(update=upd)).fit(train, dev).save(d)
    return d, key


def teacher_id(folder: Path) -> str:
    """The id a saved transformer teacher was given at save time (``''`` if it has none)."""
    from ..models.transformer import MARKER

    try:
        return str(json.loads((folder / MARKER).read_text(encoding="utf-8")).get("id", ""))[:12]
    except (OSError, ValueError, AttributeError):
        return ""


def minilm_cache_dir(
    train: EmotionDataset, dev: EmotionDataset, teacher_cfg: TransformerConfig | None = None
) -> tuple[Path, str]:
    """Where :func:`minilm_teacher` keeps the teacher for this config and data: (folder, key)."""
    from importlib import metadata

    from ..models.transformer import MINILM_PACKAGE

    tc = teacher_cfg or TransformerConfig()
    fixed = tc.model_dump(exclude={"device", "num_threads", "eval_batch_size", "progress"})
    versions = {}
    for pkg in ("transformers", MINILM_PACKAGE):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    key = "minilm-" + _config_hash(fixed, versions, dataset_hash(train), dataset_hash(dev))
    return goemotions.cache_dir() / "teachers" / key, key


def build_teacher(
    spec: str,
    train: EmotionDataset,
    dev: EmotionDataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    teacher_cfg: TransformerConfig | None = None,
    provided: dict[str, Teacher] | None = None,
    progress: bool | None = None,
) -> tuple[Teacher, str]:
    """Build the teacher named by ``spec`` (training and caching it when needed).

    ``reference`` / ``tfidf`` train on ``train`` with thresholds from ``dev`` and are cached
    under ``cache_dir`` keyed by their config; ``minilm`` fine-tunes the transformer teacher
    once (user cache, see :func:`minilm_teacher`); a directory loads a saved emobalance
    model, transformer teacher, TF-IDF baseline or Hugging Face model; ``hf:NAME`` loads a
    hub model; ``A+B`` is the mean of the parts' probabilities; ``auto`` and ``ensemble``
    resolve as in :func:`resolve_teacher_spec`. ``provided`` supplies ready teachers by part
    name (``emobalance run`` passes its own reference and TF-IDF models).
    """
    from ..classifier import EmotionClassifier
    from ..models.baselines import TfidfBaseline
    from .teacher import CachedTeacher

    cache = Path(cache_dir) if cache_dir is not None else None
    provided = provided or {}

    @functools.cache
    def data_key() -> str:  # hashed once, shared by the reference and TF-IDF cache keys
        return _config_hash(dataset_hash(train), dataset_hash(dev))

    def reference() -> Teacher:
        key = _config_hash(model_cfg.model_dump(), train_cfg.model_dump(), data_key())
        d = cache / f"reference-{key}" if cache else None
        if d is not None and (d / "model.safetensors").is_file():
            clf = EmotionClassifier.load(d)
        else:
            clf = EmotionClassifier(model=model_cfg, train=train_cfg).fit(train, dev)
            if d is not None:
                clf.save(d)
        return ClassifierTeacher(clf, name="reference")

    def tfidf() -> Teacher:
        d = cache / f"tfidf-{data_key()}" if cache else None
        if d is not None and d.is_dir():
            model = TfidfBaseline.load(d)
        else:
            model = TfidfBaseline().fit(train, dev)
            if d is not None:
                model.save(d)
        return ClassifierTeacher(model, name="tfidf")

    def one(part: str) -> tuple[Teacher, str]:
        if part in provided:
            return provided[part], part
        if part == "reference":
            return reference(), "reference"
        if part == "tfidf":
            return tfidf(), "tfidf"
        if part == "minilm":
            d, key = minilm_teacher(train, dev, teacher_cfg, progress=progress)
            scores = goemotions.cache_dir() / "teacher_scores"
            # scores are keyed by this very fine-tune (its id), never by its config alone
            return CachedTeacher(HFTeacher(d), f"{key}-{teacher_id(d)}", scores), "minilm"
        if part.startswith("hf:"):
            t = HFTeacher(part[3:])
            return t, t.name
        path = Path(part)
        if path.is_dir():
            from ..models.registry import find_kind, load_model

            if find_kind(path) in (None, "transformer"):  # a Hugging Face folder, or our fine-tune
                t = HFTeacher(path)
                return t, t.name
            return ClassifierTeacher(load_model(path), name=path.name), path.name
        raise ConfigError(
            f"teacher: {part!r} is not auto, ensemble, reference, tfidf, minilm, hf:NAME, a model "
            "folder, or such parts joined by '+'"
        )

    parts = resolve_teacher_spec(spec).split("+")
    if len(parts) == 1:
        return one(parts[0])
    built = [one(p) for p in parts]
    ens = EnsembleTeacher([t for t, _ in built])
    ens.name = "ensemble(" + ", ".join(n for _, n in built) + ")"
    return ens, ens.name


def run_balance(
    config: EmobalanceConfig,
    out_dir: str | os.PathLike[str],
    *,
    train: EmotionDataset | None = None,
    dev: EmotionDataset | None = None,
    test: EmotionDataset | None = None,
    teacher: Teacher | None = None,
    progress: bool | None = None,
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
        Use this teacher instead of building the one named in ``balance.teacher``.
    """
    t0 = time.perf_counter()
    bc = config.balance
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = train if train is not None else goemotions.load("train")
    dev = dev if dev is not None else goemotions.load("dev")
    test = test if test is not None else goemotions.load("test")
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
    elif needs_teacher:
        t1 = time.perf_counter()
        teacher, teacher_name = build_teacher(
            bc.teacher, train, dev, config.model, config.train, out / "teachers",
            teacher_cfg=config.teacher, progress=progress,
        )  # fmt: skip
        report["teacher"] = teacher_name
        report["teacher_seconds"] = time.perf_counter() - t1
    if teacher is not None and "pseudo_label" in bc.sources and bc.pseudo_label.enabled:
        pc = bc.pseudo_label
        t1 = time.perf_counter()
        corpus = resolve_corpus(pc.corpus, pc.text_column)
        if pc.max_rows is not None:
            corpus = corpus.subset(np.arange(min(pc.max_rows, len(corpus))))
        pool = pseudo_label(
            corpus,
            teacher,
            out / "pseudo_label",
            threshold=pc.threshold,
            thresholds=pc.thresholds,
            batch_size=pc.batch_size,
            part_rows=pc.part_rows,
            teacher_name=report["teacher"],
            progress=progress,
            engine=pc.engine,
        )
        pools["pseudo_label"] = pool
        report["pseudo_label"] = {
            "corpus": pc.corpus,
            "corpus_rows": len(corpus),
            "kept_rows": len(pool),
            "threshold": pc.threshold,
            "label_counts": pool.label_counts() if len(pool) else {},
            "seconds": time.perf_counter() - t1,
        }
    if teacher is not None and "generated" in bc.sources and bc.generation.enabled:
        pools["generated"], report["generation"] = _generated_pool(
            bc, planner, train, pools.get("pseudo_label"), teacher, out
        )
    augmenter = None
    if "augment" in bc.sources and bc.augment.enabled:
        augmenter = _augmenter(config, train)
    balanced = planner.fit_resample(
        train, pools, augmenter=augmenter, exclude_texts=[*dev.texts, *test.texts]
    )
    seconds = time.perf_counter() - t0
    report = {**planner.report(balanced, seconds), **report}
    balanced.to_parquet(out / "balanced_train.parquet")
    plot_balance(report["label_counts_before"], balanced, out / "balance_counts.png")
    write_json_atomic(out / "balance_report.json", report)
    write_text_atomic(out / "config.yaml", config.to_yaml())
    return balanced, report


def _augmenter(config: EmobalanceConfig, train: EmotionDataset):
    from ..embeddings import load_vectors
    from ..text import tokenize
    from .generate import EDAAugmenter

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
    return lambda parents, need: aug.augment(parents, need)


def _generated_pool(
    bc: Any,
    planner: BalancePlanner,
    train: EmotionDataset,
    pseudo: EmotionDataset | None,
    teacher: Teacher,
    out: Path,
) -> tuple[EmotionDataset, dict[str, Any]]:
    """Generate, filter by teacher, export for review; use only reviewed-and-accepted texts."""
    from . import review as rv
    from .generate import GenerationConfig, generate_candidates, teacher_filter

    gc = GenerationConfig(**{"cache_dir": out / "llm_cache", **bc.generation.llm})
    counts = train.labels.sum(0)
    targets = planner.compute_targets(counts)
    have = pseudo.labels.sum(0) if pseudo is not None and len(pseudo) else np.zeros_like(counts)
    need = {
        LABELS[j]: int(np.ceil((targets[j] - counts[j] - have[j]) * bc.generation.margin))
        for j in range(len(LABELS))
        if targets[j] - counts[j] - have[j] > 0 and LABELS[j] != "neutral"
    }
    info: dict[str, Any] = {"requested": need}
    if not need:
        return EmotionDataset([], np.zeros((0, 28), np.uint8), source="generated"), info
    cand = generate_candidates(need, train, gc, existing_texts=train.texts)
    passed = teacher_filter(cand, teacher, threshold=bc.generation.teacher_threshold)
    review_dir = out / "review"
    rv.export_label_studio(passed, review_dir / "label_studio_tasks.json")
    rv.export_csv(passed, review_dir / "review.csv")
    info.update({"candidates": len(cand), "passed_teacher": len(passed)})
    if not bc.generation.review:
        info["status"] = f"{len(passed)} candidates await review in {review_dir}"
        return passed.subset([]), info
    votes = rv.load_votes(bc.generation.review)
    accepted, agreement = rv.apply_review(passed, votes)
    info.update({"accepted": len(accepted), "agreement": agreement})
    return accepted, info
