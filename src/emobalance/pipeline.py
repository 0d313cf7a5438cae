"""`emobalance run`: the whole experiment from one config.

Loads the data (the config's ``data`` section: GoEmotions' official splits by default, or the
user's own labelled files in their own label schema), builds (or reuses) the balanced training
set, trains every variant for every seed, evaluates each on the ORIGINAL, untouched test split
with thresholds tuned on dev and on
every external set of ``run.external`` through its label map, and writes ``metrics.json``,
``significance.json`` (every variant against imbalanced, paired by seed), ``report.md`` and
``report.html`` into the run directory together with the resolved config, data hashes,
package versions and every model. External sets only measure: their texts are kept out of the
balanced set and the distillation corpus like dev and test. ``--resume`` skips finished models
and accepts added seeds and variants; any other config change is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import resource
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .config import EmobalanceConfig
from .data import goemotions
from .data.dataset import EmotionDataset
from .errors import ConfigError
from .io import sha256_file, write_json_atomic, write_text_atomic
from .labels import GOEMOTIONS, LabelSchema
from .log import get_logger
from .metrics import apply_thresholds, evaluate, predict_labels, rare_labels

log = get_logger(__name__)

TEST_KEYS = ("macro_f1", "micro_f1", "weighted_f1", "exact_match", "hamming_loss", "macro_auc")
# measured where they exist: jaccard (every run since schemas), accuracy (single-label schemas)
OPTIONAL_TEST_KEYS = ("jaccard", "accuracy")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def environment() -> dict[str, Any]:
    """Python, platform and package versions for reproducibility."""
    pkgs = {}
    for name in ("emobalance", "torch", "numpy", "scikit-learn", "gensim", "pyarrow", "pandas",
                 "transformers", "onnxruntime"):  # fmt: skip
        with contextlib.suppress(metadata.PackageNotFoundError):
            pkgs[name] = metadata.version(name)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": pkgs,
    }


def data_hashes(config: EmobalanceConfig | None = None) -> dict[str, str]:
    """sha256 of the data files in use: GoEmotions' splits, or the user's files."""
    from .jobs import load_splits, own_data

    if not own_data(config):
        return {s: sha256_file(goemotions.locate(s)) for s in goemotions.SPLITS}
    files = load_splits(config).files
    return {s: sha256_file(Path(p)) for s, p in files.items()}


class Experiment:
    """One run directory: trains, evaluates and reports the configured variants.

    Parameters
    ----------
    config : EmobalanceConfig
    run_dir : path
    resume : bool
        Skip models whose results are already in the run directory.
    progress : bool or None
    """

    def __init__(
        self,
        config: EmobalanceConfig,
        run_dir: str | os.PathLike[str],
        resume: bool = False,
        progress: bool | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = progress
        self.entries: list[dict[str, Any]] = []
        self._models: dict[tuple[str, int], Any] = {}

    # ---------------------------------------------------------------- helpers
    def model_dir(self, variant: str, seed: int) -> Path:
        return self.run_dir / "models" / f"{variant}-seed{seed}"

    def _save_entries(self) -> None:
        write_json_atomic(self.run_dir / "metrics.json", self.entries)

    # -------------------------------------------------------------- the run
    def run(self) -> list[dict[str, Any]]:
        """Run everything; return the ``metrics.json`` entries."""
        cfg = self.config
        t0 = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        old_cfg = self.run_dir / "config.yaml"
        if self.resume and old_cfg.is_file():
            # resuming may add seeds or variants; any other change would mix two experiments.
            # The old file is validated by this code, so a field added since (at its default)
            # is no change
            from .config import validate
            from .config_files import first_difference, read_yaml

            old = validate(EmobalanceConfig, read_yaml(old_cfg), origin=str(old_cfg))
            free = {"run": {"seeds", "variants"}}
            key = first_difference(old.model_dump(mode="json", exclude=free),
                                   cfg.model_dump(mode="json", exclude=free))  # fmt: skip
            if key is not None:
                raise ConfigError(
                    f"{old_cfg}: the run directory was made with another config ({key} "
                    "differs; only run.seeds and run.variants may change on --resume); use a "
                    "new --out or the same config"
                )
        from .jobs import load_splits

        # the data and the external sets are read before anything is written: a bad file
        # fails without leaving a run directory behind
        splits = load_splits(cfg)
        self.train, self.dev, self.test = splits.train, splits.dev, splits.test
        self.schema = splits.schema
        self.data_notes = splits.notes
        self._load_external()  # a bad external file or map fails before any training
        write_text_atomic(old_cfg, cfg.to_yaml())
        write_json_atomic(
            self.run_dir / "run_info.json",
            {"environment": environment(), "data_sha256": data_hashes(cfg),
             "label_schema": self.schema.to_dict(), "data_notes": self.data_notes,
             "seeds": cfg.run.seeds, "variants": cfg.run.variants},
        )  # fmt: skip
        if self.resume and (self.run_dir / "metrics.json").is_file():
            self.entries = json.loads((self.run_dir / "metrics.json").read_text())
        seeds, variants = cfg.run.seeds, cfg.run.variants
        self.balanced: EmotionDataset | None = None
        self.balance_report: dict[str, Any] | None = None
        # the teacher's members are the seed-0 imbalanced, TF-IDF and teacher models: first
        first = seeds[0]
        early = ("imbalanced", "tfidf", "teacher")
        order = [v for v in early if v in variants] + [v for v in variants if v not in early]
        for seed in seeds:
            for variant in order:
                if variant in ("balanced", "distilled_balanced") and self.balanced is None:
                    self._build_balanced(first)
                self._variant(variant, seed)
        self._report(time.perf_counter() - t0)
        return self.entries

    def _load_external(self) -> None:
        """Read every ``run.external`` dataset and label map once."""
        from .evaluation import get_label_map, load_external

        self.external = {
            e.name: (
                load_external(e.path, text_column=e.text_column, label_column=e.label_column,
                              multi_label=e.multi_label, label_sep=e.label_sep),
                get_label_map(e.label_map, self.schema),
                e,
            )
            for e in self.config.run.external
        }  # fmt: skip

    def _external_texts(self) -> list[str]:
        """The texts of the external sets that are files (the polarity guard is removed from
        every corpus where corpora are loaded): never training rows."""
        from .data.corpora import POLARITY_GUARD

        return [t for ds, _, e in self.external.values() if e.path != POLARITY_GUARD
                for t in ds.texts]  # fmt: skip

    def _evaluate_external(self, model: Any) -> dict[str, Any]:
        from .evaluation import evaluate_external

        out = {}
        for name, (ds, lm, e) in self.external.items():
            out[name] = evaluate_external(model, ds, lm, abstain=e.abstain)
            out[name]["path"] = e.path
        return out

    def _done(self, variant: str, seed: int) -> bool:
        return any(e["variant"] == variant and e["seed"] == seed for e in self.entries)

    def _teacher(self, spec: str, seed: int) -> tuple[Any, str]:
        """The teacher named by ``spec``; its ``reference`` / ``tfidf`` parts are this run's
        seed-``seed`` imbalanced and TF-IDF models (trained first when needed)."""
        from .teachers import ClassifierTeacher, build_teacher, resolve_teacher_spec

        cfg = self.config
        resolved = resolve_teacher_spec(spec)
        parts = resolved.split("+")
        provided = {}
        if "reference" in parts:
            provided["reference"] = ClassifierTeacher(
                self._get_model("imbalanced", seed), name="reference"
            )
        if "tfidf" in parts:
            provided["tfidf"] = ClassifierTeacher(self._get_model("tfidf", seed), name="tfidf")
        # one fine-tune, not two: the run's teacher model (also one a resumed run trained)
        if "minilm" in parts and ("teacher" in cfg.run.variants or self._done("teacher", seed)):
            provided["minilm"] = ClassifierTeacher(self._get_model("teacher", seed), name="minilm")
        log.info(f"teacher: {resolved}")
        return build_teacher(
            spec, self.train, self.dev, cfg.model, cfg.train, teacher_cfg=cfg.teacher,
            provided=provided, progress=self.progress,
        )  # fmt: skip

    def _build_balanced(self, seed: int) -> None:
        from .balance.build import run_balance
        from .data.corpora import GUARD_VERSION
        from .teachers import resolve_teacher_spec

        cfg = self.config
        external = self._external_texts()
        # the guard's version: a set cached before the guard existed may hold its tweets
        # soft_labels changes how the set is learnt, not the set
        key = _hash([cfg.balance.model_dump(exclude={"soft_labels"}), cfg.model.model_dump(),
                     cfg.train.model_dump(),
                     resolve_teacher_spec(cfg.balance.teacher), cfg.teacher.model_dump(),
                     data_hashes(cfg), {"polarity_guard": GUARD_VERSION},
                     _hash(sorted(external)) if external else None]
                    # own data: its schema and reading options too (GoEmotions keys unchanged)
                    + ([self.schema.to_dict(), cfg.data.model_dump(mode="json")]
                       if self.schema is not GOEMOTIONS else []))  # fmt: skip
        bdir = goemotions.cache_dir() / "balanced" / key
        out = self.run_dir / "balance"
        parquet, rep_path = bdir / "balanced_train.parquet", bdir / "balance_report.json"
        if parquet.is_file() and rep_path.is_file():
            log.info(f"reusing the balanced set {bdir} (same config hash)")
        else:
            teacher, name = self._teacher(cfg.balance.teacher, seed)
            teacher.name = name
            log.info("building the balanced training set")
            run_balance(cfg, bdir, train=self.train, dev=self.dev, test=self.test,
                        teacher=teacher, progress=self.progress,
                        exclude_texts=external)  # fmt: skip
        self.balanced = EmotionDataset.from_parquet(parquet, schema=self.schema)
        self.balance_report = json.loads(rep_path.read_text())
        out.mkdir(parents=True, exist_ok=True)
        for name in ("balance_report.json", "balance_counts.png"):
            if (bdir / name).is_file():
                (out / name).write_bytes((bdir / name).read_bytes())
        (out / "balanced_set.txt").write_text(f"{bdir}\n")

    def _distilled(
        self,
        base: EmotionDataset,
        seed: int,
        holdout: EmotionDataset | None = None,
    ) -> Any:
        """The reference network distilled from ``distill.teacher`` (built once per run) over
        ``base`` and the corpus rows ``distill.corpus_selection`` keeps (all, or those that
        fill each label's soft mass toward the balance targets)."""
        from .data.corpora import load_corpus
        from .distill import balance_targets, fit_distilled

        cfg = self.config
        dc = cfg.distill
        if not hasattr(self, "_distill_teacher"):
            self._distill_teacher = self._teacher(dc.teacher, cfg.run.seeds[0])
            self._distill_corpus = load_corpus(dc)
        teacher, name = self._distill_teacher
        tc = cfg.train.model_copy(update={"seed": seed, "progress": self.progress})
        # a balanced hold-out's tweets must not come back as corpus rows either
        exclude = [*self.dev.texts, *self.test.texts, *(holdout.texts if holdout else []),
                   *self._external_texts()]  # fmt: skip
        return fit_distilled(
            base, self.dev, teacher, self._distill_corpus, model=cfg.model, train_config=tc,
            distill=dc, exclude_texts=exclude, teacher_name=name,
            corpus_targets=balance_targets(cfg.balance, self.train)
            if dc.corpus_selection == "balance" else None,
        )  # fmt: skip

    def _get_model(self, variant: str, seed: int) -> Any:
        if (variant, seed) not in self._models:
            self._variant(variant, seed)
        if (variant, seed) not in self._models:  # finished in an earlier run: load it
            self._models[(variant, seed)] = self._load(variant, seed)
        return self._models[(variant, seed)]

    def _load(self, variant: str, seed: int) -> Any:
        from .models.registry import load_model

        return load_model(self.model_dir(variant, seed))

    def _variant(self, variant: str, seed: int) -> None:
        if self._done(variant, seed):
            if self.resume:
                log.info(f"{variant} seed {seed}: done earlier, skipped (--resume)")
            return
        from .models.baselines import TfidfBaseline
        from .models.reference import EmotionClassifier
        from .models.transformer import TransformerClassifier

        cfg = self.config
        d = self.model_dir(variant, seed)
        log.info(f"training {variant} (seed {seed})")
        t0 = time.perf_counter()
        train = self.train
        holdout = None
        if variant == "tfidf":
            model: Any = TfidfBaseline(
                random_state=seed, threshold_objective=cfg.train.threshold_objective
            ).fit(train, self.dev)
        elif variant == "teacher":
            tec = cfg.teacher.model_copy(update={"seed": seed, "progress": self.progress})
            model = TransformerClassifier(tec).fit(train, self.dev)
        else:
            mc = cfg.model.model_copy()
            tc = cfg.train.model_copy(update={"seed": seed, "progress": self.progress})
            if variant == "no_attention":
                mc = mc.model_copy(update={"use_attention": False, "attention_max_pool": False})
            elif variant == "no_conv":
                mc = mc.model_copy(update={"use_conv": False})
            elif variant == "no_pretrained":
                mc = mc.model_copy(update={"pretrained": False})
            elif variant in ("balanced", "distilled_balanced"):
                assert self.balanced is not None
                train, holdout = self._split_holdout(self.balanced, seed)
            if variant.startswith("distilled") or (
                variant == "balanced" and cfg.balance.soft_labels
            ):
                model = self._distilled(train, seed, holdout)
            else:
                model = EmotionClassifier(model=mc, train=tc).fit(train, self.dev)
        train_s = time.perf_counter() - t0
        model.save(d)
        t1 = time.perf_counter()
        proba = model.predict_proba(self.test.texts)
        infer_s = time.perf_counter() - t1
        np.save(d / "test_proba.npy", proba.astype(np.float32))
        m = evaluate(self.test.labels, proba, model.thresholds_, schema=self.schema)
        m05 = evaluate(self.test.labels, proba, 0.5, groupings=(), schema=self.schema)["macro_f1"]
        neural = variant not in ("tfidf", "teacher")
        dev_m = model.metrics_.get("dev", {})
        entry: dict[str, Any] = {
            "variant": variant,
            "seed": seed,
            "test": {**{k: m[k] for k in TEST_KEYS}, "per_label_f1": m["per_label_f1"],
                     **{k: m[k] for k in ("macro_precision", "macro_recall", "micro_precision",
                                          "micro_recall", "weighted_precision",
                                          "weighted_recall", "samples_f1")},
                     **{k: m[k] for k in OPTIONAL_TEST_KEYS if k in m},
                     "f1_undefined": m["f1_undefined"]},
            "test_macro_f1_at_0_5": m05,
            "dev_macro_f1": dev_m.get("macro_f1"),
            "dev_micro_f1": dev_m.get("micro_f1"),
            "dev_jaccard": dev_m.get("jaccard"),
            "n_train": model.metrics_.get("n_train", len(train)) if neural else len(train),
            "efficiency": {
                "train_seconds": train_s,
                "epoch_seconds": model.metrics_.get("mean_epoch_seconds") if neural else None,
                "texts_per_s": len(self.test) / infer_s if infer_s > 0 else None,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "parameters": None if variant == "tfidf" else model.metrics_.get("parameters"),
                "precision": "fp64" if variant == "tfidf" else model.metrics_.get("precision"),
            },
        }  # fmt: skip
        # labels train never has: no model can learn them, their test F1 measures nothing
        untrained = [lab for lab, c in self.train.label_counts().items() if c == 0]
        if untrained:
            entry["untrained_labels"] = untrained
        if "distillation" in getattr(model, "metrics_", {}):
            entry["distillation"] = model.metrics_["distillation"]
        if self.external:
            entry["external"] = self._evaluate_external(model)
        if holdout is not None and len(holdout):
            hp = model.predict_proba(holdout.texts)
            entry["balanced_holdout_not_comparable"] = {
                k: evaluate(
                    holdout.labels, hp, model.thresholds_, groupings=(), schema=self.schema
                )[k]
                for k in ("macro_f1", "micro_f1")
            }
        self.entries = [
            e for e in self.entries if not (e["variant"] == variant and e["seed"] == seed)
        ]
        self.entries.append(entry)
        self._save_entries()
        self._models[(variant, seed)] = model
        log.info(f"{variant} seed {seed}: test macro-F1 {m['macro_f1']:.4f} ({train_s:.0f}s)")

    def _split_holdout(
        self, data: EmotionDataset, seed: int
    ) -> tuple[EmotionDataset, EmotionDataset | None]:
        share = self.config.run.balanced_holdout
        if share <= 0:
            return data, None
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(data))
        k = int(len(data) * share)
        return data.subset(np.sort(idx[k:])), data.subset(np.sort(idx[:k]))

    # ------------------------------------------------------------- the report
    def _report(self, seconds: float) -> None:
        """Gather the run's files for :mod:`emobalance.report`, which builds the figures."""
        from .data.corpora import POLARITY_GUARD
        from .evaluation.significance import compare_variants, select_by_dev
        from .report import bootstrap_pairs, rare_count, run_figures, run_notes, write_report

        cfg = self.config
        rare = rare_labels(self.train.label_counts(), k=rare_count(self.schema), schema=self.schema)
        y = self.test.labels
        seed0 = cfg.run.seeds[0]
        probas, histories = {}, {}
        for v in cfg.run.variants:
            d = self.model_dir(v, seed0)
            if (d / "test_proba.npy").is_file():
                probas[v] = np.load(d / "test_proba.npy")
            if v != "tfidf" and (d / "metrics.json").is_file():
                histories[v] = json.loads((d / "metrics.json").read_text()).get("history", [])
        bal_png = self.run_dir / "balance" / "balance_counts.png"
        figures = run_figures(
            self.entries, y, rare, probas=probas, histories=histories,
            balance_png=bal_png.read_bytes() if bal_png.is_file() else None, schema=self.schema,
        )  # fmt: skip
        # balanced's bootstrap as before, and distilled_balanced's on the same resamples
        pairs: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {
            "balanced": [], "distilled_balanced": []
        }  # fmt: skip
        for s in cfg.run.seeds if cfg.run.bootstrap else ():
            a = self.model_dir("imbalanced", s)
            if not (a / "test_proba.npy").is_file():
                continue
            pred_a = None
            for v, found in pairs.items():
                b = self.model_dir(v, s)
                if (b / "test_proba.npy").is_file():
                    pred_a = _test_predictions(a, self.schema) if pred_a is None else pred_a
                    found.append((s, pred_a, _test_predictions(b, self.schema)))
        boots = [bs for v, found in pairs.items()
                 for bs in bootstrap_pairs(y, found, cfg.run.bootstrap, variant=v)]  # fmt: skip
        if boots:
            write_json_atomic(self.run_dir / "bootstrap.json", boots)
        first = {v: next((bs for bs in boots if bs["variant"] == v), None) for v in pairs}
        comparison = {
            "baseline": "imbalanced", "rare": rare, "external": POLARITY_GUARD,
            "rows": compare_variants(self.entries, "imbalanced", rare, POLARITY_GUARD,
                                     variants=cfg.run.variants),
            # the model one would pick without test: dev's mean run.select_by over seeds
            "selected_by_dev": select_by_dev(self.entries, cfg.run.variants,
                                             metric=cfg.run.select_by),
        }  # fmt: skip
        if cfg.run.select_by != "macro_f1":
            comparison["selected_by_dev_metric"] = cfg.run.select_by
        write_json_atomic(self.run_dir / "significance.json", comparison)
        eff = [{"name": e["variant"], **e["efficiency"]} for e in self.entries
               if e["seed"] == seed0]  # fmt: skip
        write_report(
            self.run_dir, self.entries, variants=cfg.run.variants,
            external=[e.name for e in cfg.run.external],
            balance_report=self.balance_report,
            rare=rare, bootstrap=first["balanced"], figures=figures, efficiency=eff,
            extra_bootstrap=[bs for v, bs in first.items() if v != "balanced" and bs],
            comparison=comparison,
            notes=[*run_notes(self.entries, seconds=seconds, seeds=cfg.run.seeds, rare=rare),
                   *self.data_notes],
            title=f"emobalance run: {self.run_dir.name}", schema=self.schema,
        )  # fmt: skip
        log.info(f"report written to {self.run_dir / 'report.md'} and report.html")


def _test_predictions(model_dir: Path, schema: LabelSchema) -> np.ndarray:
    """A saved model's 0/1 test predictions: its test probabilities at its thresholds."""
    proba = np.load(model_dir / "test_proba.npy")
    if schema.single_label:
        return predict_labels(proba, 0.5, single_label=True)
    thresholds = json.loads((model_dir / "thresholds.json").read_text())
    t = np.array([thresholds[lab] for lab in schema.names])
    return apply_thresholds(proba, t)


def run_experiment(
    config: EmobalanceConfig,
    run_dir: str | os.PathLike[str],
    resume: bool = False,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run the experiment; return the ``metrics.json`` entries."""
    return Experiment(config, run_dir, resume=resume, progress=progress).run()
