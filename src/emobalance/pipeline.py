"""`emobalance run`: the whole experiment from one config.

Loads the data, builds (or reuses) the balanced training set, trains every variant for every
seed, evaluates each on the ORIGINAL GoEmotions test set with thresholds tuned on dev, and
writes ``metrics.json``, ``report.md`` and ``report.html`` into the run directory together
with the resolved config, data hashes, package versions and every model.
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

from .config import EmobalanceConfig, deep_merge, read_yaml, validate
from .data import goemotions
from .data.dataset import EmotionDataset
from .errors import ConfigError
from .io import sha256_file, write_json_atomic, write_text_atomic
from .labels import LABELS
from .metrics import apply_thresholds, evaluate, rare_labels

PRESETS: dict[str, dict[str, Any]] = {
    # The balanced variant adds only teacher-labelled real text (Sentiment140) to the full
    # original train. Chosen on dev macro-F1 among the settings tried (docs/BENCHMARKS.md):
    # undersampling to an even distribution, augmentation and MeanIR-bounded plans all
    # scored lower on dev than the imbalanced model.
    "quick": {
        # what `make run` runs: one seed, fewer epochs, a smaller balanced target (<= 15 min)
        "run": {"seeds": [0], "variants": ["imbalanced", "balanced", "tfidf"], "bootstrap": 500},
        "train": {"epochs": 8},
        # the in-run teacher (this run's reference + TF-IDF): fine-tuning MiniLM would not fit
        "balance": {"undersample": "none", "sources": ["pseudo_label"], "target": 1000,
                    "teacher": "ensemble"},
    },
    # the table in the README: 3 seeds, all ablations
    "paper": {
        "run": {
            "seeds": [0, 1, 2],
            "variants": ["imbalanced", "balanced", "no_attention", "no_conv", "no_pretrained",
                         "tfidf", "distilled"],
            "bootstrap": 1000,
        },
        "balance": {"undersample": "none", "sources": ["pseudo_label"]},
    },
}  # fmt: skip

TEST_KEYS = ("macro_f1", "micro_f1", "weighted_f1", "exact_match", "hamming_loss", "macro_auc")


def resolve_config(
    preset: str | None = None, config_path: str | os.PathLike[str] | None = None
) -> EmobalanceConfig:
    """Preset defaults, then the YAML file over them (CLI flags are applied by the caller)."""
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        base = PRESETS[preset]
    over = read_yaml(config_path) if config_path is not None else {}
    return validate(EmobalanceConfig, deep_merge(base, over), origin=str(config_path or preset))


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


def data_hashes() -> dict[str, str]:
    """sha256 of the GoEmotions splits in use."""
    return {s: sha256_file(goemotions.locate(s)) for s in goemotions.SPLITS}


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
    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

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
        if self.resume and old_cfg.is_file() and old_cfg.read_text() != cfg.to_yaml():
            raise ConfigError(
                f"{old_cfg}: the run directory was made with another config; "
                "use a new --out or the same config"
            )
        write_text_atomic(old_cfg, cfg.to_yaml())
        write_json_atomic(
            self.run_dir / "run_info.json",
            {"environment": environment(), "data_sha256": data_hashes(),
             "seeds": cfg.run.seeds, "variants": cfg.run.variants},
        )  # fmt: skip
        self.train, self.dev, self.test = (goemotions.load(s) for s in goemotions.SPLITS)
        if self.resume and (self.run_dir / "metrics.json").is_file():
            self.entries = json.loads((self.run_dir / "metrics.json").read_text())
        seeds, variants = cfg.run.seeds, cfg.run.variants
        self.balanced: EmotionDataset | None = None
        self.balance_report: dict[str, Any] | None = None
        # the teacher's members are the seed-0 imbalanced and TF-IDF models: train them first
        first = seeds[0]
        order = [v for v in ("imbalanced", "tfidf") if v in variants] + [
            v for v in variants if v not in ("imbalanced", "tfidf")
        ]
        for seed in seeds:
            for variant in order:
                if variant in ("balanced", "distilled_balanced") and self.balanced is None:
                    self._build_balanced(first)
                self._variant(variant, seed)
        self._report(time.perf_counter() - t0)
        return self.entries

    def _done(self, variant: str, seed: int) -> bool:
        return any(e["variant"] == variant and e["seed"] == seed for e in self.entries)

    def _teacher(self, spec: str, seed: int) -> tuple[Any, str]:
        """The teacher named by ``spec``; its ``reference`` / ``tfidf`` parts are this run's
        seed-``seed`` imbalanced and TF-IDF models (trained first when needed)."""
        from .balance.build import build_teacher, resolve_teacher_spec
        from .balance.teacher import ClassifierTeacher

        cfg = self.config
        parts = resolve_teacher_spec(spec).split("+")
        provided = {}
        if "reference" in parts:
            provided["reference"] = ClassifierTeacher(
                self._get_model("imbalanced", seed), name="reference"
            )
        if "tfidf" in parts:
            provided["tfidf"] = ClassifierTeacher(self._get_model("tfidf", seed), name="tfidf")
        self.log(f"teacher: {resolve_teacher_spec(spec)}")
        return build_teacher(
            spec, self.train, self.dev, cfg.model, cfg.train, teacher_cfg=cfg.teacher,
            provided=provided, progress=self.progress,
        )  # fmt: skip

    def _build_balanced(self, seed: int) -> None:
        from .balance.build import resolve_teacher_spec, run_balance

        cfg = self.config
        key = _hash([cfg.balance.model_dump(), cfg.model.model_dump(), cfg.train.model_dump(),
                     resolve_teacher_spec(cfg.balance.teacher), cfg.teacher.model_dump(),
                     data_hashes()])  # fmt: skip
        bdir = goemotions.cache_dir() / "balanced" / key
        out = self.run_dir / "balance"
        parquet, rep_path = bdir / "balanced_train.parquet", bdir / "balance_report.json"
        if parquet.is_file() and rep_path.is_file():
            self.log(f"reusing the balanced set {bdir} (same config hash)")
        else:
            teacher, name = self._teacher(cfg.balance.teacher, seed)
            teacher.name = name
            self.log("building the balanced training set")
            run_balance(cfg, bdir, train=self.train, dev=self.dev, test=self.test,
                        teacher=teacher, progress=self.progress)  # fmt: skip
        self.balanced = EmotionDataset.from_parquet(parquet)
        self.balance_report = json.loads(rep_path.read_text())
        out.mkdir(parents=True, exist_ok=True)
        for name in ("balance_report.json", "balance_counts.png"):
            if (bdir / name).is_file():
                (out / name).write_bytes((bdir / name).read_bytes())
        (out / "balanced_set.txt").write_text(f"{bdir}\n")

    def _distilled(
        self, base: EmotionDataset, seed: int, holdout: EmotionDataset | None = None
    ) -> Any:
        """The reference network distilled from ``distill.teacher`` (built once per run)."""
        from .distill import fit_distilled, load_corpus

        cfg = self.config
        dc = cfg.distill
        if not hasattr(self, "_distill_teacher"):
            self._distill_teacher = self._teacher(dc.teacher, cfg.run.seeds[0])
            self._distill_corpus = load_corpus(dc)
        teacher, name = self._distill_teacher
        tc = cfg.train.model_copy(update={"seed": seed, "progress": self.progress})
        # a balanced hold-out's tweets must not come back as corpus rows either
        exclude = [*self.dev.texts, *self.test.texts, *(holdout.texts if holdout else [])]
        return fit_distilled(
            base, self.dev, teacher, self._distill_corpus, model=cfg.model, train_config=tc,
            distill=dc, exclude_texts=exclude, teacher_name=name,
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
                self.log(f"{variant} seed {seed}: done earlier, skipped (--resume)")
            return
        from .classifier import EmotionClassifier
        from .models.baselines import TfidfBaseline

        cfg = self.config
        d = self.model_dir(variant, seed)
        self.log(f"training {variant} (seed {seed})")
        t0 = time.perf_counter()
        train = self.train
        holdout = None
        if variant == "tfidf":
            model: Any = TfidfBaseline(random_state=seed).fit(train, self.dev)
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
            if variant.startswith("distilled"):
                model = self._distilled(train, seed, holdout)
            else:
                model = EmotionClassifier(model=mc, train=tc).fit(train, self.dev)
        train_s = time.perf_counter() - t0
        model.save(d)
        t1 = time.perf_counter()
        proba = model.predict_proba(self.test.texts)
        infer_s = time.perf_counter() - t1
        np.save(d / "test_proba.npy", proba.astype(np.float32))
        m = evaluate(self.test.labels, proba, model.thresholds_)
        m05 = evaluate(self.test.labels, proba, 0.5, groupings=())["macro_f1"]
        neural = variant != "tfidf"
        entry: dict[str, Any] = {
            "variant": variant,
            "seed": seed,
            "test": {**{k: m[k] for k in TEST_KEYS}, "per_label_f1": m["per_label_f1"],
                     **{k: m[k] for k in ("macro_precision", "macro_recall", "micro_precision",
                                          "micro_recall", "weighted_precision",
                                          "weighted_recall", "samples_f1")}},
            "test_macro_f1_at_0_5": m05,
            "dev_macro_f1": (model.dev_metrics_ or {}).get("macro_f1")
            if variant == "tfidf"
            else model.metrics_.get("dev", {}).get("macro_f1"),
            "n_train": model.metrics_.get("n_train", len(train)) if neural else len(train),
            "efficiency": {
                "train_seconds": train_s,
                "epoch_seconds": model.metrics_["mean_epoch_seconds"] if neural else None,
                "texts_per_s": len(self.test) / infer_s if infer_s > 0 else None,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "parameters": None if variant == "tfidf" else model.metrics_["parameters"],
                "precision": "fp64" if variant == "tfidf" else model.metrics_["precision"],
            },
        }  # fmt: skip
        if variant.startswith("distilled"):
            entry["distillation"] = model.metrics_["distillation"]
        if holdout is not None and len(holdout):
            hp = model.predict_proba(holdout.texts)
            entry["balanced_holdout_not_comparable"] = {
                k: evaluate(holdout.labels, hp, model.thresholds_, groupings=())[k]
                for k in ("macro_f1", "micro_f1")
            }
        self.entries = [
            e for e in self.entries if not (e["variant"] == variant and e["seed"] == seed)
        ]
        self.entries.append(entry)
        self._save_entries()
        self._models[(variant, seed)] = model
        self.log(f"{variant} seed {seed}: test macro-F1 {m['macro_f1']:.4f} ({train_s:.0f}s)")

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
        from .report import fig_per_label_f1, fig_roc, fig_training, paired_bootstrap, write_report

        cfg = self.config
        rare = rare_labels(self.train.label_counts(), k=6)
        y = self.test.labels
        figures: dict[str, bytes] = {}
        bal_png = self.run_dir / "balance" / "balance_counts.png"
        if bal_png.is_file():
            figures["balance_counts"] = bal_png.read_bytes()
        figures["per_label_f1"] = fig_per_label_f1(self.entries, rare)
        seed0 = cfg.run.seeds[0]
        probas = {}
        for v in cfg.run.variants:
            f = self.model_dir(v, seed0) / "test_proba.npy"
            if f.is_file():
                probas[v] = np.load(f)
        from sklearn.metrics import roc_curve

        curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]] = {}
        for lab in [rare[0], rare[1], "gratitude", "anger"]:
            j = LABELS.index(lab)
            if y[:, j].sum() == 0:
                continue
            for v in ("imbalanced", "balanced", "tfidf"):
                if v in probas:
                    fpr, tpr, _ = roc_curve(y[:, j], probas[v][:, j])
                    auc = float(np.trapezoid(tpr, fpr))
                    curves.setdefault(lab, {})[v] = (fpr, tpr, auc)
        if curves:
            figures["roc"] = fig_roc(curves)
        hists = {}
        for v in cfg.run.variants:
            mj = self.model_dir(v, seed0) / "metrics.json"
            if v != "tfidf" and mj.is_file():
                hists[v] = json.loads(mj.read_text()).get("history", [])
        if hists:
            figures["training"] = fig_training(hists)
        bootstrap = None
        pairs = []
        for s in cfg.run.seeds:
            a, b = self.model_dir("imbalanced", s), self.model_dir("balanced", s)
            if (
                (a / "test_proba.npy").is_file()
                and (b / "test_proba.npy").is_file()
                and cfg.run.bootstrap
            ):
                ta = np.array(
                    [json.loads((a / "thresholds.json").read_text())[lab] for lab in LABELS]
                )
                tb = np.array(
                    [json.loads((b / "thresholds.json").read_text())[lab] for lab in LABELS]
                )
                pairs.append(
                    paired_bootstrap(
                        y,
                        apply_thresholds(np.load(a / "test_proba.npy"), ta),
                        apply_thresholds(np.load(b / "test_proba.npy"), tb),
                        n_boot=cfg.run.bootstrap,
                        random_state=s,
                    )
                    | {"seed": s}
                )
        if pairs:
            bootstrap = pairs[0]
            write_json_atomic(self.run_dir / "bootstrap.json", pairs)
        eff = []
        for e in self.entries:
            if e["seed"] == seed0:
                eff.append({"name": e["variant"], **e["efficiency"]})
        notes = [
            f"this invocation took {seconds / 60:.1f} min (models finished by an earlier "
            f"invocation are not retrained); training time of all models "
            f"{sum(e['efficiency']['train_seconds'] or 0 for e in self.entries) / 60:.1f} min; "
            f"seeds {cfg.run.seeds}; rare labels = the six with the fewest training examples.",
            "dev selects the epoch and tunes the thresholds; the test split is only measured.",
            "peak RSS is the run process' maximum so far (models train one after another).",
        ]
        for e in self.entries:
            if "distillation" in e and e["seed"] == seed0:
                d = e["distillation"]
                notes.append(
                    f"{e['variant']}: the reference network distilled from {d['teacher']} "
                    f"(alpha {d['alpha']}, temperature {d['temperature']}) over "
                    f"{d['train_rows']:,} labelled rows + {d['external_rows']:,} teacher-scored "
                    "corpus rows."
                )
        if any("balanced_holdout_not_comparable" in e for e in self.entries):
            for e in self.entries:
                if "balanced_holdout_not_comparable" in e:
                    h = e["balanced_holdout_not_comparable"]
                    notes.append(
                        f"NOT COMPARABLE: seed {e['seed']} balanced model on a held-out slice of "
                        f"the balanced data: macro-F1 {h['macro_f1']:.4f}, "
                        f"micro-F1 {h['micro_f1']:.4f}."
                    )
        write_report(
            self.run_dir, self.entries, variants=cfg.run.variants,
            balance_report=self.balance_report,
            rare=rare, bootstrap=bootstrap, figures=figures, efficiency=eff, notes=notes,
            title=f"emobalance run: {self.run_dir.name}",
        )  # fmt: skip
        self.log(f"report written to {self.run_dir / 'report.md'} and report.html")


def run_experiment(
    config: EmobalanceConfig,
    run_dir: str | os.PathLike[str],
    resume: bool = False,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run the experiment; return the ``metrics.json`` entries."""
    return Experiment(config, run_dir, resume=resume, progress=progress).run()
